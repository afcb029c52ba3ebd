import Foundation
import OutpostData
import OutpostFederated
import OutpostNN
import OutpostTensor
import XCTest
import OutpostTestSupport

/// FedAvg on Fashion-MNIST with the DLG LeNet (1×28×28): a fast version in the normal
/// suite, and the full example (100 clients, Dirichlet α = 0.5, 30 rounds) when
/// `OUTPOST_EXAMPLES=1`, which writes its accuracy curve to examples/federated/.
///
/// Full example:
///
///     OUTPOST_EXAMPLES=1 swift test -c release -Xswiftc -enable-testing \
///         --filter OutpostFederatedTests.FashionMNISTExampleTests/testFullExample
final class FashionMNISTExampleTests: XCTestCase {
    /// The example's settings; the fast version shrinks the federation and the rounds.
    static func configuration(clients: Int, perRound: Int, rounds: Int, epochs: Int) -> FederatedConfiguration {
        FederatedConfiguration(
            clientCount: clients, clientsPerRound: perRound, rounds: rounds, seed: 2023,
            partition: .dirichlet(alpha: 0.5), algorithm: .fedAvg,
            local: LocalTrainingConfiguration(epochs: epochs, batchSize: 32, learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4),
            aggregation: .weightedMean,
            evaluation: EvaluationConfiguration(batchSize: 500),
            captures: [CaptureRequest(round: rounds, selecting: .sampledPosition(0))])
    }

    static let network = Network.lenet(channels: 1, imageSize: 28, classes: 10)
    /// The DLG paper's initialization (uniform in ±0.5): with PyTorch's default the sigmoid
    /// LeNet sits on its initial plateau for many more rounds.
    static let initialState = network.initialState(.dlg, seed: 2023)

    /// The 1, 5 and 15 minute load averages (other work competing for the cores).
    static func loadAverage() -> [Double] {
        var values = [Double](repeating: 0, count: 3)
        return getloadavg(&values, 3) == 3 ? values : []
    }

    func testFastVersion() throws {
        let train = try RealData.dataset("fashion-mnist", split: .train).prefix(3000)
        let test = try RealData.dataset("fashion-mnist", split: .test).prefix(1000)
        let c = Self.configuration(clients: 10, perRound: 4, rounds: 3, epochs: 2)
        let directory = try Fixture.temporaryDirectory(self)
        let sim = try FederatedSimulator(configuration: c, network: Self.network, trainingData: train, testData: test,
                                         initialState: Self.initialState, checkpointDirectory: directory)
        let result = try sim.run()
        let initial = try XCTUnwrap(result.history.initialEvaluation)
        let final = try XCTUnwrap(result.history.lastEvaluation)
        XCTAssertEqual(final.sampleCount, 1000)
        XCTAssertLessThan(initial.accuracy, 0.25, "an untrained model is near chance")
        XCTAssertGreaterThan(final.accuracy, initial.accuracy + 0.15, "3 rounds of FedAvg must learn: \(result.history.csv())")
        XCTAssertLessThan(final.loss, initial.loss)
        // A capture from the last round, with its ground truth in the client's partition.
        let exchange = try XCTUnwrap(result.captures.first)
        XCTAssertEqual(exchange.round, 3)
        XCTAssertEqual(Set(exchange.groundTruth.datasetIndices), Set(sim.partition.clientIndices[exchange.clientID]))
        XCTAssertEqual(exchange.server.payload.sampleCount, exchange.groundTruth.labels.count)
        // The CSV has the header, round 0 and three rounds.
        XCTAssertEqual(result.history.csv().split(separator: "\n").count, 5)
        XCTAssertEqual(try FederatedCheckpoint.read(from: directory).completedRounds, 3)
    }

    /// The full example; skipped unless OUTPOST_EXAMPLES=1. Set OUTPOST_EXAMPLE_ROUNDS to
    /// run another number of rounds (e.g. 100 for the speed measurement) without writing
    /// the committed outputs.
    func testFullExample() throws {
        guard ProcessInfo.processInfo.environment["OUTPOST_EXAMPLES"] == "1" else {
            throw XCTSkip("set OUTPOST_EXAMPLES=1 to run the full FedAvg example")
        }
        let roundsOverride = ProcessInfo.processInfo.environment["OUTPOST_EXAMPLE_ROUNDS"].flatMap(Int.init)
        let rounds = roundsOverride ?? 30
        let train = try RealData.dataset("fashion-mnist", split: .train)
        let test = try RealData.dataset("fashion-mnist", split: .test)
        let c = Self.configuration(clients: 100, perRound: 10, rounds: rounds, epochs: 5)
        let checkpoints = try Fixture.temporaryDirectory(self)
        let started = Date()
        let sim = try FederatedSimulator(configuration: c, network: Self.network, trainingData: train, testData: test,
                                         initialState: Self.initialState, checkpointDirectory: checkpoints)
        let result = try sim.run { report in
            let e = report.evaluation
            let line = String(format: "round %3d  accuracy %.4f  loss %.4f  %.2f s (training %.2f, defense %.3f, aggregation %.3f, evaluation %.2f, checkpoint %.3f; %.2f processor s)\n",
                              report.round, e?.accuracy ?? .nan, e?.loss ?? .nan, report.timing.total, report.timing.training,
                              report.timing.defense, report.timing.aggregation, report.timing.evaluation, report.timing.checkpoint,
                              report.timing.processorSeconds)
            FileHandle.standardError.write(Data(line.utf8))
        }
        let wall = Date().timeIntervalSince(started)
        let final = try XCTUnwrap(result.history.lastEvaluation)
        if roundsOverride == nil {
            XCTAssertGreaterThanOrEqual(final.accuracy, 0.75)
        }

        let seconds = result.history.rounds.map(\.timing.total)
        let training = result.history.rounds.map(\.timing.training)
        let summary = ExampleSummary(
            command: "OUTPOST_EXAMPLES=1 \(roundsOverride.map { "OUTPOST_EXAMPLE_ROUNDS=\($0) " } ?? "")swift test -c release -Xswiftc -enable-testing --filter OutpostFederatedTests.FashionMNISTExampleTests/testFullExample",
            dataset: "fashion-mnist (60000 train, 10000 test, ../shared/data)",
            model: "DLG LeNet, 1x28x28, sigmoid, \(Self.network.parameterCount) parameters, DLG uniform(-0.5, 0.5) init (seed 2023)",
            partition: "Dirichlet alpha 0.5, mean label skew \(String(format: "%.3f", sim.partition.meanLabelSkew(labels: train.labels, classCount: 10)))",
            clientSampleCounts: .init(minimum: sim.partition.sizes.min()!, maximum: sim.partition.sizes.max()!),
            rounds: rounds, initialAccuracy: result.history.initialEvaluation?.accuracy ?? .nan,
            finalAccuracy: final.accuracy, finalLoss: final.loss,
            bestAccuracy: result.history.rounds.compactMap(\.evaluation?.accuracy).max() ?? .nan,
            firstRoundReaching75Percent: result.history.rounds.first { ($0.evaluation?.accuracy ?? 0) >= 0.75 }?.round,
            secondsPerRound: .init(mean: seconds.reduce(0, +) / Double(seconds.count), minimum: seconds.min()!, maximum: seconds.max()!),
            trainingSecondsPerRound: training.reduce(0, +) / Double(training.count),
            processorSecondsPerRound: result.history.rounds.map(\.timing.processorSeconds).reduce(0, +) / Double(rounds),
            loadAverageAtEnd: Self.loadAverage(),
            evaluationSecondsPerRound: result.history.rounds.map(\.timing.evaluation).reduce(0, +) / Double(rounds),
            checkpointSecondsPerRound: result.history.rounds.map(\.timing.checkpoint).reduce(0, +) / Double(rounds),
            wallSeconds: wall, parallelClients: c.effectiveParallelClients,
            activeProcessors: ProcessInfo.processInfo.activeProcessorCount,
            configuration: c)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let name = roundsOverride == nil ? "fashion-mnist-fedavg" : "fashion-mnist-fedavg-\(rounds)-rounds"
        let folder = RealData.repositoryRoot.appendingPathComponent("examples/federated/\(name)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try encoder.encode(summary).write(to: folder.appendingPathComponent("summary.json"))
        try encoder.encode(c).write(to: folder.appendingPathComponent("configuration.json"))
        try result.history.csv().write(to: folder.appendingPathComponent("accuracy.csv"), atomically: true, encoding: .utf8)
        print("wrote \(folder.path): final accuracy \(final.accuracy), \(summary.secondsPerRound.mean) s per round")
    }
}

/// The summary JSON of the example run.
struct ExampleSummary: Codable {
    struct Range: Codable { var minimum: Int; var maximum: Int }
    struct Seconds: Codable { var mean: Double; var minimum: Double; var maximum: Double }
    var command: String
    var dataset: String
    var model: String
    var partition: String
    var clientSampleCounts: Range
    var rounds: Int
    var initialAccuracy: Double
    var finalAccuracy: Double
    var finalLoss: Double
    var bestAccuracy: Double
    var firstRoundReaching75Percent: Int?
    var secondsPerRound: Seconds
    var trainingSecondsPerRound: Double
    var processorSecondsPerRound: Double
    var loadAverageAtEnd: [Double]
    var evaluationSecondsPerRound: Double
    var checkpointSecondsPerRound: Double
    var wallSeconds: Double
    var parallelClients: Int
    var activeProcessors: Int
    var configuration: FederatedConfiguration
}
