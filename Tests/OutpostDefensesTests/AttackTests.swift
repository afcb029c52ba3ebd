import Foundation
import OutpostAttacks
import OutpostData
import OutpostDefenses
import OutpostNN
import OutpostTensor
import OutpostThreatModel
import XCTest
import OutpostTestSupport

/// A defense as the attack experiments apply it: the client's gradient of one image is
/// defended as a single local step (i = 1); update-level defenses get the gradient as the update.
struct DefendedGradient {
    let label: String
    let configuration: DefenseConfiguration

    func apply(_ fx: Fixture, seed: UInt64 = 0) throws -> [Tensor] {
        var rng = RandomGenerator(seed: seed)
        let g = fx.gradient
        switch configuration.level {
        case .update:
            var defense = try configuration.makeUpdateDefense()
            let context = UpdateContext(network: fx.network, globalParameters: fx.state.parameters, round: 1, clientID: 0,
                                        sampleCount: fx.labels.count, localSteps: 1)
            return try defense.apply(to: g, context: context, rng: &rng)
        case .step, .none:
            var defense = try configuration.makeStepDefense()
            return try defense.apply(to: g, step: fx.step(iteration: 1), rng: &rng)
        }
    }

    func target(_ fx: Fixture, seed: UInt64 = 0) throws -> AttackTarget {
        try AttackTarget(network: fx.network, globalState: fx.state,
                         payload: ClientPayload(kind: .gradient, tensors: apply(fx, seed: seed), sampleCount: fx.labels.count),
                         knowledge: ServerKnowledge(batchSize: 1, normalization: .identity(channels: 3)))
    }
}

/// The OUTPOST paper's Table III, scenario 3 (CIFAR-like 3×32×32 image, LeNet with
/// uniform(−0.5, 0.5) weights, E = 1, n = 1, B = 1): attacks on the defended gradient.
final class AttackTests: XCTestCase {
    /// Quick version for the normal suite: csDLG with few iterations, no defense vs OUTPOST and GC.
    func testOutpostAndGCDefeatCsDLG() throws {
        let fx = try Fixture.photo(0)
        let attack = GradientInversion.csDLG(iterations: 60)
        var scores: [String: Double] = [:]
        for d in [DefendedGradient(label: "none", configuration: .none),
                  DefendedGradient(label: "OUTPOST", configuration: .outpost(.init())),
                  DefendedGradient(label: "GC", configuration: .gradientCompression(.init()))] {
            let trial = try XCTUnwrap(attack.run(on: d.target(fx), seed: 0).attackerChoice)
            scores[d.label] = try ssim(fx.images, trial.pixels)
            print("csDLG (60 iterations) against \(d.label): SSIM \(scores[d.label]!), \(trial.seconds) s")
        }
        let undefended = try XCTUnwrap(scores["none"])
        XCTAssertGreaterThan(undefended, 0.8, "the undefended attack succeeds")
        for name in ["OUTPOST", "GC"] {
            let s = try XCTUnwrap(scores[name])
            XCTAssertLessThan(s, 0.35, name)
            XCTAssertLessThan(s, undefended - 0.5, name)
        }
    }

    /// The example run committed in examples/defenses: every defense at its paper's setting,
    /// attacked by DLG and csDLG. Gated: OUTPOST_EXAMPLES=1 (optionally OUTPOST_EXAMPLE_ITERATIONS,
    /// OUTPOST_EXAMPLE_TRIALS).
    func testWriteDefenseExamples() throws {
        let env = ProcessInfo.processInfo.environment
        guard env["OUTPOST_EXAMPLES"] == "1" else { throw XCTSkip("set OUTPOST_EXAMPLES=1 to regenerate examples/defenses") }
        let iterations = Int(env["OUTPOST_EXAMPLE_ITERATIONS"] ?? "") ?? 300
        let trials = Int(env["OUTPOST_EXAMPLE_TRIALS"] ?? "") ?? 2
        let index = 0
        let fx = try Fixture.photo(index)
        let defenses: [(DefendedGradient, String)] = [
            (.init(label: "No defense", configuration: .none), "—"),
            (.init(label: "GC", configuration: .gradientCompression(.init())), "prune 80% per layer (OUTPOST paper)"),
            (.init(label: "DP", configuration: .dpNoise(.init())), "Laplace, variance 0.1 (OUTPOST paper)"),
            (.init(label: "Soteria", configuration: .soteria(.init())), "50% of FC columns, ε = 0.1 (OUTPOST paper / Soteria code)"),
            (.init(label: "GradDefense", configuration: .gradDefense(.init())), "10 slices, 5 perturbed, σ = 0.01, clipping C = σ (OUTPOST paper / GradDefense code)"),
            (.init(label: "OUTPOST", configuration: .outpost(.init())), "λ = 0.8, φ = 40, β = 0.1, ρ = 80, i = 1 (OUTPOST paper)"),
            (.init(label: "Masking", configuration: .masking(.init(probability: 0.5))), "p = 0.5 (chosen; see notes)"),
            (.init(label: "Clipping", configuration: .clipping(.init(bound: 1))), "global L2, C = 1 (chosen; see notes)"),
            (.init(label: "Pruning", configuration: .pruning(.init(percent: 90))), "global, 90% (chosen; see notes)"),
            (.init(label: "Noising", configuration: .noising(.init(sigma: 0.01))), "Gaussian σ = 0.01 (chosen; see notes)"),
            (.init(label: "DP-SGD", configuration: .dpSGD(.init(clip: 1, noiseMultiplier: 1.1))), "C = 1, σ = 1.1 (chosen)"),
            (.init(label: "Update clipping", configuration: .updateClipping(.init(bound: 1))), "global L2, C = 1, on the gradient as Δ (chosen)"),
            (.init(label: "DP-FedAvg (client noise)", configuration: .dpFedAvg(.init(clip: 1, noiseMultiplier: 1, clientsPerRound: 1, totalClients: 100, noise: .client))),
             "C = 1, z = 1, noise on the client (chosen)"),
        ]
        let directory = RealData.repositoryRoot.appendingPathComponent("examples/defenses")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var grid = ImageGrid(scale: 3, margin: 4)
        func picture(_ pixels: Tensor) throws -> PixelImage {
            try PixelImage(width: 32, height: 32, channels: 3, pixels: pixels[0].scalars)
        }
        grid.addRow([try picture(fx.images)], labels: ["truth"], title: "photos32[\(index)]")
        var rows: [String] = []
        var records: [[String: Any]] = []
        for (defended, setting) in defenses {
            let target = try defended.target(fx)
            var cells: [ImageGrid.Cell] = []
            var record: [String: Any] = ["defense": defended.label, "setting": setting]
            var columns: [String] = []
            for attack in [GradientInversion.dlg(iterations: iterations, trials: trials), .csDLG(iterations: iterations, trials: trials)] {
                let outcome = try attack.run(on: target, seed: 1)
                let scores = try outcome.trials.map { try ssim(fx.images, $0.pixels) }
                let best = scores.indices.max { scores[$0] < scores[$1] }!
                let pick = outcome.attackerChoice.map { t in scores[outcome.trials.firstIndex { $0.index == t.index }!] }
                let labels = outcome.attackerChoice?.labels ?? []
                print("\(defended.label) / \(attack.name): SSIM per trial \(scores.map { String(format: "%.3f", $0) }), attacker's pick \(pick.map { String(format: "%.3f", $0) } ?? "none (all diverged)"), labels \(labels)")
                cells.append(.init(image: try picture(outcome.trials[best].pixels), label: String(format: "%@ %.2f", attack.name, scores[best])))
                if let choice = outcome.attackerChoice, choice.index != outcome.trials[best].index {
                    cells.append(.init(image: try picture(choice.pixels), label: String(format: "pick %.2f", pick ?? 0)))
                }
                columns.append(String(format: "%.3f", scores[best]) + " / " + (pick.map { String(format: "%.3f", $0) } ?? "—"))
                record[attack.name] = ["ssim_per_trial": scores, "attacker_pick": pick as Any, "labels": labels,
                                       "diverged": outcome.divergedCount, "label_correct": labels == fx.labels]
                if defended.label == "No defense" { continue }
                let below = scores[best] < 0.35
                record["\(attack.name)_below_0.35"] = below
            }
            grid.addRow(cells: cells, title: defended.label)
            let dlg = record["DLG"] as! [String: Any], cs = record["csDLG"] as! [String: Any]
            let dlgBest = (dlg["ssim_per_trial"] as! [Double]).max()!, csBest = (cs["ssim_per_trial"] as! [Double]).max()!
            let verdict = defended.label == "No defense" ? "baseline"
                : (dlgBest < 0.35 && csBest < 0.35 ? "defends" : "**finding: does not bring SSIM below 0.35**")
            rows.append("| \(defended.label) | \(setting) | \(columns[0]) | \(columns[1]) | \((cs["label_correct"] as! Bool) ? "yes" : "no") | \(verdict) |")
            records.append(record)
        }
        try grid.writePNG(to: directory.appendingPathComponent("photos32_\(index)_defenses.png").path)
        let json = try JSONSerialization.data(withJSONObject: ["image": "photos32[\(index)]", "iterations": iterations, "trials": trials,
                                                               "results": records], options: [.prettyPrinted, .sortedKeys])
        try json.write(to: directory.appendingPathComponent("results.json"))
        let table = ["| defense | setting | DLG SSIM best / pick | csDLG SSIM best / pick | csDLG label right | verdict |",
                     "| --- | --- | ---: | ---: | :---: | --- |"] + rows
        try (table.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent("table.md"), atomically: true, encoding: .utf8)
        print(table.joined(separator: "\n"))
    }
}
