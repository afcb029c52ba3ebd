import XCTest
@testable import OutpostMetrics

/// Bad input gives a thrown MetricsError with a clear message, never a trap.
final class ImageValidationTests: XCTestCase {
    func testValidImageFromFloatsAndDoubles() throws {
        let floats: [Float] = [0, 0.25, 0.5, 1, 0.75, 0.125]
        let a = try Image(channels: 2, height: 1, width: 3, pixels: floats)
        XCTAssertEqual(a.pixels, [0, 0.25, 0.5, 1, 0.75, 0.125])
        XCTAssertEqual(a[1, 0, 2], 0.125)
        XCTAssertEqual(a.shapeDescription, "2x1x3")
        let b = try Image(channels: 2, height: 1, width: 3, pixels: a.pixels)
        XCTAssertEqual(a, b)
    }

    func testBatchFromNCHW() throws {
        let flat: [Float] = (0..<24).map { Float($0) / 23 }
        let images = try Image.batch(count: 2, channels: 3, height: 2, width: 2, pixels: flat)
        XCTAssertEqual(images.count, 2)
        XCTAssertEqual(images[1][0, 0, 0], Double(Float(12) / 23))
        XCTAssertEqual(images[1][2, 1, 1], 1)
        assertMetricsError(try Image.batch(count: 3, channels: 3, height: 2, width: 2, pixels: flat),
                           mentions: ["3x3x2x2", "36", "24"]) {
            if case .pixelCountMismatch(36, 24, _) = $0 { return true }
            return false
        }
        assertMetricsError(try Image.batch(count: 0, channels: 3, height: 2, width: 2, pixels: [Float]())) {
            if case .emptyBatch = $0 { return true }
            return false
        }
        var bad = flat
        bad[13] = .nan
        assertMetricsError(try Image.batch(count: 2, channels: 3, height: 2, width: 2, pixels: bad), mentions: ["row 0, column 1"]) {
            if case .nonFinitePixel(0, 0, 1, _) = $0 { return true }
            return false
        }
    }

    func testPixelCountMismatch() {
        assertMetricsError(try Image(channels: 3, height: 4, width: 4, pixels: [Double](repeating: 0, count: 47)),
                           mentions: ["3x4x4", "48", "47"]) {
            if case .pixelCountMismatch(48, 47, _) = $0 { return true }
            return false
        }
    }

    func testEmptyShapes() {
        for (c, h, w) in [(0, 4, 4), (1, 0, 4), (1, 4, 0), (-1, 4, 4)] {
            assertMetricsError(try Image(channels: c, height: h, width: w, pixels: [Double]()), mentions: ["empty"]) {
                if case .emptyImage = $0 { return true }
                return false
            }
        }
        assertMetricsError(try Image(channels: Int.max, height: 2, width: 2, pixels: [Double]())) {
            if case .pixelCountMismatch = $0 { return true }
            return false
        }
    }

    func testNaNAndInfinityAreRejectedWithTheirPosition() {
        var pixels = [Float](repeating: 0.5, count: 2 * 3 * 4)
        pixels[1 * 12 + 2 * 4 + 3] = .nan
        assertMetricsError(try Image(channels: 2, height: 3, width: 4, pixels: pixels),
                           mentions: ["nan", "channel 1", "row 2", "column 3"]) {
            if case .nonFinitePixel(1, 2, 3, _) = $0 { return true }
            return false
        }
        // Clamping does not hide a NaN or an infinity.
        pixels[1 * 12 + 2 * 4 + 3] = -.infinity
        assertMetricsError(try Image(channels: 2, height: 3, width: 4, pixels: pixels, outOfRange: .clamp),
                           mentions: ["-inf"]) {
            if case .nonFinitePixel = $0 { return true }
            return false
        }
    }

    func testOutOfRangeIsRejectedOrClamped() throws {
        let pixels: [Double] = [-0.2, 0.5, 1.3, 1]
        assertMetricsError(try Image(channels: 1, height: 2, width: 2, pixels: pixels),
                           mentions: ["-0.2", "outside [0, 1]", ".clamp"]) {
            if case .pixelOutOfRange(0, 0, 0, -0.2) = $0 { return true }
            return false
        }
        let clamped = try Image(channels: 1, height: 2, width: 2, pixels: pixels, outOfRange: .clamp)
        XCTAssertEqual(clamped.pixels, [0, 0.5, 1, 1])
    }

    func testMetricsRejectShapeMismatch() throws {
        let a = try Image(channels: 1, height: 12, width: 12, pixels: [Double](repeating: 0.5, count: 144))
        let b = try Image(channels: 3, height: 12, width: 4, pixels: [Double](repeating: 0.5, count: 144))
        let isShapeMismatch: (MetricsError) -> Bool = {
            if case .shapeMismatch = $0 { return true }
            return false
        }
        assertMetricsError(try ImageMetrics.mse(a, b), mentions: ["1x12x12", "3x12x4"], isShapeMismatch)
        assertMetricsError(try ImageMetrics.psnr(a, b), isShapeMismatch)
        assertMetricsError(try ImageMetrics.ssim(a, b), isShapeMismatch)
        assertMetricsError(try ImageMetrics.brightnessAdjustedSSIM(a, b), isShapeMismatch)
        assertMetricsError(try ImageMetrics.ssim([a, a], [a, b]), isShapeMismatch)
    }

    func testBatchCountsAndEmptiness() throws {
        let a = try Image(channels: 1, height: 12, width: 12, pixels: [Double](repeating: 0.5, count: 144))
        assertMetricsError(try ImageMetrics.mse([a, a], [a]), mentions: ["expected 2, got 1"]) {
            if case .countMismatch = $0 { return true }
            return false
        }
        assertMetricsError(try ImageMetrics.psnr([], []), mentions: ["empty batch"]) {
            if case .emptyBatch = $0 { return true }
            return false
        }
    }

    func testSSIMSizeLimits() throws {
        var rng = SeededGenerator(seed: 3)
        func pair(_ h: Int, _ w: Int) -> (Image, Image) {
            (randomImage(channels: 1, height: h, width: w, using: &rng), randomImage(channels: 1, height: h, width: w, using: &rng))
        }
        // Below 7 on a side: always rejected, whatever the window.
        for (h, w) in [(6, 6), (6, 32), (32, 3), (1, 1)] {
            let (a, b) = pair(h, w)
            for window in [7, 11] {
                assertMetricsError(try ImageMetrics.ssim(a, b, windowSize: window), mentions: ["\(h)x\(w)", "at least 7"]) {
                    if case .imageTooSmall = $0 { return true }
                    return false
                }
            }
        }
        // 7 to 10: rejected with the default window (as scikit-image), accepted with an explicit one.
        for (h, w) in [(7, 7), (9, 9), (10, 8), (32, 10)] {
            let (a, b) = pair(h, w)
            assertMetricsError(try ImageMetrics.ssim(a, b), mentions: ["\(h)x\(w)", "11x11", "windowSize"]) {
                if case .imageSmallerThanWindow(h, w, 11) = $0 { return true }
                return false
            }
            let value = try ImageMetrics.ssim(a, b, windowSize: 7)
            XCTAssertTrue(value > -1 && value < 1)
        }
        // Invalid windows: even, below 7, or larger than the image.
        let (a, b) = pair(9, 9)
        for window in [8, 5, 1, -3] {
            assertMetricsError(try ImageMetrics.ssim(a, b, windowSize: window), mentions: ["\(window)", "odd"]) {
                if case .invalidWindowSize(window) = $0 { return true }
                return false
            }
        }
        assertMetricsError(try ImageMetrics.ssim(a, b, windowSize: 13), mentions: ["9x9", "from 7 to 9"]) {
            if case .imageSmallerThanWindow(9, 9, 13) = $0 { return true }
            return false
        }
        let (c, d) = pair(10, 12)
        assertMetricsError(try ImageMetrics.ssim(c, d), mentions: ["from 7 to 9"]) {
            if case .imageSmallerThanWindow = $0 { return true }
            return false
        }
    }

    func testCroppedWindow() throws {
        let c = try Fixtures.named("rgb_noise_0.05")
        let crop = try c.truth.cropped(top: 3, left: 5, height: 9, width: 7)
        XCTAssertEqual(crop.shapeDescription, "3x9x7")
        XCTAssertEqual(crop[2, 8, 6], c.truth[2, 11, 11])
        XCTAssertEqual(crop[0, 0, 0], c.truth[0, 3, 5])
        assertMetricsError(try c.truth.cropped(top: 30, left: 0, height: 3, width: 3), mentions: ["rows 30..<33"]) {
            if case .shapeMismatch = $0 { return true }
            return false
        }
        assertMetricsError(try c.truth.cropped(top: 0, left: 0, height: 0, width: 3)) {
            if case .emptyImage = $0 { return true }
            return false
        }
    }
}
