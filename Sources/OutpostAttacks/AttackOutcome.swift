import OutpostTensor

/// One point of a trial's optimization history.
public struct IterationRecord: Sendable, Equatable, Codable {
    public let iteration: Int
    public let loss: Double

    public init(iteration: Int, loss: Double) {
        self.iteration = iteration
        self.loss = loss
    }
}

/// The result of one restart of an attack.
public struct AttackTrial: Sendable {
    public let index: Int
    /// Reconstructed images as pixels in [0, 1], N×C×H×W.
    public let pixels: Tensor
    /// Labels the attack ends with (known, inferred or the argmax of optimized ones).
    public let labels: [Int]
    /// The matching loss at the end: what an attacker, without ground truth, ranks trials by.
    public let finalLoss: Double
    /// True when the optimization produced NaN or infinity; `pixels` then holds the last
    /// finite iterate.
    public let diverged: Bool
    public let iterations: Int
    public let history: [IterationRecord]
    public let seconds: Double

    /// A trial as an attack produced it, or as read back from a saved run.
    public init(index: Int, pixels: Tensor, labels: [Int], finalLoss: Double, diverged: Bool, iterations: Int,
                history: [IterationRecord], seconds: Double) {
        self.index = index
        self.pixels = pixels
        self.labels = labels
        self.finalLoss = finalLoss
        self.diverged = diverged
        self.iterations = iterations
        self.history = history
        self.seconds = seconds
    }
}

/// All trials of one attack run.
public struct AttackOutcome: Sendable {
    public let attack: String
    public let trials: [AttackTrial]
    /// Labels inferred before optimization (nil when known or optimized).
    public let inferredLabels: [Int]?

    public init(attack: String, trials: [AttackTrial], inferredLabels: [Int]?) {
        self.attack = attack
        self.trials = trials
        self.inferredLabels = inferredLabels
    }

    /// The trial an attacker would pick: the lowest final matching loss among those that
    /// did not diverge (nil if all diverged).
    public var attackerChoice: AttackTrial? {
        trials.filter { !$0.diverged && $0.finalLoss.isFinite }.min { $0.finalLoss < $1.finalLoss }
    }

    public var divergedCount: Int { trials.filter(\.diverged).count }
}

/// Progress of a running attack, for terminals and logs.
public struct AttackProgress: Sendable {
    public let trial: Int
    public let trials: Int
    public let iteration: Int
    public let iterations: Int
    public let loss: Double
}
