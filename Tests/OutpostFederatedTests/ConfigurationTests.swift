import Foundation
import OutpostData
import OutpostFederated
import OutpostNN
import XCTest

/// Impossible configurations are rejected before anything runs, with a message naming the
/// field, the value and the requirement.
final class ConfigurationTests: XCTestCase {
    private func base() -> FederatedConfiguration { Fixture.configuration(clients: 4, rounds: 3) }

    func testDefaultsAreValid() throws {
        XCTAssertNoThrow(try base().validate())
        XCTAssertNoThrow(try FederatedConfiguration(clientCount: 100, clientsPerRound: 10, rounds: 100).validate())
    }

    func testImpossibleFederationSettingsAreRejected() {
        var c = base()
        c.clientsPerRound = 5
        assertConfigurationError("clientsPerRound is 5; it must be at most clientCount (4)") { try c.validate() }
        c = base(); c.clientCount = 0
        assertConfigurationError("clientCount is 0") { try c.validate() }
        c = base(); c.clientsPerRound = 0
        assertConfigurationError("clientsPerRound is 0") { try c.validate() }
        c = base(); c.rounds = 0
        assertConfigurationError("rounds is 0") { try c.validate() }
        c = base(); c.partition = .dirichlet(alpha: 0)
        assertConfigurationError("Dirichlet alpha") { try c.validate() }
        c = base(); c.partition = .fixedSize(samplesPerClient: 0)
        assertConfigurationError("at least 1 sample per client") { try c.validate() }
        c = base(); c.serverLearningRate = 0
        assertConfigurationError("serverLearningRate is 0.0") { try c.validate() }
        c = base(); c.parallelClients = 0
        assertConfigurationError("parallelClients is 0") { try c.validate() }
        c = base(); c.checkpointEvery = 0
        assertConfigurationError("checkpointEvery is 0") { try c.validate() }
        c = base(); c.evaluation.batchSize = 0
        assertConfigurationError("evaluation.batchSize is 0") { try c.validate() }
        c = base(); c.threatModel.assumedBatchSize = 0
        assertConfigurationError("threatModel.assumedBatchSize is 0") { try c.validate() }
    }

    func testImpossibleLocalTrainingIsRejected() {
        func check(_ fragment: String, _ change: (inout LocalTrainingConfiguration) -> Void) {
            var c = base()
            change(&c.local)
            assertConfigurationError(fragment) { try c.validate() }
        }
        check("local.batchSize is 0.0; it must be at least 1") { $0.batchSize = 0 }
        check("local.batchSize is -3.0") { $0.batchSize = -3 }
        check("local.epochs is 0.0; it must be at least 1") { $0.epochs = 0 }
        check("local.learningRate is 0.0; it must be finite and > 0") { $0.learningRate = 0 }
        check("local.learningRate is -0.1") { $0.learningRate = -0.1 }
        check("local.learningRate is nan") { $0.learningRate = .nan }
        check("local.momentum is 1.0; it must be in [0, 1)") { $0.momentum = 1 }
        check("local.weightDecay is -1.0") { $0.weightDecay = -1 }
        check("local.dampening is 2.0") { $0.dampening = 2 }
        check("Nesterov momentum requires momentum > 0") { $0.nesterov = true }
        check("local.schedule") { $0.schedule = LearningRateScheduleSpec(.step(stepSize: 0, gamma: 0.5)) }
        check("does nothing") { $0.augmentation = Augmentation(padding: 0, horizontalFlip: false) }
    }

    func testAggregationAndCaptureSettingsAreChecked() {
        var c = base()
        c.aggregation = .trimmedMean(fraction: 0.5)
        assertConfigurationError("trimmed fraction in [0, 0.5)") { try c.validate() }
        c.aggregation = .trimmedMean(fraction: -0.1)
        assertConfigurationError("trimmed fraction") { try c.validate() }
        c.aggregation = .trimmedMean(fraction: 0.49)
        XCTAssertNoThrow(try c.validate())

        c = base(); c.captures = [CaptureRequest(round: 4, client: 0)]
        assertConfigurationError("a round in 1...3") { try c.validate() }
        c = base(); c.captures = [CaptureRequest(round: 1, client: 4)]
        assertConfigurationError("a client id in 0..<4") { try c.validate() }
        c = base(); c.captures = [CaptureRequest(round: 1, selecting: .sampledPosition(4))]
        assertConfigurationError("a sampled position in 0..<4") { try c.validate() }
    }

    func testFedSGDRejectsSettingsItCannotHonour() {
        var c = base()
        c.algorithm = .fedSGD
        XCTAssertNoThrow(try c.validate())
        c.local.epochs = 2
        assertConfigurationError("local.epochs is 2; it must be 1 with FedSGD") { try c.validate() }
        c.local.epochs = 1
        c.local.momentum = 0.9
        assertConfigurationError("momentum (0.9) and weight decay (0.0) would never be applied") { try c.validate() }
        c.local.momentum = 0
        c.local.schedule = LearningRateScheduleSpec(.exponential(gamma: 0.9), clock: .localStep)
        assertConfigurationError("round clock") { try c.validate() }
    }

    func testSettingsThatDoNotFitTheDataAreRejectedBySimulator() throws {
        let data = try Fixture.dataset(count: 40)
        var c = base()
        c.partition = .fixedSize(samplesPerClient: 11)
        assertConfigurationError("the partition needs 44 samples but the data set has only 40") {
            _ = try FederatedSimulator(configuration: c, network: Fixture.mlp(), trainingData: data)
        }
        c = base()
        c.clientCount = 41
        c.clientsPerRound = 2
        assertConfigurationError("more clients than samples") {
            _ = try FederatedSimulator(configuration: c, network: Fixture.mlp(), trainingData: data)
        }
        assertConfigurationError("training images are [1, 8, 8], the mlp expects [1, 10, 10]") {
            _ = try FederatedSimulator(configuration: base(), network: Fixture.mlp(side: 10), trainingData: data)
        }
        assertConfigurationError("the training data has 4 classes, the model only 3 outputs") {
            _ = try FederatedSimulator(configuration: base(), network: Fixture.mlp(classes: 3), trainingData: data)
        }
        let wrongState = Fixture.lenet().initialState(seed: 0)
        assertConfigurationError("the initial state has") {
            _ = try FederatedSimulator(configuration: base(), network: Fixture.mlp(), trainingData: data, initialState: wrongState)
        }
        // A bad configuration is reported before the data is looked at.
        var bad = base()
        bad.local.batchSize = 0
        assertConfigurationError("local.batchSize") {
            _ = try FederatedSimulator(configuration: bad, network: Fixture.mlp(side: 10), trainingData: data)
        }
    }

    func testConfigurationRoundTripsThroughJSON() throws {
        var c = FederatedConfiguration(
            clientCount: 100, clientsPerRound: 10, rounds: 30, seed: 42, partition: .dirichlet(alpha: 0.5, samplesPerClient: 500),
            algorithm: .fedAvg,
            local: LocalTrainingConfiguration(epochs: 5, batchSize: 32, learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4,
                                              schedule: LearningRateScheduleSpec(.multiStep(milestones: [10, 20], gamma: 0.5)),
                                              augmentation: Augmentation(padding: 2, horizontalFlip: false)),
            aggregation: .trimmedMean(fraction: 0.1), serverLearningRate: 0.5, bufferPolicy: .weightedMean,
            threatModel: ThreatModel(known: [.learningRate, .labels], assumedBatchSize: 4),
            captures: [CaptureRequest(round: 3, client: 7), CaptureRequest(round: 5, selecting: .allSampled)],
            captureStepGradients: true, parallelClients: 2, checkpointEvery: 5)
        for partition in [PartitionScheme.iid, .shards(perClient: 2), .fixedSize(samplesPerClient: 9), .dirichlet(alpha: 0.1)] {
            c.partition = partition
            let data = try JSONEncoder().encode(c)
            let decoded = try JSONDecoder().decode(FederatedConfiguration.self, from: data)
            XCTAssertEqual(decoded, c)
        }
        // A Dirichlet partition without its alpha cannot be decoded.
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(c)) as? [String: Any])
        object["partition"] = ["kind": "dirichlet"]
        XCTAssertThrowsError(try JSONDecoder().decode(FederatedConfiguration.self, from: JSONSerialization.data(withJSONObject: object)))
        object["partition"] = ["kind": "pathological"]
        XCTAssertThrowsError(try JSONDecoder().decode(FederatedConfiguration.self, from: JSONSerialization.data(withJSONObject: object)))
    }

    func testTrajectoryDifferencesIgnoreRunLengthAndCaptures() {
        let a = base()
        var b = a
        b.rounds = 10
        b.captures = [CaptureRequest(round: 2, client: 1)]
        b.parallelClients = 1
        b.evaluation.every = 5
        XCTAssertEqual(a.trajectoryDifferences(from: b), [])
        b.local.learningRate = 0.2
        b.seed = 99
        XCTAssertEqual(a.trajectoryDifferences(from: b), ["seed", "local"])
    }
}
