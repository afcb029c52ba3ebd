import OutpostNN
import OutpostTensor
import OutpostThreatModel

/// An attack point: which client's payload to capture in which round.
public struct CaptureRequest: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    /// Which of the round's clients.
    public enum Client: Sendable, Equatable, Hashable, Codable {
        /// The client with this id (0..<N); captured only if it is sampled in the round
        /// (``FederatedSimulator/sampledClients(round:configuration:)`` tells in advance).
        case id(Int)
        /// The client at this position of the round's sampled list (sorted by id, 0..<K):
        /// always present.
        case sampledPosition(Int)
        /// Every client of the round.
        case allSampled
    }

    /// The round, 1...rounds.
    public var round: Int
    /// The client or clients.
    public var client: Client

    /// Captures client `client` (an id) in `round`.
    public init(round: Int, client: Int) {
        self.round = round
        self.client = .id(client)
    }

    /// Captures the given client selection in `round`.
    public init(round: Int, selecting client: Client) {
        self.round = round
        self.client = client
    }

    /// E.g. `round 5, client 17`.
    public var description: String {
        switch client {
        case .id(let id): return "round \(round), client \(id)"
        case .sampledPosition(let p): return "round \(round), sampled client #\(p)"
        case .allSampled: return "round \(round), all sampled clients"
        }
    }
}

/// What the server holds after receiving one client's payload: the global weights it sent
/// at the start of the round, the payload, and the declared knowledge about the client.
/// These three are exactly what an attack (`AttackTarget`) is built from.
public struct ServerObservation: Sendable {
    /// The global model at the start of the round (the client's starting point).
    public let globalState: ModelState
    /// What the client sent (update or gradient, with its sample count).
    public let payload: ClientPayload
    /// The threat model's knowledge of this client's training.
    public let knowledge: ServerKnowledge
}

/// A client's real local-training settings and facts in one round: ground truth. A threat
/// model copies some of these into the attacker's `ServerKnowledge`.
public struct ClientTrainingRecord: Sendable, Equatable, Codable {
    /// The round, 1...rounds.
    public let round: Int
    /// The client's id.
    public let clientID: Int
    /// FedAvg or FedSGD.
    public let algorithm: TrainingAlgorithm
    /// The learning rate of the first local step (see ``stepLearningRates`` for all).
    public let learningRate: Double
    /// The learning rate of every local step, in order.
    public let stepLearningRates: [Double]
    /// Local epochs E (1 for FedSGD).
    public let localEpochs: Int
    /// The batch size B (for FedSGD: the size of the batch actually used).
    public let batchSize: Int
    /// The number of samples trained on (the payload's sample count).
    public let sampleCount: Int
    /// The number of local steps: E · ⌈n / B⌉ (1 for FedSGD).
    public let localSteps: Int
    /// SGD momentum.
    public let momentum: Double
    /// Weight decay.
    public let weightDecay: Double
    /// The labels of the samples, in the order of ``GroundTruth/images``.
    public let labels: [Int]

    public init(round: Int, clientID: Int, algorithm: TrainingAlgorithm, learningRate: Double, stepLearningRates: [Double],
                localEpochs: Int, batchSize: Int, sampleCount: Int, localSteps: Int, momentum: Double, weightDecay: Double,
                labels: [Int]) {
        self.round = round
        self.clientID = clientID
        self.algorithm = algorithm
        self.learningRate = learningRate
        self.stepLearningRates = stepLearningRates
        self.localEpochs = localEpochs
        self.batchSize = batchSize
        self.sampleCount = sampleCount
        self.localSteps = localSteps
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.labels = labels
    }
}

/// One local step, recorded for analysis when ``FederatedConfiguration/captureStepGradients``
/// is on.
public struct StepRecord: Sendable {
    /// The iteration, counted from 1 across all epochs of the round (as `LocalStep`).
    public let iteration: Int
    /// The local epoch, counted from 1.
    public let epoch: Int
    /// The batch's rows in ``GroundTruth/images``, in batch order.
    public let rows: [Int]
    /// The learning rate of this step.
    public let learningRate: Double
    /// The mean cross-entropy of the batch before the step.
    public let loss: Double
    /// The batch's gradient as computed (before the step defense).
    public let gradient: [Tensor]
    /// The gradient the optimizer used (after the step defense).
    public let defendedGradient: [Tensor]
}

/// What one client really trained on in a round: for the evaluation harness only.
///
/// This type lives in OutpostFederated, which OutpostAttacks does not depend on, so no
/// attack can name it: ground truth reaches metrics and reports, never an attack.
public struct GroundTruth: Sendable {
    /// The client's samples in pixel space ([0, 1], N×C×H×W, Float32), un-augmented, in
    /// the order of the first epoch (for FedSGD: the batch, in batch order). Sample i of
    /// an unrolled attack's dummy batch corresponds to row i.
    public let images: Tensor
    /// The labels of ``images``.
    public let labels: [Int]
    /// Each row's index in the training set.
    public let datasetIndices: [Int]
    /// For every local epoch, the rows of ``images`` in the order they were used (the
    /// first epoch is 0, 1, 2, ...; later epochs follow the client's reshuffling).
    public let epochOrders: [[Int]]
    /// Whether the model saw augmented versions of ``images`` (random crops and flips).
    public let augmented: Bool
    /// The client's real settings in this round.
    public let settings: ClientTrainingRecord
    /// Every local step's gradients, when ``FederatedConfiguration/captureStepGradients`` is on.
    public let steps: [StepRecord]?
}

/// A captured attack point: what the server observed, and, separately typed, the ground
/// truth that only an evaluation harness may use.
///
/// Build an attack from ``server`` alone:
/// `AttackTarget(network: net, globalState: ex.server.globalState, payload: ex.server.payload, knowledge: ex.server.knowledge)`.
public struct CapturedExchange: Sendable {
    /// The request that selected this exchange.
    public let request: CaptureRequest
    /// The round, 1...rounds.
    public let round: Int
    /// The client's id.
    public let clientID: Int
    /// The global weights, the payload and the declared knowledge.
    public let server: ServerObservation
    /// The client's data and settings of this round.
    public let groundTruth: GroundTruth
}
