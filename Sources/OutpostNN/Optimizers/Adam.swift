import Foundation
import OutpostTensor

/// The moment estimates and the update shared by ``Adam`` and ``AdamW``, which differ only
/// in how weight decay enters.
struct AdamCore: Sendable {
    let name: String
    /// true: AdamW's decoupled decay p ← p·(1 − lr·wd); false: Adam's L2 term g + wd·p.
    let decoupled: Bool
    var learningRate: Double
    var beta1: Double
    var beta2: Double
    var epsilon: Double
    var weightDecay: Double
    var amsgrad: Bool
    var stepCount = 0
    var firstMoments: [Tensor?] = []
    var secondMoments: [Tensor?] = []
    var maxSecondMoments: [Tensor?] = []

    init(name: String, decoupled: Bool, learningRate: Double, beta1: Double, beta2: Double, epsilon: Double,
         weightDecay: Double, amsgrad: Bool) throws {
        try Validate.nonNegative(name, "learning rate", learningRate)
        try Validate.unit(name, "beta1", beta1)
        try Validate.unit(name, "beta2", beta2)
        try Validate.nonNegative(name, "epsilon", epsilon)
        try Validate.nonNegative(name, "weight decay", weightDecay)
        self.name = name
        self.decoupled = decoupled
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.amsgrad = amsgrad
    }

    mutating func step(parameters: inout [Tensor], gradients: [Tensor]) {
        checkStepInputs(name, parameters: parameters, gradients: gradients, state: firstMoments)
        checkStepInputs(name, parameters: parameters, gradients: gradients, state: secondMoments)
        if firstMoments.isEmpty {
            firstMoments = Array(repeating: nil, count: parameters.count)
            secondMoments = Array(repeating: nil, count: parameters.count)
        }
        if amsgrad && maxSecondMoments.isEmpty {
            maxSecondMoments = Array(repeating: nil, count: parameters.count)
        }
        stepCount += 1
        for i in parameters.indices {
            let p = parameters[i]
            let m = firstMoments[i] ?? p.zerosLike(), v = secondMoments[i] ?? p.zerosLike()
            let vmax = amsgrad ? (maxSecondMoments[i] ?? p.zerosLike()) : nil
            let r = switch p.dtype {
            case .float32: update(Float.self, p, gradients[i], m, v, vmax)
            case .float64: update(Double.self, p, gradients[i], m, v, vmax)
            }
            parameters[i] = replacement(for: p, r.p)
            firstMoments[i] = r.m
            secondMoments[i] = r.v
            if amsgrad { maxSecondMoments[i] = r.vmax }
        }
    }

    /// PyTorch's single-tensor Adam/AdamW update on raw elements, in the parameter's precision.
    private func update<T: TensorScalar>(_: T.Type, _ p: Tensor, _ g: Tensor, _ m: Tensor, _ v: Tensor,
                                         _ vmax: Tensor?) -> (p: Tensor, m: Tensor, v: Tensor, vmax: Tensor?) {
        let step = Double(stepCount)
        let biasCorrection1 = 1 - Foundation.pow(beta1, step)
        let biasCorrection2 = 1 - Foundation.pow(beta2, step)
        let negStepSize = T(-(learningRate / biasCorrection1))
        let bc2Sqrt = T(biasCorrection2.squareRoot())
        let b1 = T(beta1), c1 = T(1 - beta1), b2 = T(beta2), c2 = T(1 - beta2), eps = T(epsilon)
        let wd = T(weightDecay), decay = T(1 - learningRate * weightDecay)
        // Adam adds the L2 term to the gradient; AdamW leaves the gradient alone.
        let grad: Tensor = (!decoupled && weightDecay != 0) ? g.updatingScalars(T.self) { gg in
            p.withUnsafeScalars(T.self) { pp in for j in 0..<gg.count { gg[j] = gg[j] + wd * pp[j] } }
        } : g
        let newM = m.updatingScalars(T.self) { mm in
            grad.withUnsafeScalars(T.self) { gg in for j in 0..<mm.count { mm[j] = mm[j] * b1 + c1 * gg[j] } }
        }
        let newV = v.updatingScalars(T.self) { vv in
            grad.withUnsafeScalars(T.self) { gg in for j in 0..<vv.count { vv[j] = vv[j] * b2 + c2 * gg[j] * gg[j] } }
        }
        let newVmax = vmax.map { old in
            old.updatingScalars(T.self) { mx in
                newV.withUnsafeScalars(T.self) { vv in
                    for j in 0..<mx.count {
                        let a = mx[j], b = vv[j]
                        mx[j] = (a.isNaN || b.isNaN) ? .nan : (b > a ? b : a)   // torch.maximum propagates NaN
                    }
                }
            }
        }
        let denominatorSource = newVmax ?? newV
        let decoupled = decoupled
        let newP = p.updatingScalars(T.self) { pp in
            newM.withUnsafeScalars(T.self) { mm in
                denominatorSource.withUnsafeScalars(T.self) { vv in
                    for j in 0..<pp.count {
                        let base = decoupled ? pp[j] * decay : pp[j]
                        let denom = vv[j].squareRoot() / bc2Sqrt + eps
                        pp[j] = base + negStepSize * (mm[j] / denom)
                    }
                }
            }
        }
        return (newP, newM, newV, newVmax)
    }

    func snapshot() -> OptimizerState {
        var tensors: [String: [StateTensor?]] = [
            "exp_avg": firstMoments.map { $0.map(StateTensor.init) },
            "exp_avg_sq": secondMoments.map { $0.map(StateTensor.init) },
        ]
        if amsgrad { tensors["max_exp_avg_sq"] = maxSecondMoments.map { $0.map(StateTensor.init) } }
        return OptimizerState(algorithm: name,
                              hyperparameters: ["lr": learningRate, "beta1": beta1, "beta2": beta2, "eps": epsilon,
                                                "weight_decay": weightDecay, "amsgrad": amsgrad ? 1 : 0],
                              counters: ["step": stepCount], tensors: tensors)
    }

    static func restored(_ state: OptimizerState, name: String, decoupled: Bool) throws -> AdamCore {
        try state.require(name)
        var core = try AdamCore(name: name, decoupled: decoupled, learningRate: state.hyperparameter("lr"),
                                beta1: state.hyperparameter("beta1"), beta2: state.hyperparameter("beta2"),
                                epsilon: state.hyperparameter("eps"), weightDecay: state.hyperparameter("weight_decay"),
                                amsgrad: state.flag("amsgrad"))
        core.stepCount = try state.counter("step")
        core.firstMoments = try state.tensorList("exp_avg")
        core.secondMoments = try state.tensorList("exp_avg_sq")
        core.maxSecondMoments = core.amsgrad ? try state.tensorList("max_exp_avg_sq") : []
        try checkRestoredLists(name, [("exp_avg", core.firstMoments), ("exp_avg_sq", core.secondMoments),
                                      ("max_exp_avg_sq", core.maxSecondMoments)])
        let counts = [core.firstMoments.count, core.secondMoments.count] + (core.amsgrad ? [core.maxSecondMoments.count] : [])
        let present = [core.firstMoments, core.secondMoments] + (core.amsgrad ? [core.maxSecondMoments] : [])
        // The moments are created together at the first step: all lists are empty, or all
        // have one entry per parameter with the same entries present.
        guard Set(counts).count == 1,
              present.allSatisfy({ list in list.map { $0 == nil } == present[0].map { $0 == nil } }) else {
            throw OptimizerError.incompatibleState(optimizer: name, message: "the moment lists do not match each other")
        }
        guard (core.stepCount == 0) == core.firstMoments.allSatisfy({ $0 == nil }) else {
            throw OptimizerError.incompatibleState(optimizer: name, message: "step count \(core.stepCount) does not match the stored moments")
        }
        return core
    }

    mutating func resetState() {
        stepCount = 0
        firstMoments = []
        secondMoments = []
        maxSecondMoments = []
    }
}

/// Adam with L2 weight decay and the AMSGrad variant, with exactly the update of PyTorch's
/// `torch.optim.Adam` (single-tensor implementation): at step t,
///
///     g = g + weightDecay · p
///     m = β₁ m + (1 − β₁) g,   v = β₂ v + (1 − β₂) g²,   (amsgrad: v̂ = max(v̂, v))
///     stepSize = lr / (1 − β₁ᵗ)
///     denom = √v / √(1 − β₂ᵗ) + ε        (√v̂ with amsgrad)
///     p = p − stepSize · m / denom
public struct Adam: Optimizer, Sendable {
    var core: AdamCore

    /// An Adam optimizer with PyTorch's defaults. Throws ``OptimizerError`` for a negative
    /// or non-finite learning rate, epsilon or weight decay, and for betas outside [0, 1).
    public init(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
                weightDecay: Double = 0, amsgrad: Bool = false) throws {
        core = try AdamCore(name: "Adam", decoupled: false, learningRate: learningRate, beta1: beta1, beta2: beta2,
                            epsilon: epsilon, weightDecay: weightDecay, amsgrad: amsgrad)
    }

    /// The step size (PyTorch's `lr`).
    public var learningRate: Double {
        get { core.learningRate }
        set {
            precondition(newValue >= 0 && newValue.isFinite, "Adam: invalid learning rate \(newValue)")
            core.learningRate = newValue
        }
    }
    /// Decay rate of the first-moment estimate.
    public var beta1: Double { core.beta1 }
    /// Decay rate of the second-moment estimate.
    public var beta2: Double { core.beta2 }
    /// Added to the denominator for numerical stability.
    public var epsilon: Double { core.epsilon }
    /// L2 penalty added to the gradient: `g + weightDecay · p`.
    public var weightDecay: Double { core.weightDecay }
    /// Whether the AMSGrad variant (running maximum of the second moment) is used.
    public var amsgrad: Bool { core.amsgrad }
    /// Steps taken so far (PyTorch's `state['step']`).
    public var stepCount: Int { core.stepCount }
    /// First-moment estimates (`exp_avg`) per parameter; empty before the first step.
    public var firstMoments: [Tensor?] { core.firstMoments }
    /// Second-moment estimates (`exp_avg_sq`) per parameter; empty before the first step.
    public var secondMoments: [Tensor?] { core.secondMoments }
    /// Running maxima of the second moments (`max_exp_avg_sq`); empty without amsgrad.
    public var maxSecondMoments: [Tensor?] { core.maxSecondMoments }

    /// One Adam update of every parameter (see ``Optimizer``).
    public mutating func step(parameters: inout [Tensor], gradients: [Tensor]) {
        core.step(parameters: &parameters, gradients: gradients)
    }

    /// Hyperparameters (`lr`, `beta1`, `beta2`, `eps`, `weight_decay`, `amsgrad`), the step
    /// count (`step`) and the moments (`exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`).
    public func snapshot() -> OptimizerState { core.snapshot() }

    /// Restores a state written by ``snapshot()`` (see ``StatefulOptimizer/restore(_:)``).
    public mutating func restore(_ state: OptimizerState) throws {
        core = try AdamCore.restored(state, name: "Adam", decoupled: false)
    }

    /// Drops the moments and resets the step count.
    public mutating func resetState() { core.resetState() }
}

/// AdamW: Adam with decoupled weight decay, with exactly the update of PyTorch's
/// `torch.optim.AdamW`: the parameter is first scaled, p ← p · (1 − lr · weightDecay), and
/// then takes ``Adam``'s step computed from the raw gradient (no L2 term).
public struct AdamW: Optimizer, Sendable {
    var core: AdamCore

    /// An AdamW optimizer with PyTorch's defaults (weight decay 0.01). Throws
    /// ``OptimizerError`` for a negative or non-finite learning rate, epsilon or weight
    /// decay, and for betas outside [0, 1).
    public init(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
                weightDecay: Double = 1e-2, amsgrad: Bool = false) throws {
        core = try AdamCore(name: "AdamW", decoupled: true, learningRate: learningRate, beta1: beta1, beta2: beta2,
                            epsilon: epsilon, weightDecay: weightDecay, amsgrad: amsgrad)
    }

    /// The step size (PyTorch's `lr`); it also scales the decoupled weight decay.
    public var learningRate: Double {
        get { core.learningRate }
        set {
            precondition(newValue >= 0 && newValue.isFinite, "AdamW: invalid learning rate \(newValue)")
            core.learningRate = newValue
        }
    }
    /// Decay rate of the first-moment estimate.
    public var beta1: Double { core.beta1 }
    /// Decay rate of the second-moment estimate.
    public var beta2: Double { core.beta2 }
    /// Added to the denominator for numerical stability.
    public var epsilon: Double { core.epsilon }
    /// Decoupled weight decay: each step first scales p by 1 − lr · weightDecay.
    public var weightDecay: Double { core.weightDecay }
    /// Whether the AMSGrad variant (running maximum of the second moment) is used.
    public var amsgrad: Bool { core.amsgrad }
    /// Steps taken so far (PyTorch's `state['step']`).
    public var stepCount: Int { core.stepCount }
    /// First-moment estimates (`exp_avg`) per parameter; empty before the first step.
    public var firstMoments: [Tensor?] { core.firstMoments }
    /// Second-moment estimates (`exp_avg_sq`) per parameter; empty before the first step.
    public var secondMoments: [Tensor?] { core.secondMoments }
    /// Running maxima of the second moments (`max_exp_avg_sq`); empty without amsgrad.
    public var maxSecondMoments: [Tensor?] { core.maxSecondMoments }

    /// One AdamW update of every parameter (see ``Optimizer``).
    public mutating func step(parameters: inout [Tensor], gradients: [Tensor]) {
        core.step(parameters: &parameters, gradients: gradients)
    }

    /// Hyperparameters (`lr`, `beta1`, `beta2`, `eps`, `weight_decay`, `amsgrad`), the step
    /// count (`step`) and the moments (`exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`).
    public func snapshot() -> OptimizerState { core.snapshot() }

    /// Restores a state written by ``snapshot()`` (see ``StatefulOptimizer/restore(_:)``).
    public mutating func restore(_ state: OptimizerState) throws {
        core = try AdamCore.restored(state, name: "AdamW", decoupled: true)
    }

    /// Drops the moments and resets the step count.
    public mutating func resetState() { core.resetState() }
}
