import Foundation
import OutpostTensor

/// Wall-clock cost of defenses, for overhead comparisons (the OUTPOST paper's third axis).
public enum DefenseTiming {
    /// The mean seconds per application of `defense` to `gradient` at `step`, over
    /// `repetitions` applications of one value (so per-round work such as GradDefense's
    /// sensitivity is paid once, as in a round of that many steps), after one untimed warm-up
    /// application on a separate copy.
    public static func secondsPerStep(_ defense: some StepDefense, gradient: [Tensor], step: LocalStep,
                                      repetitions: Int, seed: UInt64 = 0) throws -> Double {
        precondition(repetitions >= 1, "secondsPerStep: at least one repetition")
        var rng = RandomGenerator(seed: seed)
        var warm = defense
        _ = try warm.apply(to: gradient, step: step, rng: &rng)
        var timed = defense
        let start = ContinuousClock.now
        for _ in 0..<repetitions { _ = try timed.apply(to: gradient, step: step, rng: &rng) }
        let elapsed = ContinuousClock.now - start
        return (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18) / Double(repetitions)
    }
}
