import XCTest
@testable import OutpostMetrics

final class BrightnessTests: XCTestCase {
    func testNeverBelowPlainSSIM() throws {
        var rng = SeededGenerator(seed: 5)
        var pairs = try Fixtures.allCases()
            .filter { min($0.truth.height, $0.truth.width) >= 11 }
            .map { ($0.truth, $0.reconstruction) }
        for _ in 0..<4 {
            pairs.append((randomImage(channels: 1, height: 12, width: 13, using: &rng),
                          randomImage(channels: 1, height: 12, width: 13, using: &rng)))
        }
        XCTAssertGreaterThanOrEqual(pairs.count, 20)
        for (truth, reconstruction) in pairs {
            let plain = try ImageMetrics.ssim(truth, reconstruction)
            let adjusted = try ImageMetrics.brightnessAdjustedSSIM(truth, reconstruction)
            XCTAssertEqual(adjusted.plainSSIM, plain)
            XCTAssertGreaterThanOrEqual(adjusted.ssim, plain)
            // The reported adjustment reproduces the reported value.
            let check = try ImageMetrics.ssim(truth, adjusted.adjustment.apply(to: reconstruction))
            XCTAssertEqual(check, adjusted.ssim, accuracy: 1e-12)
        }
    }

    func testDarkenedCopyIsRecovered() throws {
        let truth = try Fixtures.named("rgb_noise_0.05").truth
        // Additive darkening without clipping: truth in [0.3, 1], copy = truth - 0.3.
        let lifted = BrightnessAdjustment(gain: 0.7, offset: 0.3).apply(to: truth)
        let dark = BrightnessAdjustment(gain: 1, offset: -0.3).apply(to: lifted)
        XCTAssertLessThan(try ImageMetrics.ssim(lifted, dark), 0.9)
        let additive = try ImageMetrics.brightnessAdjustedSSIM(lifted, dark, search: .additive)
        XCTAssertEqual(additive.ssim, 1, accuracy: 1e-9)
        XCTAssertEqual(additive.adjustment.offset, 0.3, accuracy: 1e-12)

        // Scaled toward black: 0.5 x truth is undone by gain 2.
        let half = BrightnessAdjustment(gain: 0.5, offset: 0).apply(to: truth)
        let plain = try ImageMetrics.ssim(truth, half)
        XCTAssertLessThan(plain, 0.9)
        let withGain = try ImageMetrics.brightnessAdjustedSSIM(truth, half, search: .additiveAndGain)
        XCTAssertEqual(withGain.ssim, 1, accuracy: 1e-9)
        XCTAssertEqual(withGain.adjustment, BrightnessAdjustment(gain: 2, offset: 0))
        // Offsets alone help but cannot restore the lost contrast.
        let offsetsOnly = try ImageMetrics.brightnessAdjustedSSIM(truth, half, search: .additive)
        XCTAssertGreaterThan(offsetsOnly.ssim, plain)
        XCTAssertLessThan(offsetsOnly.ssim, withGain.ssim)
    }

    func testSearchGridAndCandidateOrder() throws {
        XCTAssertEqual(BrightnessSearch.defaultOffsets.count, 21)
        XCTAssertEqual(BrightnessSearch.defaultOffsets.first, -0.5)
        XCTAssertEqual(BrightnessSearch.defaultOffsets.last, 0.5)
        XCTAssertEqual(BrightnessSearch.defaultGains, [0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2])
        XCTAssertEqual(BrightnessSearch.additive.candidates.count, 21)
        XCTAssertEqual(BrightnessSearch.additiveAndGain.candidates.count, 336)
        XCTAssertEqual(BrightnessSearch.additiveAndGain.candidates.first, .identity)
        // Identity is added when the grid lacks it.
        let custom = try BrightnessSearch(gains: [2], offsets: [0.1])
        XCTAssertEqual(custom.candidates, [.identity, .init(gain: 1, offset: 0.1), .init(gain: 2, offset: 0), .init(gain: 2, offset: 0.1)])
    }

    func testInvalidSearchesThrow() {
        for (gains, offsets) in [([Double](), [0.0]), ([1.0], []), ([0.0], [0.0]), ([-1.0], [0.0]), ([1.0], [Double.nan]), ([Double.infinity], [0.0])] {
            assertMetricsError(try BrightnessSearch(gains: gains, offsets: offsets), mentions: ["brightness search"]) {
                if case .invalidBrightnessSearch = $0 { return true }
                return false
            }
        }
    }

    func testAdjustmentClampsAndDescribesItself() throws {
        let image = try Image(channels: 1, height: 1, width: 4, pixels: [0, 0.25, 0.5, 1.0])
        XCTAssertEqual(BrightnessAdjustment(gain: 2, offset: -0.25).apply(to: image).pixels, [0, 0.25, 0.75, 1])
        XCTAssertEqual(BrightnessAdjustment.identity.apply(to: image), image)
        XCTAssertEqual(BrightnessAdjustment(gain: 1.5, offset: -0.05).description, "x1.50 -0.05")
        XCTAssertEqual(BrightnessAdjustment.identity.description, "x1.00 +0.00")
    }
}
