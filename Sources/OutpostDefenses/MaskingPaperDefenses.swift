import OutpostNN
import OutpostTensor

// The four obfuscations of Kim & Park, "Random Gradient Masking as a Defensive Measure to
// Deep Leakage in Federated Learning": masking, clipping, pruning and noising, each applied
// by the client to its gradient.

/// Whether a defense treats a parameter tensor as a whole layer (`perLayer`) or all
/// parameters as one vector (`global`).
public enum GradientScope: String, Sendable, Codable, CaseIterable {
    /// All parameter tensors as one vector.
    case global
    /// Each parameter tensor on its own.
    case perLayer = "per_layer"
}

/// Random gradient masking: every gradient entry is set to zero independently with
/// probability p (and otherwise passes unchanged).
///
/// Batch normalization: Kim & Park describe a workaround for BatchNorm layers when masking
/// (their Fig. 1; the figure itself is not in the text available to this project), so the
/// handling of batch-norm parameters (roles `.normScale` and `.normShift`) is configurable:
/// masked like every other parameter, exempt from masking, or masked separately with their
/// own probability.
public struct RandomMasking: StepDefense {
    /// What happens to the gradients of batch-norm scales and shifts.
    public enum NormHandling: String, Sendable, Codable, CaseIterable {
        /// Masked with probability p like every other entry.
        case withOthers = "with_others"
        /// Never masked.
        case exempt
        /// Masked with their own probability, `normProbability`.
        case separately
    }

    /// Masking probabilities and batch-norm handling.
    public struct Configuration: Sendable, Equatable {
        /// The probability p that an entry is zeroed.
        public var probability: Double = 0.5
        /// What happens to batch-norm scale and shift gradients.
        public var normHandling: NormHandling = .exempt
        /// The masking probability of batch-norm parameters when `normHandling` is `.separately`.
        public var normProbability: Double = 0.5

        /// A masking configuration.
        public init(probability: Double = 0.5, normHandling: NormHandling = .exempt, normProbability: Double = 0.5) {
            self.probability = probability
            self.normHandling = normHandling
            self.normProbability = normProbability
        }

        /// Throws unless the probabilities are in 0...1.
        public func validate() throws {
            try require(within(probability, 0...1), "masking", "probability must be in 0...1, got \(probability)")
            try require(within(normProbability, 0...1), "masking", "norm_probability must be in 0...1, got \(normProbability)")
        }
    }

    /// The configuration.
    public let configuration: Configuration

    /// A defense with a validated configuration.
    public init(_ configuration: Configuration = Configuration()) throws {
        try configuration.validate()
        self.configuration = configuration
    }

    /// "Masking".
    public var name: String { "Masking" }

    /// The masking probability of parameter `index` of `network`.
    public func probability(forParameter index: Int, of network: Network) -> Double {
        switch network.parameterSpecs[index].role {
        case .normScale, .normShift:
            switch configuration.normHandling {
            case .withOthers: return configuration.probability
            case .exempt: return 0
            case .separately: return configuration.normProbability
            }
        case .weight, .bias:
            return configuration.probability
        }
    }

    /// Zeroes each entry independently with its parameter's probability (one uniform number is
    /// drawn per entry, exempt ones included, so the stream does not depend on the handling).
    public mutating func apply(to gradient: [Tensor], step: LocalStep, rng: inout RandomGenerator) throws -> [Tensor] {
        try GradientOps.checkShapes(gradient, step.parameters, defense: "masking")
        return gradient.enumerated().map { l, g in
            let p = probability(forParameter: l, of: step.network)
            return Tensor(g.doubles.map { rng.uniform() < p ? 0 : $0 }, shape: g.shape, dtype: g.dtype)
        }
    }
}

/// Gradient clipping: the gradient is scaled so that its L2 norm is at most C, either as one
/// vector (`global`, like `torch.nn.utils.clip_grad_norm_`) or each parameter tensor on its
/// own (`perLayer`). Gradients already within the bound pass unchanged.
public struct GradientClipping: StepDefense {
    /// The bound and its scope.
    public struct Configuration: Sendable, Equatable {
        /// The L2 bound C.
        public var bound: Double = 1
        /// Whether the bound applies to the whole gradient or to each tensor.
        public var scope: GradientScope = .global

        /// A clipping configuration.
        public init(bound: Double = 1, scope: GradientScope = .global) {
            self.bound = bound
            self.scope = scope
        }

        /// Throws unless the bound is a positive finite number.
        public func validate() throws {
            try require(bound.isFinite && bound > 0, "clipping", "bound must be a finite number > 0, got \(bound)")
        }
    }

    /// The configuration.
    public let configuration: Configuration

    /// A defense with a validated configuration.
    public init(_ configuration: Configuration = Configuration()) throws {
        try configuration.validate()
        self.configuration = configuration
    }

    /// "Clipping".
    public var name: String { "Clipping" }

    /// Scales the gradient (or each tensor) by min(1, C/‖·‖).
    public mutating func apply(to gradient: [Tensor], step: LocalStep, rng: inout RandomGenerator) throws -> [Tensor] {
        try GradientOps.checkShapes(gradient, step.parameters, defense: "clipping")
        return Self.clip(gradient, bound: configuration.bound, scope: configuration.scope)
    }

    /// `tensors` clipped to L2 norm `bound`, jointly or tensor by tensor.
    public static func clip(_ tensors: [Tensor], bound: Double, scope: GradientScope) -> [Tensor] {
        switch scope {
        case .global: return GradientOps.clipGlobally(tensors, to: bound).clipped
        case .perLayer: return tensors.map { GradientOps.clipGlobally([$0], to: bound).clipped[0] }
        }
    }
}

/// Gradient pruning: only the largest-magnitude entries are kept and the `percent` % of
/// smallest magnitude are set to zero, ranked over all parameters together (`global`) or
/// within each tensor (`perLayer`, which at 80% is the OUTPOST paper's GC).
public struct GradientPruning: StepDefense {
    /// The pruning rate and its scope.
    public struct Configuration: Sendable, Equatable {
        /// Percentage of entries set to zero.
        public var percent: Double = 80
        /// Whether entries are ranked over the whole gradient or within each tensor.
        public var scope: GradientScope = .global

        /// A pruning configuration.
        public init(percent: Double = 80, scope: GradientScope = .global) {
            self.percent = percent
            self.scope = scope
        }

        /// Throws unless `percent` is in 0...100.
        public func validate() throws {
            try require(within(percent, 0...100), "pruning", "percent must be in 0...100, got \(percent)")
        }
    }

    /// The configuration.
    public let configuration: Configuration

    /// A defense with a validated configuration.
    public init(_ configuration: Configuration = Configuration()) throws {
        try configuration.validate()
        self.configuration = configuration
    }

    /// "Pruning".
    public var name: String { "Pruning" }

    /// Zeroes exactly ``GradientOps/selectionCount(percent:of:)`` smallest-magnitude entries
    /// of the whole gradient (`global`) or of each tensor (`perLayer`); ties go by position.
    public mutating func apply(to gradient: [Tensor], step: LocalStep, rng: inout RandomGenerator) throws -> [Tensor] {
        try GradientOps.checkShapes(gradient, step.parameters, defense: "pruning")
        switch configuration.scope {
        case .perLayer:
            return GradientCompression.prune(gradient, percent: configuration.percent)
        case .global:
            var flat = GradientOps.flatten(gradient)
            for i in GradientOps.smallest(GradientOps.selectionCount(percent: configuration.percent, of: flat.count), of: flat.map(Swift.abs)) {
                flat[i] = 0
            }
            return GradientOps.unflatten(flat, like: gradient)
        }
    }
}

/// Gradient noising: independent Gaussian noise N(0, σ²) added to every gradient entry.
public struct GaussianNoising: StepDefense {
    /// The noise level.
    public struct Configuration: Sendable, Equatable {
        /// The standard deviation σ.
        public var sigma: Double = 0.01

        /// A noising configuration.
        public init(sigma: Double = 0.01) { self.sigma = sigma }

        /// Throws for a negative or non-finite σ.
        public func validate() throws {
            try require(sigma.isFinite && sigma >= 0, "noising", "sigma must be a finite number ≥ 0, got \(sigma)")
        }
    }

    /// The configuration.
    public let configuration: Configuration

    /// A defense with a validated configuration.
    public init(_ configuration: Configuration = Configuration()) throws {
        try configuration.validate()
        self.configuration = configuration
    }

    /// "Noising".
    public var name: String { "Noising" }

    /// Adds σ·N(0, 1) to every entry.
    public mutating func apply(to gradient: [Tensor], step: LocalStep, rng: inout RandomGenerator) throws -> [Tensor] {
        try GradientOps.checkShapes(gradient, step.parameters, defense: "noising")
        let sigma = configuration.sigma
        return gradient.map { g in Tensor(g.doubles.map { $0 + sigma * rng.normal() }, shape: g.shape, dtype: g.dtype) }
    }
}
