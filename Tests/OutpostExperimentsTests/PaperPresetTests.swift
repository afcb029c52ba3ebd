import Foundation
import OutpostConfig
import OutpostExperiments
import XCTest

/// Every preset of examples/papers parses and runs at smoke-test size on the shipped sample,
/// so the presets that produced docs/results cannot rot.
final class PaperPresetTests: XCTestCase {
    var papers: URL {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { url = url.deletingLastPathComponent() }
        return url.appendingPathComponent("examples/papers")
    }

    func temporaryDirectory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-papers-\(UUID())").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// The preset with the shipped sample instead of ../shared/data and `overrides` applied.
    func document(_ name: String, _ overrides: [String]) throws -> ConfigValue {
        let text = try String(contentsOf: papers.appendingPathComponent(name), encoding: .utf8)
        return try ConfigValue.parse(yaml: text, source: name).setting(["data", "directory"], to: .null)
            .applying(overrides: overrides + ["output.directory=\(temporaryDirectory())"])
    }

    func shortened(_ a: AttackConfiguration, iterations: Int) -> AttackConfiguration {
        var a = a
        if case .optimization(var g) = a.plan {
            g.iterations = iterations
            g.trials = 1
            a.plan = .optimization(g)
        }
        return a
    }

    func testEveryPresetIsCovered() throws {
        let presets = try FileManager.default.contentsOfDirectory(atPath: papers.path).filter { $0.hasSuffix(".yml") }.sorted()
        XCTAssertEqual(presets, ["fig3-soteria.yml", "fig3.yml", "table1-default-init-torch-tolerances.yml", "table1-default-init.yml",
                                 "table1-explicit-init-torch-tolerances.yml", "table1-explicit-init.yml", "table3-batch16.yml",
                                 "table3-scenario2-long.yml", "table3.yml"])
    }

    func testTableIPresets() throws {
        for name in ["table1-explicit-init.yml", "table1-default-init.yml",
                     "table1-explicit-init-torch-tolerances.yml", "table1-default-init-torch-tolerances.yml"] {
            let doc = try document(name, ["federation.clients=20", "federation.clients_per_round=4", "federation.rounds=2",
                                          "attacks.rounds=[1,2]", "federation.test_samples=10"])
            var run = try FederatedTraining.read(ConfigSection(doc), relativeTo: nil, attacks: true)
            XCTAssertEqual(run.attacks?.methods.map(\.name), ["dlg"])
            if case .optimization(let g) = run.attacks!.methods[0].plan, case let .lbfgs(_, _, _, _, toleranceGrad, toleranceChange) = g.optimizer {
                let torch = name.contains("torch-tolerances")
                XCTAssertEqual(toleranceGrad, torch ? 1e-7 : 1e-12, name)
                XCTAssertEqual(toleranceChange, torch ? 1e-9 : 1e-14, name)
            } else {
                XCTFail("\(name): DLG should run L-BFGS")
            }
            let methods = run.attacks!.methods.map { shortened($0, iterations: 3) }
            run.attacks?.methods = methods
            let series = try run.run()
            XCTAssertEqual(series.first?.attacks?.count, 2, name)
            XCTAssertEqual(series.first?.attacks?.first?.samples, 1, "one image per client")
        }
    }

    func testTableIIIScenario2StepBudgetPreset() throws {
        var e = try LeakageEvaluation.read(ConfigSection(document("table3-scenario2-long.yml", ["trials=1"])), relativeTo: nil)
        XCTAssertEqual(e.scenarios.map(\.rawValue), [2])
        XCTAssertEqual(e.defenses.map(\.name), ["none"])
        XCTAssertEqual(e.attacks.map(\.name), ["dlg", "csdlg"])
        for attack in e.attacks {
            guard case .optimization(let g) = attack.plan else { return XCTFail("\(attack.name) is not an optimization attack") }
            XCTAssertEqual(g.iterations, 1000)
        }
        e.attacks = e.attacks.map { shortened($0, iterations: 2) }
        XCTAssertEqual(try e.run().count, 2)
    }

    func testTableIIIPresets() throws {
        for (name, scenarios) in [("table3.yml", [1, 2, 3]), ("table3-batch16.yml", [4])] {
            var e = try LeakageEvaluation.read(ConfigSection(document(name, ["trials=1"])), relativeTo: nil)
            XCTAssertEqual(e.scenarios.map(\.rawValue), scenarios)
            XCTAssertEqual(e.defenses.map(\.name), ["none", "gc", "dp_noise", "soteria", "graddefense", "outpost"])
            XCTAssertEqual(e.attacks.map(\.name), ["dlg", "csdlg"])
            e.attacks = e.attacks.map { shortened($0, iterations: 2) }
            let cells = try e.run()
            XCTAssertEqual(cells.count, scenarios.count * 2 * 6, name)
            XCTAssert(cells.allSatisfy { $0.worstForDefender != nil || $0.diverged == $0.trials }, name)
        }
    }

    func testFig3Presets() throws {
        for (name, defenses) in [("fig3.yml", ["none", "outpost", "gc", "dp_noise", "graddefense"]), ("fig3-soteria.yml", ["none", "soteria"])] {
            let doc = try document(name, ["federation.clients=8", "federation.clients_per_round=2", "federation.rounds=1",
                                          "training.epochs=1", "federation.test_samples=20"])
            let training = try FederatedTraining.read(ConfigSection(doc), relativeTo: nil)
            XCTAssertEqual(training.defenses.map(\.name), defenses)
            XCTAssertEqual(training.federation.local.momentum, 0.9)
            let series = try training.run()
            XCTAssertEqual(series.map(\.defense), defenses)
            XCTAssert(series.allSatisfy { $0.finalAccuracy != nil }, name)
        }
    }
}
