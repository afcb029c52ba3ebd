import Foundation
import OutpostAttacks
import OutpostData
import OutpostMetrics
import OutpostResults
import OutpostTensor

/// One attack cell (scenario × attack × defense) run trial by trial. Each finished trial is
/// written to the cell's folder (`trials/trial-k.json`) and recorded in the results database
/// before the next begins, so a run killed at any moment loses at most the trial in progress:
/// resumed, the cell reads back the trials the database holds and runs only the others
/// (trial k always starts from the same dummy data, so the result is the same as one
/// uninterrupted run).
struct AttackCell {
    let key: CellKey
    /// The cell's folder: reconstructions, grid, history and summary (``ReconstructionReport``).
    let directory: String
    let journal: RunJournal?

    /// Runs (or finishes) the cell and writes its files; records the cell's summary.
    func run(_ attack: GradientInversion, on target: AttackTarget, seed: UInt64, truth: Tensor?, truthLabels: [Int]?,
             progress: ((AttackProgress) -> Void)? = nil) throws -> AuditSummary {
        let cellID = try beginCell(truth: truth)
        let done = try journal.map { try $0.store.completedTrials(run: $0.runId, cell: key) } ?? []
        var trials: [AttackTrial] = []
        var inferred: [Int]?? = nil
        for t in 0..<attack.trials {
            if done.contains(t), let saved = try? StoredTrial.read(trialPath(t)) {
                trials.append(saved.trial)
                continue
            }
            let outcome = try attack.run(on: target, seed: seed, trialIndices: [t], progress: progress)
            inferred = .some(outcome.inferredLabels)
            guard let trial = outcome.trials.first else { continue }
            try StoredTrial(trial).write(to: trialPath(t))
            try record(trial, cellID: cellID, truth: truth, truthLabels: truthLabels)
            trials.append(trial)
        }
        let labels: [Int]?
        if let inferred { labels = inferred } else { labels = try storedInferredLabels(attack, target) }
        return try finish(AttackOutcome(attack: attack.name, trials: trials, inferredLabels: labels), cellID: cellID, truth: truth,
                          truthLabels: truthLabels)
    }

    /// Runs analytic recovery (one deterministic trial) as a cell.
    func runAnalytic(on target: AttackTarget, truth: Tensor?, truthLabels: [Int]?) throws -> AuditSummary {
        let cellID = try beginCell(truth: truth)
        let trial = try AnalyticRecovery.recover(target)
        try record(trial, cellID: cellID, truth: truth, truthLabels: truthLabels)
        return try finish(AttackOutcome(attack: "Analytic", trials: [trial], inferredLabels: nil), cellID: cellID, truth: truth,
                          truthLabels: truthLabels)
    }

    func trialPath(_ t: Int) -> String {
        ((directory as NSString).appendingPathComponent("trials") as NSString).appendingPathComponent("trial-\(t).json")
    }

    /// Labels the attack infers are a function of the target alone; when every trial was
    /// read back they are read from the database (or inferred again without the database).
    private func storedInferredLabels(_ attack: GradientInversion, _ target: AttackTarget) throws -> [Int]? {
        if let journal, let cell = try journal.store.cell(run: journal.runId, key: key) { return cell.inferredLabels }
        return try attack.run(on: target, seed: 0, trialIndices: []).inferredLabels
    }

    private func beginCell(truth: Tensor?) throws -> Int64? {
        guard let journal else { return nil }
        let png = try truth.map { try ResultsImage.pngRow(ReconstructionReport.pixelImages($0), scale: 2) }
        return try journal.store.recordCell(CellRecord(runId: journal.runId, key: key, groundTruthPNG: png)).id
    }

    private func record(_ trial: AttackTrial, cellID: Int64?, truth: Tensor?, truthLabels: [Int]?) throws {
        guard let journal, let cellID else { return }
        let metrics = try truth.map { try ReconstructionReport.score(trial.pixels, against: $0) }
        let record = TrialRecord(cellId: cellID, trialIndex: trial.index, finalLoss: trial.finalLoss.isFinite ? trial.finalLoss : nil,
                                 diverged: trial.diverged, iterations: trial.iterations, seconds: trial.seconds, labels: trial.labels,
                                 metrics: metrics.map { Self.leakage($0, labels: trial.labels, truthLabels: truthLabels) },
                                 reconstructionPNG: try ResultsImage.pngRow(ReconstructionReport.pixelImages(trial.pixels), scale: 2))
        try journal.store.recordTrial(record, log: .summarizing(history: trial.history.map { ($0.iteration, $0.loss) }))
    }

    private func finish(_ outcome: AttackOutcome, cellID: Int64?, truth: Tensor?, truthLabels: [Int]?) throws -> AuditSummary {
        let summary = try ReconstructionReport.write(outcome, truth: truth, to: directory)
        if let journal {
            func metrics(_ index: Int?) -> LeakageMetrics? {
                guard let t = summary.trials.first(where: { $0.index == index }), let m = t.metrics else { return nil }
                return Self.leakage(m, labels: t.labels, truthLabels: truthLabels)
            }
            try journal.store.recordCell(CellRecord(runId: journal.runId, key: key, trialCount: outcome.trials.count,
                                                    divergedTrials: outcome.divergedCount, worstTrial: summary.worstForDefender,
                                                    worst: metrics(summary.worstForDefender), attackerPickTrial: summary.attackerChoice,
                                                    attackerPick: metrics(summary.attackerChoice), inferredLabels: outcome.inferredLabels))
        }
        _ = cellID
        return summary
    }

    static func leakage(_ m: TrialMetrics, labels: [Int], truthLabels: [Int]?) -> LeakageMetrics {
        let accuracy = truthLabels.flatMap { truth in
            (try? LabelAccuracy.multiset(predicted: labels, truth: truth)).map { Double($0.correct) / Double(max($0.total, 1)) }
        }
        return LeakageMetrics(mse: m.mse, psnr: m.psnr, ssim: m.ssim, labelAccuracy: accuracy)
    }
}

/// A finished trial as saved in a cell's folder, exactly (pixels as Float32 values).
struct StoredTrial: Codable {
    var index: Int
    var shape: [Int]
    var pixels: [Float]
    var labels: [Int]
    /// Nil when not finite.
    var finalLoss: Double?
    var diverged: Bool
    var iterations: Int
    var history: [IterationRecord]
    var seconds: Double

    init(_ t: AttackTrial) {
        index = t.index
        shape = t.pixels.shape
        pixels = t.pixels.scalars
        labels = t.labels
        finalLoss = t.finalLoss.isFinite ? t.finalLoss : nil
        diverged = t.diverged
        iterations = t.iterations
        history = t.history.filter { $0.loss.isFinite }
        seconds = t.seconds
    }

    var trial: AttackTrial {
        AttackTrial(index: index, pixels: Tensor(pixels, shape: shape), labels: labels, finalLoss: finalLoss ?? .infinity,
                    diverged: diverged, iterations: iterations, history: history, seconds: seconds)
    }

    static func read(_ path: String) throws -> StoredTrial {
        let s = try JSONDecoder().decode(StoredTrial.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        guard s.shape.reduce(1, *) == s.pixels.count else { throw DataError.sizeMismatch(path: path, record: s.index, expected: "\(s.shape.reduce(1, *)) pixels", found: "\(s.pixels.count)") }
        return s
    }

    /// Written atomically: a killed write leaves the previous file or none.
    func write(to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try JSONEncoder().encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
