import Foundation
import GRDB

// The plain records the results database holds. They know nothing of attacks, clients or
// defenses as code: a defense is a name, a metric is a number. Every record is Codable with
// a flat layout (one property or one prefixed group of properties per column), so the same
// coding serves GRDB and JSON.

/// The state of a run in the results database.
public enum RunStatus: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    /// Started and not finished: still running, or killed before it could finish.
    case running
    /// Finished normally.
    case done
    /// Finished with an error.
    case failed
}

/// One invocation of a command (an attack grid, a federated simulation, ...).
public struct RunRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    /// The table holding runs.
    public static let databaseTableName = "runs"

    /// Row id, assigned by the database on insertion (nil before).
    public var id: Int64?
    /// The command line or command name that started the run, e.g. `outpost attack grid.yaml`.
    public var command: String
    /// The full YAML configuration text the run used, verbatim.
    public var configuration: String
    /// A short human-readable name for the run (shown as the report's section title).
    public var label: String
    /// A description of the machine the run ran on (see ``MachineDescription``).
    public var machine: String
    /// When the run began (stored in UTC with millisecond precision).
    public var startedAt: Date
    /// When the run finished; nil while running or after a crash.
    public var endedAt: Date?
    /// Whether the run is running, done or failed.
    public var status: RunStatus

    /// Creates a run record; `id` is assigned on insertion.
    public init(id: Int64? = nil, command: String, configuration: String, label: String, machine: String,
                startedAt: Date, endedAt: Date? = nil, status: RunStatus = .running) {
        self.id = id
        self.command = command
        self.configuration = configuration
        self.label = label
        self.machine = machine
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.status = status
    }

    /// Stores the row id assigned by SQLite.
    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

/// One round of a federated run, for one series (a defense or another variant run side by side).
public struct RoundRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    /// The table holding rounds; its primary key is (`runId`, `series`, `round`).
    public static let databaseTableName = "rounds"

    /// The run this round belongs to.
    public var runId: Int64
    /// The series name, e.g. the defense (`"none"`, `"dp σ=0.01"`, `"outpost"`).
    public var series: String
    /// The round number (0-based or 1-based as the caller counts; the report plots it as given).
    public var round: Int
    /// Test accuracy after the round, as a fraction in [0, 1]; nil when the round was not evaluated.
    public var testAccuracy: Double?
    /// Test loss after the round; nil when the round was not evaluated or the loss was not finite.
    public var testLoss: Double?
    /// Wall-clock seconds spent in local training during the round.
    public var trainingSeconds: Double
    /// Wall-clock seconds spent applying the defense during the round.
    public var defenseSeconds: Double
    /// Wall-clock seconds spent aggregating updates on the server during the round.
    public var aggregationSeconds: Double

    /// Creates a round record. Non-finite accuracy or loss is stored as nil.
    public init(runId: Int64, series: String, round: Int, testAccuracy: Double?, testLoss: Double?,
                trainingSeconds: Double, defenseSeconds: Double, aggregationSeconds: Double) {
        self.runId = runId
        self.series = series
        self.round = round
        self.testAccuracy = testAccuracy.flatMap { $0.isFinite ? $0 : nil }
        self.testLoss = testLoss.flatMap { $0.isFinite ? $0 : nil }
        self.trainingSeconds = trainingSeconds
        self.defenseSeconds = defenseSeconds
        self.aggregationSeconds = aggregationSeconds
    }

    /// Training, defense and aggregation seconds added up.
    public var totalSeconds: Double { trainingSeconds + defenseSeconds + aggregationSeconds }
}

/// Leakage metrics of a reconstruction against the ground truth.
///
/// In the database a group of these is stored as prefixed columns (e.g. `worstMSE`,
/// `worstPSNR`, ...) so that it can be queried and exported like any other column.
public struct LeakageMetrics: Codable, Sendable, Equatable {
    /// Mean squared error (higher is better for the defender).
    public var mse: Double
    /// PSNR in dB; nil when infinite (an exact reconstruction). Lower is better for the defender.
    public var psnr: Double?
    /// Mean SSIM (lower is better for the defender).
    public var ssim: Double
    /// Mean LPIPS distance (higher is better for the defender); nil when unavailable.
    public var lpips: Double?
    /// Fraction of labels recovered, in [0, 1]; nil when labels were not attacked.
    public var labelAccuracy: Double?

    /// Creates metrics. A non-finite PSNR (an exact reconstruction gives +∞) is stored as nil,
    /// and so are non-finite LPIPS and label accuracy.
    public init(mse: Double, psnr: Double?, ssim: Double, lpips: Double? = nil, labelAccuracy: Double? = nil) {
        self.mse = mse
        self.psnr = psnr.flatMap { $0.isFinite ? $0 : nil }
        self.ssim = ssim
        self.lpips = lpips.flatMap { $0.isFinite ? $0 : nil }
        self.labelAccuracy = labelAccuracy.flatMap { $0.isFinite ? $0 : nil }
    }

    /// The column names of a metrics group stored under `prefix` (`mse`, `psnr`, ... when the
    /// prefix is empty, `worstMSE`, `worstPSNR`, ... for `"worst"`).
    static func columns(prefix: String) -> [String] {
        ["MSE", "PSNR", "SSIM", "LPIPS", "LabelAccuracy"].map { prefix.isEmpty ? $0.lowercasedFirstWord() : prefix + $0 }
    }

    /// Encodes the group into `container` under `prefix`; nil encodes NULL in every column.
    static func encode(_ metrics: LeakageMetrics?, prefix: String, into container: inout KeyedEncodingContainer<FlatKey>) throws {
        let names = columns(prefix: prefix)
        try container.encodeIfPresent(metrics?.mse, forKey: FlatKey(names[0]))
        try container.encodeIfPresent(metrics?.psnr, forKey: FlatKey(names[1]))
        try container.encodeIfPresent(metrics?.ssim, forKey: FlatKey(names[2]))
        try container.encodeIfPresent(metrics?.lpips, forKey: FlatKey(names[3]))
        try container.encodeIfPresent(metrics?.labelAccuracy, forKey: FlatKey(names[4]))
    }

    /// Decodes the group stored under `prefix`: nil when its MSE and SSIM columns are NULL.
    static func decode(prefix: String, from container: KeyedDecodingContainer<FlatKey>) throws -> LeakageMetrics? {
        let names = columns(prefix: prefix)
        guard let mse = try container.decodeIfPresent(Double.self, forKey: FlatKey(names[0])),
              let ssim = try container.decodeIfPresent(Double.self, forKey: FlatKey(names[2])) else { return nil }
        return LeakageMetrics(mse: mse, psnr: try container.decodeIfPresent(Double.self, forKey: FlatKey(names[1])),
                              ssim: ssim, lpips: try container.decodeIfPresent(Double.self, forKey: FlatKey(names[3])),
                              labelAccuracy: try container.decodeIfPresent(Double.self, forKey: FlatKey(names[4])))
    }
}

/// Identifies an attack cell within a run: one scenario, one attack, one defense.
public struct CellKey: Codable, Sendable, Hashable {
    /// The scenario, e.g. `"FedSGD, batch 4, LeNet"`.
    public var scenario: String
    /// The attack, e.g. `"DLG"`, `"Inverting Gradients"`.
    public var attack: String
    /// The defense, e.g. `"none"`, `"outpost"`.
    public var defense: String

    /// Creates a cell key.
    public init(scenario: String, attack: String, defense: String) {
        self.scenario = scenario
        self.attack = attack
        self.defense = defense
    }
}

/// One attack cell of a run (scenario × attack × defense) and the summary of its trials.
///
/// A cell is usually recorded twice: once before its trials (without a summary) so that
/// trials can refer to it, and once after them with the summary (see
/// ``ResultsStore/recordCell(_:)``). A cell whose ``trialCount`` is 0 has no summary yet.
public struct CellRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    /// The table holding cells; (`runId`, `scenario`, `attack`, `defense`) is unique.
    public static let databaseTableName = "cells"

    /// Row id, assigned on insertion.
    public var id: Int64?
    /// The run this cell belongs to.
    public var runId: Int64
    /// The scenario (see ``CellKey/scenario``).
    public var scenario: String
    /// The attack (see ``CellKey/attack``).
    public var attack: String
    /// The defense (see ``CellKey/defense``).
    public var defense: String
    /// The ground-truth images of the cell as one PNG row; nil when the attacker's target is unknown.
    public var groundTruthPNG: Data?
    /// How many trials the summary covers (0 before the summary is recorded).
    public var trialCount: Int
    /// How many of those trials diverged.
    public var divergedTrials: Int
    /// Index of the trial with the best SSIM against the ground truth (the worst case for the
    /// defender, which the OUTPOST paper reports); nil without ground truth.
    public var worstTrial: Int?
    /// Metrics of ``worstTrial``.
    public var worst: LeakageMetrics?
    /// Index of the trial with the lowest matching loss (what an attacker picks without ground truth).
    public var attackerPickTrial: Int?
    /// Metrics of ``attackerPickTrial``; nil without ground truth.
    public var attackerPick: LeakageMetrics?
    /// Labels inferred by the attack before reconstruction (e.g. iDLG), when it infers them.
    public var inferredLabels: [Int]?

    /// Creates a cell record; `id` is assigned on insertion.
    public init(id: Int64? = nil, runId: Int64, key: CellKey, groundTruthPNG: Data? = nil, trialCount: Int = 0,
                divergedTrials: Int = 0, worstTrial: Int? = nil, worst: LeakageMetrics? = nil,
                attackerPickTrial: Int? = nil, attackerPick: LeakageMetrics? = nil, inferredLabels: [Int]? = nil) {
        self.id = id
        self.runId = runId
        self.scenario = key.scenario
        self.attack = key.attack
        self.defense = key.defense
        self.groundTruthPNG = groundTruthPNG
        self.trialCount = trialCount
        self.divergedTrials = divergedTrials
        self.worstTrial = worstTrial
        self.worst = worst
        self.attackerPickTrial = attackerPickTrial
        self.attackerPick = attackerPick
        self.inferredLabels = inferredLabels
    }

    /// The cell's scenario, attack and defense.
    public var key: CellKey { CellKey(scenario: scenario, attack: attack, defense: defense) }

    /// Stores the row id assigned by SQLite.
    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    /// Decodes the flat column layout.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: FlatKey.self)
        id = try c.decodeIfPresent(Int64.self, forKey: "id")
        runId = try c.decode(Int64.self, forKey: "runId")
        scenario = try c.decode(String.self, forKey: "scenario")
        attack = try c.decode(String.self, forKey: "attack")
        defense = try c.decode(String.self, forKey: "defense")
        groundTruthPNG = try c.decodeIfPresent(Data.self, forKey: "groundTruthPNG")
        trialCount = try c.decode(Int.self, forKey: "trialCount")
        divergedTrials = try c.decode(Int.self, forKey: "divergedTrials")
        worstTrial = try c.decodeIfPresent(Int.self, forKey: "worstTrial")
        worst = try LeakageMetrics.decode(prefix: "worst", from: c)
        attackerPickTrial = try c.decodeIfPresent(Int.self, forKey: "attackerPickTrial")
        attackerPick = try LeakageMetrics.decode(prefix: "attackerPick", from: c)
        inferredLabels = try c.decodeIfPresent([Int].self, forKey: "inferredLabels")
    }

    /// Encodes the flat column layout (metrics groups as prefixed columns; nil as NULL).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: FlatKey.self)
        try c.encodeIfPresent(id, forKey: "id")
        try c.encode(runId, forKey: "runId")
        try c.encode(scenario, forKey: "scenario")
        try c.encode(attack, forKey: "attack")
        try c.encode(defense, forKey: "defense")
        try c.encodeIfPresent(groundTruthPNG, forKey: "groundTruthPNG")
        try c.encode(trialCount, forKey: "trialCount")
        try c.encode(divergedTrials, forKey: "divergedTrials")
        try c.encodeIfPresent(worstTrial, forKey: "worstTrial")
        try LeakageMetrics.encode(worst, prefix: "worst", into: &c)
        try c.encodeIfPresent(attackerPickTrial, forKey: "attackerPickTrial")
        try LeakageMetrics.encode(attackerPick, prefix: "attackerPick", into: &c)
        try c.encodeIfPresent(inferredLabels, forKey: "inferredLabels")
    }
}

/// One trial (one restart of an attack) in a cell.
public struct TrialRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    /// The table holding trials; (`cellId`, `trialIndex`) is unique.
    public static let databaseTableName = "trials"

    /// Row id, assigned on insertion.
    public var id: Int64?
    /// The cell this trial belongs to.
    public var cellId: Int64
    /// The trial's index within its cell (the attack's restart number).
    public var trialIndex: Int
    /// The final gradient-matching loss; nil when it was not finite.
    public var finalLoss: Double?
    /// Whether the optimisation diverged (the reconstruction is then the last finite iterate).
    public var diverged: Bool
    /// Iterations run.
    public var iterations: Int
    /// Wall-clock seconds the trial took.
    public var seconds: Double
    /// The labels the trial ended with (recovered or assumed), one per image.
    public var labels: [Int]
    /// Metrics against the ground truth; nil without ground truth.
    public var metrics: LeakageMetrics?
    /// The reconstructed images as one PNG row (see ``ResultsImage/pngRow(_:scale:)``).
    public var reconstructionPNG: Data?

    /// Creates a trial record. A non-finite `finalLoss` is stored as nil.
    public init(id: Int64? = nil, cellId: Int64, trialIndex: Int, finalLoss: Double?, diverged: Bool, iterations: Int,
                seconds: Double, labels: [Int], metrics: LeakageMetrics?, reconstructionPNG: Data?) {
        self.id = id
        self.cellId = cellId
        self.trialIndex = trialIndex
        self.finalLoss = finalLoss.flatMap { $0.isFinite ? $0 : nil }
        self.diverged = diverged
        self.iterations = iterations
        self.seconds = seconds
        self.labels = labels
        self.metrics = metrics
        self.reconstructionPNG = reconstructionPNG
    }

    /// Stores the row id assigned by SQLite.
    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    /// Decodes the flat column layout.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: FlatKey.self)
        id = try c.decodeIfPresent(Int64.self, forKey: "id")
        cellId = try c.decode(Int64.self, forKey: "cellId")
        trialIndex = try c.decode(Int.self, forKey: "trialIndex")
        finalLoss = try c.decodeIfPresent(Double.self, forKey: "finalLoss")
        diverged = try c.decode(Bool.self, forKey: "diverged")
        iterations = try c.decode(Int.self, forKey: "iterations")
        seconds = try c.decode(Double.self, forKey: "seconds")
        labels = try c.decode([Int].self, forKey: "labels")
        metrics = try LeakageMetrics.decode(prefix: "", from: c)
        reconstructionPNG = try c.decodeIfPresent(Data.self, forKey: "reconstructionPNG")
    }

    /// Encodes the flat column layout (metrics as the columns `mse`, `psnr`, `ssim`, `lpips`,
    /// `labelAccuracy`; nil as NULL).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: FlatKey.self)
        try c.encodeIfPresent(id, forKey: "id")
        try c.encode(cellId, forKey: "cellId")
        try c.encode(trialIndex, forKey: "trialIndex")
        try c.encodeIfPresent(finalLoss, forKey: "finalLoss")
        try c.encode(diverged, forKey: "diverged")
        try c.encode(iterations, forKey: "iterations")
        try c.encode(seconds, forKey: "seconds")
        try c.encode(labels, forKey: "labels")
        try LeakageMetrics.encode(metrics, prefix: "", into: &c)
        try c.encodeIfPresent(reconstructionPNG, forKey: "reconstructionPNG")
    }
}

/// A compact summary of a trial's per-iteration log: the matching loss at up to a few hundred
/// evenly spaced iterations (see ``summarizing(trialId:history:maximumPoints:)``).
public struct TrialLogRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    /// The table holding log summaries; one row per trial, keyed by `trialId`.
    public static let databaseTableName = "trialLogs"

    /// The trial this log belongs to (its row id).
    public var trialId: Int64
    /// How many log entries the full history had.
    public var recordedEntries: Int
    /// The iterations kept, ascending (stored as a JSON array).
    public var iterations: [Int]
    /// The loss at each kept iteration; nil where it was not finite (stored as a JSON array).
    public var losses: [Double?]

    /// Creates a log summary. `losses` must have one entry per iteration; non-finite losses
    /// become nil.
    public init(trialId: Int64, recordedEntries: Int, iterations: [Int], losses: [Double?]) {
        precondition(iterations.count == losses.count, "one loss per iteration")
        self.trialId = trialId
        self.recordedEntries = recordedEntries
        self.iterations = iterations
        self.losses = losses.map { $0.flatMap { $0.isFinite ? $0 : nil } }
    }

    /// Summarises a full history (iteration, loss) into at most `maximumPoints` entries evenly
    /// spaced over the history, always keeping the first and last entries.
    ///
    /// The `trialId` can be a placeholder (e.g. 0): ``ResultsStore/recordTrial(_:log:)`` sets
    /// it to the trial's id.
    public static func summarizing(trialId: Int64 = 0, history: [(iteration: Int, loss: Double)],
                                   maximumPoints: Int = 200) -> TrialLogRecord {
        let kept = evenlySpacedIndices(count: history.count, maximum: maximumPoints)
        return TrialLogRecord(trialId: trialId, recordedEntries: history.count,
                              iterations: kept.map { history[$0].iteration }, losses: kept.map { history[$0].loss })
    }

    /// Indices of at most `maximum` entries of `count`, evenly spaced, first and last included.
    static func evenlySpacedIndices(count: Int, maximum: Int) -> [Int] {
        guard count > 0, maximum > 0 else { return [] }
        if count <= maximum { return Array(0..<count) }
        if maximum == 1 { return [count - 1] }
        var indices: [Int] = []
        for k in 0..<maximum {
            let i = Int((Double(k) * Double(count - 1) / Double(maximum - 1)).rounded())
            if indices.last != i { indices.append(i) }
        }
        return indices
    }
}

/// A free-form result of a run: a number or a text under a key, optionally per series
/// (e.g. ε of DP accounting for one defense, or a threshold found by a bisection).
public struct RunValueRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    /// The table holding values; its primary key is (`runId`, `series`, `key`).
    public static let databaseTableName = "runValues"

    /// The run the value belongs to.
    public var runId: Int64
    /// The series the value belongs to (e.g. a defense); empty for a run-wide value.
    public var series: String
    /// The value's name, e.g. `"epsilon"`.
    public var key: String
    /// The value when it is a finite number.
    public var number: Double?
    /// The value when it is a text; also `"inf"`, `"-inf"` or `"nan"` for a non-finite number.
    public var text: String?

    /// Creates a value record holding a number; a non-finite number is stored as text.
    public init(runId: Int64, series: String = "", key: String, number: Double) {
        self.runId = runId
        self.series = series
        self.key = key
        if number.isFinite {
            self.number = number
            self.text = nil
        } else {
            self.number = nil
            self.text = number.isNaN ? "nan" : (number > 0 ? "inf" : "-inf")
        }
    }

    /// Creates a value record holding a text.
    public init(runId: Int64, series: String = "", key: String, text: String) {
        self.runId = runId
        self.series = series
        self.key = key
        self.number = nil
        self.text = text
    }

    /// The value as a number: ``number``, or ±∞/NaN for the texts `"inf"`, `"-inf"`, `"nan"`;
    /// nil for other texts.
    public var doubleValue: Double? {
        if let number { return number }
        switch text {
        case "inf": return .infinity
        case "-inf": return -.infinity
        case "nan": return .nan
        default: return nil
        }
    }
}

/// A coding key made from any string, for the flat column layouts.
struct FlatKey: CodingKey, ExpressibleByStringLiteral, Sendable {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
    init(stringLiteral value: String) { stringValue = value }
}

extension String {
    /// "MSE" → "mse", "LabelAccuracy" → "labelAccuracy": lowercases the leading run of capitals
    /// (all of it when the whole word is capitals, else all but the last one before a lowercase).
    func lowercasedFirstWord() -> String {
        let chars = Array(self)
        var n = 0
        while n < chars.count, chars[n].isUppercase { n += 1 }
        if n == chars.count { return lowercased() }
        if n > 1 { n -= 1 }
        return String(chars[0..<n]).lowercased() + String(chars[n...])
    }
}
