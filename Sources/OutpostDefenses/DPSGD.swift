import OutpostTensor

/// DP-SGD (Abadi et al. 2016) as a per-step defense: each sample's gradient (all parameters
/// as one vector) is clipped to L2 norm C, the clipped gradients are summed, Gaussian noise of
/// standard deviation σ·C is added to every entry of the sum, and the result is divided by
/// the batch size B. The incoming batch gradient is not used: the step's per-sample gradients
/// are (`LocalStep.perSampleGradients()`; models with batch norm get them in evaluation mode).
///
/// Privacy: with Poisson sampling at rate q = B/n, T steps per round and R rounds in which the
/// client takes part, ``epsilon(delta:samplingRate:stepsPerRound:rounds:)`` composes T·R
/// subsampled Gaussian mechanisms in ``RDPAccountant``. (Local training that walks through a
/// shuffled data set in fixed batches is not Poisson sampling; the figure is the customary
/// approximation.)
public struct DPSGD: StepDefense {
    /// Clipping bound and noise multiplier.
    public struct Configuration: Sendable, Equatable {
        /// The per-sample L2 clipping bound C.
        public var clip: Double = 1
        /// The noise multiplier σ (noise std σ·C on the sum of clipped gradients).
        public var noiseMultiplier: Double = 1.1

        /// A DP-SGD configuration.
        public init(clip: Double = 1, noiseMultiplier: Double = 1.1) {
            self.clip = clip
            self.noiseMultiplier = noiseMultiplier
        }

        /// Throws unless C is a positive finite number and σ a finite number ≥ 0.
        public func validate() throws {
            try require(clip.isFinite && clip > 0, "dp_sgd", "clip must be a finite number > 0, got \(clip)")
            try require(noiseMultiplier.isFinite && noiseMultiplier >= 0, "dp_sgd",
                        "noise_multiplier must be a finite number ≥ 0, got \(noiseMultiplier)")
        }
    }

    /// The configuration.
    public let configuration: Configuration
    /// Steps taken since this value was configured.
    public private(set) var stepsTaken = 0
    /// The per-sample gradient norms of the last step, before clipping.
    public private(set) var lastPerSampleNorms: [Double] = []

    /// A defense with a validated configuration.
    public init(_ configuration: Configuration = Configuration()) throws {
        try configuration.validate()
        self.configuration = configuration
    }

    /// "DP-SGD".
    public var name: String { "DP-SGD" }

    /// (1/B)·(Σ_i clip(g_i, C) + N(0, σ²C²·I)).
    public mutating func apply(to gradient: [Tensor], step: LocalStep, rng: inout RandomGenerator) throws -> [Tensor] {
        try GradientOps.checkShapes(gradient, step.parameters, defense: "dp_sgd")
        let (clipped, norms) = Self.clippedPerSampleGradients(step, bound: configuration.clip)
        lastPerSampleNorms = norms
        stepsTaken += 1
        let b = Double(clipped.count)
        let std = configuration.noiseMultiplier * configuration.clip
        return clipped[0].indices.map { l in
            var sum = [Double](repeating: 0, count: clipped[0][l].count)
            for sample in clipped { for (i, v) in sample[l].doubles.enumerated() { sum[i] += v } }
            return Tensor(sum.map { ($0 + std * rng.normal()) / b }, shape: gradient[l].shape, dtype: gradient[l].dtype)
        }
    }

    /// The step's per-sample gradients, each clipped to joint L2 norm `bound`, and their norms
    /// before clipping.
    public static func clippedPerSampleGradients(_ step: LocalStep, bound: Double) -> (gradients: [[Tensor]], norms: [Double]) {
        var norms: [Double] = []
        let clipped = step.perSampleGradients().map { g in
            let (c, n) = GradientOps.clipGlobally(g, to: bound)
            norms.append(n)
            return c
        }
        return (clipped, norms)
    }

    /// ε at `delta` after `stepsPerRound`·`rounds` steps at sampling rate q = B/n.
    public func epsilon(delta: Double, samplingRate: Double, stepsPerRound: Int, rounds: Int = 1) throws -> Double {
        var accountant = RDPAccountant()
        try accountant.composePoissonSampledGaussian(samplingRate: samplingRate, noiseMultiplier: configuration.noiseMultiplier,
                                                     count: stepsPerRound * rounds)
        return try accountant.epsilon(delta: delta).epsilon
    }
}
