import Foundation
import OutpostConfig
import OutpostExperiments
import XCTest

/// The threshold search: the bisection on synthetic monotone oracles, configuration errors,
/// `outpost threshold` at smoke-test size on the shipped sample, and the masking paper's
/// committed presets (examples/papers/masking) at smoke-test size so they cannot rot.
final class ThresholdSearchTests: XCTestCase {
    // MARK: - Bisection

    func testFindsAnIncreasingThresholdWithinTolerance() throws {
        let truth = 0.37
        var calls = 0
        let b = Bisection(weakest: 0, strongest: 1, scale: .linear, tolerance: 0.01, maxSteps: 20)
        let r = try b.run { v in calls += 1; return v >= truth }
        XCTAssertEqual(r.status, .found)
        XCTAssert(r.converged)
        let threshold = try XCTUnwrap(r.threshold), leaks = try XCTUnwrap(r.strongestUndefeated)
        XCTAssert(leaks < truth && truth <= threshold, "\(leaks) < \(truth) <= \(threshold)")
        XCTAssertLessThanOrEqual(threshold - leaks, 0.01)
        XCTAssertEqual(r.probes.count, calls)
        XCTAssertEqual(r.probes.prefix(2).map(\.value), [0, 1])
        // 1/2^7 < 0.01 <= 1/2^6: seven midpoints after the two ends.
        XCTAssertEqual(r.probes.count, 2 + 7)
        // Every probe agrees with the oracle, and the threshold is the weakest defeated probe.
        XCTAssert(r.probes.allSatisfy { $0.defeated == ($0.value >= truth) })
        XCTAssertEqual(threshold, r.probes.filter(\.defeated).map(\.value).min())
    }

    func testFindsADecreasingThresholdOnALogScale() throws {
        // Clipping: a smaller bound is stronger; the attack is defeated at bounds <= 0.3.
        let b = Bisection(weakest: 100, strongest: 0.001, scale: .log, tolerance: 0.1, maxSteps: 30)
        let r = try b.run { $0 <= 0.3 }
        XCTAssertEqual(r.status, .found)
        let threshold = try XCTUnwrap(r.threshold), leaks = try XCTUnwrap(r.strongestUndefeated)
        XCTAssert(threshold <= 0.3 && leaks > 0.3, "\(threshold) <= 0.3 < \(leaks)")
        XCTAssertLessThanOrEqual(leaks / threshold, 1.1)
        // Geometric midpoints: the first one is sqrt(100 · 0.001).
        XCTAssertEqual(r.probes[2].value, (100 * 0.001).squareRoot(), accuracy: 1e-12)
    }

    func testNeverDefeatedInRangeIsReportedWithoutBisecting() throws {
        let b = Bisection(weakest: 0, strongest: 1, tolerance: 0.01)
        let r = try b.run { _ in false }
        XCTAssertEqual(r.status, .neverDefeated)
        XCTAssertNil(r.threshold)
        XCTAssertEqual(r.strongestUndefeated, 1)
        XCTAssertEqual(r.probes.map(\.value), [0, 1])
    }

    func testDefeatedAlreadyAtTheWeakestEndIsReportedAfterOneProbe() throws {
        let b = Bisection(weakest: 0.5, strongest: 1, tolerance: 0.01)
        let r = try b.run { _ in true }
        XCTAssertEqual(r.status, .defeatedAtWeakest)
        XCTAssertEqual(r.threshold, 0.5)
        XCTAssertNil(r.strongestUndefeated)
        XCTAssertEqual(r.probes.count, 1)
    }

    func testStepLimitStopsBeforeTheToleranceAndSaysSo() throws {
        let b = Bisection(weakest: 0, strongest: 1, tolerance: 1e-9, maxSteps: 3)
        let r = try b.run { $0 >= 0.6 }
        XCTAssertEqual(r.probes.count, 5)
        XCTAssertFalse(r.converged)
        XCTAssertEqual(r.threshold, 0.625)
        XCTAssertEqual(r.strongestUndefeated, 0.5)
    }

    func testOracleErrorsPropagate() {
        struct Boom: Error {}
        let b = Bisection(weakest: 0, strongest: 1, tolerance: 0.1)
        XCTAssertThrowsError(try b.run { v in if v > 0.9 { throw Boom() }; return false }) { XCTAssert($0 is Boom) }
    }

    // MARK: - Configuration

    var repositoryRoot: URL {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { url = url.deletingLastPathComponent() }
        return url
    }

    func search(_ file: String, _ overrides: [String]) throws -> ThresholdSearch {
        let url = repositoryRoot.appendingPathComponent(file)
        let doc = try ConfigValue.parse(yaml: String(contentsOf: url, encoding: .utf8)).applying(overrides: overrides)
        return try ThresholdSearch.read(ConfigSection(doc), relativeTo: url.deletingLastPathComponent())
    }

    func expectError(_ overrides: [String], mentions parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try search("examples/threshold/mnist-idlg.yml", overrides)
            XCTFail("accepted \(overrides)", file: file, line: line)
        } catch {
            for p in parts { XCTAssert("\(error)".contains(p), "'\(error)' does not mention '\(p)'", file: file, line: line) }
        }
    }

    func testExampleParsesWithTheDefensesInStrengthOrder() throws {
        let s = try search("examples/threshold/mnist-idlg.yml", [])
        XCTAssertEqual(s.sweeps.map(\.base.name), ["masking", "clipping", "pruning", "noising"])
        XCTAssertEqual(s.sweeps.map(\.parameter), ["probability", "bound", "percent", "sigma"])
        let clipping = s.sweeps[1]
        XCTAssertFalse(clipping.strongerWhenLarger)
        XCTAssertEqual(clipping.bisection.weakest, 100)
        XCTAssertEqual(clipping.bisection.strongest, 0.0001)
        XCTAssertEqual(clipping.defense(at: 2.5), .clipping(.init(bound: 2.5, scope: .global)))
        XCTAssertEqual(s.sweeps[0].defense(at: 0.3), .masking(.init(probability: 0.3)))
        XCTAssertEqual(s.metric, .brightnessAdjustedSSIM)
        XCTAssertEqual(s.threshold, 0.5)
    }

    func testConfigurationErrorsNameTheKeyPath() {
        expectError(["defenses=[{defense: masking, tolerence: 0.1}]"], mentions: ["defenses[0].tolerence", "tolerance"])
        expectError(["defenses=[{defense: maskng}]"], mentions: ["defenses[0].defense", "masking"])
        expectError(["defenses=[{defense: masking, probability: 0.5}]"], mentions: ["defenses[0].probability", "low and high"])
        expectError(["defenses=[{defense: noising, low: 0, high: 1, scale: log}]"], mentions: ["defenses[0].low", "log"])
        expectError(["defenses=[{defense: clipping, low: 0, high: 10, scale: linear}]"], mentions: ["defenses[0].low", "bound"])
        expectError(["defenses=[{defense: masking, low: 0.8, high: 0.2}]"], mentions: ["defenses[0].high"])
        expectError(["defenses=[{defense: masking, low: 0, high: 1.5}]"], mentions: ["defenses[0].high", "probability"])
        expectError(["defenses=[{defense: masking}, {defense: masking, low: 0.1}]"], mentions: ["defenses[1].defense", "twice"])
        expectError(["defenses=[{defense: outpost}]"], mentions: ["defenses[0].defense"])
        expectError(["defenses=[]"], mentions: ["defenses"])
        expectError(["criterion.metric=lpips"], mentions: ["criterion.metric", "brightness_adjusted_ssim"])
        expectError(["criterion.threshold=2"], mentions: ["criterion.threshold"])
        expectError(["attack={iterations: 10}"], mentions: ["attack.name", "idlg"])
        expectError(["data.dataset=lfw-subset"], mentions: ["data.directory", "not shipped"])
        expectError(["data.targets=0"], mentions: ["data.targets"])
        expectError(["search.max_step=3"], mentions: ["search.max_step", "max_steps"])
        // The swept parameter is not a valid key, so the list of valid keys must not offer it.
        do {
            _ = try search("examples/threshold/mnist-idlg.yml", ["defenses=[{defense: masking, tolerence: 0.1}]"])
            XCTFail("accepted a misspelled key")
        } catch {
            let text = "\(error)"
            XCTAssertFalse(text.contains(", probability") || text.contains(": probability"), "'\(text)' offers the swept parameter as a valid key")
        }
    }

    // MARK: - Running

    /// The shipped MNIST sample, tiny iterations: the undefended end leaks, masking every
    /// entry defeats the attack, and every output is written.
    func testSmokeRunOnTheShippedSample() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-threshold-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let s = try search("examples/threshold/mnist-idlg.yml", [
            "output.directory=\(out)", "attack.iterations=20", "attack.trials=1", "search.max_steps=1",
            "defenses=[{defense: masking, low: 0, high: 1}, {defense: clipping, low: 0.01, high: 1000}]",
        ])
        let report = try s.run()
        XCTAssertEqual(report.searches.map(\.defense), ["masking", "clipping"])
        XCTAssertEqual(report.targets.count, 1)
        XCTAssertGreaterThan(report.targets[0].gradientNorm, 0)
        let masking = report.searches[0]
        XCTAssertEqual(masking.probes.map(\.value), [0, 1, 0.5])
        let undefended = masking.probes[0]
        print("threshold smoke: undefended brightness-adjusted SSIM \(undefended.worst), all masked \(masking.probes[1].worst)")
        XCTAssertFalse(undefended.defeated)
        XCTAssertGreaterThan(undefended.worst, 0.9)
        XCTAssert(masking.probes[1].defeated)
        XCTAssertEqual(masking.status, .found)
        XCTAssertEqual(masking.thresholdDefense, masking.threshold.map { .masking(.init(probability: $0)) })
        // Clipping at 1000 is no clipping at all: the same reconstruction as no defense.
        XCTAssertEqual(report.searches[1].probes[0].worst, undefended.worst, accuracy: 1e-9)
        for p in masking.probes {
            XCTAssertEqual(p.targets[0].trials.count, 1)
            XCTAssertNotNil(p.targets[0].trials[0]?.ssim)
        }
        for f in ["results.json", "thresholds.md", "defenses.json", "grid.png", "masking-grid.png", "clipping-grid.png"] {
            XCTAssert(FileManager.default.fileExists(atPath: (out as NSString).appendingPathComponent(f)), f)
        }
        let table = try String(contentsOfFile: (out as NSString).appendingPathComponent("thresholds.md"), encoding: .utf8)
        XCTAssert(table.contains("| masking | probability |") && table.contains("clipping: probes in order"), table)
        let defenses = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: (out as NSString).appendingPathComponent("defenses.json"))))
        XCTAssertEqual((defenses as? [[String: Any]])?.first?["defense"] as? String, "masking")
    }

    // MARK: - The masking paper's presets

    /// The real data folder beside the checkout; the presets read it. Skips only when it is absent.
    func sharedData() throws -> String {
        let dir = repositoryRoot.appendingPathComponent("../shared/data").standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: dir) else { throw XCTSkip("real data folder \(dir) is absent") }
        return dir
    }

    func testMaskingPaperThresholdPresetsRunAtSmokeTestSize() throws {
        _ = try sharedData()
        let all = ["masking", "clipping", "pruning", "noising"]
        for (data, attack, defenses) in [("mnist", "idlg", all), ("photos32", "idlg", all), ("lfw", "idlg", all), ("mnist-csdlg-clipping", "csdlg", ["clipping"])] {
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-masking-\(data)-\(UUID())").path
            defer { try? FileManager.default.removeItem(atPath: out) }
            var s = try search("examples/papers/masking/threshold-\(data).yml", ["output.directory=\(out)", "attack.iterations=3", "attack.trials=1"])
            XCTAssertEqual(s.sweeps.map(\.base.name), defenses, data)
            XCTAssertEqual(s.attack.name, attack, data)
            s.targets = 1
            s.sweeps = s.sweeps.map { var w = $0; w.bisection.maxSteps = 0; return w }
            let report = try s.run()
            XCTAssertEqual(report.searches.count, defenses.count, data)
            XCTAssert(report.searches.allSatisfy { (1...2).contains($0.probes.count) }, data)
        }
    }

    func testMaskingPaperFedAvgPresetsRunAtSmokeTestSize() throws {
        _ = try sharedData()
        let presets = ["photos32", "mnist"].flatMap { d in ["iid-mean", "iid-median", "noniid-mean", "noniid-median"].map { "\(d)-\($0)" } }
        for p in presets {
            let url = repositoryRoot.appendingPathComponent("examples/papers/masking/fedavg-\(p).yml")
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-masking-\(p)-\(UUID())").path
            defer { try? FileManager.default.removeItem(atPath: out) }
            // What run.sh passes: the baseline and each defense at a threshold.
            let defenses = #"[{"defense":"none"},{"defense":"masking","probability":0.3},{"defense":"clipping","bound":5},"# +
                #"{"defense":"pruning","percent":50},{"defense":"noising","sigma":0.01}]"#
            let doc = try ConfigValue.parse(yaml: String(contentsOf: url, encoding: .utf8)).applying(overrides: [
                "output.directory=\(out)", "federation.rounds=1", "federation.clients=4", "federation.clients_per_round=2",
                "federation.test_samples=50",
                "defenses=\(defenses)",
            ])
            let training = try FederatedTraining.read(ConfigSection(doc), relativeTo: url.deletingLastPathComponent())
            XCTAssertEqual(training.federation.aggregation, p.hasSuffix("median") ? .median : .mean, p)
            let series = try training.run()
            XCTAssertEqual(series.map(\.defense), ["none", "masking", "clipping", "pruning", "noising"], p)
            XCTAssert(series.allSatisfy { $0.finalAccuracy != nil }, p)
        }
    }
}
