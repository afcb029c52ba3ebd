import OutpostTensor

/// What a parameter is, which decides how initializers treat it.
public enum ParameterRole: Sendable, Equatable {
    /// A convolution or linear weight with its fan-in and fan-out.
    case weight(fanIn: Int, fanOut: Int)
    /// The bias of a convolution or linear layer (its layer's fan-in).
    case bias(fanIn: Int)
    /// A normalization layer's scale (initialized to 1 by PyTorch).
    case normScale
    /// A normalization layer's shift (initialized to 0 by PyTorch).
    case normShift
}

/// A named, shaped parameter of a model, in PyTorch's `named_parameters()` order.
public struct ParameterSpec: Sendable, Equatable {
    /// The `state_dict` key, e.g. `body.0.weight`.
    public let name: String
    public let shape: [Int]
    public let role: ParameterRole
}

/// A non-trainable tensor of a model's state (batch-norm running statistics).
public struct BufferSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let initialValue: Double
    /// Stored as an integer by PyTorch (`num_batches_tracked`, int64).
    public let isInteger: Bool
}

/// Collects parameter and buffer declarations while a model is built, in registration
/// order, which is the order PyTorch's `named_parameters()` and `state_dict()` use.
public final class ModelBuilder {
    public private(set) var parameters: [ParameterSpec] = []
    public private(set) var buffers: [BufferSpec] = []

    public init() {}

    /// Declares a parameter and returns its index in the model's parameter list.
    public func parameter(_ name: String, _ shape: [Int], _ role: ParameterRole) -> Int {
        precondition(!parameters.contains { $0.name == name }, "model definition: parameter \(name) declared twice")
        parameters.append(ParameterSpec(name: name, shape: shape, role: role))
        return parameters.count - 1
    }

    /// Declares a buffer and returns its index in the model's buffer list.
    public func buffer(_ name: String, _ shape: [Int], initialValue: Double, isInteger: Bool = false) -> Int {
        buffers.append(BufferSpec(name: name, shape: shape, initialValue: initialValue, isInteger: isInteger))
        return buffers.count - 1
    }
}

/// `prefix.name`, or `name` when the prefix is empty.
func key(_ prefix: String, _ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }

/// The state a forward pass reads and may update: the parameters to use (a model's own, or
/// any other list of the same shapes, e.g. dummy weights an attacker unrolls training
/// with), the buffers, and the mode.
public struct ForwardContext {
    /// Parameter tensors in the model's parameter order.
    public var parameters: [Tensor]
    /// Buffer tensors (batch-norm running statistics) in the model's buffer order.
    public var buffers: [Tensor]
    /// Training mode: batch statistics in batch norm, dropout active (when `rng` is set).
    public var training: Bool
    /// In training mode, whether batch norm updates its running statistics (PyTorch always
    /// does; an attacker simulating a client may choose not to).
    public var updatesRunningStatistics: Bool
    /// Randomness for dropout; without one, dropout is the identity (deterministic forward).
    public var rng: RandomGenerator?

    public init(parameters: [Tensor], buffers: [Tensor], training: Bool, updatesRunningStatistics: Bool = true,
                rng: RandomGenerator? = nil) {
        self.parameters = parameters
        self.buffers = buffers
        self.training = training
        self.updatesRunningStatistics = updatesRunningStatistics
        self.rng = rng
    }
}

/// A layer: a function of its input and the context's parameters. Layers hold the indices of
/// their parameters, never the tensors, so one model definition serves any weights.
public protocol Layer: Sendable {
    func callAsFunction(_ x: Tensor, _ ctx: inout ForwardContext) -> Tensor

    /// Whether, in this mode, each sample's output depends on that sample alone (and on the
    /// parameters): no batch statistics, no random draws. A batch through such layers can be
    /// computed in parts with the same result (`Network.crossEntropyGradient`). A layer that
    /// does not say is taken not to be.
    func isPerSample(training: Bool) -> Bool
}

extension Layer {
    public func isPerSample(training: Bool) -> Bool { false }
}

/// Layers applied in order.
public struct Sequential: Layer {
    public let layers: [any Layer]
    public init(_ layers: [any Layer]) { self.layers = layers }
    public func callAsFunction(_ x: Tensor, _ ctx: inout ForwardContext) -> Tensor {
        layers.reduce(x) { h, layer in layer(h, &ctx) }
    }
    public func isPerSample(training: Bool) -> Bool { layers.allSatisfy { $0.isPerSample(training: training) } }
}
