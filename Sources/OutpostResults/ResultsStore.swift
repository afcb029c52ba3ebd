import Foundation
import GRDB

/// Errors of the results database beyond SQLite's own (``GRDB/DatabaseError``).
public enum ResultsError: Error, Equatable, CustomStringConvertible {
    /// No run has this id.
    case unknownRun(Int64)
    /// No cell has this id.
    case unknownCell(Int64)
    /// A record passed to the store is not valid (the reason says why).
    case invalidRecord(String)

    /// A sentence for the terminal.
    public var description: String {
        switch self {
        case .unknownRun(let id): return "no run with id \(id) in the results database"
        case .unknownCell(let id): return "no attack cell with id \(id) in the results database"
        case .invalidRecord(let reason): return "invalid results record: \(reason)"
        }
    }
}

/// The results database of an output folder: runs, federated rounds, attack cells, trials,
/// trial log summaries and free-form values, in SQLite through GRDB.
///
/// Durability: the database is in WAL mode with `synchronous = FULL`, and every write method
/// (``recordTrial(_:log:)``, ``recordRound(_:)``, ...) commits its own transaction, so a
/// process killed at any point (even with SIGKILL) loses at most the record it was writing.
/// Reads go through a ``GRDB/DatabasePool``: a report can be built from another connection or
/// another process while a run writes.
///
///     let store = try ResultsStore(directory: "out")          // out/results.sqlite
///     let run = try store.beginRun(command: "outpost attack grid.yaml", configuration: yaml, label: "grid")
///     let cell = try store.recordCell(CellRecord(runId: run.id!, key: key, groundTruthPNG: truthPNG))
///     for index in 0..<8 where !(try store.completedTrials(run: run.id!, cell: key)).contains(index) {
///         try store.recordTrial(TrialRecord(cellId: cell.id!, trialIndex: index, ...), log: log)
///     }
///     try store.finishRun(run.id!, status: .done)
public final class ResultsStore: Sendable {
    /// The file name used inside an output folder: `results.sqlite`.
    public static let defaultFileName = "results.sqlite"

    /// The database file's path.
    public let path: String
    /// The connection pool (one writer, concurrent readers).
    public let pool: DatabasePool

    /// Opens the database in `directory` (creating the folder and the file when missing) and
    /// migrates it to the current schema.
    public convenience init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try self.init(path: (directory as NSString).appendingPathComponent(Self.defaultFileName))
    }

    /// Opens (or creates) the database file at `path`.
    ///
    /// - Parameter readOnly: open without writing, for reports; the file must exist and the
    ///   schema is not migrated (it must already be current).
    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        var configuration = Configuration()
        configuration.readonly = readOnly
        configuration.foreignKeysEnabled = true
        // Wait for a concurrent writer (another process) instead of failing at once.
        configuration.busyMode = .timeout(10)
        configuration.label = "OutpostResults"
        pool = try DatabasePool(path: path, configuration: configuration)
        if !readOnly {
            // GRDB sets the writer connection to synchronous = NORMAL when it enables WAL, which
            // already survives a killed process; FULL also survives a power loss.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            try Self.migrator.migrate(pool)
        }
    }

    // MARK: - Schema

    /// The schema's migrations, in order. Each is applied once per database file.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: runs, rounds, cells, trials, trial logs, values") { db in
            try db.create(table: RunRecord.databaseTableName) { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("command", .text).notNull()
                t.column("configuration", .text).notNull()
                t.column("label", .text).notNull()
                t.column("machine", .text).notNull()
                t.column("startedAt", .datetime).notNull()
                t.column("endedAt", .datetime)
                t.column("status", .text).notNull()
                    .check(sql: "status IN ('running', 'done', 'failed')")
            }
            try db.create(table: RoundRecord.databaseTableName) { t in
                t.column("runId", .integer).notNull().references(RunRecord.databaseTableName, onDelete: .cascade)
                t.column("series", .text).notNull()
                t.column("round", .integer).notNull()
                t.column("testAccuracy", .double)
                t.column("testLoss", .double)
                t.column("trainingSeconds", .double).notNull()
                t.column("defenseSeconds", .double).notNull()
                t.column("aggregationSeconds", .double).notNull()
                t.primaryKey(["runId", "series", "round"])
            }
            try db.create(table: CellRecord.databaseTableName) { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("runId", .integer).notNull().indexed().references(RunRecord.databaseTableName, onDelete: .cascade)
                t.column("scenario", .text).notNull()
                t.column("attack", .text).notNull()
                t.column("defense", .text).notNull()
                t.column("groundTruthPNG", .blob)
                t.column("trialCount", .integer).notNull()
                t.column("divergedTrials", .integer).notNull()
                t.column("worstTrial", .integer)
                for name in LeakageMetrics.columns(prefix: "worst") { t.column(name, .double) }
                t.column("attackerPickTrial", .integer)
                for name in LeakageMetrics.columns(prefix: "attackerPick") { t.column(name, .double) }
                t.column("inferredLabels", .jsonText)
                t.uniqueKey(["runId", "scenario", "attack", "defense"])
            }
            try db.create(table: TrialRecord.databaseTableName) { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("cellId", .integer).notNull().references(CellRecord.databaseTableName, onDelete: .cascade)
                t.column("trialIndex", .integer).notNull()
                t.column("finalLoss", .double)
                t.column("diverged", .boolean).notNull()
                t.column("iterations", .integer).notNull()
                t.column("seconds", .double).notNull()
                t.column("labels", .jsonText).notNull()
                for name in LeakageMetrics.columns(prefix: "") { t.column(name, .double) }
                t.column("reconstructionPNG", .blob)
                t.uniqueKey(["cellId", "trialIndex"])
            }
            try db.create(table: TrialLogRecord.databaseTableName) { t in
                t.primaryKey("trialId", .integer).references(TrialRecord.databaseTableName, onDelete: .cascade)
                t.column("recordedEntries", .integer).notNull()
                t.column("iterations", .jsonText).notNull()
                t.column("losses", .jsonText).notNull()
            }
            try db.create(table: RunValueRecord.databaseTableName) { t in
                t.column("runId", .integer).notNull().references(RunRecord.databaseTableName, onDelete: .cascade)
                t.column("series", .text).notNull()
                t.column("key", .text).notNull()
                t.column("number", .double)
                t.column("text", .text)
                t.primaryKey(["runId", "series", "key"])
            }
        }
        return migrator
    }

    /// The tables of the schema, in export order.
    public static let tableNames = [
        RunRecord.databaseTableName, RoundRecord.databaseTableName, CellRecord.databaseTableName,
        TrialRecord.databaseTableName, TrialLogRecord.databaseTableName, RunValueRecord.databaseTableName,
    ]

    // MARK: - Writing

    /// Records the start of a run (status ``RunStatus/running``) and returns it with its id.
    ///
    /// - Parameters:
    ///   - command: the command that started the run.
    ///   - configuration: the YAML configuration text it runs with, verbatim.
    ///   - label: a short name for reports.
    ///   - machine: a description of the machine; ``MachineDescription/current`` by default.
    ///   - startedAt: the start time; now by default.
    @discardableResult
    public func beginRun(command: String, configuration: String, label: String,
                         machine: String = MachineDescription.current, startedAt: Date = Date()) throws -> RunRecord {
        var run = RunRecord(command: command, configuration: configuration, label: label, machine: machine,
                            startedAt: startedAt, status: .running)
        let inserted = run
        run = try pool.write { db in
            var r = inserted
            try r.insert(db)
            return r
        }
        return run
    }

    /// Marks a run finished with `status` at `endedAt` (now by default).
    ///
    /// - Throws: ``ResultsError/unknownRun(_:)`` when no run has this id.
    public func finishRun(_ runId: Int64, status: RunStatus, endedAt: Date = Date()) throws {
        try pool.write { db in
            guard var run = try RunRecord.fetchOne(db, key: runId) else { throw ResultsError.unknownRun(runId) }
            run.status = status
            run.endedAt = status == .running ? nil : endedAt
            try run.update(db)
        }
    }

    /// Marks a run as running again (for resuming it), clearing its end time.
    ///
    /// - Throws: ``ResultsError/unknownRun(_:)`` when no run has this id.
    public func reopenRun(_ runId: Int64) throws {
        try finishRun(runId, status: .running)
    }

    /// Records one federated round in its own transaction. Recording the same
    /// (run, series, round) again replaces it (a round recomputed after a resume).
    public func recordRound(_ round: RoundRecord) throws {
        try pool.write { db in
            try requireRun(round.runId, db)
            try round.insert(db, onConflict: .replace)
        }
    }

    /// Records an attack cell, or updates the cell with the same run, scenario, attack and
    /// defense (keeping its id), and returns it with its id. Record it once before its trials
    /// (so they can refer to its id) and again with the summary when they are done.
    ///
    /// A ground-truth PNG recorded earlier is kept when `cell.groundTruthPNG` is nil.
    @discardableResult
    public func recordCell(_ cell: CellRecord) throws -> CellRecord {
        try pool.write { db in
            try requireRun(cell.runId, db)
            var record = cell
            if let existing = try CellRecord.filter(
                Column("runId") == cell.runId && Column("scenario") == cell.scenario
                    && Column("attack") == cell.attack && Column("defense") == cell.defense).fetchOne(db) {
                record.id = existing.id
                if record.groundTruthPNG == nil { record.groundTruthPNG = existing.groundTruthPNG }
                try record.update(db)
            } else {
                record.id = nil
                try record.insert(db)
            }
            return record
        }
    }

    /// Records one trial and, when given, its log summary, in one transaction of their own:
    /// after a crash either both are there or neither is. Recording the same (cell, trial
    /// index) again replaces the trial and its log. Returns the trial with its id.
    ///
    /// - Throws: ``ResultsError/unknownCell(_:)`` when the cell does not exist.
    @discardableResult
    public func recordTrial(_ trial: TrialRecord, log: TrialLogRecord? = nil) throws -> TrialRecord {
        try pool.write { db in
            guard try CellRecord.exists(db, key: trial.cellId) else { throw ResultsError.unknownCell(trial.cellId) }
            // Delete a previous attempt explicitly, so that its log goes with it (cascade).
            try TrialRecord.filter(Column("cellId") == trial.cellId && Column("trialIndex") == trial.trialIndex)
                .deleteAll(db)
            var record = trial
            record.id = nil
            try record.insert(db)
            if var log {
                log.trialId = record.id!
                try log.insert(db, onConflict: .replace)
            }
            return record
        }
    }

    /// Sets a free-form number of a run (replacing the value under the same series and key).
    public func setValue(_ value: Double, forKey key: String, run runId: Int64, series: String = "") throws {
        try setValue(RunValueRecord(runId: runId, series: series, key: key, number: value))
    }

    /// Sets a free-form text of a run (replacing the value under the same series and key).
    public func setValue(_ text: String, forKey key: String, run runId: Int64, series: String = "") throws {
        try setValue(RunValueRecord(runId: runId, series: series, key: key, text: text))
    }

    /// Sets a free-form value record (replacing the value under the same run, series and key).
    public func setValue(_ value: RunValueRecord) throws {
        try pool.write { db in
            try requireRun(value.runId, db)
            try value.insert(db, onConflict: .replace)
        }
    }

    private func requireRun(_ runId: Int64, _ db: Database) throws {
        guard try RunRecord.exists(db, key: runId) else { throw ResultsError.unknownRun(runId) }
    }

    // MARK: - Reading

    /// All runs, oldest first; only those with `status` when given.
    public func runs(status: RunStatus? = nil) throws -> [RunRecord] {
        try pool.read { db in
            var request = RunRecord.order(Column("id"))
            if let status { request = request.filter(Column("status") == status.rawValue) }
            return try request.fetchAll(db)
        }
    }

    /// The run with this id, or nil.
    public func run(_ runId: Int64) throws -> RunRecord? {
        try pool.read { db in try RunRecord.fetchOne(db, key: runId) }
    }

    /// The series names of a run's rounds, in order of first appearance.
    public func series(run runId: Int64) throws -> [String] {
        try pool.read { db in
            try String.fetchAll(db, sql: """
                SELECT series FROM \(RoundRecord.databaseTableName) WHERE runId = ?
                GROUP BY series ORDER BY MIN(rowid)
                """, arguments: [runId])
        }
    }

    /// A run's rounds ordered by series then round; only one series' when `series` is given.
    public func rounds(run runId: Int64, series: String? = nil) throws -> [RoundRecord] {
        try pool.read { db in
            var request = RoundRecord.filter(Column("runId") == runId)
            if let series { request = request.filter(Column("series") == series) }
            return try request.order(Column("series"), Column("round")).fetchAll(db)
        }
    }

    /// The rounds of a series already recorded, ascending: what a resumed run can skip.
    public func completedRounds(run runId: Int64, series: String) throws -> [Int] {
        try pool.read { db in
            try Int.fetchAll(db, sql: """
                SELECT round FROM \(RoundRecord.databaseTableName) WHERE runId = ? AND series = ? ORDER BY round
                """, arguments: [runId, series])
        }
    }

    /// A run's attack cells, in the order they were first recorded.
    public func cells(run runId: Int64) throws -> [CellRecord] {
        try pool.read { db in try CellRecord.filter(Column("runId") == runId).order(Column("id")).fetchAll(db) }
    }

    /// The cell of a run with this scenario, attack and defense, or nil.
    public func cell(run runId: Int64, key: CellKey) throws -> CellRecord? {
        try pool.read { db in
            try CellRecord.filter(Column("runId") == runId && Column("scenario") == key.scenario
                                  && Column("attack") == key.attack && Column("defense") == key.defense).fetchOne(db)
        }
    }

    /// The indices of the trials of a cell already recorded: what a resumed run can skip.
    /// Empty when the cell has not been recorded.
    public func completedTrials(run runId: Int64, cell key: CellKey) throws -> Set<Int> {
        try pool.read { db in
            Set(try Int.fetchAll(db, sql: """
                SELECT t.trialIndex FROM \(TrialRecord.databaseTableName) t
                JOIN \(CellRecord.databaseTableName) c ON c.id = t.cellId
                WHERE c.runId = ? AND c.scenario = ? AND c.attack = ? AND c.defense = ?
                """, arguments: [runId, key.scenario, key.attack, key.defense]))
        }
    }

    /// The trials of a cell, by trial index.
    public func trials(cell cellId: Int64) throws -> [TrialRecord] {
        try pool.read { db in
            try TrialRecord.filter(Column("cellId") == cellId).order(Column("trialIndex")).fetchAll(db)
        }
    }

    /// The log summaries of a cell's trials, keyed by trial index.
    public func trialLogs(cell cellId: Int64) throws -> [Int: TrialLogRecord] {
        try pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT t.trialIndex AS trialIndex, l.* FROM \(TrialLogRecord.databaseTableName) l
                JOIN \(TrialRecord.databaseTableName) t ON t.id = l.trialId
                WHERE t.cellId = ?
                """, arguments: [cellId])
            var logs: [Int: TrialLogRecord] = [:]
            for row in rows { logs[row["trialIndex"]] = try TrialLogRecord(row: row) }
            return logs
        }
    }

    /// The log summary of one trial (by the trial's row id), or nil.
    public func trialLog(trial trialId: Int64) throws -> TrialLogRecord? {
        try pool.read { db in try TrialLogRecord.fetchOne(db, key: trialId) }
    }

    /// A run's free-form values, ordered by series then key.
    public func values(run runId: Int64) throws -> [RunValueRecord] {
        try pool.read { db in
            try RunValueRecord.filter(Column("runId") == runId).order(Column("series"), Column("key")).fetchAll(db)
        }
    }

    /// One free-form value of a run, or nil.
    public func value(forKey key: String, run runId: Int64, series: String = "") throws -> RunValueRecord? {
        try pool.read { db in
            try RunValueRecord.fetchOne(db, key: ["runId": runId, "series": series, "key": key])
        }
    }

    /// The number of rows in each table of the schema.
    public func rowCounts() throws -> [String: Int] {
        try pool.read { db in
            var counts: [String: Int] = [:]
            for table in Self.tableNames { counts[table] = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0 }
            return counts
        }
    }

    /// Runs SQLite's `PRAGMA integrity_check` and returns its messages (`["ok"]` when sound).
    public func integrityCheck() throws -> [String] {
        try pool.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
    }
}

/// A one-line description of the machine a run runs on.
public enum MachineDescription {
    /// Host name, operating system, logical CPUs and physical memory of this machine, e.g.
    /// `"build-7 · Linux 6.1.0 · 2 CPUs · 24 GiB"`.
    public static var current: String {
        let info = ProcessInfo.processInfo
        let gib = Double(info.physicalMemory) / Double(1 << 30)
        let os: String
        #if os(Linux)
        os = "Linux " + info.operatingSystemVersionString
        #elseif os(macOS)
        os = "macOS " + info.operatingSystemVersionString
        #else
        os = info.operatingSystemVersionString
        #endif
        return "\(info.hostName) · \(os) · \(info.activeProcessorCount) CPUs · \(String(format: "%.0f", gib)) GiB"
    }
}
