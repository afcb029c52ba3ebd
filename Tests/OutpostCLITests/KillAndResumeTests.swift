import Foundation
import OutpostResults
import XCTest

/// The `outpost` executable killed with SIGKILL mid-run and resumed with `--resume` ends with
/// the same results as a run that was never interrupted.
final class KillAndResumeTests: XCTestCase {
    /// The `outpost` executable built beside the test bundle.
    var executable: URL {
        get throws {
            let candidates = Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent() } + [Bundle.main.bundleURL]
            for folder in candidates {
                let url = folder.appendingPathComponent("outpost")
                if FileManager.default.isExecutableFile(atPath: url.path) { return url }
            }
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "outpost beside the test bundle (looked in \(candidates.map(\.path)))"])
        }
    }

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-cli-\(UUID())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    struct Finished {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    func start(_ arguments: [String]) throws -> (Process, Pipe, Pipe) {
        let process = Process()
        process.executableURL = try executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return (process, out, err)
    }

    func run(_ arguments: [String]) throws -> Finished {
        let (process, out, err) = try start(arguments)
        let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Finished(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                        stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Starts the command, waits until `ready` says enough is recorded in the output folder's
    /// database, and kills the process with SIGKILL.
    func kill(_ arguments: [String], database: URL, when ready: (ResultsStore) throws -> Bool) throws {
        let (process, out, err) = try start(arguments)
        // Drain the pipes so the child never blocks on a full pipe.
        let drain = DispatchGroup()
        for pipe in [out, err] {
            DispatchQueue.global().async(group: drain) { _ = pipe.fileHandleForReading.readDataToEndOfFile() }
        }
        let deadline = Date().addingTimeInterval(600)
        var killed = false
        while process.isRunning && Date() < deadline {
            if FileManager.default.fileExists(atPath: database.path),
               let store = try? ResultsStore(path: database.path, readOnly: true), (try? ready(store)) == true {
                Foundation.kill(process.processIdentifier, SIGKILL)
                killed = true
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.waitUntilExit()
        drain.wait()
        XCTAssertTrue(killed, "the run finished before the test could kill it")
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)
    }

    /// Runs `common` to the end into dir/whole, then again into dir/killed until `ready`
    /// says enough is recorded, and kills that one.
    func runWholeThenKill(_ common: [String], in dir: URL, when ready: (ResultsStore) throws -> Bool) throws -> (whole: Finished, killed: URL) {
        let whole = try run(common + ["--set", "output.directory=\(dir.path)/whole"])
        XCTAssertEqual(whole.status, 0, whole.stderr)
        let killedDir = dir.appendingPathComponent("killed")
        try kill(common + ["--set", "output.directory=\(killedDir.path)"], database: killedDir.appendingPathComponent("results.sqlite"), when: ready)
        return (whole, killedDir)
    }

    func trialCount(_ store: ResultsStore) throws -> Int {
        try store.runs().compactMap(\.id).flatMap { try store.cells(run: $0) }.reduce(0) { $0 + (try store.trials(cell: $1.id!).count) }
    }

    /// Drops what legitimately differs between two runs (times, paths) from JSON output.
    func comparable(_ json: String, dropping keys: Set<String>) throws -> NSObject {
        func strip(_ v: Any) -> Any {
            if let d = v as? [String: Any] {
                return d.filter { !keys.contains($0.key) }.mapValues(strip)
            }
            if let a = v as? [Any] { return a.map(strip) }
            return v
        }
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8))
        return strip(object) as! NSObject
    }

    func testEvaluateKilledDuringTrialsResumesToTheSameResults() throws {
        let dir = try temporaryDirectory()
        let config = dir.appendingPathComponent("evaluate.yml")
        try """
        scenarios: [1]
        trials: 4
        attacks: [{name: dlg, iterations: 80}]
        defenses: [{defense: none}, {defense: dp_noise, distribution: laplace, variance: 0.01}]
        """.write(to: config, atomically: true, encoding: .utf8)
        let common = ["evaluate", config.path, "--quiet", "--json", "--threads", "1"]
        let (whole, killedDir) = try runWholeThenKill(common, in: dir) { try trialCount($0) >= 3 }
        let store = try ResultsStore(path: killedDir.appendingPathComponent("results.sqlite").path, readOnly: true)
        XCTAssertEqual(try store.runs().map(\.status), [.running], "a killed run stays marked running")
        let recordedBeforeResume = try trialCount(store)
        XCTAssertLessThan(recordedBeforeResume, 8)

        let resumed = try run(common + ["--set", "output.directory=\(killedDir.path)", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try comparable(resumed.stdout, dropping: ["seconds", "grid"]), try comparable(whole.stdout, dropping: ["seconds", "grid"]))
        XCTAssertEqual(try store.runs().map(\.status), [.done])
        XCTAssertEqual(try trialCount(store), 8)
        XCTAssert(FileManager.default.fileExists(atPath: killedDir.appendingPathComponent("report.html").path))

        let report = try run(["report", killedDir.path, "--output", dir.appendingPathComponent("r.html").path])
        XCTAssertEqual(report.status, 0, report.stderr)
        let html = try String(contentsOf: dir.appendingPathComponent("r.html"), encoding: .utf8)
        XCTAssert(html.contains("Run #1"), "the report shows the resumed run")
    }

    func testFederatedRunKilledMidwayResumesToTheSameResults() throws {
        let dir = try temporaryDirectory()
        let config = dir.appendingPathComponent("run.yml")
        try """
        seed: 3
        data: {dataset: fashion-mnist}
        model: {architecture: lenet, channels: 1, image_size: 28, classes: 10, initialization: dlg}
        federation: {clients: 20, clients_per_round: 4, rounds: 6, partition: {scheme: fixed, samples_per_client: 4}}
        training: {epochs: 1, batch_size: 2, learning_rate: 0.1}
        defenses: [{defense: none}]
        attacks:
          rounds: [2, 5]
          threat_model: {known: [learning_rate, local_epochs, batch_size, sample_count, labels]}
          methods: [{name: idlg, iterations: 40, trials: 2, matching: unrolled, labels: known}]
        """.write(to: config, atomically: true, encoding: .utf8)
        let common = ["run", config.path, "--quiet", "--json", "--threads", "1"]
        let (whole, killedDir) = try runWholeThenKill(common, in: dir) { try trialCount($0) >= 2 }
        let resumed = try run(common + ["--set", "output.directory=\(killedDir.path)", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let drop: Set<String> = ["secondsPerRound", "trainingSecondsPerRound", "defenseSecondsPerRound", "aggregationSecondsPerRound", "directory"]
        XCTAssertEqual(try comparable(resumed.stdout, dropping: drop), try comparable(whole.stdout, dropping: drop))
        let store = try ResultsStore(path: killedDir.appendingPathComponent("results.sqlite").path, readOnly: true)
        XCTAssertEqual(try trialCount(store), 2 * 2)
        XCTAssertEqual(try store.rounds(run: 1).count, 6)
    }
}
