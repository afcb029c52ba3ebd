import XCTest
@testable import OutpostMetrics

final class PairingTests: XCTestCase {
    /// Five RGB photos32 patches and a degraded reconstruction of each (noise, blur, shift,
    /// darkening), from the scikit-image fixtures.
    private func batch() throws -> (truths: [Image], reconstructions: [Image]) {
        let names = ["rgb_noise_0.05", "rgb_noise_0.2", "rgb_blur_1.0", "rgb_shift_2_-3", "rgb_dark_0.6_noise"]
        let cases = try names.map { try Fixtures.named($0) }
        return (cases.map(\.truth), cases.map(\.reconstruction))
    }

    private func permutations(of n: Int) -> [[Int]] {
        guard n > 0 else { return [[]] }
        return permutations(of: n - 1).flatMap { p in (0...p.count).map { i in
            var q = p
            q.insert(n - 1, at: i)
            return q
        } }
    }

    func testOptimalPairingUndoesEveryPermutation() throws {
        let (truths, reconstructions) = try batch()
        var rng = SeededGenerator(seed: 11)
        for _ in 0..<6 {
            // shuffled[k] = reconstructions[order[k]]: truth t must pair with k where order[k] == t.
            let order = Array(0..<reconstructions.count).shuffled(using: &rng)
            let shuffled = order.map { reconstructions[$0] }
            for cost in [PairingCost.mse, .negativeSSIM] {
                let pairing = try Pairing.optimal(truths: truths, reconstructions: shuffled, cost: cost)
                for t in truths.indices {
                    XCTAssertEqual(pairing.reconstructionForTruth[t], order.firstIndex(of: t), "\(cost) order \(order)")
                }
            }
        }
    }

    func testCostMatrixOrientationAndCustomCost() throws {
        let (truths, reconstructions) = try batch()
        let matrix = try Pairing.costMatrix(truths: truths, reconstructions: Array(reconstructions.prefix(3)), cost: .mse)
        XCTAssertEqual(matrix.count, 5)
        XCTAssertEqual(matrix[0].count, 3)
        XCTAssertEqual(matrix[4][2], try ImageMetrics.mse(truths[4], reconstructions[2]))
        // A custom cost (as LPIPS will be): mean absolute error.
        let mae = PairingCost.custom(name: "MAE") { t, r in
            zip(t.pixels, r.pixels).map { abs($0 - $1) }.reduce(0, +) / Double(t.pixels.count)
        }
        let pairing = try Pairing.optimal(truths: truths, reconstructions: reconstructions.reversed(), cost: mae)
        XCTAssertEqual(pairing.reconstructionForTruth, [4, 3, 2, 1, 0])
        XCTAssertEqual(mae.description, "MAE")
    }

    func testCustomCostMustBeFinite() throws {
        let (truths, reconstructions) = try batch()
        let broken = PairingCost.custom(name: "broken") { _, _ in .nan }
        assertMetricsError(try Pairing.optimal(truths: truths, reconstructions: reconstructions, cost: broken),
                           mentions: ["broken", "not finite"]) {
            if case .invalidCostMatrix = $0 { return true }
            return false
        }
    }

    /// With ties in the costs, the optimal total still matches brute force over all pairings.
    func testOptimalTotalMatchesBruteForceOnImageCosts() throws {
        let (truths, reconstructions) = try batch()
        let matrix = try Pairing.costMatrix(truths: truths, reconstructions: reconstructions, cost: .negativeSSIM)
        let best = permutations(of: 5).map { p in p.enumerated().reduce(0.0) { $0 + matrix[$1.offset][$1.element] } }.min()!
        XCTAssertEqual(try Pairing.optimal(costs: matrix).totalCost, best, accuracy: 1e-12)
    }

    func testGivenPairingIsValidated() {
        XCTAssertNoThrow(try Pairing(reconstructionForTruth: [1, nil, 0], reconstructionCount: 2))
        assertMetricsError(try Pairing(reconstructionForTruth: [0, 0], reconstructionCount: 2),
                           mentions: ["reconstruction 0", "truths 0 and 1"]) {
            if case .invalidPairing = $0 { return true }
            return false
        }
        assertMetricsError(try Pairing(reconstructionForTruth: [3], reconstructionCount: 2), mentions: ["0..<2"]) {
            if case .invalidPairing = $0 { return true }
            return false
        }
        let inOrder = Pairing.inOrder(truthCount: 3, reconstructionCount: 2)
        XCTAssertEqual(inOrder.reconstructionForTruth, [0, 1, nil])
        XCTAssertEqual(inOrder.unpairedTruths, [2])
        XCTAssertEqual(inOrder.unpairedReconstructions, [])
    }

    func testBatchErrors() throws {
        let (truths, _) = try batch()
        assertMetricsError(try Pairing.optimal(truths: [], reconstructions: truths), mentions: ["truths"]) {
            if case .emptyBatch = $0 { return true }
            return false
        }
        let gray = try Fixtures.named("mnist_noise_0.1").truth
        assertMetricsError(try Pairing.optimal(truths: truths, reconstructions: [gray]), mentions: ["3x32x32", "1x28x28"]) {
            if case .shapeMismatch = $0 { return true }
            return false
        }
        assertMetricsError(try Pairing.optimal(truths: truths + [gray], reconstructions: truths)) {
            if case .shapeMismatch = $0 { return true }
            return false
        }
    }
}
