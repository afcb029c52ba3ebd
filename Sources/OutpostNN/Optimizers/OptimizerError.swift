import Foundation

/// Why an optimizer or a learning-rate schedule could not be built, or why a saved state
/// could not be restored. Every initializer of this module's optimizers and schedules
/// validates its hyperparameters and throws one of these instead of trapping.
public enum OptimizerError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// A hyperparameter outside its valid range (NaN is always outside).
    /// `requirement` says what was expected, e.g. "in [0, 1)".
    case invalidHyperparameter(optimizer: String, name: String, value: Double, requirement: String)
    /// Hyperparameters that are valid one by one but not together
    /// (Nesterov momentum without momentum or with dampening).
    case invalidCombination(optimizer: String, message: String)
    /// A saved state that does not belong to this optimizer or is inconsistent.
    case incompatibleState(optimizer: String, message: String)

    /// A sentence naming the optimizer, the hyperparameter and what was wrong.
    public var description: String {
        switch self {
        case let .invalidHyperparameter(optimizer, name, value, requirement):
            return "\(optimizer): invalid \(name) \(value); it must be \(requirement)"
        case let .invalidCombination(optimizer, message):
            return "\(optimizer): \(message)"
        case let .incompatibleState(optimizer, message):
            return "\(optimizer): cannot restore state: \(message)"
        }
    }

    /// The same text as `description`, for `localizedDescription`.
    public var errorDescription: String? { description }
}

/// Range checks shared by the optimizers and schedules.
enum Validate {
    static func nonNegative(_ optimizer: String, _ name: String, _ value: Double) throws {
        guard value >= 0, value.isFinite else {
            throw OptimizerError.invalidHyperparameter(optimizer: optimizer, name: name, value: value,
                                                       requirement: "finite and >= 0")
        }
    }

    static func positive(_ optimizer: String, _ name: String, _ value: Double) throws {
        guard value > 0, value.isFinite else {
            throw OptimizerError.invalidHyperparameter(optimizer: optimizer, name: name, value: value,
                                                       requirement: "finite and > 0")
        }
    }

    /// value ∈ [0, 1), or [0, 1] when `closed`.
    static func unit(_ optimizer: String, _ name: String, _ value: Double, closed: Bool = false) throws {
        guard value >= 0, closed ? value <= 1 : value < 1 else {
            throw OptimizerError.invalidHyperparameter(optimizer: optimizer, name: name, value: value,
                                                       requirement: closed ? "in [0, 1]" : "in [0, 1)")
        }
    }

    static func atLeast(_ optimizer: String, _ name: String, _ value: Int, _ minimum: Int) throws {
        guard value >= minimum else {
            throw OptimizerError.invalidHyperparameter(optimizer: optimizer, name: name, value: Double(value),
                                                       requirement: ">= \(minimum)")
        }
    }
}
