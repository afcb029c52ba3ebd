import Foundation
import OutpostDefenses
import OutpostNN
import OutpostTensor
import XCTest

/// Per-step cost of every per-step defense on the LeNet gradient of one 3×32×32 image (the
/// OUTPOST paper's overhead axis), printed as a table.
final class BenchmarkTests: XCTestCase {
    func testPerStepTimeOnTheLeNetGradient() throws {
        let fx = Fixture.synthetic(.lenet(), batch: 1, initialization: .dlg)
        let g = fx.gradient
        let step = fx.step(iteration: 1)   // i = 1: OUTPOST always perturbs (its most expensive step)
        let gradientStart = ContinuousClock.now
        for _ in 0..<100 { _ = step.gradient(rows: 0..<1) }
        let gradientTime = (ContinuousClock.now - gradientStart) / 100
        let gradientSeconds = Double(gradientTime.components.attoseconds) * 1e-18 + Double(gradientTime.components.seconds)
        let cases: [(DefenseConfiguration, Int)] = [
            (.outpost(.init()), 100), (.outpost(.init(fisher: .batchMeanSquared)), 100),
            (.gradientCompression(.init()), 100), (.dpNoise(.init()), 100),
            (.soteria(.init()), 5), (.gradDefense(.init()), 100),
            (.masking(.init()), 100), (.clipping(.init()), 100), (.pruning(.init()), 100), (.noising(.init()), 100),
            (.dpSGD(.init()), 100),
        ]
        var seconds: [String: Double] = [:]
        var lines = ["| defense | per step (ms) | × one gradient |", "| --- | ---: | ---: |",
                     String(format: "| (forward + backward) | %.3f | 1 |", gradientSeconds * 1000)]
        for (config, repetitions) in cases {
            let defense = try config.makeStepDefense()
            let s = try DefenseTiming.secondsPerStep(defense, gradient: g, step: step, repetitions: repetitions)
            let label = config == .outpost(.init(fisher: .batchMeanSquared)) ? "OUTPOST (batch-mean Fisher)" : defense.name
            seconds[label] = s
            lines.append(String(format: "| %@ | %.3f | %.1f |", label, s * 1000, s / gradientSeconds))
            XCTAssert(s.isFinite && s > 0, label)
        }
        print("Per-step defense cost, LeNet, one 3×32×32 image (\(Engine.threads) threads):\n" + lines.joined(separator: "\n"))
        // The paper's overhead claim: OUTPOST is far cheaper than Soteria per perturbed step.
        XCTAssertLessThan(try XCTUnwrap(seconds["OUTPOST"]), try XCTUnwrap(seconds["Soteria"]) / 10)
    }
}
