import Foundation

/// Accuracy and mean cross-entropy of a model on (part of) a test set.
public struct EvaluationResult: Sendable, Equatable, Codable {
    /// Fraction of images classified correctly, in [0, 1].
    public let accuracy: Double
    /// Mean cross-entropy over the images.
    public let loss: Double
    /// Number of images evaluated.
    public let sampleCount: Int

    /// An evaluation result from its parts.
    public init(accuracy: Double, loss: Double, sampleCount: Int) {
        self.accuracy = accuracy
        self.loss = loss
        self.sampleCount = sampleCount
    }
}

/// Where a round's wall-clock time went.
///
/// Clients train in parallel, so their defense time is measured per client (thread time)
/// and the client phase's wall-clock time is split between training and defense in
/// proportion to those sums. `defense` also contains the server-side aggregate defense.
public struct RoundTiming: Sendable, Equatable, Codable {
    /// Wall-clock seconds of the whole round (clients, aggregation, evaluation, checkpoint).
    public var total: Double
    /// The client phase's wall-clock share spent in local training.
    public var training: Double
    /// The client phase's wall-clock share spent in step and update defenses, plus the
    /// aggregate defense.
    public var defense: Double
    /// Aggregating the payloads and updating the global model.
    public var aggregation: Double
    /// Evaluating the global model on the test set (0 when not evaluated this round).
    public var evaluation: Double
    /// Writing the checkpoint (0 when none was written).
    public var checkpoint: Double
    /// Seconds summed over the round's clients (thread time, exceeds wall time when
    /// clients run in parallel).
    public var clientSeconds: Double
    /// Seconds spent inside step and update defenses, summed over clients.
    public var clientDefenseSeconds: Double
    /// Processor seconds the process used during the round, all threads together: the
    /// round's cost independent of other load on the machine (on an idle machine with c
    /// cores the round takes about `processorSeconds / c`).
    public var processorSeconds: Double

    /// A timing from its parts.
    public init(total: Double, training: Double, defense: Double, aggregation: Double, evaluation: Double, checkpoint: Double,
                clientSeconds: Double, clientDefenseSeconds: Double, processorSeconds: Double) {
        self.total = total
        self.training = training
        self.defense = defense
        self.aggregation = aggregation
        self.evaluation = evaluation
        self.checkpoint = checkpoint
        self.clientSeconds = clientSeconds
        self.clientDefenseSeconds = clientDefenseSeconds
        self.processorSeconds = processorSeconds
    }
}

/// One finished round.
public struct RoundReport: Sendable, Equatable, Codable {
    /// The round, 1...rounds.
    public let round: Int
    /// The sampled clients, in id order (the aggregation order).
    public let clients: [Int]
    /// Each sampled client's reported sample count, in the order of ``clients``.
    public let sampleCounts: [Int]
    /// Local steps each client took, in the order of ``clients``.
    public let localSteps: [Int]
    /// The clients' mean local training loss, weighted by sample count.
    public let trainingLoss: Double
    /// The global model's test-set evaluation after the round (nil when not evaluated).
    public let evaluation: EvaluationResult?
    /// Where the time went.
    public let timing: RoundTiming
}

/// The record of a run: the evaluation of the initial model and every finished round.
/// Stored in checkpoints, so a resumed run's history starts at round 1.
public struct RunHistory: Sendable, Equatable, Codable {
    /// The test-set evaluation of the model before round 1 (nil without a test set).
    public var initialEvaluation: EvaluationResult?
    /// The finished rounds, in order.
    public var rounds: [RoundReport]

    /// An empty history.
    public init(initialEvaluation: EvaluationResult? = nil, rounds: [RoundReport] = []) {
        self.initialEvaluation = initialEvaluation
        self.rounds = rounds
    }

    /// The accuracy curve as CSV: a header, then round 0 (the initial model) and one row per
    /// round with test accuracy, test loss, training loss, the timing split in wall-clock
    /// seconds and the processor seconds. Empty fields where a round was not evaluated.
    public func csv() -> String {
        func number(_ x: Double?, _ digits: Int = 6) -> String { x.map { String(format: "%.\(digits)f", $0) } ?? "" }
        var lines = ["round,test_accuracy,test_loss,training_loss,clients,samples,seconds_total,seconds_training,seconds_defense,seconds_aggregation,seconds_evaluation,seconds_checkpoint,processor_seconds"]
        if let e = initialEvaluation {
            lines.append("0,\(number(e.accuracy)),\(number(e.loss)),,0,0,,,,,,,")
        }
        for r in rounds {
            let t = r.timing
            lines.append([String(r.round), number(r.evaluation?.accuracy), number(r.evaluation?.loss), number(r.trainingLoss),
                          String(r.clients.count), String(r.sampleCounts.reduce(0, +)), number(t.total, 3), number(t.training, 3),
                          number(t.defense, 3), number(t.aggregation, 3), number(t.evaluation, 3), number(t.checkpoint, 3),
                          number(t.processorSeconds, 3)]
                .joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The last evaluation in the history (the initial one when no round was evaluated).
    public var lastEvaluation: EvaluationResult? {
        rounds.last(where: { $0.evaluation != nil })?.evaluation ?? initialEvaluation
    }

    /// Mean wall-clock seconds per round over the history (0 when empty).
    public var meanRoundSeconds: Double {
        rounds.isEmpty ? 0 : rounds.reduce(0) { $0 + $1.timing.total } / Double(rounds.count)
    }
}
