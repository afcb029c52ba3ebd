import OutpostTensor

/// What leaves a client in one round: the only client data an attack ever receives.
///
/// This module deliberately knows nothing of data sets, clients or ground truth, and the
/// attacks module depends on this module and not on those: attack code cannot name a
/// client's images or labels, so the wall between what a client keeps and what the server
/// sees is enforced by the compiler, not by convention.
public struct ClientPayload: Sendable {
    /// Whether the tensors are a gradient (FedSGD) or a model update Δ = w_local − w_global.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case gradient
        case modelUpdate = "model_update"
    }

    public var kind: Kind
    /// One tensor per model parameter, in the model's parameter order.
    public var tensors: [Tensor]
    /// The sample count the client reports (FedAvg weights updates by it).
    public var sampleCount: Int
    public var round: Int
    public var clientID: Int

    public init(kind: Kind, tensors: [Tensor], sampleCount: Int, round: Int = 0, clientID: Int = 0) {
        self.kind = kind
        self.tensors = tensors
        self.sampleCount = sampleCount
        self.round = round
        self.clientID = clientID
    }
}

/// Per-channel normalization applied to pixels in [0, 1] before they enter the model:
/// x_model = (x_pixel − mean) / std. Attacks optimize in model space and report pixels.
public struct PixelNormalization: Sendable, Codable, Equatable {
    public var mean: [Double]
    public var std: [Double]

    public init(mean: [Double], std: [Double]) {
        self.mean = mean
        self.std = std
    }

    /// No normalization: the model sees pixels in [0, 1].
    public static func identity(channels: Int) -> PixelNormalization {
        PixelNormalization(mean: Array(repeating: 0, count: channels), std: Array(repeating: 1, count: channels))
    }

    func view(_ v: [Double], dtype: DType) -> Tensor { Tensor(v, shape: [1, v.count, 1, 1], dtype: dtype) }

    /// Model-space tensor from pixels (N×C×H×W).
    public func normalize(_ pixels: Tensor) -> Tensor {
        (pixels - view(mean, dtype: pixels.dtype)) / view(std, dtype: pixels.dtype)
    }

    /// Pixels from a model-space tensor (not clamped).
    public func denormalize(_ x: Tensor) -> Tensor {
        x * view(std, dtype: x.dtype) + view(mean, dtype: x.dtype)
    }

    /// The model-space images of the pixel box [0, 1], per channel: (lower, upper) as
    /// 1×C×1×1 tensors, for attacks that keep reconstructions valid.
    public func box(dtype: DType) -> (lower: Tensor, upper: Tensor) {
        (view(zip(mean, std).map { (0 - $0) / $1 }, dtype: dtype), view(zip(mean, std).map { (1 - $0) / $1 }, dtype: dtype))
    }
}

/// What the server is assumed to know about a client's local training: the declared threat
/// model. Everything not declared is unknown to the attacker, which then works with its own
/// assumptions (and a mismatch with the client's real settings is part of what is studied).
public struct ServerKnowledge: Sendable, Codable, Equatable {
    /// Images per step the attack reconstructs (the client's batch size, or all its samples).
    public var batchSize: Int
    /// The client's learning rate, if known.
    public var learningRate: Double?
    /// Local epochs, if known.
    public var localEpochs: Int?
    /// The client's number of samples, if known.
    public var sampleCount: Int?
    /// SGD momentum, if known.
    public var momentum: Double?
    /// Weight decay, if known.
    public var weightDecay: Double?
    /// The labels of the client's samples, when the threat model grants them (a strong,
    /// declared assumption that Inverting Gradients' known-label setting makes).
    public var labels: [Int]?
    /// How the client normalizes pixels.
    public var normalization: PixelNormalization

    public init(batchSize: Int, learningRate: Double? = nil, localEpochs: Int? = nil, sampleCount: Int? = nil,
                momentum: Double? = nil, weightDecay: Double? = nil, labels: [Int]? = nil, normalization: PixelNormalization) {
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.localEpochs = localEpochs
        self.sampleCount = sampleCount
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.labels = labels
        self.normalization = normalization
    }
}
