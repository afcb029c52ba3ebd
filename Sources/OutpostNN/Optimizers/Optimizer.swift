import OutpostTensor

/// What every optimizer of this module has: a learning rate that a schedule can change
/// between steps, and a state (momentum buffers, moment estimates, L-BFGS history) that
/// can be saved and restored, so that a federated run can checkpoint and resume on exactly
/// the same trajectory.
public protocol StatefulOptimizer {
    /// The step size. Setting a negative, infinite or NaN value is a programming error and
    /// stops with a message; use ``setLearningRate(_:)`` to get a thrown error instead.
    var learningRate: Double { get set }

    /// The hyperparameters and the whole state, as plain numbers (see ``OptimizerState``).
    func snapshot() -> OptimizerState

    /// Replaces the hyperparameters and the state with those of `state`, which must come
    /// from ``snapshot()`` of the same kind of optimizer. Throws
    /// ``OptimizerError/incompatibleState(optimizer:message:)`` for a state of another
    /// optimizer or an inconsistent one, and the initializer's errors for invalid
    /// hyperparameters; on error `self` is unchanged.
    mutating func restore(_ state: OptimizerState) throws

    /// Forgets the state (buffers, step counts, history) and keeps the hyperparameters:
    /// the next step behaves like the first step of a new optimizer.
    mutating func resetState()
}

extension StatefulOptimizer {
    /// Sets the learning rate after checking it, throwing
    /// ``OptimizerError/invalidHyperparameter(optimizer:name:value:requirement:)`` for a
    /// negative, infinite or NaN value.
    public mutating func setLearningRate(_ value: Double) throws {
        try Validate.nonNegative(String(describing: Self.self), "learning rate", value)
        learningRate = value
    }
}

/// A first-order optimizer: one update of the parameters from their gradients.
///
/// Parameters are an ordered list of tensors; the optimizer keeps its state per position in
/// that list, so the same list (same order, same shapes and dtypes) must be passed at every
/// step. Steps record no autodiff graph. A parameter that required grad is replaced by a
/// new leaf variable (`requiringGrad()`) holding the updated values, so the next forward
/// pass can differentiate with respect to it directly; other parameters are replaced by
/// constants.
public protocol Optimizer: StatefulOptimizer {
    /// Updates `parameters` in place (each tensor is replaced by a new one) from
    /// `gradients`, which must match them in count, shape and dtype.
    mutating func step(parameters: inout [Tensor], gradients: [Tensor])
}

/// An optimizer's hyperparameters and state as plain numbers: `Codable` (JSON, property
/// lists) and `Equatable`, so a checkpoint can be written, read back and compared.
///
/// Names follow PyTorch's `state_dict` where it has them (`momentum_buffer`, `exp_avg`,
/// `exp_avg_sq`, `max_exp_avg_sq`, `old_dirs`, ...). Per-parameter tensors are stored in
/// parameter order, `nil` where the parameter has no such state yet.
public struct OptimizerState: Codable, Equatable, Sendable {
    /// Which optimizer wrote the state: "SGD", "Adam", "AdamW" or "LBFGS".
    public var algorithm: String
    /// Hyperparameters by name; booleans are 0 or 1.
    public var hyperparameters: [String: Double]
    /// Integer state such as step counts.
    public var counters: [String: Int]
    /// Scalar state (L-BFGS step length and Hessian scale, for example).
    public var scalars: [String: Double]
    /// Tensor state by name, one entry per parameter or history slot.
    public var tensors: [String: [StateTensor?]]

    /// A state from its parts.
    public init(algorithm: String, hyperparameters: [String: Double] = [:], counters: [String: Int] = [:],
                scalars: [String: Double] = [:], tensors: [String: [StateTensor?]] = [:]) {
        self.algorithm = algorithm
        self.hyperparameters = hyperparameters
        self.counters = counters
        self.scalars = scalars
        self.tensors = tensors
    }
}

/// One tensor of an optimizer state: shape, dtype and the elements as `Double` (exact for
/// both Float32 and Float64, so a restored state continues bit for bit).
public struct StateTensor: Codable, Equatable, Sendable {
    /// The tensor's shape.
    public var shape: [Int]
    /// "float32" or "float64" (``DType``'s raw value).
    public var dtype: String
    /// The elements in row-major order.
    public var values: [Double]

    /// The elements, shape and dtype of `tensor`.
    public init(_ tensor: Tensor) {
        shape = tensor.shape
        dtype = tensor.dtype.rawValue
        values = tensor.doubles
    }

    /// A state tensor from its parts (no checks; ``tensor`` checks them).
    public init(shape: [Int], dtype: String, values: [Double]) {
        self.shape = shape
        self.dtype = dtype
        self.values = values
    }

    /// The tensor, or nil when the dtype is unknown or the values do not fill the shape.
    public var tensor: Tensor? {
        guard let dt = DType(rawValue: dtype), shape.allSatisfy({ $0 >= 0 }),
              shape.reduce(1, *) == values.count else { return nil }
        return Tensor(values, shape: shape, dtype: dt)
    }
}

// MARK: - Helpers shared by the optimizers

extension OptimizerState {
    func require(_ algorithm: String) throws {
        guard self.algorithm == algorithm else {
            throw OptimizerError.incompatibleState(optimizer: algorithm,
                                                   message: "the state was written by \(self.algorithm)")
        }
    }

    func hyperparameter(_ name: String) throws -> Double {
        guard let v = hyperparameters[name] else {
            throw OptimizerError.incompatibleState(optimizer: algorithm, message: "hyperparameter \(name) is missing")
        }
        return v
    }

    func flag(_ name: String) throws -> Bool {
        let v = try hyperparameter(name)
        guard v == 0 || v == 1 else {
            throw OptimizerError.incompatibleState(optimizer: algorithm, message: "\(name) must be 0 or 1, got \(v)")
        }
        return v == 1
    }

    func integer(_ name: String) throws -> Int {
        let v = try hyperparameter(name)
        guard v.isFinite, v == v.rounded(), Swift.abs(v) < 1e15 else {
            throw OptimizerError.incompatibleState(optimizer: algorithm, message: "\(name) must be an integer, got \(v)")
        }
        return Int(v)
    }

    func counter(_ name: String) throws -> Int {
        guard let v = counters[name], v >= 0 else {
            throw OptimizerError.incompatibleState(optimizer: algorithm, message: "counter \(name) is missing or negative")
        }
        return v
    }

    /// The tensors stored under `name` (an empty list when absent).
    func tensorList(_ name: String) throws -> [Tensor?] {
        try (tensors[name] ?? []).enumerated().map { i, saved in
            guard let saved else { return nil }
            guard let t = saved.tensor else {
                throw OptimizerError.incompatibleState(optimizer: algorithm,
                                                       message: "\(name)[\(i)] is malformed (shape \(saved.shape), dtype \(saved.dtype), \(saved.values.count) values)")
            }
            return t
        }
    }
}

/// Checks that a step's inputs fit each other and the optimizer's per-parameter state.
func checkStepInputs(_ op: String, parameters: [Tensor], gradients: [Tensor], state: [Tensor?]) {
    precondition(parameters.count == gradients.count,
                 "\(op).step: \(parameters.count) parameters but \(gradients.count) gradients")
    precondition(state.isEmpty || state.count == parameters.count,
                 "\(op).step: the optimizer holds state for \(state.count) parameters, got \(parameters.count)")
    for (i, (p, g)) in zip(parameters, gradients).enumerated() {
        precondition(p.shape == g.shape && p.dtype == g.dtype,
                     "\(op).step: parameter \(i) is \(p.dtype) \(p.shape) but its gradient is \(g.dtype) \(g.shape)")
        if !state.isEmpty, let s = state[i] {
            precondition(s.shape == p.shape && s.dtype == p.dtype,
                         "\(op).step: parameter \(i) is \(p.dtype) \(p.shape) but its state is \(s.dtype) \(s.shape)")
        }
    }
}

/// Checks that restored per-parameter state lists have one entry per parameter and agree.
func checkRestoredLists(_ op: String, _ lists: [(String, [Tensor?])], allowEmpty: Bool = true) throws {
    let counts = Set(lists.map(\.1.count).filter { $0 > 0 })
    guard counts.count <= 1 else {
        throw OptimizerError.incompatibleState(optimizer: op, message: "state lists have different lengths \(lists.map { "\($0.0): \($0.1.count)" })")
    }
    guard let n = counts.first else { return }
    for i in 0..<n {
        let present = lists.compactMap { $0.1.count == n ? $0.1[i] : nil }
        guard let first = present.first else { continue }
        guard present.allSatisfy({ $0.shape == first.shape && $0.dtype == first.dtype }) else {
            throw OptimizerError.incompatibleState(optimizer: op, message: "state tensors of parameter \(i) disagree in shape or dtype")
        }
    }
}

/// The updated value of a parameter, as a leaf variable when the old one required grad.
@inline(__always)
func replacement(for old: Tensor, _ new: Tensor) -> Tensor {
    old.requiresGrad ? new.requiringGrad() : new
}
