import Foundation
import OutpostConfig
import OutpostExperiments
import XCTest

/// `outpost attack` on a gradient captured from a PyTorch client
/// (scripts/fixtures/attacks/make_captured_update.py).
final class CapturedUpdateAuditTests: XCTestCase {
    func fixture(_ name: String) throws -> URL {
        let parts = name.split(separator: ".")
        return try XCTUnwrap(Bundle.module.url(forResource: String(parts[0]), withExtension: String(parts[1]), subdirectory: "Fixtures"))
    }

    func audit(overrides: [String] = []) throws -> [ConfigGrid.Point<CapturedUpdateAudit>] {
        let url = try fixture("audit.yml")
        let doc = try ConfigValue.parse(yaml: String(contentsOf: url, encoding: .utf8)).applying(overrides: overrides)
        return try ConfigGrid.expand(doc) { try CapturedUpdateAudit.read($0, relativeTo: url.deletingLastPathComponent()) }
    }

    func testPyTorchCapturedGradientIsReconstructed() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-audit-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        var a = try XCTUnwrap(audit().first).configuration
        a.outputDirectory = out
        let summary = try a.run()
        let chosen = try XCTUnwrap(summary.trials.first { $0.index == summary.attackerChoice })
        let metrics = try XCTUnwrap(chosen.metrics)
        print("captured PyTorch gradient: SSIM \(metrics.ssim), MSE \(metrics.mse), labels \(summary.inferredLabels ?? [])")
        XCTAssertGreaterThan(metrics.ssim, 0.9)
        for f in ["reconstructions.safetensors", "grid.png", "history.csv", "summary.json"] {
            XCTAssert(FileManager.default.fileExists(atPath: (out as NSString).appendingPathComponent(f)), f)
        }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: (out as NSString).appendingPathComponent("summary.json")))) as? [String: Any]
        XCTAssertEqual(json?["attack"] as? String, "csDLG")
    }

    func testConfigurationErrorsNameTheKey() throws {
        func message(_ overrides: [String]) -> String {
            do { _ = try audit(overrides: overrides); return "no error" } catch { return "\(error)" }
        }
        XCTAssert(message(["attack.nmae=dlg"]).contains("did you mean 'name'"))
        XCTAssert(message(["attack.name=dgl"]).contains("did you mean 'dlg'"))
        XCTAssert(message(["model.architecture=resnet19"]).contains("model.architecture"))
        XCTAssert(message(["attack.iterations=0"]).contains("attack.iterations"))
        XCTAssert(message(["knowledge.normalization.dataset=imagenet"]).contains("no known normalization"))
        XCTAssertEqual(try audit(overrides: ["attack.name=[dlg, csdlg]"]).count, 2, "a list is a grid")
    }

    func testMissingFilesFailCleanly() throws {
        var a = try XCTUnwrap(audit(overrides: ["payload.file=/nonexistent.safetensors"]).first).configuration
        a.outputDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-audit-\(UUID())").path
        XCTAssertThrowsError(try a.run()) { XCTAssert("\($0)".contains("nonexistent"), "\($0)") }
    }
}
