import Foundation
@testable import OutpostResults
import XCTest

final class ExportTests: XCTestCase {
    func testExportWritesEveryTableAsCSVAndJSON() throws {
        let dir = try temporaryDirectory(self)
        let store = try ResultsStore(directory: dir)
        let runId = try store.beginRun(command: "outpost run", configuration: "a: \"quoted\", b\nc: 2", label: "export, \"tricky\"",
                                       machine: "m", startedAt: Date(timeIntervalSince1970: 1_800_000_000)).id!
        try store.recordRound(RoundRecord(runId: runId, series: "none", round: 1, testAccuracy: 0.5, testLoss: nil,
                                          trainingSeconds: 1.5, defenseSeconds: 0, aggregationSeconds: 0.25))
        let png = Data([0x89, 0x50, 0x4e, 0x47, 1, 2, 3])
        let cell = try store.recordCell(CellRecord(runId: runId, key: CellKey(scenario: "s", attack: "DLG", defense: "none"),
                                                   groundTruthPNG: png, trialCount: 1, worstTrial: 0,
                                                   worst: LeakageMetrics(mse: 1e-5, psnr: nil, ssim: 0.99), inferredLabels: [3]))
        try store.recordTrial(TrialRecord(cellId: cell.id!, trialIndex: 0, finalLoss: 0.25, diverged: false, iterations: 3, seconds: 2,
                                          labels: [3], metrics: LeakageMetrics(mse: 1e-5, psnr: nil, ssim: 0.99), reconstructionPNG: png),
                              log: TrialLogRecord.summarizing(history: [(0, 1), (1, .nan), (2, 0.25)]))
        try store.setValue(.infinity, forKey: "epsilon", run: runId)

        let out = (dir as NSString).appendingPathComponent("export")
        let files = try store.export(to: out)
        XCTAssertEqual(files.map { ($0 as NSString).lastPathComponent }.sorted(),
                       ResultsStore.tableNames.flatMap { ["\($0).csv", "\($0).json"] }.sorted())

        // CSV: header, quoting, NULL as empty, blobs as base64.
        let runsCSV = try String(contentsOfFile: (out as NSString).appendingPathComponent("runs.csv"), encoding: .utf8)
        XCTAssertEqual(runsCSV, "id,command,configuration,label,machine,startedAt,endedAt,status\n"
                           + "1,outpost run,\"a: \"\"quoted\"\", b\nc: 2\",\"export, \"\"tricky\"\"\",m,2027-01-15 08:00:00.000,,running\n")
        let roundsCSV = try String(contentsOfFile: (out as NSString).appendingPathComponent("rounds.csv"), encoding: .utf8)
        XCTAssertEqual(roundsCSV, """
            runId,series,round,testAccuracy,testLoss,trainingSeconds,defenseSeconds,aggregationSeconds
            1,none,1,0.5,,1.5,0.0,0.25

            """)
        let trialsCSV = try String(contentsOfFile: (out as NSString).appendingPathComponent("trials.csv"), encoding: .utf8)
        let lines = trialsCSV.split(separator: "\n")
        XCTAssertEqual(lines.first, "id,cellId,trialIndex,finalLoss,diverged,iterations,seconds,labels,mse,psnr,ssim,lpips,labelAccuracy,reconstructionPNG")
        XCTAssertEqual(lines.last, "1,1,0,0.25,0,3,2.0,[3],1e-05,,0.99,,,\(png.base64EncodedString())")

        // JSON: parses, one object per row, JSON columns nested, blobs base64, NULL null.
        func load(_ table: String) throws -> [[String: Any]] {
            let data = try Data(contentsOf: URL(fileURLWithPath: (out as NSString).appendingPathComponent("\(table).json")))
            return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        }
        let runs = try load("runs")
        XCTAssertEqual(runs.count, 1)
        XCTAssertEqual(runs[0]["label"] as? String, "export, \"tricky\"")
        XCTAssertEqual(runs[0]["configuration"] as? String, "a: \"quoted\", b\nc: 2")
        XCTAssertTrue(runs[0]["endedAt"] is NSNull)
        let trials = try load("trials")
        XCTAssertEqual(trials[0]["labels"] as? [Int], [3])
        XCTAssertEqual(trials[0]["mse"] as? Double, 1e-5)
        XCTAssertTrue(trials[0]["psnr"] is NSNull)
        XCTAssertEqual((trials[0]["reconstructionPNG"] as? String).flatMap { Data(base64Encoded: $0) }, png)
        let logs = try load("trialLogs")
        XCTAssertEqual(logs[0]["iterations"] as? [Int], [0, 1, 2])
        let losses = try XCTUnwrap(logs[0]["losses"] as? [Any])
        XCTAssertEqual(losses[0] as? Double, 1)
        XCTAssertTrue(losses[1] is NSNull, "a NaN loss is exported as null")
        let cells = try load("cells")
        XCTAssertEqual(cells[0]["worstSSIM"] as? Double, 0.99)
        XCTAssertEqual(cells[0]["inferredLabels"] as? [Int], [3])
        XCTAssertTrue(cells[0]["attackerPickMSE"] is NSNull)
        let values = try load("runValues")
        XCTAssertEqual(values[0]["text"] as? String, "inf")
        XCTAssertEqual(try load("rounds")[0]["aggregationSeconds"] as? Double, 0.25)
    }

    func testExportOfAnEmptyDatabaseHasHeadersOnly() throws {
        let dir = try temporaryDirectory(self)
        let store = try ResultsStore(directory: dir)
        let out = (dir as NSString).appendingPathComponent("export")
        try store.export(to: out)
        let csv = try String(contentsOfFile: (out as NSString).appendingPathComponent("runValues.csv"), encoding: .utf8)
        XCTAssertEqual(csv, "runId,series,key,number,text\n")
        let json = try String(contentsOfFile: (out as NSString).appendingPathComponent("cells.json"), encoding: .utf8)
        XCTAssertEqual(json, "[\n]\n")
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [Any])?.count, 0)
    }

    func testJSONStringsAndCSVFieldsAreEscaped() {
        XCTAssertEqual(ResultsStore.jsonString("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"")
        XCTAssertEqual(ResultsStore.csvField("plain"), "plain")
        XCTAssertEqual(ResultsStore.csvField("a,b"), "\"a,b\"")
        XCTAssertEqual(ResultsStore.csvField("say \"hi\""), "\"say \"\"hi\"\"\"")
        XCTAssertEqual(ResultsStore.formatNumber(-.infinity), "-inf")
    }
}
