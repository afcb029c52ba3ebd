import Foundation
import OutpostData
import OutpostNN

/// Everything that defines a federated run, as typed fields: the federation (N clients, K
/// per round, rounds, partition), the clients' local training, the server's aggregation,
/// evaluation, the threat model of the attack point, the captures and the parallelism.
///
/// A configuration is checked by ``validate()`` before anything runs (the simulator calls
/// it); impossible settings throw ``FederatedConfigurationError`` with a sentence naming the
/// field, the value and what was expected. Settings that need the data (more samples than
/// the data set holds, a model that does not fit the images) are checked when the
/// simulator is built.
///
/// The configuration is `Codable` (JSON) so that a run's settings can be written next to
/// its results and compared when a run resumes from a checkpoint.
public struct FederatedConfiguration: Sendable, Equatable {
    /// Total number of clients N.
    public var clientCount: Int
    /// Clients sampled per round K (without replacement, 1 ≤ K ≤ N).
    public var clientsPerRound: Int
    /// Number of communication rounds (rounds are numbered 1...rounds).
    public var rounds: Int
    /// Seeds the partition, the initial model (when the simulator draws it), client
    /// sampling and every client's randomness (shuffling, augmentation, dropout, defenses).
    public var seed: UInt64
    /// How the training set is split over the clients.
    public var partition: PartitionScheme
    /// FedAvg (clients send model updates) or FedSGD (clients send one batch's gradient).
    public var algorithm: TrainingAlgorithm
    /// The clients' local training.
    public var local: LocalTrainingConfiguration
    /// How the server combines the round's payloads.
    public var aggregation: AggregationRule
    /// The server's step size: w ← w + η_s · aggregate for FedAvg updates, and
    /// w ← w − η_s · lr · aggregate for FedSGD gradients (lr the clients' learning rate of
    /// the round). 1 is plain FedAvg.
    public var serverLearningRate: Double
    /// What happens to batch-norm running statistics (models without batch norm ignore it).
    public var bufferPolicy: BufferPolicy
    /// Whether images are normalized with the training set's per-channel statistics before
    /// they enter the model (pixels in [0, 1] otherwise).
    public var normalizeInputs: Bool
    /// Test-set evaluation of the global model.
    public var evaluation: EvaluationConfiguration
    /// What the attacker at the server is assumed to know (builds each capture's
    /// `ServerKnowledge`).
    public var threatModel: ThreatModel
    /// Client payloads to capture for attacks (round and client).
    public var captures: [CaptureRequest]
    /// Whether captured exchanges also record every local step's gradient (before and after
    /// the step defense). Costs memory: one model-sized gradient pair per step.
    public var captureStepGradients: Bool
    /// Clients trained at the same time (default: the number of active cores). Results do
    /// not depend on it: every client's randomness is derived from (seed, round, client)
    /// and payloads are aggregated in client order.
    public var parallelClients: Int?
    /// Write a checkpoint every this many rounds (when the simulator has a checkpoint
    /// directory); the last round is always written.
    public var checkpointEvery: Int

    /// A configuration; every field has the default of the literature's FedAvg setting
    /// except the federation's size, which must be given.
    public init(clientCount: Int, clientsPerRound: Int, rounds: Int, seed: UInt64 = 0,
                partition: PartitionScheme = .iid, algorithm: TrainingAlgorithm = .fedAvg,
                local: LocalTrainingConfiguration = LocalTrainingConfiguration(),
                aggregation: AggregationRule = .weightedMean, serverLearningRate: Double = 1,
                bufferPolicy: BufferPolicy = .keepGlobal, normalizeInputs: Bool = true,
                evaluation: EvaluationConfiguration = EvaluationConfiguration(),
                threatModel: ThreatModel = .serverConfigured, captures: [CaptureRequest] = [],
                captureStepGradients: Bool = false, parallelClients: Int? = nil, checkpointEvery: Int = 1) {
        self.clientCount = clientCount
        self.clientsPerRound = clientsPerRound
        self.rounds = rounds
        self.seed = seed
        self.partition = partition
        self.algorithm = algorithm
        self.local = local
        self.aggregation = aggregation
        self.serverLearningRate = serverLearningRate
        self.bufferPolicy = bufferPolicy
        self.normalizeInputs = normalizeInputs
        self.evaluation = evaluation
        self.threatModel = threatModel
        self.captures = captures
        self.captureStepGradients = captureStepGradients
        self.parallelClients = parallelClients
        self.checkpointEvery = checkpointEvery
    }

    /// The number of clients trained at the same time: ``parallelClients`` or the active
    /// core count, never more than K.
    public var effectiveParallelClients: Int {
        max(1, min(parallelClients ?? ProcessInfo.processInfo.activeProcessorCount, clientsPerRound))
    }

    /// Checks every field that can be checked without the data; throws the first problem
    /// found as a ``FederatedConfigurationError``.
    public func validate() throws {
        func fail(_ field: String, _ value: String, _ requirement: String) -> FederatedConfigurationError {
            FederatedConfigurationError.invalidField(field: field, value: value, requirement: requirement)
        }
        guard clientCount >= 1 else { throw fail("clientCount", "\(clientCount)", "at least 1") }
        guard clientsPerRound >= 1 else { throw fail("clientsPerRound", "\(clientsPerRound)", "at least 1") }
        guard clientsPerRound <= clientCount else {
            throw fail("clientsPerRound", "\(clientsPerRound)", "at most clientCount (\(clientCount)): cannot sample K > N clients without replacement")
        }
        guard rounds >= 1 else { throw fail("rounds", "\(rounds)", "at least 1") }
        switch partition {
        case .iid: break
        case let .dirichlet(alpha, perClient):
            guard alpha > 0, alpha.isFinite else { throw fail("partition", partition.description, "a Dirichlet alpha that is positive and finite") }
            if let perClient, perClient < 1 { throw fail("partition", partition.description, "at least 1 sample per client") }
        case let .shards(perClient):
            guard perClient >= 1 else { throw fail("partition", partition.description, "at least 1 shard per client") }
        case let .fixedSize(perClient):
            guard perClient >= 1 else { throw fail("partition", partition.description, "at least 1 sample per client") }
        }
        try local.validate()
        if algorithm == .fedSGD {
            guard local.epochs == 1 else {
                throw fail("local.epochs", "\(local.epochs)", "1 with FedSGD, which shares the gradient of a single batch")
            }
            guard local.momentum == 0, local.weightDecay == 0 else {
                throw FederatedConfigurationError.invalidCombination(
                    "FedSGD shares a raw gradient, so local momentum (\(local.momentum)) and weight decay (\(local.weightDecay)) would never be applied; set them to 0")
            }
            guard local.schedule.clock == .round || local.schedule.kind == .constant else {
                throw FederatedConfigurationError.invalidCombination(
                    "FedSGD takes one step per round, so a learning-rate schedule must run on the round clock")
            }
        }
        switch aggregation {
        case .weightedMean, .mean, .median: break
        case .trimmedMean(let fraction):
            guard fraction >= 0, fraction < 0.5 else {
                throw fail("aggregation", "trimmed mean with fraction \(fraction)", "a trimmed fraction in [0, 0.5): trimming half or more from each side leaves nothing to average")
            }
        }
        guard serverLearningRate > 0, serverLearningRate.isFinite else {
            throw fail("serverLearningRate", "\(serverLearningRate)", "finite and > 0")
        }
        try evaluation.validate()
        try threatModel.validate()
        for request in captures {
            guard request.round >= 1, request.round <= rounds else {
                throw fail("captures", request.description, "a round in 1...\(rounds)")
            }
            switch request.client {
            case .id(let id):
                guard id >= 0, id < clientCount else { throw fail("captures", request.description, "a client id in 0..<\(clientCount)") }
            case .sampledPosition(let position):
                guard position >= 0, position < clientsPerRound else {
                    throw fail("captures", request.description, "a sampled position in 0..<\(clientsPerRound) (K clients per round)")
                }
            case .allSampled: break
            }
        }
        if let parallelClients, parallelClients < 1 { throw fail("parallelClients", "\(parallelClients)", "at least 1 (or nil for the core count)") }
        guard checkpointEvery >= 1 else { throw fail("checkpointEvery", "\(checkpointEvery)", "at least 1") }
    }

    /// The fields that decide the trajectory of a run. Two configurations with the same
    /// trajectory fields produce the same global models round by round, so a run may resume
    /// under a configuration that differs only in ``rounds``, ``captures``,
    /// ``captureStepGradients``, ``threatModel``, ``parallelClients``, ``checkpointEvery``
    /// and ``evaluation``. Returns the names of the differing trajectory fields.
    public func trajectoryDifferences(from other: FederatedConfiguration) -> [String] {
        var names: [String] = []
        if clientCount != other.clientCount { names.append("clientCount") }
        if clientsPerRound != other.clientsPerRound { names.append("clientsPerRound") }
        if seed != other.seed { names.append("seed") }
        if partition != other.partition { names.append("partition") }
        if algorithm != other.algorithm { names.append("algorithm") }
        if local != other.local { names.append("local") }
        if aggregation != other.aggregation { names.append("aggregation") }
        if serverLearningRate != other.serverLearningRate { names.append("serverLearningRate") }
        if bufferPolicy != other.bufferPolicy { names.append("bufferPolicy") }
        if normalizeInputs != other.normalizeInputs { names.append("normalizeInputs") }
        return names
    }
}

/// What clients send: FedAvg's model updates or FedSGD's single-batch gradients.
public enum TrainingAlgorithm: String, Sendable, Codable, CaseIterable {
    /// E local epochs of SGD over the client's data; the update Δ = w_local − w_global is sent.
    case fedAvg = "fedavg"
    /// One batch of B samples; its gradient is sent (the attack literature's setting).
    case fedSGD = "fedsgd"
}

/// A client's local training: E epochs over its n samples in batches of B, with PyTorch's
/// SGD (learning rate, momentum, dampening, Nesterov, weight decay) and a learning-rate
/// schedule. Each client starts every round with a fresh optimizer (no momentum carried
/// over between rounds), as stateless cross-device clients do.
public struct LocalTrainingConfiguration: Sendable, Equatable, Codable {
    /// Local epochs E (≥ 1).
    public var epochs: Int
    /// Batch size B (≥ 1); the last batch of an epoch may be smaller (PyTorch's
    /// `drop_last=False`).
    public var batchSize: Int
    /// The base learning rate (> 0); the schedule scales it.
    public var learningRate: Double
    /// SGD momentum in [0, 1).
    public var momentum: Double
    /// SGD dampening in [0, 1].
    public var dampening: Double
    /// Nesterov momentum (requires momentum > 0 and no dampening).
    public var nesterov: Bool
    /// L2 weight decay (≥ 0), added to the gradient by the optimizer.
    public var weightDecay: Double
    /// The learning-rate schedule and the clock it runs on.
    public var schedule: LearningRateScheduleSpec
    /// Whether the client reshuffles its samples every epoch (PyTorch's `shuffle=True`).
    public var shuffle: Bool
    /// Random crop and flip applied to each batch in pixel space (nil: none).
    public var augmentation: Augmentation?

    /// Local training settings; the defaults are one epoch of plain SGD with lr 0.01, B = 32.
    public init(epochs: Int = 1, batchSize: Int = 32, learningRate: Double = 0.01, momentum: Double = 0,
                dampening: Double = 0, nesterov: Bool = false, weightDecay: Double = 0,
                schedule: LearningRateScheduleSpec = .constant, shuffle: Bool = true, augmentation: Augmentation? = nil) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.schedule = schedule
        self.shuffle = shuffle
        self.augmentation = augmentation
    }

    /// Checks the local settings (see ``FederatedConfiguration/validate()``).
    public func validate() throws {
        func fail(_ field: String, _ value: Double, _ requirement: String) -> FederatedConfigurationError {
            FederatedConfigurationError.invalidField(field: "local.\(field)", value: "\(value)", requirement: requirement)
        }
        guard epochs >= 1 else { throw fail("epochs", Double(epochs), "at least 1") }
        guard batchSize >= 1 else { throw fail("batchSize", Double(batchSize), "at least 1") }
        guard learningRate > 0, learningRate.isFinite else { throw fail("learningRate", learningRate, "finite and > 0") }
        guard momentum >= 0, momentum < 1 else { throw fail("momentum", momentum, "in [0, 1)") }
        guard dampening >= 0, dampening <= 1 else { throw fail("dampening", dampening, "in [0, 1]") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw fail("weightDecay", weightDecay, "finite and >= 0") }
        if nesterov && (momentum <= 0 || dampening != 0) {
            throw FederatedConfigurationError.invalidCombination(
                "Nesterov momentum requires momentum > 0 and zero dampening (got momentum \(momentum), dampening \(dampening))")
        }
        if let augmentation, augmentation.padding == 0 && !augmentation.horizontalFlip {
            throw FederatedConfigurationError.invalidCombination("an augmentation with no padding and no flip does nothing; leave augmentation nil")
        }
        do {
            _ = try schedule.makeSchedule(baseLearningRate: learningRate)
        } catch {
            throw FederatedConfigurationError.invalidField(field: "local.schedule", value: "\(schedule)", requirement: "\(error)")
        }
    }

    /// A fresh optimizer with these settings at the base learning rate.
    func makeOptimizer() throws -> SGD {
        try SGD(learningRate: learningRate, momentum: momentum, dampening: dampening, weightDecay: weightDecay, nesterov: nesterov)
    }

    private enum CodingKeys: String, CodingKey {
        case epochs, batchSize, learningRate, momentum, dampening, nesterov, weightDecay, schedule, shuffle, augmentation
    }

    private struct AugmentationCoding: Codable {
        var padding: Int
        var horizontalFlip: Bool
    }

    /// Decodes the settings from their JSON form.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epochs = try c.decode(Int.self, forKey: .epochs)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        learningRate = try c.decode(Double.self, forKey: .learningRate)
        momentum = try c.decode(Double.self, forKey: .momentum)
        dampening = try c.decode(Double.self, forKey: .dampening)
        nesterov = try c.decode(Bool.self, forKey: .nesterov)
        weightDecay = try c.decode(Double.self, forKey: .weightDecay)
        schedule = try c.decode(LearningRateScheduleSpec.self, forKey: .schedule)
        shuffle = try c.decode(Bool.self, forKey: .shuffle)
        augmentation = try c.decodeIfPresent(AugmentationCoding.self, forKey: .augmentation)
            .map { Augmentation(padding: $0.padding, horizontalFlip: $0.horizontalFlip) }
    }

    /// Encodes the settings as JSON fields.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(epochs, forKey: .epochs)
        try c.encode(batchSize, forKey: .batchSize)
        try c.encode(learningRate, forKey: .learningRate)
        try c.encode(momentum, forKey: .momentum)
        try c.encode(dampening, forKey: .dampening)
        try c.encode(nesterov, forKey: .nesterov)
        try c.encode(weightDecay, forKey: .weightDecay)
        try c.encode(schedule, forKey: .schedule)
        try c.encode(shuffle, forKey: .shuffle)
        try c.encodeIfPresent(augmentation.map { AugmentationCoding(padding: $0.padding, horizontalFlip: $0.horizontalFlip) },
                              forKey: .augmentation)
    }
}

/// A learning-rate schedule (one of OutpostNN's closed-form schedules, or none) and the
/// clock that drives it.
public struct LearningRateScheduleSpec: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The schedule's shape; the base rate is ``LocalTrainingConfiguration/learningRate``.
    public enum Kind: Sendable, Equatable, Codable {
        /// The base rate throughout.
        case constant
        /// `StepSchedule`: × gamma every `stepSize` ticks.
        case step(stepSize: Int, gamma: Double)
        /// `MultiStepSchedule`: × gamma at each milestone tick.
        case multiStep(milestones: [Int], gamma: Double)
        /// `ExponentialSchedule`: × gamma every tick.
        case exponential(gamma: Double)
        /// `CosineAnnealingSchedule` over `period` ticks down to `minimum`.
        case cosine(period: Int, minimum: Double)
    }

    /// What one tick of the schedule is.
    public enum Clock: String, Sendable, Codable, CaseIterable {
        /// Communication rounds (tick 0 is round 1): the server decays the clients' rate
        /// over the run, the usual federated practice.
        case round
        /// Local epochs within a round (tick 0 is each round's first epoch).
        case localEpoch = "local_epoch"
        /// Local steps within a round (tick 0 is each round's first step).
        case localStep = "local_step"
    }

    /// The schedule's shape.
    public var kind: Kind
    /// The clock it runs on.
    public var clock: Clock

    /// A schedule of the given shape on the given clock.
    public init(_ kind: Kind, clock: Clock = .round) {
        self.kind = kind
        self.clock = clock
    }

    /// No schedule: the base learning rate always.
    public static let constant = LearningRateScheduleSpec(.constant, clock: .round)

    /// The OutpostNN schedule with the given base rate (nil for a constant rate); throws
    /// the schedule's own `OptimizerError` for invalid parameters.
    public func makeSchedule(baseLearningRate: Double) throws -> (any LearningRateSchedule)? {
        switch kind {
        case .constant: return nil
        case let .step(stepSize, gamma): return try StepSchedule(baseLearningRate: baseLearningRate, stepSize: stepSize, gamma: gamma)
        case let .multiStep(milestones, gamma):
            return try MultiStepSchedule(baseLearningRate: baseLearningRate, milestones: milestones, gamma: gamma)
        case let .exponential(gamma): return try ExponentialSchedule(baseLearningRate: baseLearningRate, gamma: gamma)
        case let .cosine(period, minimum):
            return try CosineAnnealingSchedule(baseLearningRate: baseLearningRate, period: period, minimumLearningRate: minimum)
        }
    }

    /// The schedule as text, e.g. `step(stepSize: 10, gamma: 0.5) per round`.
    public var description: String { "\(kind) per \(clock.rawValue.replacingOccurrences(of: "_", with: " "))" }
}

/// How the server combines the payloads of a round (coordinate-wise for the robust rules).
public enum AggregationRule: Sendable, Equatable, Codable, CustomStringConvertible {
    /// FedAvg: Σ_k (n_k / n) · payload_k with n = Σ_k n_k over the round's clients.
    case weightedMean
    /// The unweighted mean over the round's clients.
    case mean
    /// The coordinate-wise median (the mean of the two middle values for an even count).
    case median
    /// The coordinate-wise trimmed mean: ⌊fraction · K⌋ largest and as many smallest values
    /// of each coordinate are dropped and the rest averaged (fraction in [0, 0.5)).
    case trimmedMean(fraction: Double)

    /// A short name, e.g. `trimmed-mean(0.1)`.
    public var description: String {
        switch self {
        case .weightedMean: return "weighted-mean"
        case .mean: return "mean"
        case .median: return "median"
        case .trimmedMean(let f): return "trimmed-mean(\(f))"
        }
    }
}

/// What happens to a model's buffers (batch-norm running statistics) in a round.
public enum BufferPolicy: String, Sendable, Codable, CaseIterable {
    /// Clients update their statistics locally but never send them (they are not part of
    /// the payload): the global buffers stay as they were. This is the production setting
    /// the OUTPOST paper assumes, where the server sees no batch-norm statistics.
    case keepGlobal = "keep_global"
    /// Clients also report their statistics and the server replaces the global buffers by
    /// their n_k-weighted mean, as many FedAvg implementations average the whole
    /// `state_dict`. The statistics then leave the client (outside the captured payload).
    case weightedMean = "weighted_mean"
}

/// Test-set evaluation of the global model (accuracy and mean cross-entropy).
public struct EvaluationConfiguration: Sendable, Equatable, Codable {
    /// Evaluate after every this many rounds (and always after the last); the model before
    /// round 1 is evaluated as well.
    public var every: Int
    /// Images per forward pass.
    public var batchSize: Int
    /// Evaluate on the first this many test images only (nil: all).
    public var sampleLimit: Int?

    /// Evaluation every round on the whole test set in batches of 500 by default.
    public init(every: Int = 1, batchSize: Int = 500, sampleLimit: Int? = nil) {
        self.every = every
        self.batchSize = batchSize
        self.sampleLimit = sampleLimit
    }

    /// Checks the settings.
    public func validate() throws {
        guard every >= 1 else {
            throw FederatedConfigurationError.invalidField(field: "evaluation.every", value: "\(every)", requirement: "at least 1")
        }
        guard batchSize >= 1 else {
            throw FederatedConfigurationError.invalidField(field: "evaluation.batchSize", value: "\(batchSize)", requirement: "at least 1")
        }
        if let sampleLimit, sampleLimit < 1 {
            throw FederatedConfigurationError.invalidField(field: "evaluation.sampleLimit", value: "\(sampleLimit)", requirement: "at least 1 (or nil for all)")
        }
    }
}

/// Why a federated configuration cannot run. Every case reads as a sentence.
public enum FederatedConfigurationError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// A field outside its valid range.
    case invalidField(field: String, value: String, requirement: String)
    /// Fields that are valid one by one but not together.
    case invalidCombination(String)
    /// The configuration does not fit the data or the model.
    case incompatibleData(String)

    /// The problem as a sentence naming the field, the value and the requirement.
    public var description: String {
        switch self {
        case let .invalidField(field, value, requirement): return "invalid federated configuration: \(field) is \(value); it must be \(requirement)"
        case .invalidCombination(let m): return "invalid federated configuration: \(m)"
        case .incompatibleData(let m): return "federated configuration does not fit the data: \(m)"
        }
    }

    /// The same text as `description`.
    public var errorDescription: String? { description }
}

// MARK: - Codable

extension FederatedConfiguration: Codable {
    private enum CodingKeys: String, CodingKey {
        case clientCount, clientsPerRound, rounds, seed, partition, algorithm, local, aggregation, serverLearningRate
        case bufferPolicy, normalizeInputs, evaluation, threatModel, captures, captureStepGradients, parallelClients, checkpointEvery
    }

    /// `PartitionScheme` in JSON: `{"kind": "dirichlet", "alpha": 0.5, "samplesPerClient": 600}`.
    private struct PartitionCoding: Codable {
        var kind: String
        var alpha: Double?
        var samplesPerClient: Int?
        var shardsPerClient: Int?

        init(_ scheme: PartitionScheme) {
            switch scheme {
            case .iid: kind = "iid"
            case let .dirichlet(alpha, perClient): kind = "dirichlet"; self.alpha = alpha; samplesPerClient = perClient
            case let .shards(perClient): kind = "shards"; shardsPerClient = perClient
            case let .fixedSize(perClient): kind = "fixed_size"; samplesPerClient = perClient
            }
        }

        func scheme(_ decoder: any Decoder) throws -> PartitionScheme {
            func missing(_ field: String) -> DecodingError {
                DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "partition \(kind) needs \(field)"))
            }
            switch kind {
            case "iid": return .iid
            case "dirichlet":
                guard let alpha else { throw missing("alpha") }
                return .dirichlet(alpha: alpha, samplesPerClient: samplesPerClient)
            case "shards":
                guard let shardsPerClient else { throw missing("shardsPerClient") }
                return .shards(perClient: shardsPerClient)
            case "fixed_size":
                guard let samplesPerClient else { throw missing("samplesPerClient") }
                return .fixedSize(samplesPerClient: samplesPerClient)
            default:
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                        debugDescription: "unknown partition kind \(kind) (iid, dirichlet, shards, fixed_size)"))
            }
        }
    }

    /// Decodes a configuration from its JSON form (call ``validate()`` afterwards).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        clientCount = try c.decode(Int.self, forKey: .clientCount)
        clientsPerRound = try c.decode(Int.self, forKey: .clientsPerRound)
        rounds = try c.decode(Int.self, forKey: .rounds)
        seed = try c.decode(UInt64.self, forKey: .seed)
        partition = try c.decode(PartitionCoding.self, forKey: .partition).scheme(decoder)
        algorithm = try c.decode(TrainingAlgorithm.self, forKey: .algorithm)
        local = try c.decode(LocalTrainingConfiguration.self, forKey: .local)
        aggregation = try c.decode(AggregationRule.self, forKey: .aggregation)
        serverLearningRate = try c.decode(Double.self, forKey: .serverLearningRate)
        bufferPolicy = try c.decode(BufferPolicy.self, forKey: .bufferPolicy)
        normalizeInputs = try c.decode(Bool.self, forKey: .normalizeInputs)
        evaluation = try c.decode(EvaluationConfiguration.self, forKey: .evaluation)
        threatModel = try c.decode(ThreatModel.self, forKey: .threatModel)
        captures = try c.decode([CaptureRequest].self, forKey: .captures)
        captureStepGradients = try c.decode(Bool.self, forKey: .captureStepGradients)
        parallelClients = try c.decodeIfPresent(Int.self, forKey: .parallelClients)
        checkpointEvery = try c.decode(Int.self, forKey: .checkpointEvery)
    }

    /// Encodes the configuration as JSON fields.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(clientCount, forKey: .clientCount)
        try c.encode(clientsPerRound, forKey: .clientsPerRound)
        try c.encode(rounds, forKey: .rounds)
        try c.encode(seed, forKey: .seed)
        try c.encode(PartitionCoding(partition), forKey: .partition)
        try c.encode(algorithm, forKey: .algorithm)
        try c.encode(local, forKey: .local)
        try c.encode(aggregation, forKey: .aggregation)
        try c.encode(serverLearningRate, forKey: .serverLearningRate)
        try c.encode(bufferPolicy, forKey: .bufferPolicy)
        try c.encode(normalizeInputs, forKey: .normalizeInputs)
        try c.encode(evaluation, forKey: .evaluation)
        try c.encode(threatModel, forKey: .threatModel)
        try c.encode(captures, forKey: .captures)
        try c.encode(captureStepGradients, forKey: .captureStepGradients)
        try c.encodeIfPresent(parallelClients, forKey: .parallelClients)
        try c.encode(checkpointEvery, forKey: .checkpointEvery)
    }
}
