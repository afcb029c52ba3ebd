import OutpostTensor

/// Gradient compression as a defense (DLG, Zhu et al. 2019, §5; the OUTPOST paper's "GC"):
/// in every parameter tensor the ρ% entries of smallest magnitude are set to zero. The paper
/// prunes 80%. Exactly ``GradientOps/selectionCount(percent:of:)`` entries of each tensor are
/// zeroed (ties broken by index); the others pass unchanged.
public struct GradientCompression: StepDefense {
    /// The pruning rate.
    public struct Configuration: Sendable, Equatable {
        /// Percentage of each tensor's entries pruned (paper: 80).
        public var percent: Double = 80

        /// A configuration pruning `percent` % of each tensor.
        public init(percent: Double = 80) { self.percent = percent }

        /// Throws unless `percent` is in 0...100.
        public func validate() throws {
            try require(within(percent, 0...100), "gc", "percent must be in 0...100, got \(percent)")
        }
    }

    /// The pruning rate.
    public let configuration: Configuration

    /// A defense with a validated configuration.
    public init(_ configuration: Configuration = Configuration()) throws {
        try configuration.validate()
        self.configuration = configuration
    }

    /// "GC".
    public var name: String { "GC" }

    /// Zeroes the `percent` % smallest-magnitude entries of each tensor; draws no random numbers.
    public mutating func apply(to gradient: [Tensor], step: LocalStep, rng: inout RandomGenerator) throws -> [Tensor] {
        try GradientOps.checkShapes(gradient, step.parameters, defense: "gc")
        return Self.prune(gradient, percent: configuration.percent)
    }

    /// Each tensor with its `percent` % smallest-magnitude entries set to zero.
    public static func prune(_ gradient: [Tensor], percent: Double) -> [Tensor] {
        gradient.map { g in
            var values = g.doubles
            for i in GradientOps.smallest(GradientOps.selectionCount(percent: percent, of: values.count), of: values.map(Swift.abs)) {
                values[i] = 0
            }
            return Tensor(values, shape: g.shape, dtype: g.dtype)
        }
    }
}

/// Additive noise on every gradient entry, the OUTPOST paper's "DP" baseline: Laplacian (the
/// paper's choice) or Gaussian noise of a given **variance** (paper: 0.1). Laplace noise of
/// variance v has scale b = √(v/2); Gaussian noise has standard deviation √v. (The authors'
/// code passes 0.1 as numpy's Laplace *scale*, i.e. variance 0.02; this type follows the
/// paper's text, variance 0.1.)
public struct DPNoise: StepDefense {
    /// The noise distribution.
    public enum Distribution: String, Sendable, Codable, CaseIterable {
        /// Laplace noise, scale √(v/2).
        case laplace
        /// Gaussian noise, standard deviation √v.
        case gaussian
    }

    /// Distribution and variance.
    public struct Configuration: Sendable, Equatable {
        /// The noise distribution (paper: Laplace).
        public var distribution: Distribution = .laplace
        /// The variance of the noise added to each entry (paper: 0.1).
        public var variance: Double = 0.1

        /// The paper's setting by default: Laplacian noise of variance 0.1.
        public init(distribution: Distribution = .laplace, variance: Double = 0.1) {
            self.distribution = distribution
            self.variance = variance
        }

        /// Throws for a negative or non-finite variance.
        public func validate() throws {
            try require(variance.isFinite && variance >= 0, "dp_noise", "variance must be a finite number ≥ 0, got \(variance)")
        }

        /// Laplace scale √(v/2) or Gaussian standard deviation √v.
        public var scale: Double {
            distribution == .laplace ? (variance / 2).squareRoot() : variance.squareRoot()
        }
    }

    /// Distribution and variance.
    public let configuration: Configuration

    /// A defense with a validated configuration.
    public init(_ configuration: Configuration = Configuration()) throws {
        try configuration.validate()
        self.configuration = configuration
    }

    /// "DP".
    public var name: String { "DP" }

    /// Adds independent noise to every entry, tensor by tensor in order.
    public mutating func apply(to gradient: [Tensor], step: LocalStep, rng: inout RandomGenerator) throws -> [Tensor] {
        try GradientOps.checkShapes(gradient, step.parameters, defense: "dp_noise")
        let scale = configuration.scale
        let laplace = configuration.distribution == .laplace
        return gradient.map { g in
            Tensor(g.doubles.map { $0 + (laplace ? rng.laplace(scale: scale) : scale * rng.normal()) }, shape: g.shape, dtype: g.dtype)
        }
    }
}
