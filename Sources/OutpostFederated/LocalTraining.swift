import Foundation
import OutpostData
import OutpostDefenses
import OutpostNN
import OutpostTensor
import OutpostThreatModel

/// What one client produced in a round (internal: the simulator splits it into the
/// payload the server receives and the ground truth a capture keeps).
struct ClientOutcome: Sendable {
    let clientID: Int
    /// The payload tensors (update or gradient) after the update defense.
    let payload: [Tensor]
    let sampleCount: Int
    /// The client's buffers after local training (batch-norm statistics).
    let buffers: [Tensor]
    /// Mean training loss over the round's local steps (weighted by batch size).
    let trainingLoss: Double
    let localSteps: Int
    /// Seconds spent in this client's work, and the part of it inside defense hooks.
    let seconds: Double
    let defenseSeconds: Double
    /// Present when the client's exchange is captured.
    let groundTruth: GroundTruth?
}

/// Everything a client needs for one round, shared read-only by the parallel clients.
struct RoundContext: Sendable {
    let network: Network
    let configuration: FederatedConfiguration
    let trainingData: ImageDataset
    /// The training set's normalization when inputs are normalized.
    let normalization: Normalization?
    let schedule: (any LearningRateSchedule)?
    let globalState: ModelState
    let round: Int
    let stepDefense: any StepDefense
    let updateDefense: any UpdateDefense
}

/// Labels for the per-client random streams derived from (seed, round, client).
enum StreamLabel: UInt64 {
    case dataOrder = 1, augmentation, stepDefense, updateDefense, dropout
}

/// Seconds elapsed since `start` on the continuous clock.
func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

/// Processor seconds used by the whole process so far (all threads).
func processorSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// One client's local training in one round: FedAvg's E epochs or FedSGD's single batch,
/// with the step and update defense hooks.
struct LocalTrainer {
    let context: RoundContext
    let clientID: Int
    /// The client's samples as indices into the training set.
    let indices: [Int]
    /// The client's random generator, derived from (seed, round, client).
    let rng: RandomGenerator
    let capture: Bool

    private var configuration: FederatedConfiguration { context.configuration }
    private var local: LocalTrainingConfiguration { context.configuration.local }

    /// The learning rate of a step (epoch and iteration counted from 0 within the round).
    func learningRate(epoch: Int, step: Int) -> Double {
        guard let schedule = context.schedule else { return local.learningRate }
        switch local.schedule.clock {
        case .round: return schedule.learningRate(at: context.round - 1)
        case .localEpoch: return schedule.learningRate(at: epoch)
        case .localStep: return schedule.learningRate(at: step)
        }
    }

    /// The batch of training-set samples `sampleIndices` as a model-space tensor in the
    /// model's dtype, augmented first when configured.
    private func modelInput(_ sampleIndices: [Int], augmentation rng: inout SeededGenerator) throws -> Tensor {
        let data = context.trainingData
        var pixels = try data.batch(sampleIndices).images
        if let augmentation = local.augmentation {
            pixels = try augmentation.apply(to: pixels, channels: data.channels, height: data.height, width: data.width, rng: &rng)
        }
        if let normalization = context.normalization {
            pixels = normalization.normalize(pixels, planeSize: data.height * data.width)
        }
        let dtype = context.globalState.parameters.first?.dtype ?? .float32
        return Tensor(pixels, shape: [sampleIndices.count] + data.imageShape).cast(to: dtype)
    }

    /// A seed for one of OutpostData's generators, from the client's stream `label`.
    private func seedOf(_ label: StreamLabel) -> UInt64 {
        var stream = rng.derived(label.rawValue)
        return stream.next()
    }

    /// The client's local training and its payload, computed with denormal floats flushed
    /// to zero (`Engine.withDenormalsFlushed`).
    func run() throws -> ClientOutcome {
        try Engine.withDenormalsFlushed { try train() }
    }

    private func train() throws -> ClientOutcome {
        let start = ContinuousClock.now
        var defenseSeconds = 0.0
        let network = context.network
        let round = context.round
        var orderRNG = SeededGenerator(seed: seedOf(.dataOrder))
        var augmentationRNG = SeededGenerator(seed: seedOf(.augmentation))
        var stepDefenseRNG = rng.derived(StreamLabel.stepDefense.rawValue)
        var updateDefenseRNG = rng.derived(StreamLabel.updateDefense.rawValue)
        var dropoutRNG: RandomGenerator? = rng.derived(StreamLabel.dropout.rawValue)
        // Defenses are values: this client's copies keep their own state for the round.
        var stepDefense = context.stepDefense
        var updateDefense = context.updateDefense

        let global = context.globalState
        var parameters = global.parameters.map(\.detached)
        var buffers = global.buffers.map(\.detached)
        var optimizer = try local.makeOptimizer()
        let n = indices.count
        let fedSGD = configuration.algorithm == .fedSGD
        let epochs = fedSGD ? 1 : local.epochs
        let batchSize = min(local.batchSize, n)

        var epochOrders: [[Int]] = []   // positions in `indices`, per epoch
        var steps: [StepRecord] = []
        var learningRates: [Double] = []
        var lossSum = 0.0, lossCount = 0
        var iteration = 0
        var sharedGradient: [Tensor] = []
        for epoch in 0..<epochs {
            var order = local.shuffle ? orderRNG.permutation(n) : Array(0..<n)
            if fedSGD { order = Array(order.prefix(batchSize)) }
            epochOrders.append(order)
            for begin in stride(from: 0, to: order.count, by: batchSize) {
                let batch = Array(order[begin..<min(begin + batchSize, order.count)])
                iteration += 1
                let lr = learningRate(epoch: epoch, step: iteration - 1)
                learningRates.append(lr)
                let labels = batch.map { context.trainingData.labels[indices[$0]] }
                let x = try modelInput(batch.map { indices[$0] }, augmentation: &augmentationRNG)
                var ctx = ForwardContext(parameters: parameters, buffers: buffers, training: true, updatesRunningStatistics: true,
                                         rng: dropoutRNG)
                let (lossValue, gradient) = network.crossEntropyGradient(x, labels: labels, &ctx)
                lossSum += lossValue * Double(batch.count)
                lossCount += batch.count
                dropoutRNG = ctx.rng
                let step = LocalStep(network: network, parameters: parameters, buffers: buffers, images: x, labels: labels,
                                     iteration: iteration, round: round, training: true)
                buffers = ctx.buffers.map(\.detached)
                let defenseStart = ContinuousClock.now
                let defended: [Tensor]
                do {
                    defended = try stepDefense.apply(to: gradient, step: step, rng: &stepDefenseRNG)
                } catch {
                    throw FederatedError.defense(name: stepDefense.name, round: round, clientID: clientID, message: "\(error)")
                }
                defenseSeconds += seconds(since: defenseStart)
                try checkShapes(defended, like: parameters, what: "step defense \(stepDefense.name)")
                if capture && configuration.captureStepGradients {
                    steps.append(StepRecord(iteration: iteration, epoch: epoch + 1, rows: [], learningRate: lr, loss: lossValue,
                                            gradient: gradient, defendedGradient: defended))
                }
                if fedSGD {
                    sharedGradient = defended
                } else {
                    optimizer.learningRate = lr
                    optimizer.step(parameters: &parameters, gradients: defended)
                }
            }
        }

        // FedSGD sends the (defended) gradient; FedAvg the update Δ = w_local − w_global.
        let raw: [Tensor] = fedSGD ? sharedGradient : withoutGrad { zip(parameters, global.parameters).map { ($0 - $1).detached } }
        let sampleCount = fedSGD ? batchSize : n
        let updateContext = UpdateContext(network: network, globalParameters: global.parameters, round: round, clientID: clientID,
                                          sampleCount: sampleCount, localSteps: iteration)
        let defenseStart = ContinuousClock.now
        let payload: [Tensor]
        do {
            payload = try updateDefense.apply(to: raw, context: updateContext, rng: &updateDefenseRNG)
        } catch {
            throw FederatedError.defense(name: updateDefense.name, round: round, clientID: clientID, message: "\(error)")
        }
        defenseSeconds += seconds(since: defenseStart)
        try checkShapes(payload, like: global.parameters, what: "update defense \(updateDefense.name)")
        guard payload.allSatisfy(\.isFinite) else { throw FederatedError.nonFinitePayload(round: round, clientID: clientID) }

        var truth: GroundTruth? = nil
        if capture {
            truth = try groundTruth(epochOrders: epochOrders, steps: steps, learningRates: learningRates, localSteps: iteration,
                                    batchSize: batchSize, sampleCount: sampleCount)
        }
        return ClientOutcome(clientID: clientID, payload: payload.map(\.detached), sampleCount: sampleCount, buffers: buffers,
                             trainingLoss: lossCount > 0 ? lossSum / Double(lossCount) : 0, localSteps: iteration,
                             seconds: seconds(since: start), defenseSeconds: defenseSeconds, groundTruth: truth)
    }

    /// The ground truth of the round: the samples in first-epoch order, the epoch orders
    /// as rows of that list, the real settings, and the steps with their rows filled in.
    private func groundTruth(epochOrders: [[Int]], steps: [StepRecord], learningRates: [Double], localSteps: Int,
                             batchSize: Int, sampleCount: Int) throws -> GroundTruth {
        let first = epochOrders[0]
        var rowOfPosition = [Int: Int]()
        for (row, position) in first.enumerated() { rowOfPosition[position] = row }
        let orders = epochOrders.map { $0.map { rowOfPosition[$0]! } }
        let datasetIndices = first.map { indices[$0] }
        let data = context.trainingData
        let pixels = try data.batch(datasetIndices).images
        let labels = datasetIndices.map { data.labels[$0] }
        // Rows of each step's batch, in step order.
        var stepRows: [[Int]] = []
        for order in orders {
            for begin in stride(from: 0, to: order.count, by: batchSize) {
                stepRows.append(Array(order[begin..<min(begin + batchSize, order.count)]))
            }
        }
        let recordedSteps = steps.isEmpty ? nil : steps.map { s in
            StepRecord(iteration: s.iteration, epoch: s.epoch, rows: stepRows[s.iteration - 1], learningRate: s.learningRate,
                       loss: s.loss, gradient: s.gradient, defendedGradient: s.defendedGradient)
        }
        let local = configuration.local
        let settings = ClientTrainingRecord(
            round: context.round, clientID: clientID, algorithm: configuration.algorithm, learningRate: learningRates[0],
            stepLearningRates: learningRates, localEpochs: epochOrders.count, batchSize: batchSize, sampleCount: sampleCount,
            localSteps: localSteps, momentum: local.momentum, weightDecay: local.weightDecay, labels: labels)
        return GroundTruth(images: Tensor(pixels, shape: [datasetIndices.count] + data.imageShape), labels: labels,
                           datasetIndices: datasetIndices, epochOrders: orders, augmented: local.augmentation != nil,
                           settings: settings, steps: configuration.captureStepGradients ? (recordedSteps ?? []) : nil)
    }

    private func checkShapes(_ tensors: [Tensor], like reference: [Tensor], what: String) throws {
        guard tensors.count == reference.count,
              zip(tensors, reference).allSatisfy({ $0.shape == $1.shape && $0.dtype == $1.dtype }) else {
            throw FederatedError.defense(name: what, round: context.round, clientID: clientID,
                                         message: "returned \(tensors.count) tensors that do not match the \(reference.count) parameters in shape and dtype")
        }
    }
}
