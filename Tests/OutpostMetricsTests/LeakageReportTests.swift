import XCTest
@testable import OutpostMetrics

final class LeakageReportTests: XCTestCase {
    private let names = ["rgb_noise_0.05", "rgb_noise_0.2", "rgb_blur_1.0", "rgb_shift_2_-3", "rgb_dark_0.6_noise"]

    private func batch() throws -> (truths: [Image], reconstructions: [Image], cases: [FixtureCase]) {
        let cases = try names.map { try Fixtures.named($0) }
        return (cases.map(\.truth), cases.map(\.reconstruction), cases)
    }

    func testMetricsAreInvariantToReconstructionOrder() throws {
        let (truths, reconstructions, cases) = try batch()
        let reference = try LeakageReport(truths: truths, reconstructions: reconstructions)
        // The in-order batch is already optimally paired; every metric matches scikit-image.
        for (t, pair) in reference.pairs.enumerated() {
            XCTAssertEqual(pair.truthIndex, t)
            XCTAssertEqual(pair.reconstructionIndex, t)
            XCTAssertEqual(pair.mse, cases[t].mse, accuracy: 1e-5)
            XCTAssertEqual(pair.psnr, cases[t].psnr, accuracy: 1e-5)
            if case let .value(v) = cases[t].ssim { XCTAssertEqual(pair.ssim, v, accuracy: 1e-5) }
            XCTAssertGreaterThanOrEqual(pair.brightnessAdjustedSSIM, pair.ssim)
        }
        XCTAssertEqual(reference.meanMSE, cases.map(\.mse).reduce(0, +) / 5, accuracy: 1e-5)
        // The darkened reconstruction gains most from the brightness search.
        XCTAssertGreaterThan(reference.pairs[4].brightnessAdjustedSSIM, reference.pairs[4].ssim + 0.05)

        var rng = SeededGenerator(seed: 23)
        for _ in 0..<4 {
            let order = Array(0..<5).shuffled(using: &rng)
            let shuffled = order.map { reconstructions[$0] }
            let report = try LeakageReport(truths: truths, reconstructions: shuffled)
            for (t, pair) in report.pairs.enumerated() {
                XCTAssertEqual(pair.truthIndex, t)
                XCTAssertEqual(order[pair.reconstructionIndex], t, "order \(order)")
                let expected = reference.pairs[t]
                XCTAssertEqual(pair.mse, expected.mse)
                XCTAssertEqual(pair.psnr, expected.psnr)
                XCTAssertEqual(pair.ssim, expected.ssim)
                XCTAssertEqual(pair.brightnessAdjustedSSIM, expected.brightnessAdjustedSSIM)
                XCTAssertEqual(pair.brightnessAdjustment, expected.brightnessAdjustment)
            }
            XCTAssertEqual(report.meanMSE, reference.meanMSE, accuracy: 1e-15)
            XCTAssertEqual(report.meanPSNR, reference.meanPSNR, accuracy: 1e-12)
            XCTAssertEqual(report.meanSSIM, reference.meanSSIM, accuracy: 1e-15)
            XCTAssertEqual(report.meanBrightnessAdjustedSSIM, reference.meanBrightnessAdjustedSSIM, accuracy: 1e-15)
            // Pairing by -SSIM finds the same pairs here.
            let bySSIM = try LeakageReport(truths: truths, reconstructions: shuffled, pairing: .optimal(.negativeSSIM))
            XCTAssertEqual(bySSIM.pairing.reconstructionForTruth, report.pairing.reconstructionForTruth)
        }
    }

    func testAllMetricsUseOnePairing() throws {
        let (truths, reconstructions, _) = try batch()
        // A given pairing that is deliberately wrong: every metric must follow it.
        let wrong = try Pairing(reconstructionForTruth: [1, 2, 3, 4, 0], reconstructionCount: 5)
        let report = try LeakageReport(truths: truths, reconstructions: reconstructions, pairing: .given(wrong))
        XCTAssertEqual(report.pairingDescription, "given")
        for pair in report.pairs {
            let r = reconstructions[pair.reconstructionIndex], t = truths[pair.truthIndex]
            XCTAssertEqual(pair.reconstructionIndex, (pair.truthIndex + 1) % 5)
            XCTAssertEqual(pair.mse, try ImageMetrics.mse(t, r))
            XCTAssertEqual(pair.ssim, try ImageMetrics.ssim(t, r), accuracy: 1e-15)
            XCTAssertEqual(pair.brightnessAdjustedSSIM, try ImageMetrics.brightnessAdjustedSSIM(t, r).ssim, accuracy: 1e-15)
        }
        let optimal = try LeakageReport(truths: truths, reconstructions: reconstructions)
        XCTAssertGreaterThan(report.meanMSE, optimal.meanMSE)
        XCTAssertLessThan(report.meanSSIM, optimal.meanSSIM)
    }

    func testUnequalCounts() throws {
        let (truths, reconstructions, _) = try batch()
        // Fewer reconstructions than truths: reconstructions of truths 3 and 1, shuffled.
        let few = try LeakageReport(truths: truths, reconstructions: [reconstructions[3], reconstructions[1]])
        XCTAssertEqual(few.pairs.map(\.truthIndex), [1, 3])
        XCTAssertEqual(few.pairs.map(\.reconstructionIndex), [1, 0])
        XCTAssertEqual(few.unpairedTruths, [0, 2, 4])
        XCTAssertEqual(few.unpairedReconstructions, [])
        // More reconstructions than truths (e.g. an attack that outputs extra candidates).
        let many = try LeakageReport(truths: [truths[2]], reconstructions: reconstructions)
        XCTAssertEqual(many.pairs.map(\.reconstructionIndex), [2])
        XCTAssertEqual(many.unpairedReconstructions, [0, 1, 3, 4])
        // In order with unequal counts pairs the common prefix.
        let inOrder = try LeakageReport(truths: truths, reconstructions: Array(reconstructions.prefix(2)), pairing: .inOrder)
        XCTAssertEqual(inOrder.pairs.map(\.reconstructionIndex), [0, 1])
        XCTAssertEqual(inOrder.unpairedTruths, [2, 3, 4])
    }

    func testExactReconstructionHasInfinitePSNR() throws {
        let (truths, reconstructions, _) = try batch()
        let report = try LeakageReport(truths: truths, reconstructions: [truths[0]] + reconstructions.dropFirst())
        XCTAssertEqual(report.pairs[0].psnr, .infinity)
        XCTAssertEqual(report.pairs[0].ssim, 1, accuracy: 1e-12)
        XCTAssertEqual(report.pairs[0].brightnessAdjustment, .identity)
        XCTAssertEqual(report.meanPSNR, .infinity)
        XCTAssertTrue(report.meanMSE.isFinite)
    }

    func testReportErrors() throws {
        let (truths, reconstructions, _) = try batch()
        assertMetricsError(try LeakageReport(truths: truths, reconstructions: []), mentions: ["reconstructions"]) {
            if case .emptyBatch = $0 { return true }
            return false
        }
        let mismatched = try Pairing(reconstructionForTruth: [0, 1], reconstructionCount: 2)
        assertMetricsError(try LeakageReport(truths: truths, reconstructions: reconstructions, pairing: .given(mismatched)),
                           mentions: ["2 truths", "hold 5 and 5"]) {
            if case .invalidPairing = $0 { return true }
            return false
        }
        let none = try Pairing(reconstructionForTruth: [nil, nil, nil, nil, nil], reconstructionCount: 5)
        assertMetricsError(try LeakageReport(truths: truths, reconstructions: reconstructions, pairing: .given(none)),
                           mentions: ["no images"]) {
            if case .invalidPairing = $0 { return true }
            return false
        }
        let small = try Fixtures.named("mnist_crop_9x9_noise")
        assertMetricsError(try LeakageReport(truths: [small.truth], reconstructions: [small.reconstruction]), mentions: ["9x9"]) {
            if case .imageSmallerThanWindow = $0 { return true }
            return false
        }
        // With the smaller window the report works and matches scikit-image's win_size=7.
        let report = try LeakageReport(truths: [small.truth], reconstructions: [small.reconstruction], ssimWindowSize: 7)
        guard case let .value(expected)? = small.ssimByWindow[7] else { return XCTFail("fixture lacks window 7") }
        XCTAssertEqual(report.pairs[0].ssim, expected, accuracy: 1e-5)
    }

    func testFormattedTable() throws {
        let (truths, reconstructions, _) = try batch()
        let report = try LeakageReport(truths: Array(truths.prefix(3)) + [truths[0]],
                                       reconstructions: [reconstructions[1], truths[0], reconstructions[2]])
        let table = report.formattedTable()
        let lines = table.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "3 pairs, pairing optimal by MSE, SSIM window 11")
        XCTAssertEqual(lines[1].split(separator: " ", omittingEmptySubsequences: true).joined(separator: " "),
                       "truth recon MSE PSNR dB SSIM SSIM adj. adjustment")
        XCTAssertEqual(lines.count, 1 + 1 + 3 + 1 + 1)
        XCTAssertTrue(lines[5].hasPrefix(" mean"), lines[5])
        XCTAssertEqual(lines[6], "unpaired truths: 3")
        // Each pair row shows its values; the exact reconstruction shows PSNR inf.
        for (row, pair) in zip(lines[2...4], report.pairs) {
            let cells = row.split(separator: " ").map(String.init)
            XCTAssertEqual(cells[0], "\(pair.truthIndex)")
            XCTAssertEqual(cells[1], "\(pair.reconstructionIndex)")
            XCTAssertEqual(cells[2], formatFixed(pair.mse, digits: 6))
            XCTAssertEqual(cells[3], pair.psnr.isInfinite ? "inf" : formatFixed(pair.psnr, digits: 2))
            XCTAssertEqual(cells[4], formatFixed(pair.ssim, digits: 4))
            XCTAssertEqual(cells[5], formatFixed(pair.brightnessAdjustedSSIM, digits: 4))
            XCTAssertEqual(cells[6...].joined(separator: " "), pair.brightnessAdjustment.description)
        }
        XCTAssertTrue(lines[2].contains(" inf "), lines[2])
        // Columns line up: every row has the header's width up to the adjustment column.
        let adjustmentColumn = lines[1].range(of: "adjustment")!.lowerBound.utf16Offset(in: lines[1])
        for row in lines[2...4] {
            XCTAssertEqual(row.range(of: "x")!.lowerBound.utf16Offset(in: row), adjustmentColumn, row)
        }
        // A single pair, as `outpost metrics a.png b.png` will print it.
        let single = try LeakageReport(truths: [truths[0]], reconstructions: [reconstructions[0]], pairing: .inOrder)
        XCTAssertTrue(single.formattedTable().hasPrefix("1 pair, pairing in order, SSIM window 11\n"))
    }

    func testFormatFixed() {
        XCTAssertEqual(formatFixed(.infinity, digits: 2), "inf")
        XCTAssertEqual(formatFixed(-.infinity, digits: 2), "-inf")
        XCTAssertEqual(formatFixed(.nan, digits: 2), "nan")
        XCTAssertEqual(formatFixed(-0.0001, digits: 2), "0.00")
        XCTAssertEqual(formatFixed(-1.236, digits: 2), "-1.24")
        XCTAssertEqual(formatFixed(26.3344, digits: 2), "26.33")
    }
}
