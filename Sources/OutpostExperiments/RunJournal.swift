import Foundation
import OutpostFederated
import OutpostResults

/// The results database of a command's output folder and the run this invocation records.
///
/// Every command that computes results writes them here as it goes (rounds, attack cells,
/// trials), each record in its own transaction; `--resume` reopens the latest run of the
/// same command with the same effective configuration, and the command skips what that run
/// already recorded.
public final class RunJournal: @unchecked Sendable {
    /// The database (`results.sqlite` in the output folder).
    public let store: ResultsStore
    /// The run being recorded.
    public let run: RunRecord
    /// True when this invocation continues an earlier, interrupted run.
    public let resumed: Bool

    /// The run's id.
    public var runId: Int64 { run.id ?? 0 }

    /// Opens the database in `directory` and begins a run, or, with `resume`, reopens the
    /// latest run whose command kind (`evaluate`, `train`, ...) and configuration are the
    /// same. A fresh run begins when there is none to resume.
    ///
    /// - Parameters:
    ///   - kind: the command's name; runs of other commands are never resumed.
    ///   - commandLine: the command as typed, for the record.
    ///   - configuration: the effective configuration (after overrides), as canonical text:
    ///     resuming requires it to be identical.
    public init(directory: String, kind: String, commandLine: String, configuration: String, label: String, resume: Bool) throws {
        store = try ResultsStore(directory: directory)
        if resume, let previous = try store.runs().last(where: { Self.kind(of: $0.command) == kind && $0.configuration == configuration }),
           let id = previous.id {
            try store.reopenRun(id)
            run = try store.run(id) ?? previous
            resumed = true
        } else {
            run = try store.beginRun(command: commandLine, configuration: configuration, label: label)
            resumed = false
        }
    }

    /// The runs of `kind` in the database with another configuration than `configuration`,
    /// for explaining why `--resume` started afresh.
    public func otherRuns(kind: String, configuration: String) throws -> [RunRecord] {
        try store.runs().filter { Self.kind(of: $0.command) == kind && $0.configuration != configuration && $0.id != runId }
    }

    /// `outpost evaluate x.yml` → `evaluate`.
    static func kind(of commandLine: String) -> String {
        let words = commandLine.split(separator: " ")
        return words.count > 1 ? String(words[1]) : ""
    }

    /// Marks the run done or failed.
    public func finish(_ status: RunStatus) throws { try store.finishRun(runId, status: status) }

    /// Records a federated round of `series` (replacing an earlier record of the same round).
    func record(_ report: RoundReport, series: String) throws {
        try store.recordRound(RoundRecord(runId: runId, series: series, round: report.round, testAccuracy: report.evaluation?.accuracy,
                                          testLoss: report.evaluation?.loss, trainingSeconds: report.timing.training,
                                          defenseSeconds: report.timing.defense, aggregationSeconds: report.timing.aggregation))
    }

    /// The rounds of `series` already recorded.
    func recordedRounds(series: String) throws -> Set<Int> { Set(try store.completedRounds(run: runId, series: series)) }
}
