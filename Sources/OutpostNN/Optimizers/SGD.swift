import COutpostSIMD
import OutpostTensor

/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight
/// decay, with exactly the update of PyTorch's `torch.optim.SGD`:
///
///     d = g + weightDecay · p
///     buf = d                                       (first step)
///     buf = momentum · buf + (1 − dampening) · d    (later steps)
///     d = nesterov ? d + momentum · buf : buf       (when momentum ≠ 0)
///     p = p − lr · d
///
/// ``step(parameters:gradients:)`` computes this in place on the elements without
/// recording a graph. ``functionalStep(parameters:gradients:momentumBuffers:)`` computes the
/// same update with differentiable tensor ops, for attacks that unroll a client's local
/// training and differentiate through it.
public struct SGD: Optimizer, Sendable {
    /// The step size (PyTorch's `lr`).
    public var learningRate: Double {
        didSet { precondition(learningRate >= 0 && learningRate.isFinite, "SGD: invalid learning rate \(learningRate)") }
    }
    /// Momentum factor in [0, 1); 0 turns momentum off.
    public private(set) var momentum: Double
    /// Dampening of the gradient's contribution to the momentum buffer, in [0, 1].
    public private(set) var dampening: Double
    /// L2 penalty added to the gradient: `g + weightDecay · p`.
    public private(set) var weightDecay: Double
    /// Whether Nesterov momentum is used (requires momentum > 0 and no dampening).
    public private(set) var nesterov: Bool
    /// The momentum buffer of each parameter, in parameter order: empty before the first
    /// step and always empty when momentum is 0.
    public private(set) var momentumBuffers: [Tensor?] = []

    /// An SGD optimizer. Throws ``OptimizerError`` for a negative or non-finite learning
    /// rate or weight decay, momentum outside [0, 1), dampening outside [0, 1], and
    /// Nesterov momentum without momentum or with dampening.
    public init(learningRate: Double, momentum: Double = 0, dampening: Double = 0,
                weightDecay: Double = 0, nesterov: Bool = false) throws {
        try Validate.nonNegative("SGD", "learning rate", learningRate)
        try Validate.unit("SGD", "momentum", momentum)
        try Validate.unit("SGD", "dampening", dampening, closed: true)
        try Validate.nonNegative("SGD", "weight decay", weightDecay)
        if nesterov && (momentum <= 0 || dampening != 0) {
            throw OptimizerError.invalidCombination(
                optimizer: "SGD",
                message: "Nesterov momentum requires momentum > 0 and zero dampening (got momentum \(momentum), dampening \(dampening))")
        }
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }

    /// One SGD update of every parameter (see ``Optimizer``).
    public mutating func step(parameters: inout [Tensor], gradients: [Tensor]) {
        checkStepInputs("SGD", parameters: parameters, gradients: gradients, state: momentumBuffers)
        if momentum != 0 && momentumBuffers.isEmpty {
            momentumBuffers = Array(repeating: nil, count: parameters.count)
        }
        for i in parameters.indices {
            let p = parameters[i], g = gradients[i]
            let buf = momentum != 0 ? momentumBuffers[i] : nil
            let (newP, newBuf) = switch p.dtype {
            case .float32: update(Float.self, p, g, buf)
            case .float64: update(Double.self, p, g, buf)
            }
            parameters[i] = replacement(for: p, newP)
            if momentum != 0 { momentumBuffers[i] = newBuf }
        }
    }

    /// The update on raw elements, in the parameter's precision, in the order PyTorch's
    /// single-tensor implementation evaluates it.
    private func update<T: TensorScalar>(_: T.Type, _ p: Tensor, _ g: Tensor, _ buf: Tensor?) -> (Tensor, Tensor?) {
        let wd = T(weightDecay), m = T(momentum), keep = T(1 - dampening), negLR = T(-learningRate)
        let decays = weightDecay != 0
        if T.self == Float.self, momentum != 0, !nesterov, p.count > 0, let old = buf {
            // The steady state in one pass (the same operations as the loops below).
            var newP = p
            let newBuf = old.updatingScalars(Float.self) { bb in
                newP = p.updatingScalars(Float.self) { pp in
                    g.withUnsafeScalars(Float.self) { gg in
                        outpost_sgd_momentum_f32(pp.baseAddress!, gg.baseAddress!, bb.baseAddress!, Float(weightDecay), decays ? 1 : 0,
                                                 Float(momentum), Float(1 - dampening), Float(-learningRate), pp.count)
                    }
                }
            }
            return (newP, newBuf)
        }
        // d = g + wd·p, the gradient with weight decay, as a new tensor only when it differs from g.
        let d: Tensor = decays ? g.updatingScalars(T.self) { dd in
            p.withUnsafeScalars(T.self) { pp in for j in 0..<dd.count { dd[j] = dd[j] + wd * pp[j] } }
        } : g.detached
        guard momentum != 0 else {
            let newP = p.updatingScalars(T.self) { pp in
                d.withUnsafeScalars(T.self) { dd in for j in 0..<pp.count { pp[j] = pp[j] + negLR * dd[j] } }
            }
            return (newP, nil)
        }
        let newBuf: Tensor = buf.map { old in
            old.updatingScalars(T.self) { bb in
                d.withUnsafeScalars(T.self) { dd in for j in 0..<bb.count { bb[j] = bb[j] * m + keep * dd[j] } }
            }
        } ?? d
        let newP = p.updatingScalars(T.self) { pp in
            newBuf.withUnsafeScalars(T.self) { bb in
                if nesterov {
                    d.withUnsafeScalars(T.self) { dd in
                        for j in 0..<pp.count { pp[j] = pp[j] + negLR * (dd[j] + m * bb[j]) }
                    }
                } else {
                    for j in 0..<pp.count { pp[j] = pp[j] + negLR * bb[j] }
                }
            }
        }
        return (newP, newBuf)
    }

    /// The same update as ``step(parameters:gradients:)``, written in differentiable tensor
    /// ops and without touching the optimizer's state: gradients flow from the new
    /// parameters and buffers back to `parameters`, `gradients` and `momentumBuffers`
    /// (for example ∂p′/∂g = −lr for plain SGD). Use it to unroll local training inside a
    /// graph, passing gradients computed with `createGraph: true`.
    ///
    /// - Parameters:
    ///   - momentumBuffers: the buffers from the previous call, one per parameter, `nil`
    ///     (or an empty list) before the first step. Unlike PyTorch, the first buffer is
    ///     not detached from the gradient, so the unrolled graph stays connected.
    /// - Returns: the new parameters and the new buffers (all `nil` when momentum is 0).
    public func functionalStep(parameters: [Tensor], gradients: [Tensor],
                               momentumBuffers: [Tensor?] = []) -> (parameters: [Tensor], momentumBuffers: [Tensor?]) {
        checkStepInputs("SGD.functionalStep", parameters: parameters, gradients: gradients, state: momentumBuffers)
        var newParams: [Tensor] = [], newBuffers: [Tensor?] = []
        for (i, (p, g)) in zip(parameters, gradients).enumerated() {
            var d = weightDecay != 0 ? g + p * weightDecay : g
            var buf: Tensor? = nil
            if momentum != 0 {
                let b = momentumBuffers.isEmpty ? nil : momentumBuffers[i]
                let nb = b.map { $0 * momentum + d * (1 - dampening) } ?? d
                d = nesterov ? d + nb * momentum : nb
                buf = nb
            }
            newParams.append(p - d * learningRate)
            newBuffers.append(buf)
        }
        return (newParams, newBuffers)
    }

    /// ``functionalStep(parameters:gradients:momentumBuffers:)`` with explicit
    /// hyperparameters, which are checked as by ``init(learningRate:momentum:dampening:weightDecay:nesterov:)``.
    public static func functionalStep(parameters: [Tensor], gradients: [Tensor], momentumBuffers: [Tensor?] = [],
                                      learningRate: Double, momentum: Double = 0, dampening: Double = 0,
                                      weightDecay: Double = 0, nesterov: Bool = false) throws
        -> (parameters: [Tensor], momentumBuffers: [Tensor?]) {
        let sgd = try SGD(learningRate: learningRate, momentum: momentum, dampening: dampening,
                          weightDecay: weightDecay, nesterov: nesterov)
        return sgd.functionalStep(parameters: parameters, gradients: gradients, momentumBuffers: momentumBuffers)
    }

    /// Hyperparameters (`lr`, `momentum`, `dampening`, `weight_decay`, `nesterov`) and the
    /// momentum buffers (`momentum_buffer`).
    public func snapshot() -> OptimizerState {
        OptimizerState(algorithm: "SGD",
                       hyperparameters: ["lr": learningRate, "momentum": momentum, "dampening": dampening,
                                         "weight_decay": weightDecay, "nesterov": nesterov ? 1 : 0],
                       tensors: ["momentum_buffer": momentumBuffers.map { $0.map(StateTensor.init) }])
    }

    /// Restores a state written by ``snapshot()`` (see ``StatefulOptimizer/restore(_:)``).
    public mutating func restore(_ state: OptimizerState) throws {
        try state.require("SGD")
        var restored = try SGD(learningRate: state.hyperparameter("lr"), momentum: state.hyperparameter("momentum"),
                               dampening: state.hyperparameter("dampening"),
                               weightDecay: state.hyperparameter("weight_decay"), nesterov: state.flag("nesterov"))
        let buffers = try state.tensorList("momentum_buffer")
        if restored.momentum == 0 && buffers.contains(where: { $0 != nil }) {
            throw OptimizerError.incompatibleState(optimizer: "SGD", message: "momentum buffers are present but momentum is 0")
        }
        restored.momentumBuffers = buffers
        self = restored
    }

    /// Drops the momentum buffers.
    public mutating func resetState() { momentumBuffers = [] }
}
