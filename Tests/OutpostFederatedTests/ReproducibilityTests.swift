import Foundation
import OutpostData
import OutpostFederated
import OutpostNN
import OutpostTensor
import XCTest

/// Results depend on the seed only: not on the number of threads, and not on whether the
/// run was interrupted and resumed from a checkpoint.
final class ReproducibilityTests: XCTestCase {
    /// A run that exercises every source of randomness and state: Dirichlet partition,
    /// client sampling, shuffling, augmentation, momentum, weight decay, a per-round
    /// schedule, a conv model, evaluation and captures.
    private func configuration(rounds: Int = 4) -> FederatedConfiguration {
        FederatedConfiguration(
            clientCount: 6, clientsPerRound: 3, rounds: rounds, seed: 21, partition: .dirichlet(alpha: 0.5),
            local: LocalTrainingConfiguration(epochs: 2, batchSize: 4, learningRate: 0.1, momentum: 0.9, weightDecay: 1e-3,
                                              schedule: LearningRateScheduleSpec(.step(stepSize: 2, gamma: 0.5)),
                                              augmentation: Augmentation(padding: 1, horizontalFlip: true)),
            evaluation: EvaluationConfiguration(batchSize: 7),
            captures: rounds >= 3 ? [CaptureRequest(round: 3, selecting: .sampledPosition(1))] : [])
    }

    private let network = Fixture.lenet()

    private func simulator(_ c: FederatedConfiguration, directory: URL? = nil, resume: Bool = true, dtype: DType = .float32,
                           network: Network? = nil) throws -> FederatedSimulator {
        let net = network ?? self.network
        return try FederatedSimulator(configuration: c, network: net, trainingData: Fixture.dataset(count: 72),
                                      testData: Fixture.dataset(count: 20, seed: 99),
                                      initialState: net.initialState(seed: 8, dtype: dtype), checkpointDirectory: directory,
                                      resume: resume)
    }

    /// The parts of a history that must be identical between equivalent runs (timings differ).
    private func trajectory(_ h: RunHistory) -> [String] {
        ["\(h.initialEvaluation.map { "\($0)" } ?? "-")"]
            + h.rounds.map { "\($0.round) \($0.clients) \($0.sampleCounts) \($0.localSteps) \($0.trainingLoss.bitPattern) \($0.evaluation.map { "\($0)" } ?? "-")" }
    }

    func testThreadCountDoesNotChangeResults() throws {
        var results: [SimulationResult] = []
        for threads in [1, 2, 3] {
            var c = configuration(rounds: 3)
            c.parallelClients = threads
            results.append(try simulator(c).run())
        }
        for r in results.dropFirst() {
            XCTAssertTrue(bitIdentical(r.finalState.parameters, results[0].finalState.parameters))
            XCTAssertEqual(trajectory(r.history), trajectory(results[0].history))
            XCTAssertEqual(r.captures.count, 1)
            XCTAssertTrue(bitIdentical(r.captures[0].server.payload.tensors, results[0].captures[0].server.payload.tensors))
            XCTAssertEqual(r.captures[0].groundTruth.datasetIndices, results[0].captures[0].groundTruth.datasetIndices)
        }
        // The run actually trained, and the model is not the initial one.
        let h = results[0].history
        XCTAssertFalse(bitIdentical(results[0].finalState.parameters, network.initialState(seed: 8).parameters))
        XCTAssertEqual(h.rounds.count, 3)
        XCTAssertNotNil(h.initialEvaluation)
    }

    func testSeedDecidesTheRun() throws {
        let a = try simulator(configuration(rounds: 1)).run()
        let b = try simulator(configuration(rounds: 1)).run()
        var other = configuration(rounds: 1)
        other.seed = 22
        let c = try simulator(other).run()
        XCTAssertTrue(bitIdentical(a.finalState.parameters, b.finalState.parameters))
        XCTAssertFalse(bitIdentical(a.finalState.parameters, c.finalState.parameters))
    }

    func testClientSamplingIsSeededAndKnownInAdvance() throws {
        let c = FederatedConfiguration(clientCount: 100, clientsPerRound: 10, rounds: 50, seed: 5)
        var seen = Set<Int>()
        for round in 1...50 {
            let s = FederatedSimulator.sampledClients(round: round, configuration: c)
            XCTAssertEqual(s.count, 10)
            XCTAssertEqual(Set(s).count, 10)
            XCTAssertEqual(s, s.sorted())
            XCTAssertTrue(s.allSatisfy { (0..<100).contains($0) })
            XCTAssertEqual(s, FederatedSimulator.sampledClients(round: round, configuration: c))
            seen.formUnion(s)
        }
        XCTAssertGreaterThan(seen.count, 90, "50 rounds of 10 should reach nearly all of 100 clients")
        XCTAssertNotEqual(FederatedSimulator.sampledClients(round: 1, configuration: c),
                          FederatedSimulator.sampledClients(round: 2, configuration: c))
        // The run samples exactly those clients.
        let run = try simulator(configuration(rounds: 2)).run()
        for r in run.history.rounds {
            XCTAssertEqual(r.clients, FederatedSimulator.sampledClients(round: r.round, configuration: configuration()))
        }
    }

    func testResumeAfterInterruptionGivesTheSameFinalModel() throws {
        let uninterruptedDirectory = try Fixture.temporaryDirectory(self)
        let uninterrupted = try simulator(configuration(), directory: uninterruptedDirectory).run()

        // Stop after round 2, as if the process had been killed after its checkpoint...
        let directory = try Fixture.temporaryDirectory(self)
        let first = try simulator(configuration(), directory: directory)
        let partial = try first.run(throughRound: 2)
        XCTAssertEqual(partial.history.rounds.count, 2)
        // ...while writing round 3: a model file without its committed record, and a
        // temporary file, are left behind.
        try Data("torn write".utf8).write(to: directory.appendingPathComponent("global-round-000003.safetensors"))
        try Data("torn write".utf8).write(to: directory.appendingPathComponent(".checkpoint.json.1234.tmp"))

        // A new simulator (a new process) resumes from the checkpoint.
        let resumed = try simulator(configuration(), directory: directory)
        XCTAssertEqual(resumed.resumedAfterRound, 2)
        XCTAssertEqual(resumed.completedRounds, 2)
        XCTAssertTrue(bitIdentical(resumed.globalState.parameters, partial.finalState.parameters))
        let rest = try resumed.run()
        XCTAssertTrue(bitIdentical(rest.finalState.parameters, uninterrupted.finalState.parameters))
        XCTAssertEqual(trajectory(rest.history), trajectory(uninterrupted.history))
        // The capture of round 3 happens after the resume and matches the uninterrupted one.
        XCTAssertEqual(rest.captures.count, 1)
        XCTAssertTrue(bitIdentical(rest.captures[0].server.payload.tensors, uninterrupted.captures[0].server.payload.tensors))

        // The final checkpoint: the record and the model it names, nothing stale.
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix(".") }.sorted()
        XCTAssertEqual(files, ["checkpoint.json", "global-round-000004.safetensors"])
        let record = try FederatedCheckpoint.read(from: directory)
        XCTAssertEqual(record.completedRounds, 4)
        XCTAssertEqual(record.randomState.nextRound, 5)
        XCTAssertEqual(record.history.rounds.count, 4)
        let saved = try network.loadState(from: directory.appendingPathComponent(record.modelFile))
        XCTAssertTrue(bitIdentical(saved.parameters, uninterrupted.finalState.parameters))
    }

    func testFloat64RunsResumeBitForBit() throws {
        let mlp = Fixture.mlp()
        var c = Fixture.configuration(clients: 4, perRound: 2, rounds: 3,
                                      local: LocalTrainingConfiguration(epochs: 1, batchSize: 5, learningRate: 0.1, momentum: 0.5))
        c.aggregation = .median
        let whole = try simulator(c, dtype: .float64, network: mlp).run()
        let directory = try Fixture.temporaryDirectory(self)
        _ = try simulator(c, directory: directory, dtype: .float64, network: mlp).run(throughRound: 1)
        let resumed = try simulator(c, directory: directory, dtype: .float64, network: mlp)
        XCTAssertEqual(resumed.globalState.parameters[0].dtype, .float64)
        let rest = try resumed.run()
        XCTAssertTrue(bitIdentical(rest.finalState.parameters, whole.finalState.parameters))
    }

    func testResumeRefusesAnotherRunsCheckpoint() throws {
        let directory = try Fixture.temporaryDirectory(self)
        _ = try simulator(configuration(rounds: 1), directory: directory).run()
        var changed = configuration()
        changed.local.learningRate = 0.05
        XCTAssertThrowsError(try simulator(changed, directory: directory)) { error in
            XCTAssertTrue("\(error)".contains("different local"), "\(error)")
        }
        // The run length may change: resuming a 1-round run's checkpoint to go on to 4.
        let extended = try simulator(configuration(rounds: 4), directory: directory)
        XCTAssertEqual(extended.completedRounds, 1)
        // resume: false starts over.
        let fresh = try simulator(changed, directory: directory, resume: false)
        XCTAssertEqual(fresh.completedRounds, 0)
        XCTAssertNil(fresh.resumedAfterRound)
        // A record that is not a checkpoint is reported as such.
        try Data("{}".utf8).write(to: directory.appendingPathComponent("checkpoint.json"))
        XCTAssertThrowsError(try simulator(configuration(), directory: directory)) { error in
            XCTAssertTrue("\(error)".contains("is not a valid checkpoint record"), "\(error)")
        }
    }
}
