import Foundation
import OutpostConfig
@testable import OutpostExperiments
import XCTest

/// `outpost evaluate` at smoke-test size on the shipped sample, so the Table III preset
/// cannot rot; the example configuration must parse.
final class LeakageEvaluationTests: XCTestCase {
    var repositoryRoot: URL {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { url = url.deletingLastPathComponent() }
        return url
    }

    func evaluation(_ overrides: [String]) throws -> LeakageEvaluation {
        let url = repositoryRoot.appendingPathComponent("examples/evaluate/table3.yml")
        let doc = try ConfigValue.parse(yaml: String(contentsOf: url, encoding: .utf8)).applying(overrides: overrides)
        return try LeakageEvaluation.read(ConfigSection(doc), relativeTo: url.deletingLastPathComponent())
    }

    func testTableIIIPresetRunsAtSmokeTestSize() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-eval-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        var e = try evaluation(["output.directory=\(out)", "trials=1"])
        XCTAssertEqual(e.defenses.map(\.name), ["none", "gc", "dp_noise", "soteria", "graddefense", "outpost"])
        e.scenarios = [.oneColorImage, .twoImagesOneStepEach]
        e.attacks = try e.attacks.map { a in
            let doc = try ConfigValue.parse(yaml: "name: \(a.name)\niterations: 25")
            return try AttackConfiguration.read(ConfigSection(doc))
        }
        e.defenses = [e.defenses[0], e.defenses[5]]
        let cells = try e.run()
        XCTAssertEqual(cells.count, 2 * 2 * 2)
        let undefended = try XCTUnwrap(cells.first { $0.scenario == 3 && $0.attack == "csdlg" && $0.defense == "none" }?.worstForDefender?.ssim)
        let defended = try XCTUnwrap(cells.first { $0.scenario == 3 && $0.attack == "csdlg" && $0.defense == "outpost" }?.worstForDefender?.ssim)
        print("smoke Table III, scenario 3, csDLG 25 steps: SSIM \(undefended) without defense, \(defended) with OUTPOST")
        XCTAssertGreaterThan(undefended, defended + 0.3)
        let table = try String(contentsOfFile: (out as NSString).appendingPathComponent("table.md"), encoding: .utf8)
        XCTAssert(table.contains("outpost") && table.contains("SSIM"))
        XCTAssert(FileManager.default.fileExists(atPath: cells[0].grid))
    }

    /// The server knows the labels only when the threat model grants them: `labels: known`
    /// fails under the paper's default and runs with the true labels under `full`.
    func testThreatModelGrantsLabels() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-eval-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let attack = "attacks=[{name: inverting_gradients, iterations: 2, labels: known}]"
        var refused = try evaluation(["output.directory=\(out)", "trials=1", "scenarios=[4]", "defenses=[{defense: none}]", attack])
        XCTAssertEqual(refused.threatModel, .serverConfigured)
        XCTAssertThrowsError(try refused.run()) { XCTAssert("\($0)".contains("grants none"), "\($0)") }
        refused.threatModel = .full
        let cells = try refused.run()
        XCTAssertEqual(cells.count, 1)
        let granted = try evaluation(["output.directory=\(out)", "trials=1", "scenarios=[4]", "threat_model=full", attack])
        XCTAssertEqual(granted.threatModel, .full)
        let summaryURL = URL(fileURLWithPath: out).appendingPathComponent("s4-inverting_gradients-none/summary.json")
        let summary = try JSONDecoder().decode(AuditSummary.self, from: Data(contentsOf: summaryURL))
        let truth = try refused.setup(.sixteenColorImages).labels
        XCTAssertEqual(summary.trials.first?.labels, truth, "the attack ran with the client's labels in order")
        XCTAssertThrowsError(try evaluation(["threat_model={known: [labelz]}"])) { XCTAssert("\($0)".contains("threat_model"), "\($0)") }
    }

    func testBadDefenseParametersNameThePath() {
        do {
            _ = try evaluation(["defenses=[{defense: outpost, lamda: 0.8}]"])
            XCTFail("accepted an unknown key")
        } catch {
            XCTAssert("\(error)".contains("defenses[0]") && "\(error)".contains("lamda"), "\(error)")
        }
        XCTAssertThrowsError(try evaluation(["scenarios=[5]"])) { XCTAssert("\($0)".contains("scenarios")) }
    }
}
