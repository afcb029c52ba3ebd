import Foundation
import OutpostDefenses
import OutpostNN
import OutpostTensor
import XCTest

/// `DefenseTiming` measures each per-step defense on the LeNet gradient. Only that the
/// measurement works is tested here: the costs themselves, and the OUTPOST paper's claim that
/// OUTPOST is far cheaper than Soteria, are a benchmark (`outpost-bench --defenses`), since a
/// timed assertion fails whenever the machine is busy.
final class DefenseTimingTests: XCTestCase {
    func testEveryStepDefenseCanBeTimedAndLeavesItsInputAlone() throws {
        let fx = Fixture.synthetic(.lenet(), batch: 1, initialization: .dlg)
        let g = fx.gradient
        let before = flat(g)
        let step = fx.step(iteration: 1)
        let cases = DefenseConfiguration.defaults.filter { $0.level == .step } + [.outpost(.init(fisher: .batchMeanSquared))]
        XCTAssertEqual(DefenseConfiguration.defaults.map(\.name), DefenseConfiguration.names)
        for config in cases {
            let defense = try config.makeStepDefense()
            let s = try DefenseTiming.secondsPerStep(defense, gradient: g, step: step, repetitions: 2)
            XCTAssert(s.isFinite && s > 0, "\(defense.name): \(s) s")
            XCTAssertEqual(flat(g), before, "\(defense.name) must not change the gradient it is timed on")
        }
    }
}
