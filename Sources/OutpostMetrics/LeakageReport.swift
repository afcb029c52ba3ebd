/// How ``LeakageReport`` pairs reconstructions with truths.
public enum PairingStrategy: Sendable {
    /// Truth `i` with reconstruction `i` (when the attack keeps the batch order).
    case inOrder
    /// The pairing minimizing the total cost (Hungarian algorithm); the order of the
    /// reconstructions does not matter.
    case optimal(PairingCost)
    /// A pairing computed elsewhere.
    case given(Pairing)
}

/// The metrics of one (truth, reconstruction) pair of a ``LeakageReport``.
public struct PairMetrics: Sendable, Equatable {
    /// Index of the ground-truth image in the truth batch.
    public let truthIndex: Int
    /// Index of the reconstruction paired with it.
    public let reconstructionIndex: Int
    /// Mean squared error.
    public let mse: Double
    /// PSNR in dB (`+infinity` for an exact reconstruction).
    public let psnr: Double
    /// SSIM (scikit-image's Gaussian-window definition).
    public let ssim: Double
    /// The best SSIM over the report's brightness search (≥ ``ssim``).
    public let brightnessAdjustedSSIM: Double
    /// The brightness adjustment of the reconstruction that gave ``brightnessAdjustedSSIM``.
    public let brightnessAdjustment: BrightnessAdjustment
}

/// Every leakage metric of a reconstructed batch, computed under one pairing.
///
/// The pairing is decided first (by default: minimal total MSE, Hungarian algorithm); MSE,
/// PSNR, SSIM and brightness-adjusted SSIM are then all computed on the same pairs. Averages
/// are arithmetic means over the pairs; unpaired images (when the counts differ) are listed
/// but enter no average.
public struct LeakageReport: Sendable, Equatable {
    /// One entry per pair, ordered by truth index.
    public let pairs: [PairMetrics]
    /// The pairing used for every metric.
    public let pairing: Pairing
    /// How the pairing was chosen, e.g. `"optimal by MSE"`.
    public let pairingDescription: String
    /// The brightness grid of ``PairMetrics/brightnessAdjustedSSIM``.
    public let brightnessSearch: BrightnessSearch
    /// The SSIM window size used.
    public let ssimWindowSize: Int
    /// Mean MSE over the pairs.
    public let meanMSE: Double
    /// Mean of the per-pair PSNRs in dB; `+infinity` if any pair is exact.
    public let meanPSNR: Double
    /// Mean SSIM over the pairs.
    public let meanSSIM: Double
    /// Mean brightness-adjusted SSIM over the pairs.
    public let meanBrightnessAdjustedSSIM: Double

    /// Truths left without a reconstruction.
    public var unpairedTruths: [Int] { pairing.unpairedTruths }
    /// Reconstructions left without a truth.
    public var unpairedReconstructions: [Int] { pairing.unpairedReconstructions }

    /// Pairs the batches and computes every metric.
    ///
    /// - Parameters:
    ///   - truths: the ground-truth batch: non-empty, one shape.
    ///   - reconstructions: the reconstructions: non-empty, the truths' shape; the count may
    ///     differ from the truths' (then `min` of the two counts are paired).
    ///   - pairing: how to pair; optimal by MSE by default.
    ///   - brightnessSearch: the grid for brightness-adjusted SSIM; additive offsets by default.
    ///   - ssimWindowSize: the SSIM window (see ``ImageMetrics/ssim(_:_:windowSize:)``).
    /// - Throws: ``MetricsError`` for empty or mixed-shape batches, images too small for SSIM,
    ///   a given pairing that does not fit the batches or pairs nothing, and the errors of a
    ///   custom pairing cost.
    public init(
        truths: [Image], reconstructions: [Image], pairing: PairingStrategy = .optimal(.mse),
        brightnessSearch: BrightnessSearch = .additive,
        ssimWindowSize: Int = ImageMetrics.ssimDefaultWindowSize
    ) throws {
        try requireUniformBatch(truths, name: "truths")
        try requireUniformBatch(reconstructions, name: "reconstructions")
        try requireSameShape(truths[0], reconstructions[0])
        let engine = try SSIMEngine(height: truths[0].height, width: truths[0].width, windowSize: ssimWindowSize)

        let chosen: Pairing
        switch pairing {
        case .inOrder:
            chosen = .inOrder(truthCount: truths.count, reconstructionCount: reconstructions.count)
            pairingDescription = "in order"
        case let .optimal(cost):
            chosen = try .optimal(truths: truths, reconstructions: reconstructions, cost: cost,
                                  windowSize: ssimWindowSize)
            pairingDescription = "optimal by \(cost)"
        case let .given(given):
            guard given.reconstructionForTruth.count == truths.count,
                  given.truthForReconstruction.count == reconstructions.count else {
                throw MetricsError.invalidPairing(
                    "pairing is for \(given.reconstructionForTruth.count) truths and "
                        + "\(given.truthForReconstruction.count) reconstructions, the batches hold "
                        + "\(truths.count) and \(reconstructions.count)")
            }
            chosen = given
            pairingDescription = "given"
        }
        let pairList = chosen.pairs
        guard !pairList.isEmpty else { throw MetricsError.invalidPairing("the pairing pairs no images") }

        var metrics = [PairMetrics]()
        for (t, r) in pairList {
            let truth = truths[t], reconstruction = reconstructions[r]
            let mse = try ImageMetrics.mse(truth, reconstruction)
            let reference = engine.reference(truth)
            let adjusted = ImageMetrics.brightnessAdjustedSSIM(
                engine: engine, reference: reference, reconstruction: reconstruction, search: brightnessSearch)
            metrics.append(PairMetrics(
                truthIndex: t, reconstructionIndex: r, mse: mse, psnr: ImageMetrics.psnr(mse: mse),
                ssim: adjusted.plainSSIM, brightnessAdjustedSSIM: adjusted.ssim,
                brightnessAdjustment: adjusted.adjustment))
        }
        let count = Double(metrics.count)
        self.pairs = metrics
        self.pairing = chosen
        self.brightnessSearch = brightnessSearch
        self.ssimWindowSize = ssimWindowSize
        meanMSE = metrics.map(\.mse).reduce(0, +) / count
        meanPSNR = metrics.map(\.psnr).reduce(0, +) / count
        meanSSIM = metrics.map(\.ssim).reduce(0, +) / count
        meanBrightnessAdjustedSSIM = metrics.map(\.brightnessAdjustedSSIM).reduce(0, +) / count
    }
}
