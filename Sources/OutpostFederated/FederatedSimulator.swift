import Foundation
import OutpostData
import OutpostDefenses
import OutpostNN
import OutpostTensor
import OutpostThreatModel

/// Why a federated run stopped.
public enum FederatedError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// The payloads of a round could not be aggregated.
    case aggregation(String)
    /// A defense threw or returned tensors that do not fit the model; `clientID` is −1 for
    /// the server-side aggregate defense.
    case defense(name: String, round: Int, clientID: Int, message: String)
    /// A client's payload holds NaN or infinity (local training diverged).
    case nonFinitePayload(round: Int, clientID: Int)
    /// The global model became non-finite after aggregation.
    case nonFiniteModel(round: Int)
    /// A checkpoint could not be written, read or used.
    case checkpoint(String)

    /// The problem as a sentence.
    public var description: String {
        switch self {
        case .aggregation(let m): return "aggregation failed: \(m)"
        case let .defense(name, round, client, message):
            return "defense \(name) failed \(client < 0 ? "on the server" : "for client \(client)") in round \(round): \(message)"
        case let .nonFinitePayload(round, client):
            return "client \(client)'s payload in round \(round) contains NaN or infinity (local training diverged; lower the learning rate)"
        case .nonFiniteModel(let round): return "the global model contains NaN or infinity after round \(round)"
        case .checkpoint(let m): return "checkpoint: \(m)"
        }
    }

    /// The same text as `description`.
    public var errorDescription: String? { description }
}

/// One round's results: its report, the captured exchanges and the capture requests of
/// the round whose client was not sampled.
public struct RoundOutcome: Sendable {
    /// The round's report.
    public let report: RoundReport
    /// Exchanges captured in this round, in request order.
    public let captures: [CapturedExchange]
    /// Requests for this round naming a client that was not sampled.
    public let unmatchedCaptures: [CaptureRequest]
}

/// The results of ``FederatedSimulator/run(throughRound:progress:)``.
public struct SimulationResult: Sendable {
    /// The whole run's history (including rounds finished before a resume).
    public let history: RunHistory
    /// The global model after the last finished round.
    public let finalState: ModelState
    /// Exchanges captured by this call (captures of rounds finished before a resume are
    /// not reproduced).
    public let captures: [CapturedExchange]
    /// Capture requests of this call's rounds whose client was not sampled.
    public let unmatchedCaptures: [CaptureRequest]
}

/// A federated learning simulation: a server with a global model, N clients holding
/// partitions of a training set, K clients sampled per round, local training with the
/// defense hooks, aggregation, evaluation, checkpoints and attack capture.
///
/// Clients of a round train in parallel (``FederatedConfiguration/parallelClients``), each
/// with random streams derived from (seed, round, client), and the server aggregates their
/// payloads in client-id order: the run's results do not depend on the number of threads.
/// While clients train (and while the test set is evaluated) the engine's kernel threads
/// (`Engine.threads`, a process-wide setting) are set to 1 and restored afterwards: the
/// parallelism is across clients, and every client computes exactly what it would alone.
///
/// The three defense hooks act where defenses act in deployment: a `StepDefense` on every
/// local step's gradient before the optimizer uses it (`LocalStep.iteration` counted from
/// 1 across the epochs of a round), an `UpdateDefense` on the finished update before it is
/// sent, and an `AggregateDefense` on the aggregate before the server applies it. Each
/// client works on its own copy of the step and update defenses, made at the start of the
/// round.
public final class FederatedSimulator {
    /// The run's configuration (validated).
    public let configuration: FederatedConfiguration
    /// The model definition shared by the server and the clients.
    public let network: Network
    /// Which training samples each client holds.
    public let partition: FederatedPartition
    /// The global model after ``completedRounds`` rounds.
    public private(set) var globalState: ModelState
    /// Rounds finished so far (including those restored from a checkpoint).
    public private(set) var completedRounds: Int
    /// Evaluations and reports of the finished rounds.
    public private(set) var history: RunHistory
    /// The round a checkpoint restored (nil for a fresh run).
    public let resumedAfterRound: Int?
    /// Where checkpoints are written (nil: none).
    public let checkpointDirectory: URL?
    /// Called with each captured exchange as soon as its round is aggregated and evaluated,
    /// before the round's checkpoint is written: work done here (an attack, recording its
    /// results) is redone when a run killed meanwhile resumes, because the resumed run
    /// replays the round. Its time is not counted in the round's timing.
    public var captureHandler: ((CapturedExchange) throws -> Void)?

    private let trainingData: ImageDataset
    private let testData: ImageDataset?
    private let normalization: Normalization?
    private let schedule: (any LearningRateSchedule)?
    private let stepDefense: any StepDefense
    private let updateDefense: any UpdateDefense
    private let aggregateDefense: (any AggregateDefense)?

    /// A simulator, validated up front, starting fresh or resuming from a checkpoint.
    ///
    /// - Parameters:
    ///   - configuration: the run's settings; ``FederatedConfiguration/validate()`` runs first.
    ///   - network: the model; its input shape must be the training images' shape and it
    ///     must have at least as many classes as the data.
    ///   - trainingData: the data partitioned over the clients.
    ///   - testData: evaluated every ``EvaluationConfiguration/every`` rounds (nil: no evaluation).
    ///   - initialState: the global model before round 1; by default the network's PyTorch
    ///     initialization seeded with the configuration's seed. Its dtype is the run's dtype.
    ///   - stepDefense, updateDefense, aggregateDefense: the defense hooks (no-ops by default).
    ///   - checkpointDirectory: where to write checkpoints (nil: none).
    ///   - resume: with a checkpoint in `checkpointDirectory`, continue from it (true) or
    ///     start over and overwrite it (false).
    /// - Throws: ``FederatedConfigurationError`` for an impossible configuration or one that
    ///   does not fit the data or model, ``FederatedError/checkpoint(_:)`` for a checkpoint
    ///   that cannot be read or belongs to another run.
    public init(configuration: FederatedConfiguration, network: Network, trainingData: ImageDataset, testData: ImageDataset? = nil,
                initialState: ModelState? = nil, stepDefense: any StepDefense = NoStepDefense(),
                updateDefense: any UpdateDefense = NoUpdateDefense(), aggregateDefense: (any AggregateDefense)? = nil,
                checkpointDirectory: URL? = nil, resume: Bool = true) throws {
        try configuration.validate()
        guard trainingData.imageShape == network.inputShape else {
            throw FederatedConfigurationError.incompatibleData(
                "training images are \(trainingData.imageShape), the \(network.architecture) expects \(network.inputShape)")
        }
        guard trainingData.classCount <= network.classCount else {
            throw FederatedConfigurationError.incompatibleData(
                "the training data has \(trainingData.classCount) classes, the model only \(network.classCount) outputs")
        }
        if let testData {
            guard testData.imageShape == network.inputShape, testData.classCount <= network.classCount else {
                throw FederatedConfigurationError.incompatibleData(
                    "test data (\(testData.imageShape), \(testData.classCount) classes) does not fit the \(network.architecture) (\(network.inputShape), \(network.classCount) classes)")
            }
            guard testData.count > 0 else { throw FederatedConfigurationError.incompatibleData("the test set is empty") }
        }
        do {
            partition = try trainingData.partition(clients: configuration.clientCount, scheme: configuration.partition,
                                                   seed: configuration.seed)
        } catch {
            throw FederatedConfigurationError.incompatibleData(
                "cannot partition \(trainingData.count) \(trainingData.name) samples over \(configuration.clientCount) clients with \(configuration.partition): \(error)")
        }
        if let empty = partition.clientIndices.firstIndex(where: \.isEmpty) {
            throw FederatedConfigurationError.incompatibleData(
                "client \(empty) receives no samples under \(configuration.partition); use fewer clients or another partition")
        }
        let state = initialState ?? network.initialState(.pytorchDefault, seed: configuration.seed)
        try Self.checkState(state, network: network)

        self.configuration = configuration
        self.network = network
        self.trainingData = trainingData
        self.testData = testData
        normalization = configuration.normalizeInputs ? trainingData.normalization : nil
        schedule = try configuration.local.schedule.makeSchedule(baseLearningRate: configuration.local.learningRate)
        self.stepDefense = stepDefense
        self.updateDefense = updateDefense
        self.aggregateDefense = aggregateDefense
        self.checkpointDirectory = checkpointDirectory

        if let directory = checkpointDirectory, resume, FederatedCheckpoint.exists(in: directory) {
            let record = try FederatedCheckpoint.read(from: directory)
            let differences = configuration.trajectoryDifferences(from: record.configuration)
            guard differences.isEmpty else {
                throw FederatedError.checkpoint("the checkpoint in \(directory.path) was written by a run with different \(differences.joined(separator: ", ")); resume with the same settings or start over (resume: false)")
            }
            guard record.completedRounds <= configuration.rounds else {
                throw FederatedError.checkpoint("the checkpoint has \(record.completedRounds) rounds finished, more than the \(configuration.rounds) configured")
            }
            let restored = try record.loadModel(network: network, directory: directory)
            guard restored.parameters.first?.dtype == state.parameters.first?.dtype else {
                throw FederatedError.checkpoint("the checkpoint's model is \(record.dtype), the initial state is \(state.parameters.first?.dtype.rawValue ?? "empty")")
            }
            globalState = restored
            completedRounds = record.completedRounds
            history = record.history
            resumedAfterRound = record.completedRounds
        } else {
            globalState = ModelState(parameters: state.parameters.map(\.detached), buffers: state.buffers.map(\.detached))
            completedRounds = 0
            history = RunHistory()
            resumedAfterRound = nil
        }
    }

    private static func checkState(_ state: ModelState, network: Network) throws {
        guard state.parameters.count == network.parameterSpecs.count, state.buffers.count == network.bufferSpecs.count else {
            throw FederatedConfigurationError.incompatibleData(
                "the initial state has \(state.parameters.count) parameters and \(state.buffers.count) buffers, the \(network.architecture) \(network.parameterSpecs.count) and \(network.bufferSpecs.count)")
        }
        let dtype = state.parameters.first?.dtype
        for (t, spec) in zip(state.parameters, network.parameterSpecs) where t.shape != spec.shape || t.dtype != dtype {
            throw FederatedConfigurationError.incompatibleData("initial parameter \(spec.name) is \(t.dtype) \(t.shape), expected \(spec.shape) in one dtype")
        }
        for (t, spec) in zip(state.buffers, network.bufferSpecs) where t.shape != spec.shape {
            throw FederatedConfigurationError.incompatibleData("initial buffer \(spec.name) has shape \(t.shape), expected \(spec.shape)")
        }
        guard state.parameters.allSatisfy(\.isFinite) else {
            throw FederatedConfigurationError.incompatibleData("the initial state contains NaN or infinity")
        }
    }

    // MARK: Sampling and randomness

    /// The random generator of a round; the client sample and every client's streams
    /// derive from it.
    static func roundGenerator(seed: UInt64, round: Int) -> RandomGenerator {
        RandomGenerator(seed: seed).derived(UInt64(round))
    }

    /// The clients sampled in `round` (K distinct ids, ascending), a function of the seed
    /// and the round only: known before the run, e.g. to choose a capture.
    public static func sampledClients(round: Int, configuration: FederatedConfiguration) -> [Int] {
        var rng = roundGenerator(seed: configuration.seed, round: round).derived(0)
        var generator = SeededGenerator(seed: rng.next())
        let k = min(configuration.clientsPerRound, configuration.clientCount)
        return Array(generator.permutation(configuration.clientCount).prefix(k)).sorted()
    }

    /// The learning rate clients start round `round` with.
    public func roundLearningRate(_ round: Int) -> Double {
        guard let schedule, configuration.local.schedule.clock == .round else { return configuration.local.learningRate }
        return schedule.learningRate(at: round - 1)
    }

    /// The pixel normalization clients apply, as the threat model describes it.
    var pixelNormalization: PixelNormalization {
        guard let normalization else { return .identity(channels: trainingData.channels) }
        return PixelNormalization(mean: normalization.mean.map(Double.init), std: normalization.std.map(Double.init))
    }

    // MARK: Running

    /// Evaluates `state` (default: the global model) on the test set; nil without one.
    public func evaluate(_ state: ModelState? = nil) throws -> EvaluationResult? {
        guard let testData else { return nil }
        return try ModelEvaluation.evaluate(network: network, state: state ?? globalState, dataset: testData,
                                            normalization: normalization, batchSize: configuration.evaluation.batchSize,
                                            limit: configuration.evaluation.sampleLimit,
                                            threads: configuration.parallelClients ?? ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Runs rounds until `throughRound` (default: the configured number) is finished, or
    /// none when it already is. `progress` is called after each round.
    public func run(throughRound: Int? = nil, progress: ((RoundReport) -> Void)? = nil) throws -> SimulationResult {
        let last = min(throughRound ?? configuration.rounds, configuration.rounds)
        var captures: [CapturedExchange] = []
        var unmatched: [CaptureRequest] = []
        while completedRounds < last {
            let outcome = try runRound()
            captures += outcome.captures
            unmatched += outcome.unmatchedCaptures
            progress?(outcome.report)
        }
        return SimulationResult(history: history, finalState: globalState, captures: captures, unmatchedCaptures: unmatched)
    }

    /// Runs the next round: samples clients, trains them in parallel, aggregates their
    /// payloads in client order, applies the aggregate defense and the server step,
    /// evaluates, checkpoints, and returns the round's report and captures. Calling it when
    /// all configured rounds are finished is a programming error.
    public func runRound() throws -> RoundOutcome {
        let round = completedRounds + 1
        precondition(round <= configuration.rounds, "runRound: all \(configuration.rounds) rounds are finished")
        if round == 1 && history.initialEvaluation == nil && testData != nil {
            history.initialEvaluation = try evaluate()
        }
        let roundStart = ContinuousClock.now
        let processorStart = processorSeconds()
        let clients = Self.sampledClients(round: round, configuration: configuration)

        // Which clients to capture, and for which requests.
        var requestsByClient: [Int: [CaptureRequest]] = [:]
        var unmatched: [CaptureRequest] = []
        for request in configuration.captures where request.round == round {
            switch request.client {
            case .id(let id):
                if clients.contains(id) { requestsByClient[id, default: []].append(request) } else { unmatched.append(request) }
            case .sampledPosition(let p): requestsByClient[clients[p], default: []].append(request)
            case .allSampled: for c in clients { requestsByClient[c, default: []].append(request) }
            }
        }

        let start = globalState
        let context = RoundContext(network: network, configuration: configuration, trainingData: trainingData,
                                   normalization: normalization, schedule: schedule, globalState: start, round: round,
                                   stepDefense: stepDefense, updateDefense: updateDefense)
        let roundRNG = Self.roundGenerator(seed: configuration.seed, round: round)
        let slots = ResultSlots<ClientOutcome>(count: clients.count)
        let clientPhaseStart = ContinuousClock.now
        let indices = partition.clientIndices
        try runInParallel(count: clients.count, threads: configuration.effectiveParallelClients) { position in
            let id = clients[position]
            let trainer = LocalTrainer(context: context, clientID: id, indices: indices[id], rng: roundRNG.derived(UInt64(id) + 1),
                                       capture: requestsByClient[id] != nil)
            slots.set(position, try trainer.run())
        }
        let clientPhase = seconds(since: clientPhaseStart)
        let outcomes = (0..<clients.count).map { slots.value($0)! }

        // Aggregation and the server step.
        let aggregationStart = ContinuousClock.now
        var aggregate = try Aggregation.aggregate(outcomes.map(\.payload), sampleCounts: outcomes.map(\.sampleCount),
                                                  rule: configuration.aggregation)
        var aggregateDefenseSeconds = 0.0
        if let aggregateDefense {
            let defenseStart = ContinuousClock.now
            do { aggregate = try aggregateDefense.apply(to: aggregate, round: round) } catch {
                throw FederatedError.defense(name: aggregateDefense.name, round: round, clientID: -1, message: "\(error)")
            }
            guard aggregate.count == start.parameters.count,
                  zip(aggregate, start.parameters).allSatisfy({ $0.shape == $1.shape && $0.dtype == $1.dtype }) else {
                throw FederatedError.defense(name: aggregateDefense.name, round: round, clientID: -1,
                                             message: "returned tensors that do not match the parameters in shape and dtype")
            }
            aggregateDefenseSeconds = seconds(since: defenseStart)
        }
        let step = configuration.algorithm == .fedAvg
            ? configuration.serverLearningRate
            : -configuration.serverLearningRate * roundLearningRate(round)
        var newState = ModelState(parameters: withoutGrad { zip(start.parameters, aggregate).map { ($0 + $1 * step).detached } },
                                  buffers: start.buffers)
        if configuration.bufferPolicy == .weightedMean && !network.bufferSpecs.isEmpty {
            let averaged = try Aggregation.aggregate(outcomes.map(\.buffers), sampleCounts: outcomes.map(\.sampleCount), rule: .weightedMean)
            newState.buffers = zip(averaged, network.bufferSpecs).map { t, spec in
                spec.isInteger ? Tensor(t.doubles.map { $0.rounded() }, shape: t.shape, dtype: t.dtype) : t
            }
        }
        guard newState.parameters.allSatisfy(\.isFinite) else { throw FederatedError.nonFiniteModel(round: round) }
        let aggregation = seconds(since: aggregationStart) - aggregateDefenseSeconds
        globalState = newState
        completedRounds = round

        // Captures: what the server observed, and the ground truth beside it.
        var captures: [CapturedExchange] = []
        let pixelNormalization = self.pixelNormalization
        let kind: ClientPayload.Kind = configuration.algorithm == .fedAvg ? .modelUpdate : .gradient
        for request in configuration.captures where request.round == round {
            for outcome in outcomes where requestsByClient[outcome.clientID]?.contains(request) == true {
                let truth = outcome.groundTruth!
                let payload = ClientPayload(kind: kind, tensors: outcome.payload, sampleCount: outcome.sampleCount, round: round,
                                            clientID: outcome.clientID)
                let observation = ServerObservation(globalState: start, payload: payload,
                                                    knowledge: configuration.threatModel.knowledge(of: truth.settings,
                                                                                                   normalization: pixelNormalization))
                captures.append(CapturedExchange(request: request, round: round, clientID: outcome.clientID, server: observation,
                                                 groundTruth: truth))
            }
        }

        var evaluationSeconds = 0.0
        var evaluation: EvaluationResult? = nil
        if testData != nil && (round % configuration.evaluation.every == 0 || round == configuration.rounds) {
            let evaluationStart = ContinuousClock.now
            evaluation = try evaluate()
            evaluationSeconds = seconds(since: evaluationStart)
        }

        let clientSeconds = outcomes.reduce(0) { $0 + $1.seconds }
        let clientDefenseSeconds = outcomes.reduce(0) { $0 + $1.defenseSeconds }
        let defenseShare = clientSeconds > 0 ? clientPhase * clientDefenseSeconds / clientSeconds : 0
        let totalSamples = outcomes.reduce(0) { $0 + $1.sampleCount }
        var timing = RoundTiming(total: 0, training: clientPhase - defenseShare, defense: defenseShare + aggregateDefenseSeconds,
                                 aggregation: aggregation, evaluation: evaluationSeconds, checkpoint: 0,
                                 clientSeconds: clientSeconds, clientDefenseSeconds: clientDefenseSeconds, processorSeconds: 0)
        let trainingLoss = outcomes.reduce(0) { $0 + $1.trainingLoss * Double($1.sampleCount) } / Double(max(totalSamples, 1))
        func report() -> RoundReport {
            RoundReport(round: round, clients: clients, sampleCounts: outcomes.map(\.sampleCount), localSteps: outcomes.map(\.localSteps),
                        trainingLoss: trainingLoss, evaluation: evaluation, timing: timing)
        }
        timing.total = seconds(since: roundStart)
        timing.processorSeconds = processorSeconds() - processorStart
        history.rounds.append(report())
        var handlerSeconds = 0.0, handlerProcessorSeconds = 0.0
        if let captureHandler, !captures.isEmpty {
            let handlerStart = ContinuousClock.now, handlerProcessorStart = processorSeconds()
            for capture in captures { try captureHandler(capture) }
            handlerSeconds = seconds(since: handlerStart)
            handlerProcessorSeconds = processorSeconds() - handlerProcessorStart
        }
        if let directory = checkpointDirectory, round % configuration.checkpointEvery == 0 || round == configuration.rounds {
            // The checkpoint's history holds this round with its timing up to the checkpoint.
            let checkpointStart = ContinuousClock.now
            try writeCheckpoint(to: directory)
            timing.checkpoint = seconds(since: checkpointStart)
            timing.total = seconds(since: roundStart) - handlerSeconds
            timing.processorSeconds = processorSeconds() - processorStart - handlerProcessorSeconds
            history.rounds[history.rounds.count - 1] = report()
        }
        return RoundOutcome(report: history.rounds[history.rounds.count - 1], captures: captures, unmatchedCaptures: unmatched)
    }

    /// Writes the current global model and the history.
    private func writeCheckpoint(to directory: URL) throws {
        let record = FederatedCheckpoint(
            formatVersion: 1, completedRounds: completedRounds,
            randomState: .init(seed: configuration.seed, nextRound: completedRounds + 1,
                               derivation: "RandomGenerator(seed).derived(round): sampling .derived(0), client k .derived(k + 1)"),
            configuration: configuration, architecture: network.architecture, stateKeys: network.stateDictEntries.map(\.name),
            dtype: globalState.parameters.first?.dtype.rawValue ?? DType.float32.rawValue,
            modelFile: FederatedCheckpoint.modelFileName(round: completedRounds), serverState: [:], history: history)
        try record.write(state: globalState, network: network, to: directory)
    }
}
