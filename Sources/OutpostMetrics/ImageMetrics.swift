import Foundation

/// A metric computed for each image pair of a batch, with its arithmetic mean.
public struct BatchMetric: Sendable, Equatable {
    /// One value per pair, in the order the pairs were given.
    public let perImage: [Double]
    /// The arithmetic mean of ``perImage`` (for PSNR: `+infinity` when any pair is identical).
    public let mean: Double

    /// Wraps per-pair values and computes their mean; `values` must not be empty.
    init(_ values: [Double]) {
        perImage = values
        mean = values.reduce(0, +) / Double(values.count)
    }
}

/// Full-reference image metrics between a ground-truth image and a reconstruction of it.
///
/// All metrics take images whose pixels are in [0, 1] (guaranteed by ``Image``: build
/// reconstructions that overshoot with `outOfRange: .clamp`), so the data range is 1.
/// Batch versions pair the i-th truth with the i-th reconstruction; to find the pairing of an
/// unordered batch first, use ``Pairing`` or ``LeakageReport``.
public enum ImageMetrics {
    /// The data range of the pixels: 1 (pixels lie in [0, 1]).
    public static let dataRange = 1.0
    /// Standard deviation of the SSIM Gaussian window: 1.5 (Wang et al. 2004).
    public static let ssimSigma = 1.5
    /// The SSIM Gaussian is truncated at this many standard deviations, as scikit-image does
    /// with `gaussian_weights=True`: radius int(3.5 · 1.5 + 0.5) = 5, an 11-tap filter.
    public static let ssimTruncate = 3.5
    /// SSIM constant K1 = 0.01 (C1 = (K1 · data range)²).
    public static let ssimK1 = 0.01
    /// SSIM constant K2 = 0.03 (C2 = (K2 · data range)²).
    public static let ssimK2 = 0.03
    /// The default SSIM window size, 11 = 2 · int(3.5 · 1.5 + 0.5) + 1 (scikit-image's
    /// `win_size` with Gaussian weights): (11 - 1) / 2 = 5 pixels are cropped from each border of
    /// the SSIM map before averaging.
    public static let ssimDefaultWindowSize = 11
    /// The smallest image side SSIM accepts, and the smallest window size: 7.
    public static let ssimMinimumSide = 7

    // MARK: MSE and PSNR

    /// Mean squared error over all pixels of all channels, `mean((a - b)²)`, as scikit-image's
    /// `mean_squared_error`.
    ///
    /// - Throws: ``MetricsError/shapeMismatch(first:second:)`` when the shapes differ.
    public static func mse(_ truth: Image, _ reconstruction: Image) throws -> Double {
        try requireSameShape(truth, reconstruction)
        var sum = 0.0
        let a = truth.pixels, b = reconstruction.pixels
        for i in 0..<a.count {
            let d = a[i] - b[i]
            sum += d * d
        }
        return sum / Double(a.count)
    }

    /// Peak signal-to-noise ratio in decibels for data range 1: `10 · log10(1 / MSE)`, as
    /// scikit-image's `peak_signal_noise_ratio(..., data_range=1)`.
    ///
    /// Identical images have MSE 0 and PSNR `+infinity` (`Double.infinity`); JSON has no
    /// infinity, so callers that write JSON must encode it specially.
    ///
    /// - Throws: ``MetricsError/shapeMismatch(first:second:)`` when the shapes differ.
    public static func psnr(_ truth: Image, _ reconstruction: Image) throws -> Double {
        psnr(mse: try mse(truth, reconstruction))
    }

    /// PSNR in decibels from a mean squared error (data range 1); `+infinity` for MSE 0.
    public static func psnr(mse: Double) -> Double {
        mse == 0 ? .infinity : 10 * log10(dataRange * dataRange / mse)
    }

    // MARK: SSIM

    /// Mean structural similarity (Wang et al. 2004) exactly as scikit-image computes
    /// `structural_similarity(truth, reconstruction, gaussian_weights=True, sigma=1.5,
    /// use_sample_covariance=False, data_range=1, channel_axis=0, win_size=windowSize)`.
    ///
    /// The local statistics use an 11-tap Gaussian (σ = 1.5, truncated at 3.5σ) with scipy's
    /// `'reflect'` border extension; `(windowSize - 1) / 2` pixels are then cropped from each
    /// border of the SSIM map and the rest averaged; channels are averaged with equal weight.
    /// The result lies in [-1, 1] and is 1 for identical images. Computed in `Double`.
    ///
    /// Small images: sides below 7 are always rejected. With the default window (11) a side of
    /// 7 to 10 pixels is rejected too, as scikit-image raises `ValueError` for it. Passing an odd
    /// `windowSize` from 7 up to the shorter side evaluates such an image as scikit-image does
    /// with an explicit `win_size`: the Gaussian filter is unchanged and only the cropped border
    /// shrinks to `(windowSize - 1) / 2`.
    ///
    /// - Parameters:
    ///   - truth: the ground-truth image.
    ///   - reconstruction: the reconstruction, same shape.
    ///   - windowSize: odd, at least 7 and at most the shorter image side; default 11.
    /// - Throws: ``MetricsError/shapeMismatch(first:second:)``,
    ///   ``MetricsError/imageTooSmall(height:width:minimum:)``,
    ///   ``MetricsError/imageSmallerThanWindow(height:width:windowSize:)`` or
    ///   ``MetricsError/invalidWindowSize(_:)``.
    public static func ssim(
        _ truth: Image, _ reconstruction: Image, windowSize: Int = ssimDefaultWindowSize
    ) throws -> Double {
        try requireSameShape(truth, reconstruction)
        let engine = try SSIMEngine(height: truth.height, width: truth.width, windowSize: windowSize)
        return engine.meanSSIM(engine.reference(truth), reconstruction)
    }

    // MARK: Brightness-adjusted SSIM

    /// The best SSIM over a grid of brightness adjustments of the reconstruction, so that a
    /// reconstruction that leaked the image but came out darker (or brighter, or with less
    /// contrast) still counts as leaked — the brightness-adjusted comparison of Kim & Park's
    /// masking paper (Fig. 2). The grid and the clamping are this module's definition:
    ///
    ///     adjusted = clamp(gain · reconstruction + offset, 0, 1)      (every pixel, every channel)
    ///     result   = max over (gain, offset) in the search grid of SSIM(truth, adjusted)
    ///
    /// The identity (gain 1, offset 0) is always tried first, so the result is never below the
    /// plain SSIM; among equal maxima the first candidate in ``BrightnessSearch/candidates``
    /// order wins. Only the reconstruction is adjusted, never the truth.
    ///
    /// - Parameters:
    ///   - truth: the ground-truth image.
    ///   - reconstruction: the reconstruction, same shape.
    ///   - search: the adjustments to try; ``BrightnessSearch/additive`` by default.
    ///   - windowSize: the SSIM window, as in ``ssim(_:_:windowSize:)``.
    /// - Throws: the errors of ``ssim(_:_:windowSize:)``.
    public static func brightnessAdjustedSSIM(
        _ truth: Image, _ reconstruction: Image,
        search: BrightnessSearch = .additive, windowSize: Int = ssimDefaultWindowSize
    ) throws -> BrightnessAdjustedSSIM {
        try requireSameShape(truth, reconstruction)
        let engine = try SSIMEngine(height: truth.height, width: truth.width, windowSize: windowSize)
        return brightnessAdjustedSSIM(engine: engine, reference: engine.reference(truth),
                                      reconstruction: reconstruction, search: search)
    }

    /// The brightness search on a prepared engine and reference.
    static func brightnessAdjustedSSIM(
        engine: SSIMEngine, reference: SSIMEngine.Reference,
        reconstruction: Image, search: BrightnessSearch
    ) -> BrightnessAdjustedSSIM {
        var plain = 0.0
        var best = -Double.infinity
        var bestAdjustment = BrightnessAdjustment.identity
        for (index, candidate) in search.candidates.enumerated() {
            let value = engine.meanSSIM(reference, reconstruction, adjustment: candidate)
            if index == 0 { plain = value }
            if value > best {
                best = value
                bestAdjustment = candidate
            }
        }
        return BrightnessAdjustedSSIM(ssim: best, adjustment: bestAdjustment, plainSSIM: plain)
    }

    // MARK: Batches (pairs in order)

    /// MSE of each pair `(truths[i], reconstructions[i])` and the mean.
    ///
    /// - Throws: ``MetricsError/emptyBatch(_:)``, ``MetricsError/countMismatch(what:expected:actual:)``
    ///   or ``MetricsError/shapeMismatch(first:second:)``.
    public static func mse(_ truths: [Image], _ reconstructions: [Image]) throws -> BatchMetric {
        try requireMatchingBatches(truths, reconstructions)
        return BatchMetric(try zip(truths, reconstructions).map { try mse($0, $1) })
    }

    /// PSNR of each pair `(truths[i], reconstructions[i])` and the mean of those PSNRs (the
    /// mean is `+infinity` as soon as one pair is identical).
    ///
    /// - Throws: the batch errors of the batch `mse`: empty batches, unequal counts, shape mismatch.
    public static func psnr(_ truths: [Image], _ reconstructions: [Image]) throws -> BatchMetric {
        try requireMatchingBatches(truths, reconstructions)
        return BatchMetric(try zip(truths, reconstructions).map { try psnr($0, $1) })
    }

    /// SSIM of each pair `(truths[i], reconstructions[i])` and the mean.
    ///
    /// - Throws: as ``ssim(_:_:windowSize:)``, plus the batch errors of the MSE batch version.
    public static func ssim(
        _ truths: [Image], _ reconstructions: [Image], windowSize: Int = ssimDefaultWindowSize
    ) throws -> BatchMetric {
        try requireMatchingBatches(truths, reconstructions)
        return BatchMetric(try zip(truths, reconstructions).map { try ssim($0, $1, windowSize: windowSize) })
    }

    /// Checks two batches for the pairwise metrics: non-empty, equal counts, one shape.
    static func requireMatchingBatches(_ truths: [Image], _ reconstructions: [Image]) throws {
        try requireUniformBatch(truths, name: "truths")
        try requireUniformBatch(reconstructions, name: "reconstructions")
        guard truths.count == reconstructions.count else {
            throw MetricsError.countMismatch(
                what: "reconstructions (one per truth)", expected: truths.count, actual: reconstructions.count)
        }
        try requireSameShape(truths[0], reconstructions[0])
    }
}
