import Foundation
@testable import OutpostNN
@testable import OutpostTensor
import XCTest

/// L-BFGS's compact direction (Gram matrices, two passes over the history) against the
/// two-loop recursion it rearranges, its independence from the thread count, and both forms
/// against PyTorch's trajectories.
final class LBFGSDirectionTests: XCTestCase {
    /// A history driven as L-BFGS drives it: each iteration a new (s, y) pair, kept only when
    /// yᵀs > 1e-10 (every fifth one here has negative curvature and is skipped), then a
    /// direction for a new gradient. Over 3 × `capacity` iterations, so the ring wraps.
    struct Scenario {
        var float32: LBFGSHistory<Float>
        var float64: LBFGSHistory<Double>
        var hDiag = 1.0
        var rng: RandomGenerator
        let n: Int
        let curvature: [Double]

        init(n: Int, capacity: Int, seed: UInt64) {
            float32 = LBFGSHistory(capacity: capacity)
            float64 = LBFGSHistory(capacity: capacity)
            rng = RandomGenerator(seed: seed)
            self.n = n
            var r = RandomGenerator(seed: seed &+ 1)
            // An ill-conditioned diagonal Hessian (eigenvalues 1e-2 ... 1e2).
            curvature = (0..<n).map { _ in pow(10, 4 * r.uniform() - 2) }
        }

        mutating func normal() -> [Float] { (0..<n).map { _ in Float(2 * rng.uniform() - 1) } }

        /// Adds the iteration's pair (maybe skipped); returns the gradient to take a direction for.
        mutating func advance(_ iteration: Int) -> [Float] {
            let s = normal().map { $0 * 0.1 }
            let noise = normal()
            let sign: Float = iteration % 5 == 4 ? -1 : 1
            let y = (0..<n).map { sign * Float(curvature[$0]) * s[$0] + 1e-3 * noise[$0] }
            let ys = FlatVector.dot(y, s)
            XCTAssertEqual(ys > 1e-10, sign > 0, "iteration \(iteration): the curvature test")
            if ys > 1e-10 {
                float32.append(y: y, s: s, rho: 1 / ys)
                float64.append(y: y.map(Double.init), s: s.map(Double.init), rho: 1 / ys)
                hDiag = ys / FlatVector.dot(y, y)
            }
            return normal()
        }
    }

    static func relativeDifference(_ a: [Double], _ b: [Double]) -> Double {
        let scale = b.map(abs).max() ?? 0
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    /// The compact direction of Float pairs against the two-loop recursion run in Float64 on
    /// the same pairs: within 1.5e-7 of the largest element (the final rounding to Float, 2⁻²⁴,
    /// and the Float sums of four pairs at a time), closer than the Float two-loop recursion
    /// (1.4e-7 to 3.8e-7 here). The same in Float64: 1e-12.
    func testCompactDirectionEqualsTwoLoopRecursion() {
        for (n, capacity) in [(4997, 20), (200, 7), (37, 3)] {
            var sc = Scenario(n: n, capacity: capacity, seed: UInt64(n))
            var worst32 = 0.0, worst64 = 0.0, worstTwoLoop32 = 0.0
            for k in 0..<(3 * capacity + 2) {
                let g = sc.advance(k)
                let g64 = g.map(Double.init)
                var twoLoop32 = sc.float32
                var twoLoop64 = sc.float64
                let reference = twoLoop64.direction(gradient: g64, hDiag: sc.hDiag, method: .twoLoop)
                let compact32 = sc.float32.direction(gradient: g, hDiag: sc.hDiag, method: .compact).map(Double.init)
                let compact64 = sc.float64.direction(gradient: g64, hDiag: sc.hDiag, method: .compact)
                let plain32 = twoLoop32.direction(gradient: g, hDiag: sc.hDiag, method: .twoLoop).map(Double.init)
                worst32 = max(worst32, Self.relativeDifference(compact32, reference))
                worst64 = max(worst64, Self.relativeDifference(compact64, reference))
                worstTwoLoop32 = max(worstTwoLoop32, Self.relativeDifference(plain32, reference))
            }
            XCTAssertEqual(sc.float32.count, capacity, "the history must be full")
            print("L-BFGS directions, n \(n), history \(capacity): compact Float32 \(worst32), compact Float64 \(worst64), "
                  + "two-loop Float32 \(worstTwoLoop32) (max relative differences from the Float64 two-loop recursion)")
            XCTAssertLessThan(worst32, 1.5e-7, "n \(n): compact Float32 direction")
            XCTAssertLessThan(worst32, worstTwoLoop32, "n \(n): compact Float32 direction against the Float two-loop recursion")
            XCTAssertLessThan(worst64, 1e-12, "n \(n): compact Float64 direction")
        }
    }

    /// The Gram matrices rebuilt from the pairs (as after a restore) give the same bits as
    /// the ones kept up to date pair by pair.
    func testRebuiltGramMatricesGiveTheSameDirection() {
        var sc = Scenario(n: 1500, capacity: 6, seed: 3)
        for k in 0..<20 {
            let g = sc.advance(k)
            var rebuilt = sc.float32
            rebuilt.invalidateGram()
            let kept = sc.float32.direction(gradient: g, hDiag: sc.hDiag, method: .compact)
            XCTAssertEqual(rebuilt.direction(gradient: g, hDiag: sc.hDiag, method: .compact), kept, "iteration \(k)")
        }
    }

    /// One thread or two: the same bits (the passes split the vectors into pieces fixed by
    /// their length and add the pieces' sums in a fixed order).
    func testCompactDirectionDoesNotDependOnTheThreadCount() {
        let saved = Engine.threads
        // Split whether or not other processes want the cores, so that the test runs the split
        // passes at two and three threads.
        WorkerPool.forceSmallSplits.store(true, ordering: .relaxed)
        defer {
            Engine.threads = saved
            WorkerPool.forceSmallSplits.store(false, ordering: .relaxed)
        }
        for n in [3082, 6164, 20_000] {
            var sc = Scenario(n: n, capacity: 30, seed: 11)
            for k in 0..<40 {
                let g = sc.advance(k)
                var results: [[Float]] = []
                for threads in [1, 2, 3] {
                    Engine.threads = threads
                    var h = sc.float32
                    results.append(h.direction(gradient: g, hDiag: sc.hDiag, method: .compact))
                }
                XCTAssertEqual(results[0], results[1], "n \(n), iteration \(k): 1 and 2 threads")
                XCTAssertEqual(results[0], results[2], "n \(n), iteration \(k): 1 and 3 threads")
                Engine.threads = saved
                _ = sc.float32.direction(gradient: g, hDiag: sc.hDiag, method: .compact)
            }
        }
    }

    /// PyTorch's trajectories (OptimizerTests' fixtures, the same 1e-9 bounds) with each form.
    func testBothFormsFollowTorch() throws {
        let f = try OptimizerTests.fixture.get()
        for method in [LBFGSDirection.twoLoop, .compact] {
            for name in ["lbfgs", "lbfgs_strong_wolfe", "lbfgs_strong_wolfe_short", "lbfgs_strong_wolfe_long"] {
                for problemName in ["mlp", "rosenbrock"] {
                    let run = try f.run(name, problem: problemName)
                    let problem = try f.problem(problemName, dtype: .float64)
                    var opt = try OptimizerTests.makeLBFGS(name)
                    opt.directionMethod = method
                    var params = problem.initial
                    for k in 0..<f.steps {
                        let result = opt.step(parameters: &params) { problem.lossAndGradients($0) }
                        let what = "\(method): \(name) on \(problemName), step \(k + 1)"
                        XCTAssertNotEqual(result.termination, .nonFiniteEvaluation, what)
                        assertClose(flatDoubles(params), run.trajectory[k], tolerance: 1e-9, "\(what): parameters")
                        XCTAssertEqual(opt.totalEvaluations, run.funcEvals?[k], "\(what): cumulative closure evaluations")
                        XCTAssertEqual(opt.totalIterations, run.nIter?[k], "\(what): cumulative iterations")
                    }
                }
            }
        }
    }

    /// A Float32 run whose history wraps, checkpointed mid-way: the restored optimizer
    /// (whose Gram matrices are rebuilt from the pairs) continues bit for bit.
    func testSnapshotRestoreContinuesAWrappedFloat32History() throws {
        var rng = RandomGenerator(seed: 5)
        let n = 2000
        let target = Tensor.normal([n], using: &rng)
        let scale = Tensor.uniform([n], low: 0.5, high: 20, using: &rng)
        func evaluate(_ p: [Tensor]) -> LBFGS.Evaluation {
            let (v, g) = valueAndGrad(at: p) { (($0[0] - target).squared() * scale).sum() }
            return (v.item, g)
        }
        var straight = try LBFGS(learningRate: 0.5, maxIterations: 7, historySize: 4)
        var straightParams = [Tensor.zeros([n])]
        for _ in 0..<4 { straight.step(parameters: &straightParams, closure: evaluate) }
        var first = try LBFGS(learningRate: 0.5, maxIterations: 7, historySize: 4)
        var params = [Tensor.zeros([n])]
        for _ in 0..<2 { first.step(parameters: &params, closure: evaluate) }
        XCTAssertEqual(first.historyCount, 4)
        var resumed = try LBFGS()
        try resumed.restore(JSONDecoder().decode(OptimizerState.self, from: JSONEncoder().encode(first.snapshot())))
        for _ in 0..<2 { resumed.step(parameters: &params, closure: evaluate) }
        XCTAssertEqual(params[0].doubles, straightParams[0].doubles)
        XCTAssertEqual(resumed.snapshot(), straight.snapshot())
    }
}
