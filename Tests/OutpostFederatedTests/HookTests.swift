import OutpostDefenses
import OutpostFederated
import OutpostNN
import OutpostTensor
import XCTest

/// The three defense hooks are called where defenses act, with the right context, and what
/// they return is what the optimizer, the payload and the server use.
final class HookTests: XCTestCase {
    private let network = Fixture.mlp()

    func testStepDefenseSeesIterationsCountedAcrossEpochs() throws {
        // 3 clients of 7 samples (21 IID), B = 3: ⌈7/3⌉ = 3 steps per epoch, E = 2: iterations 1...6.
        let data = try Fixture.dataset(count: 21)
        var c = Fixture.configuration(clients: 3, rounds: 2, local: LocalTrainingConfiguration(epochs: 2, batchSize: 3, learningRate: 0.1))
        c.parallelClients = 1   // sequential clients: the calls arrive in client order
        let steps = Recorder<(round: Int, iteration: Int, batch: Int)>()
        let updates = Recorder<(round: Int, client: Int, samples: Int, steps: Int)>()
        let aggregates = Recorder<Int>()
        let result = try FederatedSimulator(
            configuration: c, network: network, trainingData: data,
            stepDefense: ScalingStepDefense(factor: 1, recorder: steps),
            updateDefense: RecordingUpdateDefense(zero: false, recorder: updates),
            aggregateDefense: ScalingAggregateDefense(factor: 1, recorder: aggregates)).run()

        let oneClient = [1, 2, 3, 4, 5, 6]
        XCTAssertEqual(steps.entries.map(\.iteration), Array(repeating: oneClient, count: 6).flatMap { $0 })
        XCTAssertEqual(steps.entries.map(\.round), Array(repeating: 1, count: 18) + Array(repeating: 2, count: 18))
        // Batches of 3, 3 and the remaining 1 in every epoch.
        XCTAssertEqual(Array(steps.entries.map(\.batch).prefix(6)), [3, 3, 1, 3, 3, 1])
        XCTAssertEqual(updates.entries.map(\.round), [1, 1, 1, 2, 2, 2])
        XCTAssertEqual(updates.entries.map(\.client), [0, 1, 2, 0, 1, 2])
        XCTAssertEqual(updates.entries.map(\.samples), Array(repeating: 7, count: 6))
        XCTAssertEqual(updates.entries.map(\.steps), Array(repeating: 6, count: 6))
        XCTAssertEqual(aggregates.entries, [1, 2])
        XCTAssertEqual(result.history.rounds.map(\.localSteps), [[6, 6, 6], [6, 6, 6]])
    }

    func testHooksAreCalledFromParallelClientsToo() throws {
        let data = try Fixture.dataset(count: 24)
        var c = Fixture.configuration(clients: 4, rounds: 1, local: LocalTrainingConfiguration(epochs: 1, batchSize: 2, learningRate: 0.1))
        c.parallelClients = 2
        let steps = Recorder<(round: Int, iteration: Int, batch: Int)>()
        _ = try FederatedSimulator(configuration: c, network: network, trainingData: data,
                                   stepDefense: ScalingStepDefense(factor: 1, recorder: steps)).run()
        // Each of the 4 clients takes 3 steps; in whatever interleaving, each iteration
        // number is seen once per client.
        XCTAssertEqual(steps.entries.map(\.iteration).sorted(), [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3])
    }

    func testStepDefenseOutputIsWhatTheOptimizerUses() throws {
        let data = try Fixture.dataset(count: 12)
        let start = network.initialState(seed: 3, dtype: .float64)
        func run(_ factor: Double, lr: Double) throws -> ModelState {
            let c = Fixture.configuration(clients: 2, rounds: 1, local: LocalTrainingConfiguration(epochs: 2, batchSize: 4, learningRate: lr))
            return try FederatedSimulator(configuration: c, network: network, trainingData: data, initialState: start,
                                          stepDefense: ScalingStepDefense(factor: factor, recorder: Recorder())).run().finalState
        }
        // Zeroed gradients: no client moves, so neither does the global model.
        XCTAssertTrue(bitIdentical(try run(0, lr: 0.1).parameters, start.parameters))
        // Doubled gradients with plain SGD are the same as a doubled learning rate.
        XCTAssertLessThan(maxDifference(try run(2, lr: 0.05).parameters, try run(1, lr: 0.1).parameters), 1e-14)
        XCTAssertGreaterThan(maxDifference(try run(1, lr: 0.1).parameters, start.parameters), 1e-3)
    }

    func testUpdateAndAggregateDefensesChangeWhatTheServerGets() throws {
        let data = try Fixture.dataset(count: 12)
        let start = network.initialState(seed: 3)
        var c = Fixture.configuration(clients: 2, rounds: 2)
        c.captures = [CaptureRequest(round: 1, client: 1)]
        // A zeroed update reaches the server (and the capture) as zeros.
        let zeroed = try FederatedSimulator(configuration: c, network: network, trainingData: data, initialState: start,
                                            updateDefense: RecordingUpdateDefense(zero: true, recorder: Recorder())).run()
        XCTAssertTrue(bitIdentical(zeroed.finalState.parameters, start.parameters))
        XCTAssertEqual(maxMagnitude(zeroed.captures[0].server.payload.tensors), 0)
        // A zeroed aggregate leaves the model unchanged though the clients trained.
        let rounds = Recorder<Int>()
        let blocked = try FederatedSimulator(configuration: c, network: network, trainingData: data, initialState: start,
                                             aggregateDefense: ScalingAggregateDefense(factor: 0, recorder: rounds)).run()
        XCTAssertTrue(bitIdentical(blocked.finalState.parameters, start.parameters))
        XCTAssertGreaterThan(maxMagnitude(blocked.captures[0].server.payload.tensors), 1e-4)
        XCTAssertEqual(rounds.entries, [1, 2])
    }

    func testDefenseFailuresStopTheRunWithContext() throws {
        let data = try Fixture.dataset(count: 12)
        let c = Fixture.configuration(clients: 2, rounds: 1, local: LocalTrainingConfiguration(epochs: 1, batchSize: 2, learningRate: 0.1))
        XCTAssertThrowsError(try FederatedSimulator(configuration: c, network: network, trainingData: data,
                                                    stepDefense: FailingStepDefense(iteration: 2)).run()) { error in
            guard case let .defense(name, round, client, message)? = error as? FederatedError else {
                return XCTFail("expected a defense error, got \(error)")
            }
            XCTAssertEqual(name, "fails-at-2")
            XCTAssertEqual(round, 1)
            XCTAssertEqual(client, 0)
            XCTAssertTrue(message.contains("planned failure"))
        }
        // A server-side failure says so.
        XCTAssertThrowsError(try FederatedSimulator(configuration: c, network: network, trainingData: data,
                                                    aggregateDefense: FailingAggregateDefense()).run()) { error in
            XCTAssertEqual("\(error)", "defense fails-on-server failed on the server in round 1: fails-on-server: bad aggregate")
        }
    }

    func testDivergedClientsAreReported() throws {
        let data = try Fixture.dataset(count: 12)
        let c = Fixture.configuration(clients: 2, rounds: 1, local: LocalTrainingConfiguration(epochs: 1, batchSize: 2, learningRate: 0.1))
        XCTAssertThrowsError(try FederatedSimulator(configuration: c, network: network, trainingData: data,
                                                    stepDefense: ScalingStepDefense(factor: .infinity, recorder: Recorder())).run()) { error in
            XCTAssertEqual(error as? FederatedError, .nonFinitePayload(round: 1, clientID: 0))
        }
    }
}
