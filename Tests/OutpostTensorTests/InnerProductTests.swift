import OutpostTensor
import XCTest

final class InnerProductTests: XCTestCase {
    func testGradients() {
        let a = randn([3, 4], seed: 11), b = randn([3, 4], seed: 12)
        checkGradients("dot", [a, b]) { $0[0].dot($0[1]) }
        checkGradients("sum of squares", [a]) { $0[0].sumOfSquares() }
        checkGradients("squared distance", [a, b]) { $0[0].squaredDistance($0[1]) }
        let alpha = randn([], seed: 17), beta = randn([], seed: 18)
        checkGradients("linear combination", [a, alpha, b, beta]) { Tensor.linearCombination($0[0], $0[1], $0[2], $0[3]) }
        checkGradients("linear combination squared", [a, alpha, b, beta]) {
            Tensor.linearCombination($0[0], $0[1], $0[2], $0[3]).squared()
        }
        // Each primitive feeding a non-linear function, so second order sees every rule's own backward.
        checkGradients("dot squared", [a, b]) { $0[0].dot($0[1]).squared() }
        checkGradients("sum of squares composed", [a]) { ($0[0].sumOfSquares() + 1).log() }
        checkGradients("squared distance composed", [a, b]) { $0[0].squaredDistance($0[1]).sqrt() }
    }

    func testValuesMatchTheUnfusedOps() {
        let a = randn([7, 5], seed: 13).cast(to: .float32), b = randn([7, 5], seed: 14).cast(to: .float32)
        XCTAssertEqual(a.dot(b).item, (a * b).sum().item, accuracy: 1e-5)
        XCTAssertEqual(a.sumOfSquares().item, a.squared().sum().item, accuracy: 1e-5)
        XCTAssertEqual(a.squaredDistance(b).item, (a - b).squared().sum().item, accuracy: 1e-4)
        let combined = Tensor.linearCombination(a, Tensor(scalar: 2), b, Tensor(scalar: -0.5))
        XCTAssertEqual(combined.doubles, (a * 2 - b * 0.5).doubles)
    }

    /// Long vectors split across threads: the chunked sum must equal the one-thread sum.
    func testLongVectorsAcrossThreads() {
        let n = 1 << 19
        let a = randn([n], seed: 15).cast(to: .float32), b = randn([n], seed: 16).cast(to: .float32)
        let saved = Engine.threads
        defer { Engine.threads = saved }
        let xs = a.doubles, ys = b.doubles
        let exactDot = zip(xs, ys).reduce(0) { $0 + $1.0 * $1.1 }
        let exactDistance = zip(xs, ys).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        for threads in [1, 2, 3] {
            Engine.threads = threads
            XCTAssertEqual(a.dot(b).item, exactDot, accuracy: 1e-3 * abs(exactDot) + 1e-2, "\(threads) threads")
            XCTAssertEqual(a.squaredDistance(b).item, exactDistance, accuracy: 1e-6 * exactDistance, "\(threads) threads")
        }
    }

    private func layers(_ seed: UInt64) -> [Tensor] {
        [randn([3, 4], seed: seed), randn([5], seed: seed + 1), randn([2, 2, 2], seed: seed + 2)]
    }

    func testCosineDistanceGradients() {
        let b = layers(30)
        let normSquared = b.reduce(0) { $0 + $1.sumOfSquares().item }
        checkGradients("cosine distance", layers(20)) { Tensor.cosineDistance($0, b, targetNormSquared: normSquared) }
        let w = [0.5, 0, 2.0]
        let weightedNorm = zip(b, w).reduce(0) { $0 + $1.1 * $1.0.sumOfSquares().item }
        checkGradients("weighted cosine distance", layers(20)) {
            Tensor.cosineDistance($0, b, targetNormSquared: weightedNorm, weights: w)
        }
    }

    /// The value is ½ Σ w‖a/‖a‖ − b/‖b‖‖², which equals 1 − cos for any pair.
    func testCosineDistanceValue() {
        let a = layers(40), b = layers(50), w = [1.0, 3.0, 0.25]
        let dot = zip(zip(a, b), w).reduce(0) { $0 + $1.1 * $1.0.0.dot($1.0.1).item }
        let na = zip(a, w).reduce(0) { $0 + $1.1 * $1.0.sumOfSquares().item }
        let nb = zip(b, w).reduce(0) { $0 + $1.1 * $1.0.sumOfSquares().item }
        let value = Tensor.cosineDistance(a, b, targetNormSquared: nb, weights: w).item
        XCTAssertEqual(value, 1 - dot / (na * nb).squareRoot(), accuracy: 1e-12)
    }

    /// Near a perfect match in float32, the value keeps its relative precision where
    /// 1 − a·b/(‖a‖‖b‖) in float32 is rounding noise of about 1e-7.
    func testCosineDistancePrecisionNearAMatch() {
        let b = randn([4096], seed: 60)
        let a = (b * 3 + randn([4096], seed: 61) * 1e-6)
        let reference = Tensor.cosineDistance([a], [b], targetNormSquared: b.sumOfSquares().item).item
        XCTAssertGreaterThan(reference, 1e-15)
        XCTAssertLessThan(reference, 1e-11)
        let a32 = a.cast(to: .float32), b32 = b.cast(to: .float32)
        // Rounding to float32 moves the inputs by ~6e-8 relative, and so 1 − cos; compare with
        // the exact value of the rounded inputs.
        let normSquared = b32.cast(to: .float64).sumOfSquares().item
        let value = Tensor.cosineDistance([a32], [b32], targetNormSquared: normSquared).item
        let exact = Tensor.cosineDistance([a32.cast(to: .float64)], [b32.cast(to: .float64)], targetNormSquared: normSquared).item
        XCTAssertGreaterThan(exact, 1e-15)
        XCTAssertEqual(value, exact, accuracy: 1e-6 * exact)
    }
    /// Away from a match, a float32 value comes from the Double-accumulated dot products
    /// (one pass fewer); it must still equal the exact value of the rounded inputs, on both
    /// sides of the floor where the exact pass takes over.
    func testCosineDistanceFloat32AwayFromAMatch() {
        let b = randn([5000], seed: 62)
        for (noise, expected) in [(1.0, 0.05...1.0), (0.042, 1.5e-5...1e-3), (0.01, 1e-7...9e-6)] {
            let a = b * 3 + randn([5000], seed: 63) * noise
            let a32 = a.cast(to: .float32), b32 = b.cast(to: .float32)
            let normSquared = b32.cast(to: .float64).sumOfSquares().item
            let value = Tensor.cosineDistance([a32], [b32], targetNormSquared: normSquared).item
            let exact = Tensor.cosineDistance([a32.cast(to: .float64)], [b32.cast(to: .float64)], targetNormSquared: normSquared).item
            XCTAssertTrue(expected.contains(exact), "noise \(noise): 1 - cos = \(exact)")
            // The loss is a float32 scalar: one rounding of the Double value apart at most.
            XCTAssertEqual(value, exact, accuracy: 1.2e-7 * exact, "noise \(noise)")
        }
    }
}
