import Foundation

/// A learning rate as a function of the epoch (or step) index, in closed form: the value
/// for epoch `e` does not depend on the values before it, so a resumed run asks for its
/// epoch and gets the same rate an uninterrupted run would have used.
///
/// The four schedules give PyTorch's `StepLR`, `MultiStepLR`, `ExponentialLR` and
/// `CosineAnnealingLR` values (their `_get_closed_form_lr`) for the learning rate set on the
/// optimizer at construction (`base_lr`), where epoch 0 is the rate before the first
/// `scheduler.step()`.
public protocol LearningRateSchedule: Sendable {
    /// The learning rate at epoch 0.
    var baseLearningRate: Double { get }
    /// The learning rate at `epoch` (0, 1, 2, ...). A negative epoch is a programming error.
    func learningRate(at epoch: Int) -> Double
}

extension LearningRateSchedule {
    /// The learning rates of epochs 0..<count.
    public func learningRates(count: Int) -> [Double] {
        (0..<Swift.max(count, 0)).map(learningRate(at:))
    }

    /// Sets `optimizer`'s learning rate to this schedule's value at `epoch`.
    public func apply<O: StatefulOptimizer>(to optimizer: inout O, epoch: Int) {
        optimizer.learningRate = learningRate(at: epoch)
    }
}

private func checkEpoch(_ epoch: Int, _ name: String) {
    precondition(epoch >= 0, "\(name).learningRate(at:): negative epoch \(epoch)")
}

/// Multiplies the learning rate by `gamma` every `stepSize` epochs:
/// lr(e) = base · gamma^⌊e / stepSize⌋ (PyTorch's `StepLR`).
public struct StepSchedule: LearningRateSchedule, Equatable {
    /// The learning rate at epoch 0.
    public let baseLearningRate: Double
    /// Epochs between decays (≥ 1).
    public let stepSize: Int
    /// Factor applied at each decay (> 0).
    public let gamma: Double

    /// Throws ``OptimizerError`` for a negative or non-finite base rate, a step size below
    /// 1 or a gamma that is not finite and positive.
    public init(baseLearningRate: Double, stepSize: Int, gamma: Double = 0.1) throws {
        try Validate.nonNegative("StepSchedule", "base learning rate", baseLearningRate)
        try Validate.atLeast("StepSchedule", "step size", stepSize, 1)
        try Validate.positive("StepSchedule", "gamma", gamma)
        self.baseLearningRate = baseLearningRate
        self.stepSize = stepSize
        self.gamma = gamma
    }

    /// base · gamma^⌊epoch / stepSize⌋.
    public func learningRate(at epoch: Int) -> Double {
        checkEpoch(epoch, "StepSchedule")
        return baseLearningRate * Foundation.pow(gamma, Double(epoch / stepSize))
    }
}

/// Multiplies the learning rate by `gamma` at each milestone epoch:
/// lr(e) = base · gamma^(number of milestones ≤ e) (PyTorch's `MultiStepLR`; a milestone
/// listed twice decays twice, as there).
public struct MultiStepSchedule: LearningRateSchedule, Equatable {
    /// The learning rate at epoch 0.
    public let baseLearningRate: Double
    /// The epochs at which the rate decays, sorted (repeats kept).
    public let milestones: [Int]
    /// Factor applied at each milestone (> 0).
    public let gamma: Double

    /// Throws ``OptimizerError`` for a negative or non-finite base rate, a negative
    /// milestone or a gamma that is not finite and positive. Milestones may be given in
    /// any order.
    public init(baseLearningRate: Double, milestones: [Int], gamma: Double = 0.1) throws {
        try Validate.nonNegative("MultiStepSchedule", "base learning rate", baseLearningRate)
        for m in milestones { try Validate.atLeast("MultiStepSchedule", "milestone", m, 0) }
        try Validate.positive("MultiStepSchedule", "gamma", gamma)
        self.baseLearningRate = baseLearningRate
        self.milestones = milestones.sorted()
        self.gamma = gamma
    }

    /// base · gamma^(milestones ≤ epoch), PyTorch's `bisect_right` count.
    public func learningRate(at epoch: Int) -> Double {
        checkEpoch(epoch, "MultiStepSchedule")
        var lo = 0, hi = milestones.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if epoch < milestones[mid] { hi = mid } else { lo = mid + 1 }
        }
        return baseLearningRate * Foundation.pow(gamma, Double(lo))
    }
}

/// Multiplies the learning rate by `gamma` every epoch: lr(e) = base · gamma^e (PyTorch's
/// `ExponentialLR`).
public struct ExponentialSchedule: LearningRateSchedule, Equatable {
    /// The learning rate at epoch 0.
    public let baseLearningRate: Double
    /// Factor applied every epoch (> 0).
    public let gamma: Double

    /// Throws ``OptimizerError`` for a negative or non-finite base rate or a gamma that is
    /// not finite and positive.
    public init(baseLearningRate: Double, gamma: Double) throws {
        try Validate.nonNegative("ExponentialSchedule", "base learning rate", baseLearningRate)
        try Validate.positive("ExponentialSchedule", "gamma", gamma)
        self.baseLearningRate = baseLearningRate
        self.gamma = gamma
    }

    /// base · gamma^epoch.
    public func learningRate(at epoch: Int) -> Double {
        checkEpoch(epoch, "ExponentialSchedule")
        return baseLearningRate * Foundation.pow(gamma, Double(epoch))
    }
}

/// Cosine annealing from the base rate down to `minimumLearningRate` over `period` epochs:
/// lr(e) = min + (base − min) · (1 + cos(π e / period)) / 2 (PyTorch's `CosineAnnealingLR`,
/// `T_max` = period, `eta_min` = minimum). Past the period the cosine continues, so the
/// rate climbs back to the base rate at 2 · period, as PyTorch's scheduler does.
public struct CosineAnnealingSchedule: LearningRateSchedule, Equatable {
    /// The learning rate at epoch 0.
    public let baseLearningRate: Double
    /// Epochs from the base rate to the minimum (PyTorch's `T_max`, ≥ 1).
    public let period: Int
    /// The rate reached at the end of the period (PyTorch's `eta_min`).
    public let minimumLearningRate: Double

    /// Throws ``OptimizerError`` for a negative or non-finite base or minimum rate and a
    /// period below 1.
    public init(baseLearningRate: Double, period: Int, minimumLearningRate: Double = 0) throws {
        try Validate.nonNegative("CosineAnnealingSchedule", "base learning rate", baseLearningRate)
        try Validate.atLeast("CosineAnnealingSchedule", "period", period, 1)
        try Validate.nonNegative("CosineAnnealingSchedule", "minimum learning rate", minimumLearningRate)
        self.baseLearningRate = baseLearningRate
        self.period = period
        self.minimumLearningRate = minimumLearningRate
    }

    /// min + (base − min) · (1 + cos(π · epoch / period)) / 2.
    public func learningRate(at epoch: Int) -> Double {
        checkEpoch(epoch, "CosineAnnealingSchedule")
        let cosine = 1 + Foundation.cos(Double.pi * Double(epoch) / Double(period))
        return minimumLearningRate + (baseLearningRate - minimumLearningRate) * cosine / 2
    }
}
