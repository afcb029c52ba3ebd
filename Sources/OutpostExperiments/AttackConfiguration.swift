import OutpostAttacks
import OutpostConfig

/// An attack as a configuration file names it: a preset and any overrides of its settings.
public struct AttackConfiguration: Sendable, Equatable {
    public static let names = ["dlg", "idlg", "csdlg", "inverting_gradients", "analytic"]

    public enum Plan: Sendable, Equatable {
        case optimization(GradientInversion)
        case analytic
    }

    public var name: String
    public var plan: Plan
    public var seed: UInt64

    /// Reads the `attack` section: `name` picks the preset, other keys override it.
    public static func read(_ s: ConfigSection) throws -> AttackConfiguration {
        let name = try s.choice("name", among: names, default: "csdlg")
        let seed = UInt64(try s.int("seed", default: 0, range: 0...Int.max))
        if name == "analytic" {
            try s.finish()
            return AttackConfiguration(name: name, plan: .analytic, seed: seed)
        }
        let iterations = try s.optionalInt("iterations", range: 1...10_000_000)
        let trials = try s.int("trials", default: 1, range: 1...10_000)
        var a: GradientInversion
        switch name {
        case "dlg": a = .dlg(iterations: iterations ?? 300, trials: trials)
        case "idlg": a = .idlg(iterations: iterations ?? 300, trials: trials)
        case "inverting_gradients": a = .invertingGradients(iterations: iterations ?? 4800, trials: trials)
        default: a = .csDLG(iterations: iterations ?? 300, trials: trials)
        }
        if let d = try s.optionalString("distance") {
            switch d {
            case "l2": a.distance = .squaredL2
            case "cosine": a.distance = .cosine(layerWeights: nil)
            default: throw ConfigError(path: "\(s.path).distance", message: "'\(d)' is not one of l2, cosine",
                                       suggestion: ["l2", "cosine"].min { $0.count < $1.count })
            }
        }
        if s.has("matching") {
            switch try s.choice("matching", among: ["gradient", "update_as_gradient", "unrolled"]) {
            case "update_as_gradient": a.matching = .updateAsGradient
            case "unrolled": a.matching = .unrolledUpdate
            default: a.matching = .sharedGradient
            }
        }
        if s.has("labels") {
            switch try s.choice("labels", among: ["known", "inferred", "optimized"]) {
            case "known": a.labels = .known
            case "optimized": a.labels = .optimized
            default: a.labels = .inferred
            }
        }
        if s.has("optimizer") {
            let lr = try s.optionalDouble("learning_rate", range: 1e-12...1e6)
            switch try s.choice("optimizer", among: ["lbfgs", "adam"]) {
            case "adam": a.optimizer = .adam(learningRate: lr ?? 0.1, signedGradient: try s.bool("signed_gradient", default: true),
                                             stepDecay: try s.bool("step_decay", default: true))
            default:
                a.optimizer = .lbfgs(learningRate: lr ?? 1, iterationsPerStep: try s.int("iterations_per_step", default: 20, range: 1...10_000),
                                     history: try s.int("history", default: 100, range: 1...10_000),
                                     strongWolfe: try s.bool("strong_wolfe", default: false),
                                     toleranceGrad: try s.double("tolerance_grad", default: 1e-12, range: 0...1),
                                     toleranceChange: try s.double("tolerance_change", default: 1e-14, range: 0...1))
            }
        } else if let lr = try s.optionalDouble("learning_rate", range: 1e-12...1e6) {
            switch a.optimizer {
            case let .adam(_, signed, decay): a.optimizer = .adam(learningRate: lr, signedGradient: signed, stepDecay: decay)
            case let .lbfgs(_, per, h, wolfe, tg, tc): a.optimizer = .lbfgs(learningRate: lr, iterationsPerStep: per, history: h, strongWolfe: wolfe, toleranceGrad: tg, toleranceChange: tc)
            }
        }
        a.totalVariation = try s.double("total_variation", default: a.totalVariation, range: 0...1e6)
        a.boxConstraint = try s.bool("box_constraint", default: a.boxConstraint)
        if s.has("start") { a.start = GradientInversion.Start(rawValue: try s.choice("start", among: ["normal", "uniform"])) ?? .normal }
        a.trainingMode = try s.bool("training_mode", default: a.trainingMode)
        a.convergenceLoss = try s.double("convergence_loss", default: a.convergenceLoss, range: 0...1e12)
        try s.finish()
        if case .lbfgs = a.optimizer, a.boxConstraint {
            throw ConfigError(path: "\(s.path).box_constraint", message: "the box constraint needs the adam optimizer (L-BFGS assumes an unconstrained problem)")
        }
        return AttackConfiguration(name: name, plan: .optimization(a), seed: seed)
    }
}
