import Foundation
import OutpostData
import OutpostDefenses
import OutpostFederated
import OutpostNN
import OutpostTensor
import XCTest

/// Small synthetic data sets and models that train in milliseconds.
enum Fixture {
    /// `count` grayscale `side`×`side` images of `classes` classes: class c lights up a
    /// band of rows at its own position, plus uniform noise; labels cycle 0, 1, 2, ...
    static func dataset(count: Int, classes: Int = 4, side: Int = 8, seed: UInt64 = 7) throws -> ImageDataset {
        var rng = RandomGenerator(seed: seed)
        var pixels: [Float] = []
        var labels: [Int] = []
        for i in 0..<count {
            let label = i % classes
            labels.append(label)
            for y in 0..<side {
                for _ in 0..<side {
                    let band = y * classes / side == label
                    pixels.append(Float((band ? 0.6 : 0.1) + 0.3 * rng.uniform()))
                }
            }
        }
        return try ImageDataset(name: "synthetic", images: pixels, labels: labels, channels: 1, height: side, width: side,
                                classCount: classes)
    }

    /// A one-hidden-layer MLP for `side`×`side` images.
    static func mlp(side: Int = 8, classes: Int = 4) -> Network {
        .mlp(inputShape: [1, side, side], hidden: [16], classes: classes, activation: .tanh)
    }

    /// The DLG LeNet for `side`×`side` grayscale images.
    static func lenet(side: Int = 8, classes: Int = 4) -> Network {
        .lenet(channels: 1, imageSize: side, classes: classes)
    }

    /// A configuration of `clients` clients with all of them sampled, E = 1, and the
    /// given local settings.
    static func configuration(clients: Int = 4, perRound: Int? = nil, rounds: Int = 2,
                              local: LocalTrainingConfiguration = LocalTrainingConfiguration(epochs: 1, batchSize: 8, learningRate: 0.1),
                              seed: UInt64 = 3) -> FederatedConfiguration {
        FederatedConfiguration(clientCount: clients, clientsPerRound: perRound ?? clients, rounds: rounds, seed: seed,
                               local: local, evaluation: EvaluationConfiguration(batchSize: 64))
    }

    /// A fresh temporary directory, removed when the test ends.
    static func temporaryDirectory(_ testCase: XCTestCase) throws -> URL {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("outpost-fed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        testCase.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Images `indices` of a data set as a model-space tensor (normalized when asked).
    static func modelInput(_ data: ImageDataset, _ indices: [Int], normalized: Bool, dtype: DType) throws -> Tensor {
        var pixels = try data.batch(indices).images
        if normalized { pixels = data.normalization.normalize(pixels, planeSize: data.height * data.width) }
        return Tensor(pixels, shape: [indices.count] + data.imageShape).cast(to: dtype)
    }
}

/// Largest absolute difference between two tensor lists (same shapes).
func maxDifference(_ a: [Tensor], _ b: [Tensor]) -> Double {
    precondition(a.count == b.count)
    var m = 0.0
    for (x, y) in zip(a, b) {
        precondition(x.shape == y.shape, "shapes \(x.shape) and \(y.shape)")
        for (u, v) in zip(x.doubles, y.doubles) { m = max(m, abs(u - v)) }
    }
    return m
}

/// Largest absolute element of a tensor list.
func maxMagnitude(_ a: [Tensor]) -> Double {
    a.reduce(0) { max($0, $1.doubles.map(abs).max() ?? 0) }
}

/// Whether two tensor lists hold bit-identical values.
func bitIdentical(_ a: [Tensor], _ b: [Tensor]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.shape == $1.shape && $0.doubles.elementsEqual($1.doubles) { $0.bitPattern == $1.bitPattern } }
}

/// Asserts that `body` throws a `FederatedConfigurationError` whose text contains `fragment`.
func assertConfigurationError(_ fragment: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected a configuration error mentioning \"\(fragment)\"; nothing was thrown", file: file, line: line)
    } catch let error as FederatedConfigurationError {
        XCTAssertTrue(error.description.contains(fragment), "\"\(error.description)\" does not mention \"\(fragment)\"", file: file, line: line)
    } catch {
        XCTFail("expected a FederatedConfigurationError, got \(error)", file: file, line: line)
    }
}

/// Thread-safe recorder for test doubles (defenses are copied per client and may run on
/// several threads at once).
final class Recorder<Entry: Sendable>: @unchecked Sendable {
    private var storage: [Entry] = []
    private let lock = NSLock()
    func append(_ e: Entry) { lock.withLock { storage.append(e) } }
    var entries: [Entry] { lock.withLock { storage } }
}

/// A step defense for tests: scales every gradient by `factor` and records
/// (round, iteration, batch size) of each call.
struct ScalingStepDefense: StepDefense {
    let factor: Double
    let recorder: Recorder<(round: Int, iteration: Int, batch: Int)>
    var name: String { "scale(\(factor))" }
    mutating func apply(to gradient: [Tensor], step: LocalStep, rng: inout RandomGenerator) throws -> [Tensor] {
        recorder.append((step.round, step.iteration, step.labels.count))
        return gradient.map { $0 * factor }
    }
}

/// An update defense for tests: records the context and passes the update unchanged, or
/// zeroes it.
struct RecordingUpdateDefense: UpdateDefense {
    let zero: Bool
    let recorder: Recorder<(round: Int, client: Int, samples: Int, steps: Int)>
    var name: String { zero ? "zero-update" : "record-update" }
    mutating func apply(to update: [Tensor], context: UpdateContext, rng: inout RandomGenerator) throws -> [Tensor] {
        recorder.append((context.round, context.clientID, context.sampleCount, context.localSteps))
        return zero ? update.map { $0.zerosLike() } : update
    }
}

/// An aggregate defense for tests: scales the aggregate and records the rounds it saw.
struct ScalingAggregateDefense: AggregateDefense {
    let factor: Double
    let recorder: Recorder<Int>
    var name: String { "scale-aggregate(\(factor))" }
    func apply(to aggregate: [Tensor], round: Int) throws -> [Tensor] {
        recorder.append(round)
        return aggregate.map { $0 * factor }
    }
}

/// A step defense that fails at a given iteration.
struct FailingStepDefense: StepDefense {
    let iteration: Int
    var name: String { "fails-at-\(iteration)" }
    mutating func apply(to gradient: [Tensor], step: LocalStep, rng: inout RandomGenerator) throws -> [Tensor] {
        if step.iteration == iteration { throw DefenseError.invalidParameter(defense: name, message: "planned failure") }
        return gradient
    }
}

/// An aggregate defense that always fails.
struct FailingAggregateDefense: AggregateDefense {
    var name: String { "fails-on-server" }
    func apply(to aggregate: [Tensor], round: Int) throws -> [Tensor] {
        throw DefenseError.invalidParameter(defense: name, message: "bad aggregate")
    }
}
