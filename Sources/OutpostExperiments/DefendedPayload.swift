import OutpostAttacks
import OutpostDefenses
import OutpostNN
import OutpostTensor
import OutpostThreatModel

/// What a FedSGD client sends under a defense, and an attack run on it: shared by
/// `outpost evaluate` (``LeakageEvaluation``) and `outpost threshold` (``ThresholdSearch``)
/// so both attack exactly the same payload.
enum DefendedPayload {
    /// One gradient of `images` (model space, N×C×H×W) under `defense`: the per-step part
    /// acts on the gradient, and the update-level and server-side parts act on it as on a
    /// one-step update. The data never leaves this function; only the payload does.
    static func gradient(network: Network, state: ModelState, images: Tensor, labels: [Int],
                         defense: DefenseConfiguration, seed: UInt64) throws -> ClientPayload {
        var rng = RandomGenerator(seed: seed)
        var stepDefense = try defense.makeStepDefense()
        var updateDefense = try defense.makeUpdateDefense()
        let aggregate = try defense.makeAggregateDefense()
        let step = LocalStep(network: network, parameters: state.parameters, buffers: state.buffers, images: images,
                             labels: labels, iteration: 1, round: 1, training: false)
        let g = try stepDefense.apply(to: step.gradient(rows: 0..<labels.count), step: step, rng: &rng)
        let context = UpdateContext(network: network, globalParameters: state.parameters, round: 1, clientID: 0,
                                    sampleCount: labels.count, localSteps: 1)
        var sent = try updateDefense.apply(to: g, context: context, rng: &rng)
        if let aggregate { sent = try aggregate.apply(to: sent, round: 1) }
        return ClientPayload(kind: .gradient, tensors: sent, sampleCount: labels.count)
    }
}

extension AttackConfiguration.Plan {
    /// Runs the attack on `target`; `trials` (when given) overrides the optimization
    /// attack's restarts. The analytic attack is deterministic: one trial.
    func run(on target: AttackTarget, seed: UInt64, trials: Int? = nil) throws -> AttackOutcome {
        switch self {
        case .analytic: return AttackOutcome(attack: "Analytic", trials: [try AnalyticRecovery.recover(target)], inferredLabels: nil)
        case .optimization(var a):
            if let trials { a.trials = trials }
            return try a.run(on: target, seed: seed)
        }
    }
}
