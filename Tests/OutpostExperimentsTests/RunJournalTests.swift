import Foundation
import GRDB
import OutpostAttacks
import OutpostConfig
import OutpostExperiments
import OutpostResults
import XCTest

/// Recording in the results database and resuming: `outpost run`, `evaluate` and the demo.
final class RunJournalTests: XCTestCase {
    var repositoryRoot: URL {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { url = url.deletingLastPathComponent() }
        return url
    }

    func temporaryDirectory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-journal-\(UUID())").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func tiny(_ method: AttackConfiguration, iterations: Int, trials: Int = 1) -> AttackConfiguration {
        var m = method
        if case .optimization(var a) = m.plan {
            a.iterations = iterations
            a.trials = trials
            m.plan = .optimization(a)
        }
        return m
    }

    func demo(_ overrides: [String], output: String) throws -> FederatedTraining {
        let doc = try ConfigValue.parse(yaml: DemoPreset.yaml).applying(overrides: overrides + ["output.directory=\(output)"])
        return try FederatedTraining.read(ConfigSection(doc), relativeTo: nil, attacks: true)
    }

    func testDemoPresetIsTheCommittedExample() throws {
        let example = try String(contentsOf: repositoryRoot.appendingPathComponent("examples/demo/demo.yml"), encoding: .utf8)
        XCTAssertEqual(DemoPreset.yaml, example, "examples/demo/demo.yml and DemoPreset.yaml must be the same text")
        let run = try String(contentsOf: repositoryRoot.appendingPathComponent("examples/run/fedavg-attacks.yml"), encoding: .utf8)
        let parsed = try FederatedTraining.read(ConfigSection(ConfigValue.parse(yaml: run)), relativeTo: nil, attacks: true)
        XCTAssertEqual(parsed.attacks?.captures.map(\.round), [1, 3])
    }

    /// The demo at smoke-test size: every series' rounds and every attack cell reach the
    /// database and the report; the undefended update leaks more than the defended ones.
    func testDemoRecordsRoundsAndAttackCells() throws {
        let out = temporaryDirectory()
        var training = try demo(["federation.rounds=2", "attacks.rounds=[1]"], output: out)
        let methods = training.attacks!.methods.map { tiny($0, iterations: $0.name == "idlg" ? 40 : 20) }
        training.attacks?.methods = methods
        let journal = try RunJournal(directory: out, kind: "demo", commandLine: "outpost demo", configuration: "test", label: "demo", resume: false)
        let series = try training.run(journal: journal)
        try journal.finish(.done)
        XCTAssertEqual(series.map(\.defense), ["none", "outpost", "gc", "dp_noise"])
        XCTAssertEqual(series.map { $0.attacks?.count }, [2, 2, 2, 2])

        let store = journal.store
        XCTAssertEqual(try store.series(run: journal.runId), ["none", "outpost", "gc", "dp_noise"])
        XCTAssertEqual(try store.rounds(run: journal.runId).count, 4 * 2)
        let cells = try store.cells(run: journal.runId)
        XCTAssertEqual(cells.count, 4 * 2)
        for cell in cells {
            XCTAssertEqual(try store.trials(cell: cell.id!).count, 1, "\(cell.key)")
            XCTAssertNotNil(cell.worst?.ssim)
            XCTAssertNotNil(cell.groundTruthPNG)
        }
        let ssim = { (d: String) in cells.first { $0.defense == d && $0.attack == "idlg" }!.worst!.ssim }
        print("demo smoke, iDLG 40 steps: SSIM none \(ssim("none")), outpost \(ssim("outpost")), dp_noise \(ssim("dp_noise"))")
        XCTAssertGreaterThan(ssim("none"), ssim("outpost") + 0.2)
        XCTAssertGreaterThan(ssim("none"), ssim("dp_noise") + 0.2)
        let html = try ReportBuilder(store: store, runIDs: [journal.runId]).html()
        XCTAssert(html.contains("round 1, client"), "attack cells in the report")
        XCTAssert(html.contains("<svg"), "charts in the report")
    }

    /// A resumed evaluation redoes only the trials the database lacks and ends with the same
    /// results as the uninterrupted run.
    func testEvaluationResumesToTheSameResults() throws {
        let out = temporaryDirectory()
        let doc = try ConfigValue.parse(yaml: """
            scenarios: [1]
            trials: 3
            attacks: [{name: dlg, iterations: 15}]
            defenses: [{defense: none}]
            output: {directory: \(out)}
            """)
        let evaluation = try LeakageEvaluation.read(ConfigSection(doc), relativeTo: nil)
        let first = try RunJournal(directory: out, kind: "evaluate", commandLine: "outpost evaluate t.yml", configuration: "c", label: "t", resume: false)
        let whole = try evaluation.run(journal: first)
        try first.finish(.done)

        // Simulate a kill during trial 2: its record and file are gone, the run is unfinished.
        let cell = try XCTUnwrap(try first.store.cells(run: first.runId).first)
        try first.store.pool.write { db in
            _ = try TrialRecord.filter(Column("cellId") == cell.id! && Column("trialIndex") >= 1).deleteAll(db)
        }
        try first.store.finishRun(first.runId, status: .failed)
        let trialFile = URL(fileURLWithPath: out).appendingPathComponent("s1-dlg-none/trials/trial-2.json")
        XCTAssert(FileManager.default.fileExists(atPath: trialFile.path))
        try FileManager.default.removeItem(at: trialFile)
        let kept = try Data(contentsOf: URL(fileURLWithPath: out).appendingPathComponent("s1-dlg-none/trials/trial-0.json"))

        let again = try RunJournal(directory: out, kind: "evaluate", commandLine: "outpost evaluate t.yml --resume", configuration: "c", label: "t", resume: true)
        XCTAssertTrue(again.resumed)
        XCTAssertEqual(again.runId, first.runId)
        let resumed = try evaluation.run(journal: again)
        try again.finish(.done)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out).appendingPathComponent("s1-dlg-none/trials/trial-0.json")), kept,
                       "a recorded trial is read back, not recomputed")
        XCTAssertEqual(resumed.map(\.worstForDefender), whole.map(\.worstForDefender))
        XCTAssertEqual(resumed.map(\.attackerPick), whole.map(\.attackerPick))
        XCTAssertEqual(try again.store.trials(cell: cell.id!).map(\.trialIndex), [0, 1, 2])
        XCTAssertEqual(try again.store.run(again.runId)?.status, .done)

        // Another configuration does not resume this run.
        let other = try RunJournal(directory: out, kind: "evaluate", commandLine: "outpost evaluate t.yml", configuration: "other", label: "t", resume: true)
        XCTAssertFalse(other.resumed)
        XCTAssertNotEqual(other.runId, first.runId)
    }

    func testRunConfigurationErrors() throws {
        func error(_ yaml: String, attacks: Bool = true) -> String {
            do {
                _ = try FederatedTraining.read(ConfigSection(ConfigValue.parse(yaml: yaml)), relativeTo: nil, attacks: attacks)
                return "no error"
            } catch { return "\(error)" }
        }
        XCTAssert(error("attacks: {rounds: [1]}", attacks: false).contains("outpost run"))
        XCTAssert(error("federation: {rounds: 3}\nattacks: {rounds: [4]}").contains("attacks.rounds[0]"))
        XCTAssert(error("federation: {clients_per_round: 5}\nattacks: {clients: [5]}").contains("attacks.clients[0]"))
        let fact = error("attacks: {threat_model: {known: [learning_rat]}}")
        XCTAssert(fact.contains("attacks.threat_model.known[0]") && fact.contains("learning_rate"), fact)
        XCTAssert(error("attacks: {threat_model: everything}").contains("attacks.threat_model"))
        XCTAssert(error("attacks: {methods: [{name: dlgg}]}").contains("dlg"))
        XCTAssert(error("attacks: {roundz: [1]}").contains("rounds"))
    }
}
