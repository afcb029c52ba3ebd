import OutpostNN
import OutpostTensor

/// One local training step of a client, as a per-step defense sees it. Defenses run on the
/// client, so unlike attacks they may look at the client's own batch.
public struct LocalStep {
    /// The model definition.
    public let network: Network
    /// The client's current local weights (the step's starting point).
    public let parameters: [Tensor]
    /// The client's current buffers (batch-norm running statistics).
    public let buffers: [Tensor]
    /// The batch in model space (N×C×H×W) and its labels.
    public let images: Tensor
    /// The batch's labels, one per image.
    public let labels: [Int]
    /// The local iteration, counted from 1 across all epochs of the round (OUTPOST's i).
    public let iteration: Int
    /// The communication round.
    public let round: Int
    /// Whether the forward pass runs in training mode (batch-norm batch statistics).
    public let training: Bool

    /// A step as the client's training loop describes it.
    public init(network: Network, parameters: [Tensor], buffers: [Tensor], images: Tensor, labels: [Int],
                iteration: Int, round: Int, training: Bool) {
        self.network = network
        self.parameters = parameters
        self.buffers = buffers
        self.images = images
        self.labels = labels
        self.iteration = iteration
        self.round = round
        self.training = training
    }

    /// The gradient of the mean cross-entropy of samples `rows` at the current weights.
    public func gradient(rows: Range<Int>) -> [Tensor] {
        let vars = parameters.map { $0.requiringGrad() }
        let logits = network(images.slice(axis: 0, rows), parameters: vars, buffers: buffers, training: training)
        return grad(of: Loss.crossEntropy(logits, labels: Array(labels[rows])), wrt: vars)
    }

    /// One gradient per sample (for the empirical Fisher information and DP-SGD's clipping):
    /// B backward passes. In training mode a single sample's batch statistics differ from the
    /// batch's, so models with batch norm get per-sample gradients in evaluation mode.
    public func perSampleGradients() -> [[Tensor]] {
        (0..<labels.count).map { i in
            let vars = parameters.map { $0.requiringGrad() }
            let logits = network(images.slice(axis: 0, i..<(i + 1)), parameters: vars, buffers: buffers,
                                 training: training && network.bufferSpecs.isEmpty)
            return grad(of: Loss.crossEntropy(logits, labels: [labels[i]]), wrt: vars)
        }
    }
}

/// A defense applied to each local step's gradient before the optimizer uses it (OUTPOST,
/// gradient compression, DP noise, Soteria, GradDefense, masking, DP-SGD, ...).
///
/// Defenses are values: a client copies the configured defense at the start of a round, so
/// state (e.g. an accountant) never leaks between clients or threads.
public protocol StepDefense: Sendable {
    /// A short name for logs and tables.
    var name: String { get }
    /// Returns the gradient the optimizer will use instead of `gradient`.
    mutating func apply(to gradient: [Tensor], step: LocalStep, rng: inout RandomGenerator) throws -> [Tensor]
}

/// What an update-level defense knows about the update it changes.
public struct UpdateContext: Sendable {
    /// The model definition.
    public let network: Network
    /// The global weights the client started the round from.
    public let globalParameters: [Tensor]
    /// The communication round.
    public let round: Int
    /// The client's identifier.
    public let clientID: Int
    /// The number of samples the client trained on.
    public let sampleCount: Int
    /// The number of local steps taken.
    public let localSteps: Int

    /// The context of one client's finished round.
    public init(network: Network, globalParameters: [Tensor], round: Int, clientID: Int, sampleCount: Int, localSteps: Int) {
        self.network = network
        self.globalParameters = globalParameters
        self.round = round
        self.clientID = clientID
        self.sampleCount = sampleCount
        self.localSteps = localSteps
    }
}

/// A defense applied to the finished update Δ before the client sends it (update clipping,
/// client-level DP-FedAvg noise).
public protocol UpdateDefense: Sendable {
    /// A short name for logs and tables.
    var name: String { get }
    /// Returns the update the client sends instead of `update`.
    mutating func apply(to update: [Tensor], context: UpdateContext, rng: inout RandomGenerator) throws -> [Tensor]
}

/// A defense's server-side part, applied to the aggregate of the round's updates before the
/// server uses it (GradDefense's recovery step).
public protocol AggregateDefense: Sendable {
    /// A short name for logs and tables.
    var name: String { get }
    /// Returns the aggregate the server uses instead of `aggregate`.
    func apply(to aggregate: [Tensor], round: Int) throws -> [Tensor]
}

/// The default per-step hook: the gradient passes unchanged.
public struct NoStepDefense: StepDefense {
    /// The pass-through hook.
    public init() {}
    /// "none".
    public var name: String { "none" }
    /// Returns `gradient`.
    public mutating func apply(to gradient: [Tensor], step: LocalStep, rng: inout RandomGenerator) throws -> [Tensor] { gradient }
}

/// The default update hook: the update passes unchanged.
public struct NoUpdateDefense: UpdateDefense {
    /// The pass-through hook.
    public init() {}
    /// "none".
    public var name: String { "none" }
    /// Returns `update`.
    public mutating func apply(to update: [Tensor], context: UpdateContext, rng: inout RandomGenerator) throws -> [Tensor] { update }
}

/// Why a defense could not be configured or applied.
public enum DefenseError: Error, CustomStringConvertible, Equatable {
    /// A parameter is out of range, of the wrong type, or unknown.
    case invalidParameter(defense: String, message: String)
    /// The defense cannot run on this input (e.g. a gradient that does not fit the model).
    case unsupported(defense: String, message: String)

    /// The defense's name and the message.
    public var description: String {
        switch self {
        case let .invalidParameter(d, m): return "\(d): \(m)"
        case let .unsupported(d, m): return "\(d) cannot run here: \(m)"
        }
    }
}
