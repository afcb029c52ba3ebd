@testable import OutpostNN
import OutpostTensor
import XCTest

/// The inner-product form of L-BFGS's two-loop recursion (`HistoryProducts`) against the
/// recursion as PyTorch writes it, in Double, through a history that fills up, drops its
/// oldest pairs and skips rejected ones.
final class LBFGSInnerProductTests: XCTestCase {
    /// torch/optim/lbfgs.py's two-loop recursion, in Double throughout.
    private func twoLoop(_ g: [Double], _ steps: [[Double]], _ dirs: [[Double]], _ ro: [Double], _ gamma: Double) -> [Double] {
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        let m = dirs.count
        var al = [Double](repeating: 0, count: m)
        var q = g.map { -$0 }
        for i in stride(from: m - 1, through: 0, by: -1) {
            al[i] = dot(steps[i], q) * ro[i]
            for k in q.indices { q[k] -= al[i] * dirs[i][k] }
        }
        var d = q.map { $0 * gamma }
        for i in 0..<m {
            let be = dot(dirs[i], d) * ro[i]
            for k in d.indices { d[k] += (al[i] - be) * steps[i][k] }
        }
        return d
    }

    private func vector(_ n: Int, _ rng: inout RandomGenerator) -> [Double] { (0..<n).map { _ in rng.normal() } }

    /// A history of curvature pairs of a random positive-definite diagonal quadratic (so
    /// y·s > 0), run through a capacity smaller than the number of pairs, with every third
    /// iteration's pair rejected; each direction must match the two-loop recursion.
    private func checkSequence(n: Int, capacity: Int, iterations: Int, seed: UInt64) {
        var rng = RandomGenerator(seed: seed)
        let curvature = (0..<n).map { _ in 0.5 + rng.uniform() * 4 }
        var steps: [[Double]] = [], dirs: [[Double]] = [], ro: [Double] = []
        var products = HistoryProducts(), gamma = 1.0
        var worst = 0.0
        for iteration in 0..<iterations {
            let s = vector(n, &rng)
            let y = zip(s, curvature).map { $0 * $1 + 0.01 * rng.normal() }
            let ys = zip(y, s).reduce(0) { $0 + $1.0 * $1.1 }
            var dropped = false, added = false
            if iteration % 3 != 2 && ys > 1e-10 {
                if dirs.count == capacity {
                    dirs.removeFirst(); steps.removeFirst(); ro.removeFirst()
                    dropped = true
                }
                dirs.append(y); steps.append(s); ro.append(1 / ys)
                added = true
                gamma = ys / y.reduce(0) { $0 + $1 * $1 }
            }
            let g = vector(n, &rng)
            let d = products.direction(gradient: g, steps: steps, dirs: dirs, ro: ro, hDiag: gamma,
                                       dropped: dropped, added: added, capacity: capacity)
            let reference = twoLoop(g, steps, dirs, ro, gamma)
            let scale = reference.map(abs).max()!
            let error = zip(d, reference).map { abs($0 - $1) }.max()!
            worst = max(worst, error / scale)
            XCTAssertLessThan(error, 1e-11 * scale, "n \(n) capacity \(capacity) iteration \(iteration): pairs \(dirs.count)")
            XCTAssertEqual(products.count, dirs.count)

            // A fresh set of products (a restored optimizer) rebuilds the matrices and must
            // give the same direction to the last bit.
            var rebuilt = HistoryProducts()
            let again = rebuilt.direction(gradient: g, steps: steps, dirs: dirs, ro: ro, hDiag: gamma,
                                          dropped: false, added: false, capacity: capacity)
            XCTAssertEqual(again, d, "rebuilt products, iteration \(iteration)")
        }
        XCTAssertGreaterThan(worst, 0, "the two forms round differently; identical results suggest the old path ran")
    }

    func testEmptyHistoryGivesTheScaledNegativeGradient() {
        // Every pair so far rejected: PyTorch's d = −g · H_diag.
        var products = HistoryProducts()
        let g: [Double] = [1, -2, 0.5]
        XCTAssertEqual(products.direction(gradient: g, steps: [], dirs: [], ro: [], hDiag: 0.5, dropped: false, added: false, capacity: 4),
                       [-0.5, 1, -0.25])
        var floats = HistoryProducts()
        XCTAssertEqual(floats.direction(gradient: [Float](), steps: [], dirs: [], ro: [], hDiag: 1, dropped: false, added: false, capacity: 4), [])
    }

    func testMatchesTwoLoopWhileTheHistoryFillsAndWraps() {
        checkSequence(n: 37, capacity: 5, iterations: 20, seed: 1)
        checkSequence(n: 64, capacity: 1, iterations: 6, seed: 2)
    }

    func testMatchesTwoLoopOnVectorsSplitAcrossThreads() {
        // Long enough for the two halves to run on two threads where a worker polls.
        let saved = Engine.threads
        Engine.threads = 2
        defer { Engine.threads = saved }
        checkSequence(n: 5003, capacity: 8, iterations: 14, seed: 3)
    }

    /// Float vectors: the scalars stay in Double, each update of d is rounded to Float.
    func testFloatDirectionsMatchTheDoubleRecursion() {
        var rng = RandomGenerator(seed: 4)
        let n = 3082, m = 6
        let curvature = (0..<n).map { _ in 0.5 + rng.uniform() * 4 }
        var steps: [[Float]] = [], dirs: [[Float]] = [], ro: [Double] = []
        for _ in 0..<m {
            let s = vector(n, &rng).map { Float($0) }
            let y = zip(s, curvature).map { Float(Double($0) * $1) }
            steps.append(s); dirs.append(y)
            ro.append(1 / zip(y, s).reduce(0) { $0 + Double($1.0) * Double($1.1) })
        }
        let g = vector(n, &rng).map { Float($0) }
        var products = HistoryProducts()
        let d = products.direction(gradient: g, steps: steps, dirs: dirs, ro: ro, hDiag: 0.7, dropped: false, added: false, capacity: 10)
        let reference = twoLoop(g.map(Double.init), steps.map { $0.map(Double.init) }, dirs.map { $0.map(Double.init) }, ro, 0.7)
        let scale = reference.map(abs).max()!
        for (a, b) in zip(d, reference) { XCTAssertEqual(Double(a), b, accuracy: 1e-5 * scale) }
    }
}
