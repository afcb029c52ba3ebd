import Foundation
import OutpostConfig
import OutpostExperiments
import XCTest

/// `outpost train` at smoke-test size on the shipped sample: the Fig. 3 preset parses and
/// runs, a series per defense, and a second run resumes from the checkpoints.
final class FederatedTrainingTests: XCTestCase {
    func testFig3PresetRunsAndResumes() throws {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { url = url.deletingLastPathComponent() }
        let file = url.appendingPathComponent("examples/train/fig3.yml")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-train-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let doc = try ConfigValue.parse(yaml: String(contentsOf: file, encoding: .utf8)).applying(overrides: [
            "output.directory=\(out)", "federation.clients=8", "federation.clients_per_round=4", "federation.rounds=2",
            "training.epochs=1", "federation.test_samples=40",
            "defenses=[{defense: none}, {defense: outpost}]",
        ])
        let training = try FederatedTraining.read(ConfigSection(doc), relativeTo: file.deletingLastPathComponent())
        let first = try training.run()
        XCTAssertEqual(first.map(\.defense), ["none", "outpost"])
        XCTAssertEqual(first[0].accuracy.count, 2)
        let table = training.table(first)
        XCTAssert(table.contains("outpost") && table.contains("accuracy loss"))
        // Everything is checkpointed: running again resumes at the end and reproduces the result.
        let again = try training.run()
        XCTAssertEqual(again.map(\.finalAccuracy), first.map(\.finalAccuracy))
    }
}
