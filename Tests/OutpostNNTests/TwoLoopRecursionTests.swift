@testable import OutpostNN
@testable import OutpostTensor
import XCTest

/// L-BFGS's two-loop recursion: split into halves (and run on two threads) it gives the same
/// bits as on one thread, and agrees with the whole-vector recursion to Float rounding.
final class TwoLoopRecursionTests: XCTestCase {
    private func history(n: Int, pairs: Int, seed: UInt64) -> (g: [Float], s: [[Float]], y: [[Float]], ro: [Double]) {
        var rng = RandomGenerator(seed: seed)
        func vector() -> [Float] { Tensor.normal([n], dtype: .float32, using: &rng).scalars }
        let s = (0..<pairs).map { _ in vector() }
        // y = s + noise keeps yᵀs positive, as L-BFGS's curvature condition requires.
        let y = s.map { si in zip(si, vector()).map { $0 + 0.1 * $1 } }
        let ro = zip(s, y).map { 1 / FlatVector.dot($0, $1) }
        return (vector(), s, y, ro)
    }

    func testHalvesGiveTheSameBitsOnOneAndTwoThreads() {
        let h = history(n: 5000, pairs: 30, seed: 1)
        func direction(threads: Int, forcePairing: Bool) -> [Float] {
            let saved = Engine.threads
            Engine.threads = threads
            WorkerPool.forcePairing.store(forcePairing, ordering: .relaxed)
            defer {
                Engine.threads = saved
                WorkerPool.forcePairing.store(false, ordering: .relaxed)
            }
            return TwoLoopRecursion.direction(gradient: h.g, steps: h.s, dirs: h.y, ro: h.ro, hDiag: 0.7)
        }
        let one = direction(threads: 1, forcePairing: false)
        for _ in 0..<20 { XCTAssertEqual(direction(threads: 2, forcePairing: true), one) }

        let whole = TwoLoopRecursion.direction(gradient: h.g.map(Double.init), steps: h.s.map { $0.map(Double.init) },
                                               dirs: h.y.map { $0.map(Double.init) }, ro: h.ro, hDiag: 0.7)
        let scale = whole.map(abs).max()!
        XCTAssertLessThan(zip(one, whole).map { abs(Double($0) - $1) }.max()! / scale, 1e-4)
    }

    func testPairedReductionSumsInOrderOnBothHalves() {
        WorkerPool.forcePairing.store(true, ordering: .relaxed)
        defer { WorkerPool.forcePairing.store(false, ordering: .relaxed) }
        let saved = Engine.threads
        Engine.threads = 2
        defer { Engine.threads = saved }
        let rounds = 10_000
        let results = UnsafeMutablePointer<Double>.allocate(capacity: 2 * rounds)
        defer { results.deallocate() }
        let ran = PairedWork.run { half, reduction in
            for r in 0..<rounds { results[half * rounds + r] = reduction.sum(Double(r) + (half == 0 ? 0.25 : 1e-17), half: half) }
        }
        guard ProcessInfo.processInfo.activeProcessorCount >= 2 else { return XCTAssertFalse(ran) }
        XCTAssertTrue(ran)
        for r in 0..<rounds {
            let expected = (Double(r) + 0.25) + (Double(r) + 1e-17)
            XCTAssertEqual(results[r], expected)
            XCTAssertEqual(results[rounds + r], expected)
        }
    }
}
