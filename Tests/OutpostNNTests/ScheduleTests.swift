import Foundation
import OutpostNN
import OutpostTensor
import XCTest

/// Learning-rate schedules against the values PyTorch's schedulers produce over 30 epochs
/// (fixtures written by scripts/fixtures/optim/make_optimizer_fixtures.py).
final class ScheduleTests: XCTestCase {
    func makeSchedule(_ s: OptimizerFixture.Schedule) throws -> any LearningRateSchedule {
        let a = s.args
        switch s.name {
        case "step":
            return try StepSchedule(baseLearningRate: s.baseLR, stepSize: XCTUnwrap(a.stepSize), gamma: XCTUnwrap(a.gamma))
        case "multistep":
            return try MultiStepSchedule(baseLearningRate: s.baseLR, milestones: XCTUnwrap(a.milestones), gamma: XCTUnwrap(a.gamma))
        case "exponential":
            return try ExponentialSchedule(baseLearningRate: s.baseLR, gamma: XCTUnwrap(a.gamma))
        case "cosine", "cosine_long":
            return try CosineAnnealingSchedule(baseLearningRate: s.baseLR, period: XCTUnwrap(a.tMax),
                                               minimumLearningRate: XCTUnwrap(a.etaMin))
        default:
            throw UnknownFixtureCase("no schedule named \(s.name)")
        }
    }

    func testSchedulesMatchTorch() throws {
        let fixture = try OptimizerFixture.load()
        XCTAssertEqual(Set(fixture.schedules.map(\.name)), ["step", "multistep", "exponential", "cosine", "cosine_long"])
        for s in fixture.schedules {
            let schedule = try makeSchedule(s)
            let ours = schedule.learningRates(count: s.lrs.count)
            XCTAssertEqual(ours.count, 30)
            // PyTorch updates the rate recursively (lr ← lr · γ, or the cosine recurrence),
            // so its values carry a few ulps of rounding that the closed form does not.
            for (epoch, (mine, torch)) in zip(ours, s.lrs).enumerated() {
                XCTAssertEqual(mine, torch, accuracy: 1e-12 * abs(torch), "\(s.name), epoch \(epoch)")
            }
            XCTAssertEqual(schedule.learningRate(at: 0), s.baseLR)
            XCTAssertEqual(schedule.baseLearningRate, s.baseLR)
        }
    }

    func testClosedFormsAtChosenEpochs() throws {
        let step = try StepSchedule(baseLearningRate: 1, stepSize: 3, gamma: 0.5)
        XCTAssertEqual(step.learningRates(count: 7), [1, 1, 1, 0.5, 0.5, 0.5, 0.25])
        // Unsorted milestones are sorted; a repeated one decays twice, as in PyTorch.
        let multi = try MultiStepSchedule(baseLearningRate: 1, milestones: [4, 2, 4], gamma: 0.1)
        XCTAssertEqual(multi.milestones, [2, 4, 4])
        XCTAssertEqual(multi.learningRates(count: 6).map { ($0 * 1e6).rounded() / 1e6 }, [1, 1, 0.1, 0.1, 0.001, 0.001])
        let cosine = try CosineAnnealingSchedule(baseLearningRate: 0.5, period: 4, minimumLearningRate: 0.1)
        XCTAssertEqual(cosine.learningRate(at: 2), 0.3, accuracy: 1e-15)
        XCTAssertEqual(cosine.learningRate(at: 4), 0.1, accuracy: 1e-15)
        XCTAssertEqual(cosine.learningRate(at: 8), 0.5, accuracy: 1e-15, "past the period the cosine climbs back")
        XCTAssertEqual(try ExponentialSchedule(baseLearningRate: 2, gamma: 0.5).learningRate(at: 3), 0.25)
        XCTAssertEqual(step.learningRates(count: 0), [])
    }

    func testInvalidScheduleArgumentsThrow() {
        func check(_ what: String, _ body: () throws -> Any) {
            XCTAssertThrowsError(try body(), what) { error in
                guard case .invalidHyperparameter? = error as? OptimizerError else {
                    return XCTFail("\(what): \(error) is not invalidHyperparameter")
                }
            }
        }
        check("step size 0") { try StepSchedule(baseLearningRate: 0.1, stepSize: 0) }
        check("step negative base") { try StepSchedule(baseLearningRate: -0.1, stepSize: 2) }
        check("step gamma 0") { try StepSchedule(baseLearningRate: 0.1, stepSize: 2, gamma: 0) }
        check("multistep negative milestone") { try MultiStepSchedule(baseLearningRate: 0.1, milestones: [3, -1]) }
        check("multistep NaN gamma") { try MultiStepSchedule(baseLearningRate: 0.1, milestones: [3], gamma: .nan) }
        check("exponential negative gamma") { try ExponentialSchedule(baseLearningRate: 0.1, gamma: -0.9) }
        check("exponential infinite base") { try ExponentialSchedule(baseLearningRate: .infinity, gamma: 0.9) }
        check("cosine period 0") { try CosineAnnealingSchedule(baseLearningRate: 0.1, period: 0) }
        check("cosine negative minimum") { try CosineAnnealingSchedule(baseLearningRate: 0.1, period: 5, minimumLearningRate: -1e-3) }
    }

    /// A schedule drives an optimizer's learning rate between steps, and a run resumed from
    /// a checkpoint at epoch k continues with the same rates and the same parameters.
    func testScheduleDrivesOptimizerAndResumes() throws {
        let schedule = try CosineAnnealingSchedule(baseLearningRate: 0.2, period: 6, minimumLearningRate: 0.01)
        let target = Tensor([1.0, -2.0, 0.5], shape: [3], dtype: .float64)
        func gradients(_ p: [Tensor]) -> [Tensor] { valueAndGrad(at: p) { ($0[0] - target).squared().sum() }.grads }
        func train(_ opt: inout SGD, _ params: inout [Tensor], epochs: Range<Int>) -> [Double] {
            var rates: [Double] = []
            for epoch in epochs {
                schedule.apply(to: &opt, epoch: epoch)
                rates.append(opt.learningRate)
                opt.step(parameters: &params, gradients: gradients(params))
            }
            return rates
        }
        var straight = try SGD(learningRate: 1, momentum: 0.5)
        var straightParams = [Tensor.zeros([3], dtype: .float64)]
        let rates = train(&straight, &straightParams, epochs: 0..<10)
        XCTAssertEqual(rates, schedule.learningRates(count: 10))

        var first = try SGD(learningRate: 1, momentum: 0.5)
        var params = [Tensor.zeros([3], dtype: .float64)]
        _ = train(&first, &params, epochs: 0..<4)
        var resumed = try SGD(learningRate: 1, momentum: 0.5)
        try resumed.restore(first.snapshot())
        _ = train(&resumed, &params, epochs: 4..<10)
        XCTAssertEqual(params[0].doubles, straightParams[0].doubles)

        var adam = try Adam()
        try ExponentialSchedule(baseLearningRate: 0.01, gamma: 0.5).apply(to: &adam, epoch: 2)
        XCTAssertEqual(adam.learningRate, 0.0025)
        var lbfgs = try LBFGS()
        try StepSchedule(baseLearningRate: 1, stepSize: 2).apply(to: &lbfgs, epoch: 5)
        XCTAssertEqual(lbfgs.learningRate, 0.01, accuracy: 1e-17)
    }
}
