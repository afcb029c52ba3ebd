import OutpostTensor

/// 2-D convolution with PyTorch's `Conv2d` parameters `weight` (out×in/groups×k×k) and `bias`.
public struct Conv2d: Layer {
    public let weight: Int
    public let bias: Int?
    public let geometry: Conv2dGeometry

    public init(_ b: ModelBuilder, _ prefix: String, _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1,
                padding: Int = 0, dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        let fanIn = inChannels / groups * kernel * kernel
        weight = b.parameter(key(prefix, "weight"), [outChannels, inChannels / groups, kernel, kernel],
                             .weight(fanIn: fanIn, fanOut: outChannels / groups * kernel * kernel))
        self.bias = bias ? b.parameter(key(prefix, "bias"), [outChannels], .bias(fanIn: fanIn)) : nil
        geometry = Conv2dGeometry(stride: (stride, stride), padding: (padding, padding), dilation: (dilation, dilation), groups: groups)
    }

    public func callAsFunction(_ x: Tensor, _ ctx: inout ForwardContext) -> Tensor {
        x.conv2d(ctx.parameters[weight], bias: bias.map { ctx.parameters[$0] }, geometry: geometry)
    }

    public func isPerSample(training: Bool) -> Bool { true }
}

/// Fully connected layer with PyTorch's `Linear` parameters `weight` (out×in) and `bias`.
public struct Linear: Layer {
    public let weight: Int
    public let bias: Int?

    public init(_ b: ModelBuilder, _ prefix: String, _ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        weight = b.parameter(key(prefix, "weight"), [outFeatures, inFeatures], .weight(fanIn: inFeatures, fanOut: outFeatures))
        self.bias = bias ? b.parameter(key(prefix, "bias"), [outFeatures], .bias(fanIn: inFeatures)) : nil
    }

    public func callAsFunction(_ x: Tensor, _ ctx: inout ForwardContext) -> Tensor {
        x.linear(ctx.parameters[weight], bias: bias.map { ctx.parameters[$0] })
    }

    public func isPerSample(training: Bool) -> Bool { true }
}

/// Batch normalization with PyTorch's `BatchNorm2d` keys: parameters `weight`, `bias`;
/// buffers `running_mean`, `running_var`, `num_batches_tracked`.
public struct BatchNorm2d: Layer {
    public let weight: Int, bias: Int
    public let runningMean: Int, runningVariance: Int, batchesTracked: Int
    public let eps: Double
    public let momentum: Double

    public init(_ b: ModelBuilder, _ prefix: String, _ channels: Int, eps: Double = 1e-5, momentum: Double = 0.1) {
        weight = b.parameter(key(prefix, "weight"), [channels], .normScale)
        bias = b.parameter(key(prefix, "bias"), [channels], .normShift)
        runningMean = b.buffer(key(prefix, "running_mean"), [channels], initialValue: 0)
        runningVariance = b.buffer(key(prefix, "running_var"), [channels], initialValue: 1)
        batchesTracked = b.buffer(key(prefix, "num_batches_tracked"), [], initialValue: 0, isInteger: true)
        self.eps = eps
        self.momentum = momentum
    }

    public func callAsFunction(_ x: Tensor, _ ctx: inout ForwardContext) -> Tensor {
        let w = ctx.parameters[weight], b = ctx.parameters[bias]
        guard ctx.training else {
            return x.batchNormInference(runningMean: ctx.buffers[runningMean], runningVariance: ctx.buffers[runningVariance],
                                        weight: w, bias: b, eps: eps)
        }
        let (y, mean, variance) = x.batchNormTraining(weight: w, bias: b, eps: eps)
        if ctx.updatesRunningStatistics {
            withoutGrad {
                let m = momentum
                ctx.buffers[runningMean] = ctx.buffers[runningMean].detached * (1 - m) + mean * m
                ctx.buffers[runningVariance] = ctx.buffers[runningVariance].detached * (1 - m) + variance * m
                ctx.buffers[batchesTracked] = ctx.buffers[batchesTracked].detached + 1
            }
        }
        return y
    }

    /// In training mode it normalizes with the batch's statistics.
    public func isPerSample(training: Bool) -> Bool { !training }
}

/// Elementwise activations.
public enum Activation: String, Layer, CaseIterable, Codable {
    case relu, relu6, sigmoid, tanh, leakyRelu = "leaky_relu", gelu, softplus, identity

    public func callAsFunction(_ x: Tensor, _ ctx: inout ForwardContext) -> Tensor { apply(x) }

    public func isPerSample(training: Bool) -> Bool { true }

    public func apply(_ x: Tensor) -> Tensor {
        switch self {
        case .relu: return x.relu()
        case .relu6: return x.clamped(min: 0, max: 6)
        case .sigmoid: return x.sigmoid()
        case .tanh: return x.tanh()
        case .leakyRelu: return x.leakyRelu(slope: 0.01)
        case .gelu: return x.gelu()
        case .softplus: return x.softplus()
        case .identity: return x
        }
    }
}

public struct MaxPool2d: Layer {
    public let kernel: Int, stride: Int, padding: Int
    public init(kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
    }
    public func callAsFunction(_ x: Tensor, _ ctx: inout ForwardContext) -> Tensor {
        x.maxPool2d(kernel: kernel, stride: stride, padding: padding)
    }
    public func isPerSample(training: Bool) -> Bool { true }
}

public struct AdaptiveAvgPool2d: Layer {
    public let size: (Int, Int)
    public init(_ h: Int, _ w: Int) { size = (h, w) }
    public func callAsFunction(_ x: Tensor, _ ctx: inout ForwardContext) -> Tensor { x.adaptiveAvgPool2d(size) }
    public func isPerSample(training: Bool) -> Bool { true }
}

/// Flattens all but the batch dimension.
public struct Flatten: Layer {
    public init() {}
    public func callAsFunction(_ x: Tensor, _ ctx: inout ForwardContext) -> Tensor { x.flattened(from: 1) }
    public func isPerSample(training: Bool) -> Bool { true }
}

/// Dropout, active in training mode when the context carries a random generator.
public struct Dropout: Layer {
    public let probability: Double
    public init(_ p: Double) { probability = p }
    public func callAsFunction(_ x: Tensor, _ ctx: inout ForwardContext) -> Tensor {
        guard ctx.training, probability > 0, var rng = ctx.rng else { return x }
        let y = x.dropout(probability, using: &rng)
        ctx.rng = rng
        return y
    }

    /// In training mode its masks come from one random stream for the whole batch.
    public func isPerSample(training: Bool) -> Bool { !training || probability == 0 }
}
