import Foundation
import OutpostData
import OutpostDefenses
import OutpostMetrics
import OutpostNN
import OutpostTensor
import XCTest
import OutpostTestSupport

/// A model, its weights and a batch: what a client holds at one local step.
struct Fixture {
    let network: Network
    let state: ModelState
    let images: Tensor
    let labels: [Int]

    /// The local step at `iteration`.
    func step(iteration: Int = 1, training: Bool = false) -> LocalStep {
        LocalStep(network: network, parameters: state.parameters, buffers: state.buffers, images: images, labels: labels,
                  iteration: iteration, round: 1, training: training)
    }

    /// The batch gradient of the mean cross-entropy.
    var gradient: [Tensor] { step().gradient(rows: 0..<labels.count) }

    /// Random pixel images in [0, 1) and labels drawn with `seed`.
    static func synthetic(_ network: Network, batch: Int, initialization: Initialization = .pytorchDefault,
                          seed: UInt64 = 1) -> Fixture {
        var rng = RandomGenerator(seed: seed &+ 1000)
        let images = Tensor.uniform([batch] + network.inputShape, using: &rng)
        let labels = (0..<batch).map { _ in Int(rng.next() % UInt64(network.classCount)) }
        return Fixture(network: network, state: network.initialState(initialization, seed: seed), images: images, labels: labels)
    }

    /// The OUTPOST paper's Table III scenario 3: photos32 patch `index`, the DLG LeNet with
    /// uniform(−0.5, 0.5) weights.
    static func photo(_ index: Int, seed: UInt64 = 1) throws -> Fixture {
        let ds = try RealData.dataset("photos32")
        let (x, labels) = RealData.images(ds, [index])
        let net = Network.lenet(channels: 3, imageSize: 32, classes: 10)
        return Fixture(network: net, state: net.initialState(.dlg, seed: seed), images: x, labels: labels)
    }
}

/// Mean and (population) standard deviation.
func moments(_ xs: [Double]) -> (mean: Double, std: Double) {
    let mean = xs.reduce(0, +) / Double(xs.count)
    return (mean, (xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(xs.count)).squareRoot())
}

/// Asserts that `xs` are draws of a distribution with the given mean and standard deviation:
/// the sample mean within 4 standard errors and the sample standard deviation within 4
/// standard errors of its own (≈ σ/√(2n) for near-normal data; `kurtosisExcess` widens it).
func assertDraws(_ xs: [Double], mean: Double = 0, std: Double, kurtosisExcess: Double = 0, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    let n = Double(xs.count)
    let m = moments(xs)
    XCTAssertEqual(m.mean, mean, accuracy: 4 * std / n.squareRoot(), "mean \(message)", file: file, line: line)
    XCTAssertEqual(m.std, std, accuracy: 4 * std * ((2 + kurtosisExcess) / (4 * n)).squareRoot(), "std \(message)", file: file, line: line)
}

/// Flat elements of a tensor list.
func flat(_ tensors: [Tensor]) -> [Double] { tensors.flatMap(\.doubles) }

/// A multilayer perceptron large enough for statistical tests (≈ 67k parameters).
func wideMLP() -> Network { .mlp(inputShape: [1, 16, 16], hidden: [256], classes: 10) }
