import XCTest
@testable import OutpostMetrics

/// MSE, PSNR, SSIM and brightness-adjusted SSIM against scikit-image on real image pairs.
final class ReferenceMetricsTests: XCTestCase {
    let tolerance = 1e-5

    func testFixturesCoverTheIntendedCases() throws {
        let cases = try Fixtures.allCases()
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        let shapes = Set(cases.map { $0.truth.shapeDescription })
        for shape in ["3x32x32", "1x28x28", "1x25x25", "3x20x27", "1x11x11", "1x9x9", "3x9x9", "1x7x7", "1x10x8"] {
            XCTAssertTrue(shapes.contains(shape), "no fixture of shape \(shape)")
        }
    }

    func testMSEAndPSNRMatchScikitImage() throws {
        for c in try Fixtures.allCases() {
            let mse = try ImageMetrics.mse(c.truth, c.reconstruction)
            XCTAssertEqual(mse, c.mse, accuracy: tolerance, c.name)
            let psnr = try ImageMetrics.psnr(c.truth, c.reconstruction)
            if c.psnr.isInfinite {
                XCTAssertEqual(psnr, .infinity, c.name)
            } else {
                XCTAssertEqual(psnr, c.psnr, accuracy: tolerance, c.name)
            }
        }
    }

    func testSSIMMatchesScikitImage() throws {
        var compared = 0, rejected = 0
        for c in try Fixtures.allCases() {
            var expectations = c.ssimByWindow
            expectations[ImageMetrics.ssimDefaultWindowSize] = c.ssim
            for (window, expected) in expectations {
                let label = "\(c.name), window \(window)"
                switch expected {
                case let .value(value):
                    let ssim = try ImageMetrics.ssim(c.truth, c.reconstruction, windowSize: window)
                    XCTAssertEqual(ssim, value, accuracy: tolerance, label)
                    compared += 1
                case .error:
                    // scikit-image raised: we must throw the window error, never return a value.
                    assertMetricsError(try ImageMetrics.ssim(c.truth, c.reconstruction, windowSize: window),
                                       mentions: ["\(c.truth.height)x\(c.truth.width)", "windowSize"]) {
                        if case .imageSmallerThanWindow = $0 { return true }
                        return false
                    }
                    rejected += 1
                }
            }
        }
        XCTAssertGreaterThanOrEqual(compared, 25)
        XCTAssertGreaterThanOrEqual(rejected, 4)
    }

    func testIdenticalImagesHaveSSIMOneAndInfinitePSNR() throws {
        let c = try Fixtures.named("rgb_identical")
        XCTAssertEqual(try ImageMetrics.ssim(c.truth, c.reconstruction), 1, accuracy: 1e-12)
        XCTAssertEqual(try ImageMetrics.mse(c.truth, c.reconstruction), 0)
        XCTAssertEqual(try ImageMetrics.psnr(c.truth, c.reconstruction), .infinity)
    }

    func testBrightnessAdjustedSSIMMatchesTheReferenceSearch() throws {
        var checked = 0
        for c in try Fixtures.allCases() {
            for (search, expected, label) in [
                (BrightnessSearch.additive, c.brightnessAdditive, "additive"),
                (BrightnessSearch.additiveAndGain, c.brightnessAdditiveGain, "additive+gain"),
            ] {
                guard let expected else { continue }
                let result = try ImageMetrics.brightnessAdjustedSSIM(
                    c.truth, c.reconstruction, search: search, windowSize: c.brightnessWindow)
                XCTAssertEqual(result.ssim, expected.ssim, accuracy: tolerance, "\(c.name) \(label)")
                XCTAssertEqual(result.adjustment.gain, expected.gain, accuracy: 1e-12, "\(c.name) \(label)")
                XCTAssertEqual(result.adjustment.offset, expected.offset, accuracy: 1e-12, "\(c.name) \(label)")
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 12)
    }

    func testBatchMetricsAverageThePairs() throws {
        let cases = try Fixtures.allCases().filter { $0.truth.shapeDescription == "3x32x32" && $0.psnr.isFinite }
        XCTAssertGreaterThanOrEqual(cases.count, 5)
        let truths = cases.map(\.truth), reconstructions = cases.map(\.reconstruction)
        let mse = try ImageMetrics.mse(truths, reconstructions)
        let psnr = try ImageMetrics.psnr(truths, reconstructions)
        let ssim = try ImageMetrics.ssim(truths, reconstructions)
        for (i, c) in cases.enumerated() {
            XCTAssertEqual(mse.perImage[i], c.mse, accuracy: tolerance)
            XCTAssertEqual(psnr.perImage[i], c.psnr, accuracy: tolerance)
            if case let .value(v) = c.ssim { XCTAssertEqual(ssim.perImage[i], v, accuracy: tolerance) }
        }
        let count = Double(cases.count)
        XCTAssertEqual(mse.mean, cases.map(\.mse).reduce(0, +) / count, accuracy: tolerance)
        XCTAssertEqual(psnr.mean, cases.map(\.psnr).reduce(0, +) / count, accuracy: tolerance)
        let identical = try Fixtures.named("rgb_identical")
        XCTAssertEqual(try ImageMetrics.psnr(truths + [identical.truth], reconstructions + [identical.reconstruction]).mean,
                       .infinity)
    }

    /// scipy's 'reflect' extension, d c b a | a b c d | d c b a, over several periods
    /// (from `np.pad(np.arange(3), 7, mode='symmetric')`, which scipy's correlate1d agrees with).
    func testReflectIndexMatchesScipy() {
        let expected = [0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2]
        XCTAssertEqual((-7...9).map { reflectIndex($0, count: 3) }, expected)
        XCTAssertEqual((-5...(-1)).map { reflectIndex($0, count: 7) }, [4, 3, 2, 1, 0])
        XCTAssertEqual((7...11).map { reflectIndex($0, count: 7) }, [6, 5, 4, 3, 2])
    }

    func testGaussianWindowIsElevenTapsSummingToOne() {
        XCTAssertEqual(SSIMEngine.radius, 5)
        XCTAssertEqual(SSIMEngine.weights.count, 11)
        XCTAssertEqual(SSIMEngine.weights.reduce(0, +), 1, accuracy: 1e-15)
        XCTAssertEqual(SSIMEngine.weights[0], SSIMEngine.weights[10])
        XCTAssertEqual(SSIMEngine.weights[0] / SSIMEngine.weights[5], exp(-25 / 4.5), accuracy: 1e-15)
    }
}
