import Foundation
import OutpostNN
import OutpostTensor
import OutpostThreatModel

extension GradientInversion {
    /// A short name for logs and result tables.
    public var name: String {
        switch (distance, optimizer, labels) {
        case (.squaredL2, _, .optimized): return "DLG"
        case (.squaredL2, _, _): return "iDLG"
        case (.cosine, .adam, _): return "InvertingGradients"
        case (.cosine, .lbfgs, _): return "csDLG"
        }
    }

    /// Runs every trial. Trial t starts from dummy data drawn with `seed` and t, so trials are
    /// reproducible one by one (a resumed run can redo just the missing ones). The trials run
    /// with denormal floats flushed to zero (`Engine.withDenormalsFlushed`) and under the
    /// attack's Winograd policy (`winograd`, `Engine.withWinograd`).
    public func run(on target: AttackTarget, seed: UInt64, trialIndices: [Int]? = nil,
                    progress: ((AttackProgress) -> Void)? = nil) throws -> AttackOutcome {
        try validate(target)
        let problem = try MatchingProblem(self, target)
        let inferred = labels == .inferred ? problem.fixedLabels : nil
        let indices = trialIndices ?? Array(0..<trials)
        let results = try Engine.withDenormalsFlushed {
            try Engine.withWinograd(winograd) {
                try indices.map { t in try runTrial(t, problem, seed: seed, progress: progress) }
            }
        }
        return AttackOutcome(attack: name, trials: results, inferredLabels: inferred)
    }

    private func runTrial(_ t: Int, _ problem: MatchingProblem, seed: UInt64, progress: ((AttackProgress) -> Void)?) throws -> AttackTrial {
        let clock = ContinuousClock.now
        var rng = RandomGenerator(seed: seed).derived(UInt64(t))
        let dtype = problem.dtype
        let shape = [problem.imageCount] + problem.network.inputShape
        let norm = problem.normalization
        var x: Tensor
        switch start {
        case .normal: x = Tensor.normal(shape, dtype: dtype, using: &rng)
        case .uniform: x = norm.normalize(Tensor.uniform(shape, dtype: dtype, using: &rng))
        }
        var variables = [x]
        if labels == .optimized {
            variables.append(Tensor.normal([problem.imageCount, problem.network.classCount], dtype: dtype, using: &rng))
        }
        let box = norm.box(dtype: dtype)
        var history: [IterationRecord] = []
        var lastFinite = variables
        var diverged = false
        var lastLoss = Double.nan
        var done = 0

        func evaluate(_ vars: [Tensor]) -> (loss: Double, gradients: [Tensor]) {
            let v = vars.map { $0.requiresGrad ? $0 : $0.requiringGrad() }
            var loss = problem.loss(images: v[0], labelLogits: v.count > 1 ? v[1] : nil)
            if totalVariation > 0 { loss = loss + Loss.totalVariation(v[0]) * totalVariation }
            return (loss.item, grad(of: loss, wrt: v))
        }

        switch optimizer {
        case let .lbfgs(lr, perStep, history: h, strongWolfe, toleranceGrad, toleranceChange):
            var lbfgs = try LBFGS(learningRate: lr, maxIterations: perStep, toleranceGrad: toleranceGrad, toleranceChange: toleranceChange,
                                  historySize: h, lineSearch: strongWolfe ? .strongWolfe : nil)
            for i in 0..<iterations {
                let result = lbfgs.step(parameters: &variables) { evaluate($0) }
                done = i + 1
                if result.hitNonFiniteValue || !variables.allSatisfy(\.isFinite) {
                    diverged = true
                    break
                }
                lastFinite = variables
                lastLoss = result.finalLoss ?? result.initialLoss
                history.append(IterationRecord(iteration: i + 1, loss: lastLoss))
                progress?(AttackProgress(trial: t, trials: trials, iteration: i + 1, iterations: iterations, loss: lastLoss))
                if lastLoss <= convergenceLoss { break }
            }
        case let .adam(lr, signed, stepDecay):
            var adam = try Adam(learningRate: lr)
            let milestones = [iterations * 3 / 8, iterations * 5 / 8, iterations * 7 / 8]
            for i in 0..<iterations {
                if stepDecay { try adam.setLearningRate(lr * pow(0.1, Double(milestones.filter { i >= $0 }.count))) }
                var (loss, gradients) = evaluate(variables)
                done = i + 1
                if !loss.isFinite || !gradients.allSatisfy(\.isFinite) {
                    diverged = true
                    break
                }
                if signed { gradients = gradients.map { $0.sign() } }
                adam.step(parameters: &variables, gradients: gradients)
                if boxConstraint {
                    variables[0] = withoutGrad { variables[0].maximum(box.lower).minimum(box.upper) }
                }
                lastFinite = variables
                lastLoss = loss
                history.append(IterationRecord(iteration: i + 1, loss: loss))
                progress?(AttackProgress(trial: t, trials: trials, iteration: i + 1, iterations: iterations, loss: loss))
                if loss <= convergenceLoss { break }
            }
        }
        if !diverged {
            // The loss at the final iterate (L-BFGS reports the loss before its last update).
            let final = evaluate(lastFinite).loss
            if final.isFinite { lastLoss = final } else { diverged = true }
        }
        let pixels = withoutGrad { norm.denormalize(lastFinite[0].detached).clamped(min: 0, max: 1) }
        let finalLabels: [Int]
        if labels == .optimized, lastFinite.count > 1 {
            finalLabels = argmaxRows(lastFinite[1])
        } else {
            finalLabels = problem.fixedLabels ?? []
        }
        let elapsed = ContinuousClock.now - clock
        return AttackTrial(index: t, pixels: pixels, labels: finalLabels, finalLoss: diverged ? .nan : lastLoss, diverged: diverged,
                           iterations: done, history: history,
                           seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }
}

func argmaxRows(_ t: Tensor) -> [Int] {
    let cols = t.shape[1], v = t.doubles
    return (0..<t.shape[0]).map { r in (0..<cols).max { v[r * cols + $0] < v[r * cols + $1] } ?? 0 }
}
