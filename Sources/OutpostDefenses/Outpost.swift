import Foundation
import OutpostTensor

/// OUTPOST (Wang, Hugh, Li, INFOCOM'23, Algorithm 1): at local iteration i the gradient is
/// perturbed with probability 1/(1 + β·i), and always at i = 1. A perturbation works on each
/// parameter tensor ("layer") d separately:
///
/// 1. privacy risk r_d = min(Var[w_d], 1), the unbiased variance of the layer's current
///    weights (the cap at 1 is the paper's r ∈ [0, 1], as in the authors' code);
/// 2. pruning (line 8): the ρ% entries of the layer's gradient with the smallest magnitude
///    are set to zero (exactly ``GradientOps/selectionCount(percent:of:)`` entries, ties
///    broken by index);
/// 3. noise (line 9): N(0, (λ·r_d)²) is added to the φ% entries with the highest empirical
///    Fisher information, F = mean over the batch of the squared per-sample gradients (Eq. 4),
///    or, as a cheaper option, the squared batch-mean gradient (what the paper's text and the
///    authors' code use).
///
/// Reading of Algorithm 1, followed literally: pruning comes first and the noise is added to
/// the pruned gradient (∇̃ ← ∇̃ + m); the φ% entries are chosen by their Fisher information,
/// which is computed from the unpruned gradients, so a selected entry that was pruned gets
/// noise on top of zero. With ρ = 80 and φ = 40 on one sample (where F = g²), the smallest
/// 60% of entries end up zero, the entries between the 60th and 80th percentile of |g| become
/// pure noise and the largest 20% keep their value plus noise. The authors' code does the
/// same, but selects the φ% over all layers at once with a Fisher averaged over each tensor's
/// first axis, and counts iterations as epoch·(batch + 1); this type follows the paper
/// (per layer, per entry, `LocalStep.iteration`).
public struct OutpostDefense: StepDefense {
    /// How the empirical Fisher information that picks the noised entries is estimated.
    public enum FisherEstimate: String, Sendable, Codable, CaseIterable {
        /// Eq. 4: the mean over the batch of the squared per-sample gradients (B backward passes).
        case perSample = "per_sample"
        /// The square of the batch-mean gradient (no extra backward pass).
        case batchMeanSquared = "batch_mean_squared"
    }

    /// OUTPOST's hyperparameters; the defaults are the paper's (λ = 0.8, φ = 40, β = 0.1, ρ = 80).
    public struct Configuration: Sendable, Equatable {
        /// λ: the noise standard deviation is λ·r.
        public var lambda: Double = 0.8
        /// φ: percentage of each layer's entries (highest Fisher information) that get noise.
        public var phi: Double = 40
        /// β: the perturbation probability at iteration i is 1/(1 + β·i).
        public var beta: Double = 0.1
        /// ρ: percentage of each layer's entries (smallest magnitude) pruned to zero.
        public var rho: Double = 80
        /// How the Fisher information is estimated.
        public var fisher: FisherEstimate = .perSample

        /// The paper's setting.
        public init(lambda: Double = 0.8, phi: Double = 40, beta: Double = 0.1, rho: Double = 80,
                    fisher: FisherEstimate = .perSample) {
            self.lambda = lambda
            self.phi = phi
            self.beta = beta
            self.rho = rho
            self.fisher = fisher
        }

        /// Throws ``DefenseError/invalidParameter(defense:message:)`` for a negative or
        /// non-finite λ or β, or φ or ρ outside 0...100.
        public func validate() throws {
            try require(lambda.isFinite && lambda >= 0, "outpost", "lambda must be a finite number ≥ 0, got \(lambda)")
            try require(beta.isFinite && beta >= 0, "outpost", "beta must be a finite number ≥ 0, got \(beta)")
            try require(within(phi, 0...100), "outpost", "phi must be a percentage in 0...100, got \(phi)")
            try require(within(rho, 0...100), "outpost", "rho must be a percentage in 0...100, got \(rho)")
        }
    }

    /// What one perturbation did to one parameter tensor.
    public struct LayerReport: Sendable, Equatable {
        /// r = min(Var[w], 1) of the layer's current weights.
        public let risk: Double
        /// The noise standard deviation λ·r.
        public let noiseStandardDeviation: Double
        /// Entries pruned to zero (ρ% of the layer).
        public let prunedCount: Int
        /// Entries that received noise (φ% of the layer).
        public let noisedCount: Int
    }

    /// What the defense did at one step.
    public struct Report: Sendable, Equatable {
        /// The local iteration i.
        public let iteration: Int
        /// 1/(1 + β·i) (the perturbation happens regardless at i = 1).
        public let probability: Double
        /// Whether the gradient was perturbed.
        public let perturbed: Bool
        /// One report per parameter tensor when perturbed, empty otherwise.
        public let layers: [LayerReport]
    }

    /// The hyperparameters.
    public let configuration: Configuration
    /// The last step's report (nil before the first step).
    public private(set) var lastReport: Report?
    /// Steps seen and steps perturbed since this value was configured (one client's round).
    public private(set) var steps = 0, perturbedSteps = 0

    /// A defense with validated hyperparameters.
    public init(_ configuration: Configuration = Configuration()) throws {
        try configuration.validate()
        self.configuration = configuration
    }

    /// "OUTPOST".
    public var name: String { "OUTPOST" }

    /// The probability 1/(1 + β·i) of perturbing at local iteration i.
    public static func perturbationProbability(iteration: Int, beta: Double) -> Double {
        1 / (1 + beta * Double(iteration))
    }

    /// Perturbs with probability 1/(1 + β·i) (always at i = 1); otherwise returns the gradient
    /// unchanged. One uniform number is drawn from `rng` at every step, then the noise.
    public mutating func apply(to gradient: [Tensor], step: LocalStep, rng: inout RandomGenerator) throws -> [Tensor] {
        try GradientOps.checkShapes(gradient, step.parameters, defense: "outpost")
        guard step.iteration >= 1 else {
            throw DefenseError.unsupported(defense: "outpost", message: "local iterations count from 1, got \(step.iteration)")
        }
        steps += 1
        let p = Self.perturbationProbability(iteration: step.iteration, beta: configuration.beta)
        let u = rng.uniform()
        guard step.iteration == 1 || u <= p else {
            lastReport = Report(iteration: step.iteration, probability: p, perturbed: false, layers: [])
            return gradient
        }
        let fisher: [[Double]]
        switch configuration.fisher {
        case .batchMeanSquared:
            fisher = gradient.map { $0.doubles.map { $0 * $0 } }
        case .perSample:
            fisher = Self.empiricalFisher(step.perSampleGradients())
        }
        let (out, layers) = Self.perturb(gradient, weights: step.parameters, fisher: fisher, configuration: configuration, rng: &rng)
        perturbedSteps += 1
        lastReport = Report(iteration: step.iteration, probability: p, perturbed: true, layers: layers)
        return out
    }

    /// Eq. 4's diagonal: per entry, the mean over samples of the squared per-sample gradient.
    public static func empiricalFisher(_ perSample: [[Tensor]]) -> [[Double]] {
        precondition(!perSample.isEmpty, "empiricalFisher: no samples")
        let n = Double(perSample.count)
        return perSample[0].indices.map { l in
            var acc = [Double](repeating: 0, count: perSample[0][l].count)
            for sample in perSample {
                for (i, v) in sample[l].doubles.enumerated() { acc[i] += v * v }
            }
            return acc.map { $0 / n }
        }
    }

    /// One perturbation (lines 7–9 of Algorithm 1) of `gradient`, given the current weights and
    /// the Fisher information of every entry: prune the ρ% smallest |g| of each layer, then add
    /// N(0, (λ·r)²) to the φ% entries with the highest Fisher information.
    public static func perturb(_ gradient: [Tensor], weights: [Tensor], fisher: [[Double]], configuration: Configuration,
                               rng: inout RandomGenerator) -> ([Tensor], [LayerReport]) {
        var out: [Tensor] = []
        var reports: [LayerReport] = []
        for (l, g) in gradient.enumerated() {
            var values = g.doubles
            let n = values.count
            let risk = min(GradientOps.variance(weights[l].doubles), 1)
            let std = configuration.lambda * risk
            let pruned = GradientOps.smallest(GradientOps.selectionCount(percent: configuration.rho, of: n), of: values.map(Swift.abs))
            for i in pruned { values[i] = 0 }
            let noised = GradientOps.largest(GradientOps.selectionCount(percent: configuration.phi, of: n), of: fisher[l])
            for i in noised { values[i] += std * rng.normal() }  // one draw per entry, in index order
            out.append(Tensor(values, shape: g.shape, dtype: g.dtype))
            reports.append(LayerReport(risk: risk, noiseStandardDeviation: std, prunedCount: pruned.count, noisedCount: noised.count))
        }
        return (out, reports)
    }
}
