import OutpostTensor

/// A classifier: a feature extractor (`body`) followed by one linear layer (`head`).
///
/// Every model of this toolkit has that shape, which is what lets defenses such as Soteria
/// and label-inference attacks find "the representation feeding the last fully connected
/// layer" and "the last layer's gradient" from the structure instead of a hard-coded index.
/// A network holds no weights: parameters and buffers live in a ``ModelState`` (or any list
/// of tensors of the right shapes), so the same definition runs a client's weights, the
/// server's, or an attacker's dummy ones.
public struct Network: Sendable {
    /// The architecture's name as used in configuration files, e.g. `lenet`.
    public let architecture: String
    /// Channels, height and width of one input image.
    public let inputShape: [Int]
    public let classCount: Int
    /// Parameters in PyTorch `named_parameters()` order, with `state_dict` key names.
    public let parameterSpecs: [ParameterSpec]
    /// Buffers (batch-norm statistics) with `state_dict` key names.
    public let bufferSpecs: [BufferSpec]
    public let body: Sequential
    public let head: Linear

    init(architecture: String, inputShape: [Int], classCount: Int, builder: ModelBuilder, body: Sequential, head: Linear) {
        self.architecture = architecture
        self.inputShape = inputShape
        self.classCount = classCount
        parameterSpecs = builder.parameters
        bufferSpecs = builder.buffers
        self.body = body
        self.head = head
    }

    /// The representation that feeds the final linear layer (N×features).
    public func features(_ x: Tensor, _ ctx: inout ForwardContext) -> Tensor {
        precondition(x.rank == 4 && Array(x.shape.dropFirst()) == inputShape,
                     "\(architecture): input of shape \(x.shape) does not match N×\(inputShape.map(String.init).joined(separator: "×"))")
        precondition(ctx.parameters.count == parameterSpecs.count,
                     "\(architecture): \(ctx.parameters.count) parameters given, the model has \(parameterSpecs.count)")
        return body(x, &ctx)
    }

    /// Logits (N×classes).
    public func forward(_ x: Tensor, _ ctx: inout ForwardContext) -> Tensor { head(features(x, &ctx), &ctx) }

    /// Logits for `x` under `state`; in training mode the running statistics are not
    /// written back (use `forward(_:_:)` with a context for that).
    public func callAsFunction(_ x: Tensor, _ state: ModelState, training: Bool = false) -> Tensor {
        var ctx = ForwardContext(parameters: state.parameters, buffers: state.buffers, training: training, updatesRunningStatistics: false)
        return forward(x, &ctx)
    }

    /// Logits with explicit parameters (e.g. dummy weights or a differentiable unrolled
    /// update) and the state's buffers.
    public func callAsFunction(_ x: Tensor, parameters: [Tensor], buffers: [Tensor], training: Bool = false) -> Tensor {
        var ctx = ForwardContext(parameters: parameters, buffers: buffers, training: training, updatesRunningStatistics: false)
        return forward(x, &ctx)
    }

    /// Index of the final linear layer's weight (classes×features) in the parameter list.
    public var headWeightIndex: Int { head.weight }
    /// Index of the final linear layer's bias, if it has one.
    public var headBiasIndex: Int? { head.bias }

    /// Number of trainable scalars.
    public var parameterCount: Int { parameterSpecs.reduce(0) { $0 + $1.shape.reduce(1, *) } }

    /// A fresh state: parameters from `initialization`, buffers at PyTorch's initial values.
    public func initialState(_ initialization: Initialization = .pytorchDefault, seed: UInt64, dtype: DType = .float32) -> ModelState {
        var rng = RandomGenerator(seed: seed)
        return ModelState(parameters: parameterSpecs.map { initialization.sample($0, rng: &rng, dtype: dtype) },
                          buffers: bufferSpecs.map { Tensor.full($0.shape, $0.initialValue, dtype: dtype) })
    }
}

/// A model's weights: parameter tensors and buffer tensors, in the network's order.
public struct ModelState: Sendable {
    public var parameters: [Tensor]
    public var buffers: [Tensor]

    public init(parameters: [Tensor], buffers: [Tensor]) {
        self.parameters = parameters
        self.buffers = buffers
    }

    /// The same state in another dtype.
    public func cast(to dtype: DType) -> ModelState {
        ModelState(parameters: parameters.map { $0.detached.cast(to: dtype) }, buffers: buffers.map { $0.detached.cast(to: dtype) })
    }
}
