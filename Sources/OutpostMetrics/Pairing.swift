/// The cost of pairing a ground-truth image with a reconstruction, for ``Pairing/optimal(truths:reconstructions:cost:windowSize:)``.
public enum PairingCost: Sendable, CustomStringConvertible {
    /// Mean squared error (`ImageMetrics.mse`): pairs each truth with its closest reconstruction in pixels.
    case mse
    /// Minus ``ImageMetrics/ssim(_:_:windowSize:)``: pairs by structure (maximal total SSIM).
    case negativeSSIM
    /// Any finite cost, lower meaning a better match (e.g. an LPIPS distance). `name` is
    /// shown in reports. The closure gets `(truth, reconstruction)`.
    case custom(name: String, cost: @Sendable (_ truth: Image, _ reconstruction: Image) throws -> Double)

    /// `"MSE"`, `"-SSIM"` or the custom name.
    public var description: String {
        switch self {
        case .mse: return "MSE"
        case .negativeSSIM: return "-SSIM"
        case let .custom(name, _): return name
        }
    }
}

/// A one-to-one pairing of reconstructions with ground-truth images. With unequal counts,
/// `min(truths, reconstructions)` pairs are formed and the rest stay unpaired.
public struct Pairing: Sendable, Equatable {
    /// For each truth, the index of its reconstruction, or `nil` if it has none.
    public let reconstructionForTruth: [Int?]
    /// For each reconstruction, the index of its truth, or `nil` if it has none.
    public let truthForReconstruction: [Int?]
    /// The total cost of the pairs under the cost that chose them (0 for ``inOrder(truthCount:reconstructionCount:)``).
    public let totalCost: Double

    /// The pairs, ordered by truth index.
    public var pairs: [(truth: Int, reconstruction: Int)] {
        reconstructionForTruth.enumerated().compactMap { t, r in r.map { (t, $0) } }
    }

    /// Truths without a reconstruction.
    public var unpairedTruths: [Int] {
        reconstructionForTruth.indices.filter { reconstructionForTruth[$0] == nil }
    }

    /// Reconstructions without a truth.
    public var unpairedReconstructions: [Int] {
        truthForReconstruction.indices.filter { truthForReconstruction[$0] == nil }
    }

    /// A pairing given as, for each truth, the index of its reconstruction (or `nil`).
    ///
    /// - Throws: ``MetricsError/invalidPairing(_:)`` when an index is out of range or used twice.
    public init(reconstructionForTruth: [Int?], reconstructionCount: Int, totalCost: Double = 0) throws {
        var inverse = [Int?](repeating: nil, count: max(0, reconstructionCount))
        for (t, r) in reconstructionForTruth.enumerated() {
            guard let r else { continue }
            guard r >= 0, r < reconstructionCount else {
                throw MetricsError.invalidPairing(
                    "truth \(t) is paired with reconstruction \(r), outside 0..<\(reconstructionCount)")
            }
            if let other = inverse[r] {
                throw MetricsError.invalidPairing("reconstruction \(r) is paired with truths \(other) and \(t)")
            }
            inverse[r] = t
        }
        self.reconstructionForTruth = reconstructionForTruth
        self.truthForReconstruction = inverse
        self.totalCost = totalCost
    }

    /// Truth `i` with reconstruction `i` for `i < min(truthCount, reconstructionCount)`.
    public static func inOrder(truthCount: Int, reconstructionCount: Int) -> Pairing {
        let n = min(truthCount, reconstructionCount)
        return Pairing(
            exact: (0..<max(0, truthCount)).map { $0 < n ? $0 : nil },
            inverse: (0..<max(0, reconstructionCount)).map { $0 < n ? $0 : nil }, totalCost: 0)
    }

    private init(exact: [Int?], inverse: [Int?], totalCost: Double) {
        reconstructionForTruth = exact
        truthForReconstruction = inverse
        self.totalCost = totalCost
    }

    /// The pairing that minimizes the summed cost, found with ``Hungarian/assign(_:)`` on
    /// ``costMatrix(truths:reconstructions:cost:windowSize:)``.
    ///
    /// - Parameters:
    ///   - truths: the ground-truth batch (non-empty, one shape).
    ///   - reconstructions: the reconstructed batch (non-empty, the truths' shape); its order
    ///     does not matter.
    ///   - cost: what to minimize; MSE by default.
    ///   - windowSize: the SSIM window for ``PairingCost/negativeSSIM``.
    /// - Throws: batch and shape errors, the metric's errors, and
    ///   ``MetricsError/invalidCostMatrix(_:)`` when a custom cost is not finite.
    public static func optimal(
        truths: [Image], reconstructions: [Image], cost: PairingCost = .mse,
        windowSize: Int = ImageMetrics.ssimDefaultWindowSize
    ) throws -> Pairing {
        let matrix = try costMatrix(truths: truths, reconstructions: reconstructions, cost: cost, windowSize: windowSize)
        return try optimal(costs: matrix)
    }

    /// The pairing that minimizes the summed cost for a given matrix, rows = truths,
    /// columns = reconstructions (rectangular allowed).
    ///
    /// - Throws: ``MetricsError/invalidCostMatrix(_:)``.
    public static func optimal(costs: [[Double]]) throws -> Pairing {
        let assignment = try Hungarian.assign(costs)
        return Pairing(exact: assignment.columnForRow, inverse: assignment.rowForColumn,
                       totalCost: assignment.totalCost)
    }

    /// The matrix `costs[t][r]` = cost of pairing truth `t` with reconstruction `r`.
    ///
    /// - Throws: ``MetricsError/emptyBatch(_:)`` or ``MetricsError/shapeMismatch(first:second:)``
    ///   for bad batches, the metric's own errors, and ``MetricsError/invalidCostMatrix(_:)``
    ///   when a cost is NaN or infinite.
    public static func costMatrix(
        truths: [Image], reconstructions: [Image], cost: PairingCost,
        windowSize: Int = ImageMetrics.ssimDefaultWindowSize
    ) throws -> [[Double]] {
        try requireUniformBatch(truths, name: "truths")
        try requireUniformBatch(reconstructions, name: "reconstructions")
        try requireSameShape(truths[0], reconstructions[0])
        var matrix: [[Double]]
        switch cost {
        case .mse:
            matrix = try truths.map { t in try reconstructions.map { try ImageMetrics.mse(t, $0) } }
        case .negativeSSIM:
            let engine = try SSIMEngine(height: truths[0].height, width: truths[0].width, windowSize: windowSize)
            matrix = truths.map { t in
                let reference = engine.reference(t)
                return reconstructions.map { -engine.meanSSIM(reference, $0) }
            }
        case let .custom(name, function):
            matrix = try truths.map { t in try reconstructions.map { try function(t, $0) } }
            for (t, row) in matrix.enumerated() {
                if let r = row.firstIndex(where: { !$0.isFinite }) {
                    throw MetricsError.invalidCostMatrix(
                        "cost \(name) of truth \(t) and reconstruction \(r) is \(row[r]), not finite")
                }
            }
        }
        return matrix
    }
}
