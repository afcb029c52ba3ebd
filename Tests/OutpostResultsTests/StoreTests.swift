import Foundation
import GRDB
import OutpostData
@testable import OutpostResults
import XCTest

final class StoreTests: XCTestCase {
    func testEveryRecordTypeRoundTrips() throws {
        let dir = try temporaryDirectory(self)
        let store = try ResultsStore(directory: dir)
        XCTAssertTrue(FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent("results.sqlite")))

        let start = Date(timeIntervalSince1970: 1_790_000_123.456)
        let run = try store.beginRun(command: "outpost attack grid.yaml --resume", configuration: "a: 1\nb: [x, y]\n",
                                     label: "grid ✓", machine: "host · Linux · 2 CPUs", startedAt: start)
        let runId = try XCTUnwrap(run.id)
        let fetchedRun = try XCTUnwrap(store.run(runId))
        XCTAssertEqual(fetchedRun.command, "outpost attack grid.yaml --resume")
        XCTAssertEqual(fetchedRun.configuration, "a: 1\nb: [x, y]\n")
        XCTAssertEqual(fetchedRun.label, "grid ✓")
        XCTAssertEqual(fetchedRun.machine, "host · Linux · 2 CPUs")
        XCTAssertEqual(fetchedRun.startedAt.timeIntervalSince1970, start.timeIntervalSince1970, accuracy: 0.001)
        XCTAssertNil(fetchedRun.endedAt)
        XCTAssertEqual(fetchedRun.status, .running)

        let round = RoundRecord(runId: runId, series: "dp σ=0.01", round: 3, testAccuracy: 0.8125, testLoss: .infinity,
                                trainingSeconds: 1.25, defenseSeconds: 0.5, aggregationSeconds: 0.125)
        XCTAssertNil(round.testLoss, "non-finite loss is stored as nil")
        try store.recordRound(round)
        try store.recordRound(RoundRecord(runId: runId, series: "dp σ=0.01", round: 4, testAccuracy: nil, testLoss: nil,
                                          trainingSeconds: 1, defenseSeconds: 0, aggregationSeconds: 0))
        XCTAssertEqual(try store.rounds(run: runId), [round, RoundRecord(runId: runId, series: "dp σ=0.01", round: 4, testAccuracy: nil,
                                                                          testLoss: nil, trainingSeconds: 1, defenseSeconds: 0, aggregationSeconds: 0)])
        XCTAssertEqual(round.totalSeconds, 1.875)

        let png = try ResultsImage.pngRow([PixelImage(width: 2, height: 2, channels: 1, pixels: [0, 0.25, 0.5, 1])])
        let worst = LeakageMetrics(mse: 0.0125, psnr: .infinity, ssim: 0.93, lpips: nil, labelAccuracy: 0.75)
        XCTAssertNil(worst.psnr, "+inf PSNR is stored as nil")
        let pick = LeakageMetrics(mse: 0.02, psnr: 16.99, ssim: 0.8, lpips: 0.31, labelAccuracy: nil)
        var cell = CellRecord(runId: runId, key: CellKey(scenario: "FedSGD", attack: "DLG", defense: "none"), groundTruthPNG: png,
                              trialCount: 3, divergedTrials: 1, worstTrial: 2, worst: worst, attackerPickTrial: 0,
                              attackerPick: pick, inferredLabels: [4, 2])
        cell = try store.recordCell(cell)
        XCTAssertNotNil(cell.id)
        XCTAssertEqual(try store.cells(run: runId), [cell])
        XCTAssertEqual(try store.cell(run: runId, key: cell.key), cell)
        let bare = try store.recordCell(CellRecord(runId: runId, key: CellKey(scenario: "FedSGD", attack: "DLG", defense: "dp")))
        XCTAssertEqual(try store.cell(run: runId, key: bare.key), bare, "a cell without summary round-trips with nil metrics")
        XCTAssertNil(bare.worst)

        let trial = TrialRecord(cellId: cell.id!, trialIndex: 2, finalLoss: .nan, diverged: true, iterations: 300, seconds: 4.5,
                                labels: [4, 2], metrics: worst, reconstructionPNG: png)
        XCTAssertNil(trial.finalLoss)
        let log = TrialLogRecord.summarizing(history: [(0, 10), (1, 5), (2, .infinity)])
        let stored = try store.recordTrial(trial, log: log)
        var expected = trial
        expected.id = stored.id
        XCTAssertEqual(try store.trials(cell: cell.id!), [expected])
        let noMetrics = try store.recordTrial(TrialRecord(cellId: cell.id!, trialIndex: 0, finalLoss: 0.5, diverged: false, iterations: 1,
                                                          seconds: 0.1, labels: [], metrics: nil, reconstructionPNG: nil))
        XCTAssertEqual(try store.trials(cell: cell.id!).first, noMetrics)
        let storedLog = try XCTUnwrap(store.trialLog(trial: stored.id!))
        XCTAssertEqual(storedLog, TrialLogRecord(trialId: stored.id!, recordedEntries: 3, iterations: [0, 1, 2], losses: [10, 5, nil]))
        XCTAssertEqual(try store.trialLogs(cell: cell.id!), [2: storedLog])

        try store.setValue(1.5, forKey: "epsilon", run: runId, series: "dp")
        try store.setValue(.infinity, forKey: "epsilon", run: runId, series: "none")
        try store.setValue("bisection: 12 steps", forKey: "note", run: runId)
        let values = try store.values(run: runId)
        XCTAssertEqual(values, [RunValueRecord(runId: runId, series: "", key: "note", text: "bisection: 12 steps"),
                                RunValueRecord(runId: runId, series: "dp", key: "epsilon", number: 1.5),
                                RunValueRecord(runId: runId, series: "none", key: "epsilon", number: .infinity)])
        XCTAssertEqual(try store.value(forKey: "epsilon", run: runId, series: "none")?.doubleValue, .infinity)
        XCTAssertEqual(try store.value(forKey: "epsilon", run: runId, series: "none")?.text, "inf")
        try store.setValue(2.5, forKey: "epsilon", run: runId, series: "dp")
        XCTAssertEqual(try store.value(forKey: "epsilon", run: runId, series: "dp")?.number, 2.5, "setting a value replaces it")

        let end = start.addingTimeInterval(3600)
        try store.finishRun(runId, status: .failed, endedAt: end)
        let finished = try XCTUnwrap(store.run(runId))
        XCTAssertEqual(finished.status, .failed)
        XCTAssertEqual(try XCTUnwrap(finished.endedAt).timeIntervalSince1970, end.timeIntervalSince1970, accuracy: 0.001)
        XCTAssertEqual(try store.runs(status: .failed).map(\.id), [runId])
        XCTAssertEqual(try store.runs(status: .done), [])

        // A second process (here: a second store) sees the same data, read-only.
        let reader = try ResultsStore(path: store.path, readOnly: true)
        XCTAssertEqual(try reader.rowCounts(), ["runs": 1, "rounds": 2, "cells": 2, "trials": 2, "trialLogs": 1, "runValues": 3])
        XCTAssertThrowsError(try reader.beginRun(command: "x", configuration: "", label: ""))
    }

    func testResumeAfterInterruption() throws {
        let dir = try temporaryDirectory(self)
        let key = CellKey(scenario: "FedAvg", attack: "IG", defense: "outpost")
        var runId: Int64 = 0
        do {
            // First attempt: trials 0, 1, 3 and rounds 1...4 complete, then the process "dies".
            let store = try ResultsStore(directory: dir)
            runId = try store.beginRun(command: "outpost run", configuration: "", label: "resume").id!
            let cell = try store.recordCell(CellRecord(runId: runId, key: key))
            for i in [0, 1, 3] {
                try store.recordTrial(TrialRecord(cellId: cell.id!, trialIndex: i, finalLoss: Double(i), diverged: false, iterations: 10,
                                                  seconds: 1, labels: [1], metrics: nil, reconstructionPNG: nil))
            }
            for r in 1...4 {
                try store.recordRound(RoundRecord(runId: runId, series: "outpost", round: r, testAccuracy: 0.5, testLoss: 1,
                                                  trainingSeconds: 1, defenseSeconds: 1, aggregationSeconds: 1))
            }
            try store.recordRound(RoundRecord(runId: runId, series: "none", round: 1, testAccuracy: 0.5, testLoss: 1,
                                              trainingSeconds: 1, defenseSeconds: 0, aggregationSeconds: 1))
        }
        // The resumed process opens the same folder and asks what is done.
        let store = try ResultsStore(directory: dir)
        XCTAssertEqual(try store.runs(status: .running).map(\.id), [runId])
        XCTAssertEqual(try store.completedTrials(run: runId, cell: key), [0, 1, 3])
        XCTAssertEqual(try store.completedTrials(run: runId, cell: CellKey(scenario: "FedAvg", attack: "IG", defense: "none")), [])
        XCTAssertEqual(try store.completedRounds(run: runId, series: "outpost"), [1, 2, 3, 4])
        XCTAssertEqual(try store.completedRounds(run: runId, series: "none"), [1])
        XCTAssertEqual(try store.series(run: runId), ["outpost", "none"])

        // It runs the missing trial, redoes trial 3 (replacing it and its log) and finishes.
        let cell = try XCTUnwrap(store.cell(run: runId, key: key))
        let again = try store.recordCell(CellRecord(runId: runId, key: key))
        XCTAssertEqual(again.id, cell.id, "recording a cell again keeps its id")
        for i in [2, 3] {
            try store.recordTrial(TrialRecord(cellId: cell.id!, trialIndex: i, finalLoss: 10 + Double(i), diverged: false, iterations: 10,
                                              seconds: 1, labels: [1], metrics: nil, reconstructionPNG: nil),
                                  log: TrialLogRecord.summarizing(history: [(0, 1)]))
        }
        XCTAssertEqual(try store.completedTrials(run: runId, cell: key), [0, 1, 2, 3])
        XCTAssertEqual(try store.trials(cell: cell.id!).map(\.finalLoss), [0, 1, 12, 13])
        XCTAssertEqual(try store.trialLogs(cell: cell.id!).keys.sorted(), [2, 3])
        try store.recordTrial(TrialRecord(cellId: cell.id!, trialIndex: 3, finalLoss: 1, diverged: false, iterations: 10,
                                          seconds: 1, labels: [1], metrics: nil, reconstructionPNG: nil))
        XCTAssertEqual(try store.trialLogs(cell: cell.id!).keys.sorted(), [2], "replacing a trial removes its old log")
        XCTAssertEqual(try store.rowCounts()["trialLogs"], 1)
        try store.reopenRun(runId)
        try store.finishRun(runId, status: .done)
        XCTAssertEqual(try store.run(runId)?.status, .done)
        XCTAssertNotNil(try store.run(runId)?.endedAt)
    }

    func testWritesToUnknownRunsAndCellsAreRejected() throws {
        let store = try ResultsStore(directory: try temporaryDirectory(self))
        XCTAssertThrowsError(try store.finishRun(99, status: .done)) { XCTAssertEqual($0 as? ResultsError, .unknownRun(99)) }
        XCTAssertThrowsError(try store.recordRound(RoundRecord(runId: 7, series: "s", round: 1, testAccuracy: nil, testLoss: nil,
                                                               trainingSeconds: 0, defenseSeconds: 0, aggregationSeconds: 0))) {
            XCTAssertEqual($0 as? ResultsError, .unknownRun(7))
        }
        XCTAssertThrowsError(try store.recordCell(CellRecord(runId: 5, key: CellKey(scenario: "a", attack: "b", defense: "c")))) {
            XCTAssertEqual($0 as? ResultsError, .unknownRun(5))
        }
        XCTAssertThrowsError(try store.recordTrial(TrialRecord(cellId: 3, trialIndex: 0, finalLoss: nil, diverged: false, iterations: 0,
                                                               seconds: 0, labels: [], metrics: nil, reconstructionPNG: nil))) {
            XCTAssertEqual($0 as? ResultsError, .unknownCell(3))
        }
        XCTAssertThrowsError(try store.setValue(1, forKey: "k", run: 1)) { XCTAssertEqual($0 as? ResultsError, .unknownRun(1)) }
        XCTAssertEqual(ResultsError.unknownCell(3).description, "no attack cell with id 3 in the results database")
    }

    func testSchemaIsWALWithForeignKeysAndCascades() throws {
        let store = try ResultsStore(directory: try temporaryDirectory(self))
        try store.pool.read { db in
            XCTAssertEqual(try String.fetchOne(db, sql: "PRAGMA journal_mode"), "wal")
            XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA foreign_keys"), 1)
        }
        try store.pool.write { db in XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA synchronous"), 2, "FULL") }
        try Synthetic.recordFullRun(into: store, rounds: 3, trials: 2)
        XCTAssertEqual(try store.integrityCheck(), ["ok"])
        let counts = try store.rowCounts()
        XCTAssertEqual(counts["cells"], 8)
        XCTAssertEqual(counts["trials"], 16)
        XCTAssertEqual(counts["trialLogs"], 16)
        // Deleting a run removes everything recorded under it.
        _ = try store.pool.write { db in try RunRecord.deleteAll(db) }
        XCTAssertEqual(Set(try store.rowCounts().values), [0])
    }

    func testLogSummaryKeepsEvenlySpacedIterations() {
        XCTAssertEqual(TrialLogRecord.evenlySpacedIndices(count: 5, maximum: 200), [0, 1, 2, 3, 4])
        XCTAssertEqual(TrialLogRecord.evenlySpacedIndices(count: 11, maximum: 3), [0, 5, 10])
        XCTAssertEqual(TrialLogRecord.evenlySpacedIndices(count: 0, maximum: 3), [])
        XCTAssertEqual(TrialLogRecord.evenlySpacedIndices(count: 7, maximum: 1), [6])
        let history = (0..<10_000).map { (iteration: $0 * 2, loss: 1 / Double($0 + 1)) }
        let log = TrialLogRecord.summarizing(history: history)
        XCTAssertEqual(log.iterations.count, 200)
        XCTAssertEqual(log.iterations.first, 0)
        XCTAssertEqual(log.iterations.last, 19_998)
        XCTAssertEqual(log.recordedEntries, 10_000)
        let gaps = zip(log.iterations.dropFirst(), log.iterations).map { $0 - $1 }
        XCTAssertLessThanOrEqual(gaps.max()! - gaps.min()!, 2, "evenly spaced within rounding")
        XCTAssertEqual(log.losses.last!, 1.0 / 10_000)
    }

    func testColumnNamesOfMetricsGroups() {
        XCTAssertEqual(LeakageMetrics.columns(prefix: ""), ["mse", "psnr", "ssim", "lpips", "labelAccuracy"])
        XCTAssertEqual(LeakageMetrics.columns(prefix: "worst"), ["worstMSE", "worstPSNR", "worstSSIM", "worstLPIPS", "worstLabelAccuracy"])
    }

    func testPNGRowEmbedsRealImages() throws {
        let images = try Synthetic.images("mnist", indices: [0, 1, 2])
        let png = try ResultsImage.pngRow(images, scale: 2, margin: 2)
        let decoded = try ImageCodec.decode([UInt8](png))
        XCTAssertEqual(decoded.width, 2 + 3 * (28 * 2 + 2))
        XCTAssertEqual(decoded.height, 2 + 28 * 2 + 2)
        XCTAssertEqual(ResultsImage.pngSize(png)?.width, decoded.width)
        XCTAssertEqual(ResultsImage.pngSize(png)?.height, decoded.height)
        XCTAssertNil(ResultsImage.pngSize(Data("not a png at all, really".utf8)))
        XCTAssertTrue(ResultsImage.dataURI(png: png).hasPrefix("data:image/png;base64,iVBORw0KGgo"))
    }
}
