import Foundation
import OutpostNN
import OutpostTensor
import OutpostThreatModel

/// Optimization-based gradient inversion: dummy images (and labels) are optimized until the
/// gradient or model update they produce matches what the client sent. DLG, iDLG,
/// Inverting Gradients / csDLG and delta matching through unrolled local training are
/// configurations of this one attack (see the presets).
public struct GradientInversion: Sendable, Equatable {
    /// How the dummy observation is compared with the real one.
    public enum Distance: Sendable, Equatable {
        /// Σ_l ‖g̃_l − g_l‖² (DLG).
        case squaredL2
        /// 1 − Σ_l w_l⟨g̃_l, g_l⟩ / (√Σ_l w_l‖g̃_l‖² · √Σ_l w_l‖g_l‖²), over all parameters
        /// (Inverting Gradients); `layerWeights` nil weighs every parameter tensor equally.
        case cosine(layerWeights: [Double]?)
    }

    /// What the dummy data must reproduce.
    public enum Matching: Sendable, Equatable {
        /// The shared gradient itself (FedSGD). With a model-update payload the update is
        /// used as if it were a gradient; see `updateAsGradient` for the rescaled version.
        case sharedGradient
        /// A gradient approximated from a model update: −Δ / (η · local steps), with η and
        /// the step count (ceil(n / B) · E) from the server knowledge (Wei et al.).
        case updateAsGradient
        /// The update itself: the client's local SGD is unrolled on the dummy data with the
        /// learning rate, epochs, sample count, batch size, momentum and weight decay the
        /// server assumes, and the dummy update is matched to Δ.
        case unrolledUpdate
    }

    /// Where labels come from.
    public enum Labels: Sendable, Equatable {
        /// From the server knowledge (the threat model must grant them).
        case known
        /// Read off the final layer's gradient: iDLG for one sample, bias-corrected counts
        /// for a batch.
        case inferred
        /// Optimized jointly with the images as soft labels (DLG).
        case optimized
    }

    public enum Optimizer: Sendable, Equatable {
        /// torch.optim.LBFGS: each of the attack's iterations is one `step` with up to
        /// `iterationsPerStep` inner iterations. A step ends early when the largest gradient
        /// entry is below `toleranceGrad` or the loss changes less than `toleranceChange`
        /// (PyTorch's defaults are 1e-7 and 1e-9; a scale-free cosine loss near a match has
        /// gradients below 1e-7, so the attacks default to tighter tolerances).
        case lbfgs(learningRate: Double, iterationsPerStep: Int, history: Int, strongWolfe: Bool,
                   toleranceGrad: Double, toleranceChange: Double)

        /// L-BFGS as the attack literature runs it (lr 1, 20 iterations a step, history 100,
        /// no line search), with the given tolerances.
        public static func lbfgs(toleranceGrad: Double = 1e-12, toleranceChange: Double = 1e-14) -> Optimizer {
            .lbfgs(learningRate: 1, iterationsPerStep: 20, history: 100, strongWolfe: false,
                   toleranceGrad: toleranceGrad, toleranceChange: toleranceChange)
        }
        /// Adam, optionally on the sign of the gradient and with the learning rate divided
        /// by 10 at 3/8, 5/8 and 7/8 of the iterations (Geiping et al.).
        case adam(learningRate: Double, signedGradient: Bool, stepDecay: Bool)
    }

    /// How dummy images start.
    public enum Start: String, Sendable, Equatable, Codable {
        /// N(0, 1) in model space (DLG, Inverting Gradients).
        case normal
        /// Uniform pixels in [0, 1].
        case uniform
    }

    public var distance: Distance
    public var matching: Matching
    public var labels: Labels
    public var optimizer: Optimizer
    /// Optimizer steps per trial.
    public var iterations: Int
    /// Independent restarts from different dummy data.
    public var trials: Int
    /// Weight of the total-variation prior (0 disables it).
    public var totalVariation: Double
    /// Clamp the dummy images to the valid pixel box after every step (in model space when
    /// the data is normalized).
    public var boxConstraint: Bool
    public var start: Start
    /// Run the model in training mode (batch-norm batch statistics) when computing dummy
    /// gradients; false uses the running statistics of the global state.
    public var trainingMode: Bool
    /// Stop a trial early once the matching loss is below this value.
    public var convergenceLoss: Double
    /// Which 3×3 convolutions the trials run as Winograd convolutions (the runner sets it
    /// on its thread for the duration of `run`); `GradientInversion.winogradPolicy` unless
    /// changed.
    public var winograd: Engine.WinogradPolicy = GradientInversion.winogradPolicy

    /// The attacks' Winograd policy: the shape rule with F(4×4, 3×3) tiles where they are
    /// faster (`Engine.WinogradPolicy.shapeRuleF4x4`). An attack on a convolutional network
    /// spends most of its time in wide 3×3 convolutions and their first and second
    /// derivatives, where F(4,3) needs 36 multiplies per 16 outputs and F(2,3) 64 (W5:
    /// about 1.4x the steps per second). Its Float32 results carry about
    /// 3.5x more rounding (see the Winograd tests), which an attack tolerates: Inverting
    /// Gradients on real photographs reconstructs them as well under it as under F(2,3)
    /// (`WinogradAttackTests`). The benchmark's Inverting Gradients workloads (W2, W5) run
    /// under this same policy.
    public static let winogradPolicy: Engine.WinogradPolicy = .shapeRuleF4x4

    public init(distance: Distance, matching: Matching = .sharedGradient, labels: Labels, optimizer: Optimizer,
                iterations: Int, trials: Int = 1, totalVariation: Double = 0, boxConstraint: Bool = false,
                start: Start = .normal, trainingMode: Bool = false, convergenceLoss: Double = 0) {
        self.distance = distance
        self.matching = matching
        self.labels = labels
        self.optimizer = optimizer
        self.iterations = iterations
        self.trials = trials
        self.totalVariation = totalVariation
        self.boxConstraint = boxConstraint
        self.start = start
        self.trainingMode = trainingMode
        self.convergenceLoss = convergenceLoss
    }

    /// DLG (Zhu et al. 2019): squared L2, L-BFGS (lr 1), images and soft labels jointly.
    public static func dlg(iterations: Int = 300, trials: Int = 1) -> GradientInversion {
        GradientInversion(distance: .squaredL2, labels: .optimized,
                          optimizer: .lbfgs(),
                          iterations: iterations, trials: trials)
    }

    /// iDLG (Zhao et al. 2020): the label from the final layer's gradient, then DLG on the
    /// image only.
    public static func idlg(iterations: Int = 300, trials: Int = 1) -> GradientInversion {
        GradientInversion(distance: .squaredL2, labels: .inferred,
                          optimizer: .lbfgs(),
                          iterations: iterations, trials: trials)
    }

    /// csDLG as the OUTPOST paper runs it: cosine distance with L-BFGS, label inferred.
    public static func csDLG(iterations: Int = 300, trials: Int = 1, labels: Labels = .inferred) -> GradientInversion {
        GradientInversion(distance: .cosine(layerWeights: nil), labels: labels,
                          optimizer: .lbfgs(),
                          iterations: iterations, trials: trials)
    }

    /// Inverting Gradients (Geiping et al. 2020): cosine distance, total variation, Adam on
    /// the signed gradient with step decay, images kept in the pixel box.
    public static func invertingGradients(iterations: Int = 4800, trials: Int = 1, totalVariation: Double = 1e-4,
                                          learningRate: Double = 0.1, labels: Labels = .known) -> GradientInversion {
        GradientInversion(distance: .cosine(layerWeights: nil), labels: labels,
                          optimizer: .adam(learningRate: learningRate, signedGradient: true, stepDecay: true),
                          iterations: iterations, trials: trials, totalVariation: totalVariation, boxConstraint: true)
    }

    func validate(_ target: AttackTarget) throws {
        guard iterations >= 1, trials >= 1 else { throw AttackError.invalidConfiguration("iterations and trials must be at least 1") }
        guard totalVariation >= 0, totalVariation.isFinite else { throw AttackError.invalidConfiguration("total-variation weight must be ≥ 0") }
        if case .cosine(let w?) = distance, w.count != target.network.parameterSpecs.count {
            throw AttackError.invalidConfiguration("cosine layer weights: \(w.count) given, the model has \(target.network.parameterSpecs.count) parameters")
        }
        if labels == .known && target.knowledge.labels == nil {
            throw AttackError.invalidConfiguration("labels are configured as known, but the server knowledge grants none")
        }
        if case .lbfgs = optimizer, boxConstraint {
            throw AttackError.invalidConfiguration("the box constraint is applied between Adam steps; L-BFGS assumes an unconstrained problem")
        }
        let k = target.knowledge
        switch matching {
        case .sharedGradient: break
        case .updateAsGradient:
            guard target.payload.kind == .modelUpdate else { throw AttackError.invalidConfiguration("update-as-gradient matching needs a model-update payload") }
            guard k.learningRate != nil, k.localEpochs != nil, k.sampleCount != nil else {
                throw AttackError.invalidConfiguration("update-as-gradient matching needs the learning rate, local epochs and sample count in the server knowledge")
            }
        case .unrolledUpdate:
            guard target.payload.kind == .modelUpdate else { throw AttackError.invalidConfiguration("unrolled matching needs a model-update payload") }
            guard let lr = k.learningRate, k.localEpochs != nil, let n = k.sampleCount else {
                throw AttackError.invalidConfiguration("unrolled matching needs the learning rate, local epochs and sample count in the server knowledge")
            }
            guard lr > 0, n >= 1, k.batchSize <= n else {
                throw AttackError.invalidConfiguration("unrolled matching: learning rate must be > 0 and batch size ≤ sample count")
            }
        }
    }
}
