import Foundation
import OutpostConfig

/// Bisection for the weakest setting of one defense parameter at which an attack is
/// defeated: Kim & Park's minimum-threshold search.
///
/// The search assumes **monotonicity**: once the defense is strong enough to defeat the
/// attack, every stronger setting defeats it too, and every weaker one that leaks is
/// followed (towards weaker) only by settings that leak. Under that assumption the true
/// threshold lies in the final bracket (``Result/strongestUndefeated``,
/// ``Result/threshold``]. Random defenses (masking, noising) and random attack restarts
/// can break monotonicity; the experiment reduces that by reusing the same random numbers
/// at every probe (common random numbers), but the result is still only as good as the
/// assumption, so every probe is returned for inspection.
///
/// "Weakest" and "strongest" are the ends of the range in strength order: for clipping the
/// weakest end is the largest bound.
public struct Bisection: Sendable, Equatable, Codable {
    /// How the midpoint of a bracket is taken, and how its width is measured.
    public enum Scale: String, Sendable, Codable, CaseIterable {
        /// Arithmetic midpoint; the bracket is narrow enough when |a − b| ≤ tolerance.
        case linear
        /// Geometric midpoint (both ends must be > 0); the bracket is narrow enough when
        /// max/min ≤ 1 + tolerance, i.e. the tolerance is relative.
        case log
    }

    /// How a search ended.
    public enum Status: String, Sendable, Codable {
        /// The weakest end leaks and the strongest is defeated: the threshold is bracketed.
        case found
        /// Already the weakest end of the range defeats the attack: the threshold is at or
        /// below it (widen the range towards weaker settings to find it).
        case defeatedAtWeakest = "defeated_at_weakest"
        /// Even the strongest end of the range leaks: no threshold in the range.
        case neverDefeated = "never_defeated"
    }

    /// One evaluated parameter value, in the order probed.
    public struct Probe: Sendable, Codable, Equatable {
        public let value: Double
        public let defeated: Bool
    }

    /// The outcome of a search.
    public struct Result: Sendable, Codable, Equatable {
        public let status: Status
        /// The weakest probed value that defeated the attack: an upper bound (in strength)
        /// on the true threshold. Nil when the attack was never defeated.
        public let threshold: Double?
        /// The strongest probed value at which the attack still succeeded: a lower bound.
        /// Nil when the attack was defeated already at the weakest end.
        public let strongestUndefeated: Double?
        /// Every probe, in order: the weakest end, the strongest end, then the midpoints.
        public let probes: [Probe]
        /// Whether the bracket narrowed to the tolerance (false: the step limit came first).
        /// True for the two endpoint outcomes, which need no bracket.
        public let converged: Bool
    }

    /// The end of the range where the defense is weakest.
    public var weakest: Double
    /// The end of the range where the defense is strongest.
    public var strongest: Double
    public var scale: Scale
    /// Width at which the bracket is narrow enough (absolute for `linear`, relative for `log`).
    public var tolerance: Double
    /// Bisection steps after the two endpoint probes.
    public var maxSteps: Int

    public init(weakest: Double, strongest: Double, scale: Scale = .linear, tolerance: Double, maxSteps: Int = 8) {
        self.weakest = weakest
        self.strongest = strongest
        self.scale = scale
        self.tolerance = tolerance
        self.maxSteps = maxSteps
    }

    /// Throws a ``ConfigError`` (path relative to the search's section) for an empty or
    /// non-finite range, a log scale reaching 0, a negative tolerance or step count.
    public func validate() throws {
        guard weakest.isFinite, strongest.isFinite, weakest != strongest else {
            throw ConfigError(path: "low", message: "the range must have two different finite ends, got \(weakest) and \(strongest)")
        }
        if scale == .log, min(weakest, strongest) <= 0 {
            throw ConfigError(path: "low", message: "a log-scale search needs both ends > 0, got \(min(weakest, strongest)) (use scale: linear to include 0)")
        }
        guard tolerance.isFinite, tolerance > 0 else { throw ConfigError(path: "tolerance", message: "must be a finite number > 0, got \(tolerance)") }
        guard (0...60).contains(maxSteps) else { throw ConfigError(path: "max_steps", message: "must be in [0, 60], got \(maxSteps)") }
    }

    /// Whether `a` and `b` are within the tolerance of each other.
    public func narrowEnough(_ a: Double, _ b: Double) -> Bool {
        switch scale {
        case .linear: return abs(a - b) <= tolerance
        case .log: return max(a, b) / min(a, b) <= 1 + tolerance
        }
    }

    /// The midpoint of a bracket.
    public func midpoint(_ a: Double, _ b: Double) -> Double {
        switch scale {
        case .linear: return (a + b) / 2
        case .log: return (a * b).squareRoot()
        }
    }

    /// Probes the weakest end, then the strongest, then bisects the bracket between the
    /// strongest value that leaked and the weakest that defeated the attack until it is
    /// within the tolerance or `maxSteps` midpoints have been probed. `defeats` runs the
    /// attack against the defense at a parameter value and says whether it was defeated.
    public func run(_ defeats: (Double) throws -> Bool) throws -> Result {
        var probes: [Probe] = []
        func probe(_ value: Double) throws -> Bool {
            let d = try defeats(value)
            probes.append(Probe(value: value, defeated: d))
            return d
        }
        if try probe(weakest) {
            return Result(status: .defeatedAtWeakest, threshold: weakest, strongestUndefeated: nil, probes: probes, converged: true)
        }
        if try !probe(strongest) {
            return Result(status: .neverDefeated, threshold: nil, strongestUndefeated: strongest, probes: probes, converged: true)
        }
        var leaks = weakest, defeated = strongest
        var steps = 0
        while !narrowEnough(leaks, defeated), steps < maxSteps {
            let mid = midpoint(leaks, defeated)
            // Floating point can no longer split the bracket.
            if mid == leaks || mid == defeated { break }
            steps += 1
            if try probe(mid) { defeated = mid } else { leaks = mid }
        }
        return Result(status: .found, threshold: defeated, strongestUndefeated: leaks, probes: probes,
                      converged: narrowEnough(leaks, defeated))
    }
}
