/// OutpostMetrics: leakage metrics on images with pixels in [0, 1].
///
/// The module measures how much of a private batch an attack recovered from gradients:
///
/// - ``Image``: a validated C×H×W image with pixels in [0, 1].
/// - ``ImageMetrics``: MSE, PSNR, SSIM (as Wang et al. 2004 and scikit-image compute it) and
///   brightness-adjusted SSIM, per image and averaged over a batch.
/// - ``Hungarian`` and ``Pairing``: the optimal one-to-one pairing of reconstructions with the
///   ground-truth images they came from.
/// - ``LeakageReport``: every metric of a batch, computed under one pairing, with averages and a
///   text table.
/// - ``LabelAccuracy``: accuracy of inferred or optimized labels, per position or as a multiset.
///
/// Nothing here depends on the rest of Outpost: pixels come in as plain `[Float]` or `[Double]`.
/// Bad input (mismatched sizes, NaN pixels, images too small for SSIM) throws ``MetricsError``.
