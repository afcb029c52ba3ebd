import OutpostData
import OutpostFederated
import OutpostNN
import OutpostTensor
import OutpostThreatModel
import XCTest

/// The simulator against hand-written SGD: FedAvg reduces to SGD in the trivial case,
/// FedSGD shares the true gradient, and a model update is a gradient only in the
/// literature's simplest setting. All in Float64 so that tolerances can be tight.
final class EquivalenceTests: XCTestCase {
    private let network = Fixture.mlp()

    /// The mean cross-entropy gradient of `state` on training samples `indices`.
    private func trueGradient(_ data: ImageDataset, _ indices: [Int], _ state: ModelState) throws -> [Tensor] {
        let x = try Fixture.modelInput(data, indices, normalized: true, dtype: .float64)
        let vars = state.parameters.map { $0.requiringGrad() }
        let loss = Loss.crossEntropy(network(x, parameters: vars, buffers: state.buffers, training: true),
                                     labels: indices.map { data.labels[$0] })
        return grad(of: loss, wrt: vars)
    }

    /// One client holding all `count` samples, one round, the given local settings; returns
    /// the initial state, the captured exchange and the final state.
    private func singleClientRound(count: Int = 12, local: LocalTrainingConfiguration, algorithm: TrainingAlgorithm = .fedAvg,
                                   serverLearningRate: Double = 1)
        throws -> (start: ModelState, exchange: CapturedExchange, final: ModelState, data: ImageDataset) {
        let data = try Fixture.dataset(count: count)
        var c = Fixture.configuration(clients: 1, rounds: 1, local: local)
        c.algorithm = algorithm
        c.serverLearningRate = serverLearningRate
        c.captures = [CaptureRequest(round: 1, client: 0)]
        let start = network.initialState(seed: 11, dtype: .float64)
        let sim = try FederatedSimulator(configuration: c, network: network, trainingData: data, initialState: start)
        let result = try sim.run()
        XCTAssertEqual(result.captures.count, 1)
        return (start, try XCTUnwrap(result.captures.first), result.finalState, data)
    }

    func testFedAvgWithOneClientOneEpochOneFullBatchIsOneSGDStep() throws {
        let lr = 0.1
        let (start, exchange, final, data) = try singleClientRound(local: LocalTrainingConfiguration(epochs: 1, batchSize: 12, learningRate: lr))
        XCTAssertEqual(exchange.groundTruth.settings.localSteps, 1)
        var expected = start.parameters
        var sgd = try SGD(learningRate: lr)
        sgd.step(parameters: &expected, gradients: try trueGradient(data, Array(0..<12), start))
        XCTAssertLessThan(maxDifference(final.parameters, expected), 1e-13)
        XCTAssertGreaterThan(maxDifference(final.parameters, start.parameters), 1e-3, "the step must move the model")
        // The server applied Δ with server learning rate 1: w_global + Δ = w_local.
        XCTAssertEqual(exchange.server.payload.kind, .modelUpdate)
        XCTAssertEqual(exchange.server.payload.sampleCount, 12)
        XCTAssertLessThan(maxDifference(zip(start.parameters, exchange.server.payload.tensors).map { $0 + $1 }, expected), 1e-13)
    }

    func testServerLearningRateScalesTheAggregate() throws {
        let local = LocalTrainingConfiguration(epochs: 1, batchSize: 12, learningRate: 0.1)
        let (start, exchange, final, _) = try singleClientRound(local: local, serverLearningRate: 0.5)
        let expected = zip(start.parameters, exchange.server.payload.tensors).map { $0 + $1 * 0.5 }
        XCTAssertLessThan(maxDifference(final.parameters, expected), 1e-14)
    }

    func testFedSGDPayloadIsTheTrueGradientOfTheBatch() throws {
        let data = try Fixture.dataset(count: 20)
        var c = Fixture.configuration(clients: 2, rounds: 1, local: LocalTrainingConfiguration(epochs: 1, batchSize: 5, learningRate: 0.1))
        c.algorithm = .fedSGD
        c.captures = [CaptureRequest(round: 1, selecting: .allSampled)]
        let start = network.initialState(seed: 5, dtype: .float64)
        let sim = try FederatedSimulator(configuration: c, network: network, trainingData: data, initialState: start)
        let result = try sim.run()
        XCTAssertEqual(result.captures.map(\.clientID), [0, 1])
        var gradients: [[Tensor]] = []
        for exchange in result.captures {
            let truth = exchange.groundTruth
            XCTAssertEqual(exchange.server.payload.kind, .gradient)
            XCTAssertEqual(exchange.server.payload.sampleCount, 5)
            XCTAssertEqual(truth.labels.count, 5)
            XCTAssertEqual(truth.epochOrders, [[0, 1, 2, 3, 4]])
            // The ground truth's images are the training samples it names...
            XCTAssertEqual(truth.images.scalars, try data.batch(truth.datasetIndices).images)
            XCTAssertEqual(truth.labels, truth.datasetIndices.map { data.labels[$0] })
            XCTAssertTrue(Set(truth.datasetIndices).isSubset(of: sim.partition.clientIndices[exchange.clientID]))
            // ...and the payload is exactly their gradient at the global model.
            let g = try trueGradient(data, truth.datasetIndices, start)
            XCTAssertLessThan(maxDifference(exchange.server.payload.tensors, g), 1e-14)
            gradients.append(g)
        }
        // The server takes one SGD step on the mean gradient: w − lr · (g₀ + g₁)/2.
        let expected = (0..<start.parameters.count).map { l in start.parameters[l] - (gradients[0][l] + gradients[1][l]) * 0.05 }
        XCTAssertLessThan(maxDifference(result.finalState.parameters, expected), 1e-14)
    }

    /// Δ / (−lr) against the true gradient of the client's data at the global model.
    private func updateAsGradientError(_ local: LocalTrainingConfiguration) throws -> (relative: Double, exchange: CapturedExchange, start: ModelState, gradient: [Tensor]) {
        let (start, exchange, _, data) = try singleClientRound(local: local)
        let g = try trueGradient(data, Array(0..<12), start)
        let estimate = exchange.server.payload.tensors.map { $0 * (-1 / local.learningRate) }
        return (maxDifference(estimate, g) / maxMagnitude(g), exchange, start, g)
    }

    func testUpdateOverLearningRateIsTheGradientOnlyForOnePlainSGDStep() throws {
        let lr = 0.1
        // Plain SGD, one step over the whole data: Δ/(−lr) is the gradient.
        let plain = try updateAsGradientError(LocalTrainingConfiguration(epochs: 1, batchSize: 12, learningRate: lr))
        XCTAssertLessThan(plain.relative, 1e-12)

        // Weight decay: Δ/(−lr) = g + wd·w, off by exactly the decay term.
        let wd = 0.1
        let decayed = try updateAsGradientError(LocalTrainingConfiguration(epochs: 1, batchSize: 12, learningRate: lr, weightDecay: wd))
        XCTAssertGreaterThan(decayed.relative, 1e-2)
        let withDecay = zip(decayed.gradient, decayed.start.parameters).map { $0 + $1 * wd }
        let estimate = decayed.exchange.server.payload.tensors.map { $0 * (-1 / lr) }
        XCTAssertLessThan(maxDifference(estimate, withDecay), 1e-12)

        // Several steps (three epochs of the full batch): the update integrates a path.
        let epochs = try updateAsGradientError(LocalTrainingConfiguration(epochs: 3, batchSize: 12, learningRate: lr))
        XCTAssertEqual(epochs.exchange.groundTruth.settings.localSteps, 3)
        XCTAssertGreaterThan(epochs.relative, 0.5, "Δ/(−lr) over 3 steps should be about 3g, far from g")
        // Even divided by the step count it is not the gradient.
        let perStep = epochs.exchange.server.payload.tensors.map { $0 * (-1 / (3 * lr)) }
        XCTAssertGreaterThan(maxDifference(perStep, epochs.gradient) / maxMagnitude(epochs.gradient), 1e-3)

        // Several mini-batch steps: the same.
        let batches = try updateAsGradientError(LocalTrainingConfiguration(epochs: 1, batchSize: 4, learningRate: lr, shuffle: false))
        XCTAssertEqual(batches.exchange.groundTruth.settings.localSteps, 3)
        XCTAssertGreaterThan(batches.relative, 0.5)

        // Momentum over several steps changes the update again (PyTorch's first momentum
        // step equals plain SGD, so with a single step it could not).
        let momentum = try updateAsGradientError(LocalTrainingConfiguration(epochs: 3, batchSize: 12, learningRate: lr, momentum: 0.9))
        XCTAssertGreaterThan(maxDifference(momentum.exchange.server.payload.tensors, epochs.exchange.server.payload.tensors)
                                 / maxMagnitude(epochs.exchange.server.payload.tensors), 0.3)
        let oneMomentumStep = try updateAsGradientError(LocalTrainingConfiguration(epochs: 1, batchSize: 12, learningRate: lr, momentum: 0.9))
        XCTAssertLessThan(oneMomentumStep.relative, 1e-12)
    }

    func testFedAvgAggregatesWithSampleCountWeights() throws {
        // 14 samples over 3 IID clients: 5, 5 and 4 samples.
        let data = try Fixture.dataset(count: 14)
        var c = Fixture.configuration(clients: 3, rounds: 1, local: LocalTrainingConfiguration(epochs: 2, batchSize: 2, learningRate: 0.2))
        c.captures = [CaptureRequest(round: 1, selecting: .allSampled)]
        let start = network.initialState(seed: 2, dtype: .float64)
        let result = try FederatedSimulator(configuration: c, network: network, trainingData: data, initialState: start).run()
        let counts = result.captures.map(\.server.payload.sampleCount)
        XCTAssertEqual(counts.sorted(), [4, 5, 5])
        let n = Double(counts.reduce(0, +))
        let weighted = (0..<start.parameters.count).map { l in
            result.captures.reduce(start.parameters[l]) { $0 + $1.server.payload.tensors[l] * (Double($1.server.payload.sampleCount) / n) }
        }
        let unweighted = (0..<start.parameters.count).map { l in
            result.captures.reduce(start.parameters[l]) { $0 + $1.server.payload.tensors[l] * (1.0 / 3) }
        }
        XCTAssertLessThan(maxDifference(result.finalState.parameters, weighted), 1e-14)
        XCTAssertGreaterThan(maxDifference(result.finalState.parameters, unweighted), 1e-5)
        XCTAssertEqual(result.history.rounds[0].sampleCounts, counts)
    }

    func testBatchNormStatisticsStayLocalOrAreAveragedByPolicy() throws {
        let net = Network.convNet(width: 1, channels: 1, imageSize: 9, classes: 4)
        let data = try Fixture.dataset(count: 16, side: 9)
        let start = net.initialState(seed: 4)
        var c = Fixture.configuration(clients: 2, rounds: 1, local: LocalTrainingConfiguration(epochs: 1, batchSize: 4, learningRate: 0.05))
        c.bufferPolicy = .keepGlobal
        let kept = try FederatedSimulator(configuration: c, network: net, trainingData: data, initialState: start).run()
        XCTAssertTrue(bitIdentical(kept.finalState.buffers, start.buffers), "the server never sees the clients' statistics")
        XCTAssertFalse(bitIdentical(kept.finalState.parameters, start.parameters))

        c.bufferPolicy = .weightedMean
        let averaged = try FederatedSimulator(configuration: c, network: net, trainingData: data, initialState: start).run()
        // Every client took 8/4 = 2 steps, so every layer's num_batches_tracked is 2.
        for (spec, t) in zip(net.bufferSpecs, averaged.finalState.buffers) where spec.isInteger { XCTAssertEqual(t.item, 2) }
        let means = zip(net.bufferSpecs, averaged.finalState.buffers).filter { $0.0.name.hasSuffix("running_mean") }.map(\.1)
        XCTAssertGreaterThan(maxMagnitude(means), 1e-4, "averaged running means have moved away from 0")
        // Parameters do not depend on the buffer policy.
        XCTAssertTrue(bitIdentical(averaged.finalState.parameters, kept.finalState.parameters))
    }
}
