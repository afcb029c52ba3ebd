import Foundation
import GRDB
@testable import OutpostResults
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Crash safety and concurrent access.
///
/// The SIGKILL test runs a real second process: this same test binary, started on this same
/// test with `OUTPOST_RESULTS_WRITER` set, becomes a writer that records trials and reports on
/// standard output after each commit. The parent kills it with SIGKILL — once while it is
/// inside an open transaction (deterministic), once at a random moment while it streams
/// trials through `recordTrial` — then opens the database fresh (SQLite recovers from the WAL)
/// and checks that every reported commit is there, complete with its log, that nothing else
/// is, and that the file is sound.
final class DurabilityTests: XCTestCase {
    static let writerVariable = "OUTPOST_RESULTS_WRITER"
    static let testName = "OutpostResultsTests.DurabilityTests/testKilledWriterLosesAtMostTheTrialInProgress"

    func testKilledWriterLosesAtMostTheTrialInProgress() throws {
        if let spec = ProcessInfo.processInfo.environment[Self.writerVariable] {
            // Child side: write until killed (never returns normally).
            try Self.runWriter(spec: spec)
        }
        #if !os(Linux)
        throw XCTSkip("the writer process is started through /proc/self/exe")
        #else
        let dir = try temporaryDirectory(self)
        let path = (dir as NSString).appendingPathComponent(ResultsStore.defaultFileName)
        let (runId, cellId): (Int64, Int64) = try {
            let store = try ResultsStore(path: path)
            let run = try store.beginRun(command: "writer", configuration: "", label: "killed")
            let cell = try store.recordCell(CellRecord(runId: run.id!, key: CellKey(scenario: "s", attack: "a", defense: "d")))
            return (run.id!, cell.id!)
        }()  // the parent's connections close here

        // 1. Killed inside the transaction of trial 12: trials 0..<12 are kept, trial 12 is not.
        let hang = try killWriter(mode: "hang", path: path, runId: runId, cellId: cellId, killWhen: { $0.begun != nil })
        XCTAssertEqual(hang.committed, 11)
        XCTAssertEqual(hang.begun, 12)
        try checkDatabase(path: path, runId: runId, cellId: cellId, expected: Set(0..<12))

        // 2. Killed at a random moment while trials stream through recordTrial (each with a
        //    large image so that a kill can land mid-write): every reported commit is kept, and
        //    at most one more trial (committed but not yet reported) is there.
        var rng = SystemRandomNumberGenerator()
        let delay = Double.random(in: 0.0...0.15, using: &rng)
        let stream = try killWriter(mode: "stream", path: path, runId: runId, cellId: cellId, killAfter: delay,
                                    killWhen: { ($0.committed ?? -1) >= 15 })
        let reported = try XCTUnwrap(stream.committed)
        XCTAssertGreaterThanOrEqual(reported, 15)
        let store = try ResultsStore(path: path)
        let present = try store.completedTrials(run: runId, cell: CellKey(scenario: "s", attack: "a", defense: "d"))
        XCTAssertTrue(present == Set(0...reported) || present == Set(0...reported + 1),
                      "reported \(reported) commits, found \(present.sorted())")
        try checkDatabase(path: path, runId: runId, cellId: cellId, expected: present)

        // The run is still marked running; a resumed process completes it.
        XCTAssertEqual(try store.run(runId)?.status, .running)
        try store.finishRun(runId, status: .done)
        XCTAssertEqual(try store.integrityCheck(), ["ok"])
        #endif
    }

    /// What the writer reported before it was killed.
    struct Progress {
        var committed: Int?
        var begun: Int?
    }

    /// Starts the writer process, waits until `killWhen` holds for its reported progress (then
    /// `killAfter` seconds more), kills it with SIGKILL and returns everything it reported.
    func killWriter(mode: String, path: String, runId: Int64, cellId: Int64, killAfter: Double = 0,
                    killWhen: (Progress) -> Bool) throws -> Progress {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        process.arguments = [Self.testName]
        var environment = ProcessInfo.processInfo.environment
        environment[Self.writerVariable] = "\(mode)|\(runId)|\(cellId)|\(path)"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let pid = process.processIdentifier
        // A watchdog, so that a writer that never reports cannot hang the suite.
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: watchdog)
        defer { watchdog.cancel() }

        var progress = Progress()
        var buffer = ""
        var killed = false
        func consume(_ data: Data) {
            buffer += String(decoding: data, as: UTF8.self)
            while let newline = buffer.firstIndex(of: "\n") {
                let line = String(buffer[..<newline])
                buffer.removeSubrange(...newline)
                let parts = line.split(separator: " ")
                guard parts.count == 2, let n = Int(parts[1]) else { continue }
                if parts[0] == "committed" { progress.committed = n }
                if parts[0] == "begun" { progress.begun = n }
            }
        }
        let handle = pipe.fileHandleForReading
        while true {
            let data = handle.availableData
            if data.isEmpty { break }  // end of output: the writer exited
            consume(data)
            if !killed && killWhen(progress) {
                if killAfter > 0 { Thread.sleep(forTimeInterval: killAfter) }
                kill(pid, SIGKILL)
                killed = true
            }
        }
        process.waitUntilExit()
        XCTAssertTrue(killed, "the writer stopped before reaching the kill point")
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)
        XCTAssertEqual(process.terminationStatus, SIGKILL)
        return progress
    }

    /// Checks the file after a crash: sound, exactly `expected` trials, each with its image and
    /// its log (a trial and its log are written in one transaction).
    func checkDatabase(path: String, runId: Int64, cellId: Int64, expected: Set<Int>) throws {
        let store = try ResultsStore(path: path)
        XCTAssertEqual(try store.integrityCheck(), ["ok"])
        XCTAssertEqual(try store.completedTrials(run: runId, cell: CellKey(scenario: "s", attack: "a", defense: "d")), expected)
        let trials = try store.trials(cell: cellId)
        XCTAssertEqual(Set(trials.map(\.trialIndex)), expected)
        let logs = try store.trialLogs(cell: cellId)
        for t in trials {
            XCTAssertEqual(t.reconstructionPNG?.count, Self.imageBytes(mode: t.trialIndex < 12 ? "hang" : "stream"), "trial \(t.trialIndex)")
            XCTAssertEqual(logs[t.trialIndex]?.iterations.count, 200, "trial \(t.trialIndex) has its log")
        }
    }

    static func imageBytes(mode: String) -> Int { mode == "hang" ? 1024 : 2 << 20 }

    /// The child side: `hang` commits trials 0..<12, then opens the transaction of trial 12,
    /// reports it and waits inside it; `stream` records trials from 12 on until killed.
    static func runWriter(spec: String) throws -> Never {
        let parts = spec.split(separator: "|", maxSplits: 3).map(String.init)
        let (mode, runId, cellId, path) = (parts[0], Int64(parts[1])!, Int64(parts[2])!, parts[3])
        _ = runId
        let store = try ResultsStore(path: path)
        let image = Data((0..<imageBytes(mode: mode)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let history = (0..<1000).map { (iteration: $0, loss: 1 / Double($0 + 1)) }
        func trial(_ i: Int) -> TrialRecord {
            TrialRecord(cellId: cellId, trialIndex: i, finalLoss: 0.001, diverged: false, iterations: 1000, seconds: 1,
                        labels: [i % 10], metrics: LeakageMetrics(mse: 0.01, psnr: 20, ssim: 0.5), reconstructionPNG: image)
        }
        func report(_ line: String) {
            print(line)
            fflush(nil)  // every stream, stdout included
        }
        if mode == "hang" {
            for i in 0..<12 {
                try store.recordTrial(trial(i), log: .summarizing(history: history))
                report("committed \(i)")
            }
            try store.pool.write { db in
                var t = trial(12)
                try t.insert(db)
                var log = TrialLogRecord.summarizing(trialId: t.id!, history: history)
                log.trialId = t.id!
                try log.insert(db)
                report("begun 12")
                Thread.sleep(forTimeInterval: 120)  // killed in here
            }
        } else {
            var i = 12
            while true {
                try store.recordTrial(trial(i), log: .summarizing(history: history))
                report("committed \(i)")
                i += 1
            }
        }
        exit(3)  // not reached when the parent kills the writer
    }

    // MARK: - Concurrent access

    func testReportReadsWhileARunWrites() throws {
        let dir = try temporaryDirectory(self)
        let writer = try ResultsStore(directory: dir)
        let runId = try writer.beginRun(command: "fed", configuration: "", label: "concurrent").id!
        let reader = try ResultsStore(path: writer.path, readOnly: true)
        let total = 150
        let done = DispatchSemaphore(value: 0)
        let failure = LockedBox<Error?>(nil)
        DispatchQueue.global().async {
            do {
                for r in 1...total {
                    try writer.recordRound(RoundRecord(runId: runId, series: "none", round: r, testAccuracy: Double(r) / Double(total),
                                                       testLoss: 1, trainingSeconds: 0.5, defenseSeconds: 0, aggregationSeconds: 0.1))
                }
            } catch { failure.value = error }
            done.signal()
        }
        var observed: [Int] = []
        var reportsDuringWrites = 0
        while done.wait(timeout: .now()) == .timedOut {
            observed.append(try reader.completedRounds(run: runId, series: "none").count)
            if reportsDuringWrites < 3 {
                let html = try ReportBuilder(store: reader).html()
                XCTAssertTrue(html.contains("<svg class=\"chart\"") || html.contains("No data"))
                reportsDuringWrites += 1
            }
        }
        XCTAssertNil(failure.value)
        XCTAssertEqual(observed, observed.sorted(), "a reader never sees rounds disappear")
        XCTAssertTrue(observed.contains { $0 > 0 && $0 < total }, "the reader saw the run part-way: \(Set(observed).sorted())")
        XCTAssertEqual(try reader.completedRounds(run: runId, series: "none"), Array(1...total))
    }

    func testReaderIsNotBlockedByAnOpenWriteTransaction() throws {
        let store = try ResultsStore(directory: try temporaryDirectory(self))
        let runId = try store.beginRun(command: "x", configuration: "", label: "open transaction").id!
        let inside = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), finished = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            try? store.pool.write { db in
                try RoundRecord(runId: runId, series: "s", round: 1, testAccuracy: 0.5, testLoss: 1, trainingSeconds: 1,
                                defenseSeconds: 0, aggregationSeconds: 0).insert(db)
                inside.signal()
                release.wait()
            }
            finished.signal()
        }
        inside.wait()
        // While the transaction is open, another connection reads the last committed state at once.
        let started = Date()
        XCTAssertEqual(try store.completedRounds(run: runId, series: "s"), [])
        let other = try ResultsStore(path: store.path, readOnly: true)
        XCTAssertEqual(try other.completedRounds(run: runId, series: "s"), [])
        // A blocked reader would wait out the store's 10-second busy timeout; 5 s leaves a
        // busy machine room without letting that through.
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        release.signal()
        finished.wait()
        XCTAssertEqual(try other.completedRounds(run: runId, series: "s"), [1])
    }
}

/// A value shared between threads behind a lock.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
