import OutpostNN
import OutpostTensor

/// Soteria (Sun et al., CVPR 2021): perturbs the representation that feeds the fully
/// connected head by pruning the head weight's gradient columns of the features whose
/// removal changes the input least.
///
/// For the representation r = `network.features(x)` (N×F) and each feature f, the
/// sensitivity is Σ_i ‖∂r_{i,f}/∂x_i‖ / (|r_{i,f}| + ε), summed over the batch, as in the
/// authors' code (jeremy313/Soteria, `reconstruct_image.py`): the input gradient of the
/// column r_{:,f} is taken with one backward pass per feature (seed 1 in column f), its norm
/// per sample is divided by r_{i,f} + 0.1 and summed over samples. ε = 0.1 is the authors'
/// offset (it keeps ReLU features at zero finite); ε = 0 gives the variant of the OUTPOST
/// authors' code. |r| makes no difference for the non-negative features of this toolkit's
/// models and keeps the ratio a magnitude for others. The p% features of smallest
/// sensitivity (exactly ``GradientOps/selectionCount(percent:of:)`` of them, ties by index;
/// paper setting p = 50) have their columns of the head weight's gradient set to zero; every
/// other tensor, including the head bias, passes unchanged.
///
/// The head and its features are found from the model's structure (`headWeightIndex`,
/// `features`), so any model of this toolkit works. The forward pass uses the step's mode;
/// in training mode with batch norm the samples are coupled, and, as in the authors' code,
/// the backward pass of column f then mixes them.
public struct Soteria: StepDefense {
    /// The pruning percentile and the denominator offset.
    public struct Configuration: Sendable, Equatable {
        /// Percentage of features whose head-weight gradient columns are zeroed (paper: 50).
        public var percent: Double = 50
        /// ε in ‖∂r_f/∂x‖ / (|r_f| + ε); the Soteria code uses 0.1.
        public var offset: Double = 0.1

        /// The paper's setting by default.
        public init(percent: Double = 50, offset: Double = 0.1) {
            self.percent = percent
            self.offset = offset
        }

        /// Throws unless `percent` is in 0...100 and the offset is a finite number ≥ 0.
        public func validate() throws {
            try require(within(percent, 0...100), "soteria", "percent must be in 0...100, got \(percent)")
            try require(offset.isFinite && offset >= 0, "soteria", "offset must be a finite number ≥ 0, got \(offset)")
        }
    }

    /// The configuration.
    public let configuration: Configuration
    /// The features whose columns the last step zeroed.
    public private(set) var lastPrunedFeatures: [Int] = []

    /// A defense with a validated configuration.
    public init(_ configuration: Configuration = Configuration()) throws {
        try configuration.validate()
        self.configuration = configuration
    }

    /// "Soteria".
    public var name: String { "Soteria" }

    /// Zeroes the head-weight gradient columns of the least sensitive features; draws no
    /// random numbers.
    public mutating func apply(to gradient: [Tensor], step: LocalStep, rng: inout RandomGenerator) throws -> [Tensor] {
        try GradientOps.checkShapes(gradient, step.parameters, defense: "soteria")
        let sensitivity = Self.sensitivities(step, offset: configuration.offset)
        let pruned = GradientOps.smallest(GradientOps.selectionCount(percent: configuration.percent, of: sensitivity.count), of: sensitivity)
        lastPrunedFeatures = pruned.sorted()
        var out = gradient
        out[step.network.headWeightIndex] = Self.zeroingColumns(pruned, of: gradient[step.network.headWeightIndex])
        return out
    }

    /// Per feature f of `network.features`: Σ_i ‖∂r_{i,f}/∂x‖_i / (|r_{i,f}| + offset) over
    /// the step's batch, one backward pass per feature (``perFeatureSensitivities(_:offset:)``).
    /// A zero norm contributes 0; a non-zero norm over a zero denominator contributes +∞
    /// (such a feature is never pruned).
    ///
    /// ``replicatedSensitivities(_:offset:budget:)`` gives the same values for independent
    /// samples with several features per pass, but measured no faster on this engine (the
    /// passes' cost is the convolutions' arithmetic, which replication does not reduce; see
    /// docs/performance.md), so it is not the default.
    public static func sensitivities(_ step: LocalStep, offset: Double) -> [Double] {
        perFeatureSensitivities(step, offset: offset)
    }

    /// Elements (of the step's dtype) the replicated forward graph of
    /// ``replicatedSensitivities(_:offset:budget:)`` may hold by default: 2^18.
    public static let replicatedGraphBudget = 1 << 18

    /// One backward pass per feature, on the step's own batch (any network, any mode).
    public static func perFeatureSensitivities(_ step: LocalStep, offset: Double) -> [Double] {
        let x = step.images.requiringGrad()
        var ctx = ForwardContext(parameters: step.parameters.map(\.detached), buffers: step.buffers,
                                 training: step.training, updatesRunningStatistics: false)
        let r = step.network.features(x, &ctx)
        let (n, features) = (r.shape[0], r.shape[1])
        let values = r.doubles
        let sampleSize = x.count / n
        var sensitivity = [Double](repeating: 0, count: features)
        for f in 0..<features {
            var seed = [Double](repeating: 0, count: n * features)
            for i in 0..<n { seed[i * features + f] = 1 }
            let gx = grad(of: r, wrt: [x], seed: Tensor(seed, shape: r.shape, dtype: r.dtype))[0].doubles
            accumulate(gx, block: 0, feature: f, n: n, features: features, sampleSize: sampleSize, values: values,
                       offset: offset, into: &sensitivity)
        }
        return sensitivity
    }

    /// The same values as ``perFeatureSensitivities(_:offset:)`` for independent samples
    /// (eval mode, or no batch norm), K features per backward pass: the batch is replicated K
    /// times along the batch axis and replica k is seeded in column f0 + k. K is as large as
    /// `budget` (elements of the replicated forward graph, `Tensor.graphElementCount`)
    /// allows. With training-mode batch norm the replicas would change the batch statistics,
    /// so it must not be used there.
    public static func replicatedSensitivities(_ step: LocalStep, offset: Double, budget: Int = replicatedGraphBudget) -> [Double] {
        let parameters = step.parameters.map(\.detached)
        func forward(_ x: Tensor) -> Tensor {
            var ctx = ForwardContext(parameters: parameters, buffers: step.buffers, training: step.training, updatesRunningStatistics: false)
            return step.network.features(x, &ctx)
        }
        let images = step.images.detached
        let single = forward(images.requiringGrad())
        let (n, features) = (single.shape[0], single.shape[1])
        let values = single.doubles
        let sampleSize = images.count / n
        let replicas = Swift.max(1, Swift.min(features, budget / Swift.max(1, single.graphElementCount)))
        let x = (replicas == 1 ? images : Tensor.concat(Array(repeating: images, count: replicas), axis: 0)).requiringGrad()
        let r = forward(x)
        var sensitivity = [Double](repeating: 0, count: features)
        var seed = [Double](repeating: 0, count: replicas * n * features)
        for f0 in stride(from: 0, to: features, by: replicas) {
            let k = Swift.min(replicas, features - f0)
            for b in 0..<replicas {
                for i in 0..<n {
                    let row = (b * n + i) * features
                    seed[row..<(row + features)].withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
                    if b < k { seed[row + f0 + b] = 1 }
                }
            }
            let gx = grad(of: r, wrt: [x], seed: Tensor(seed, shape: r.shape, dtype: r.dtype))[0].doubles
            for b in 0..<k {
                accumulate(gx, block: b, feature: f0 + b, n: n, features: features, sampleSize: sampleSize, values: values,
                           offset: offset, into: &sensitivity)
            }
        }
        return sensitivity
    }

    /// Adds Σ_i ‖gx of sample i in replica `block`‖ / (|r_{i,f}| + offset) to sensitivity[f].
    private static func accumulate(_ gx: [Double], block: Int, feature f: Int, n: Int, features: Int, sampleSize: Int,
                                   values: [Double], offset: Double, into sensitivity: inout [Double]) {
        for i in 0..<n {
            let start = (block * n + i) * sampleSize
            let norm = gx[start..<(start + sampleSize)].reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard norm > 0 else { continue }
            sensitivity[f] += norm / (Swift.abs(values[i * features + f]) + offset)
        }
    }

    /// A classes×features weight gradient with columns `features` set to zero.
    public static func zeroingColumns(_ features: [Int], of weightGradient: Tensor) -> Tensor {
        precondition(weightGradient.rank == 2, "Soteria: the head weight gradient must be classes×features, got \(weightGradient.shape)")
        let (rows, columns) = (weightGradient.shape[0], weightGradient.shape[1])
        var values = weightGradient.doubles
        for f in features {
            for row in 0..<rows { values[row * columns + f] = 0 }
        }
        return Tensor(values, shape: weightGradient.shape, dtype: weightGradient.dtype)
    }
}
