import OutpostAttacks
import OutpostNN
import OutpostTensor
import OutpostThreatModel
import XCTest
import OutpostTestSupport

final class LabelAndAnalyticTests: XCTestCase {
    /// iDLG reads the label of a single sample off the last layer's gradient.
    func testIDLGLabelAccuracyOnSingleSamples() throws {
        let ds = try RealData.dataset("mnist", split: .test)
        let net = Network.lenet(channels: 1, imageSize: 28, classes: 10)
        for initialization in [Initialization.dlg, .pytorchDefault] {
            let state = net.initialState(initialization, seed: 5)
            var correct = 0
            for i in 0..<40 {
                let (x, labels) = RealData.images(ds, [i])
                let payload = Client.gradientPayload(net, state, images: x, labels: labels)
                let g = FinalLayerGradient(network: net, gradients: payload.tensors)
                if LabelInference.singleLabel(finalLayerGradient: g) == labels[0] { correct += 1 }
            }
            XCTAssertEqual(correct, 40, "\(initialization)")
        }
    }

    /// Batch label inference counts a batch of 8 distinct labels right.
    func testBatchLabelInferenceForEightDistinctLabels() throws {
        let ds = try RealData.dataset("fashion-mnist", split: .test)
        var picked: [Int] = []
        for i in 0..<ds.count where !picked.map({ ds.labels[$0] }).contains(ds.labels[i]) {
            picked.append(i)
            if picked.count == 8 { break }
        }
        let (x, labels) = RealData.images(ds, picked)
        let net = Network.lenet(channels: 1, imageSize: 28, classes: 10)
        let state = net.initialState(.pytorchDefault, seed: 2)
        let payload = Client.gradientPayload(net, state, images: x, labels: labels)
        let mean = LabelInference.meanPrediction(net, state, count: 8, seed: 0)
        let inferred = LabelInference.batchLabels(finalLayerGradient: FinalLayerGradient(network: net, gradients: payload.tensors),
                                                  batchSize: 8, meanPrediction: mean)
        XCTAssertEqual(inferred, labels.sorted())
    }

    /// Repeated labels are counted too.
    func testBatchLabelInferenceCountsRepeats() throws {
        let ds = try RealData.dataset("mnist", split: .test)
        let indices = Array(0..<200).filter { [1, 7].contains(ds.labels[$0]) }.prefix(6)
        let (x, labels) = RealData.images(ds, Array(indices))
        let net = Network.lenet(channels: 1, imageSize: 28, classes: 10)
        let state = net.initialState(.pytorchDefault, seed: 3)
        let payload = Client.gradientPayload(net, state, images: x, labels: labels)
        let mean = LabelInference.meanPrediction(net, state, count: 6, seed: 0)
        let inferred = LabelInference.batchLabels(finalLayerGradient: FinalLayerGradient(network: net, gradients: payload.tensors),
                                                  batchSize: 6, meanPrediction: mean)
        XCTAssertEqual(inferred, labels.sorted())
    }

    /// A model that begins with a fully connected layer gives its input away exactly.
    func testAnalyticRecoveryOfAnMLPInput() throws {
        let ds = try RealData.dataset("fashion-mnist", split: .test)
        let (x, labels) = RealData.images(ds, [3])
        let net = Network.mlp(inputShape: [1, 28, 28], hidden: [128], classes: 10)
        let state = net.initialState(.pytorchDefault, seed: 4)
        for payload in [Client.gradientPayload(net, state, images: x, labels: labels),
                        try Client.updatePayload(net, state, images: x, labels: labels, learningRate: 0.1, batchSize: 1)] {
            let target = try AttackTarget(network: net, globalState: state, payload: payload,
                                          knowledge: ServerKnowledge(batchSize: 1, normalization: .identity(channels: 1)))
            let trial = try AnalyticRecovery.recover(target)
            let err = zip(trial.pixels.doubles, x.doubles).map { abs($0 - $1) }.max() ?? 1
            XCTAssertLessThan(err, 1e-4, "\(payload.kind)")
        }
        // And refuses a model that does not start with a linear layer.
        let lenet = Network.lenet(channels: 1, imageSize: 28)
        let s = lenet.initialState(seed: 0)
        let target = try AttackTarget(network: lenet, globalState: s, payload: Client.gradientPayload(lenet, s, images: x, labels: labels),
                                      knowledge: ServerKnowledge(batchSize: 1, normalization: .identity(channels: 1)))
        XCTAssertThrowsError(try AnalyticRecovery.recover(target))
    }

    func testBadTargetsAreRejectedBeforeAnyWork() throws {
        let net = Network.lenet(channels: 1, imageSize: 28)
        let s = net.initialState(seed: 0)
        let wrongShapes = ClientPayload(kind: .gradient, tensors: s.parameters.reversed(), sampleCount: 1)
        XCTAssertThrowsError(try AttackTarget(network: net, globalState: s, payload: wrongShapes,
                                              knowledge: ServerKnowledge(batchSize: 1, normalization: .identity(channels: 1))))
        let good = ClientPayload(kind: .gradient, tensors: s.parameters, sampleCount: 1)
        let target = try AttackTarget(network: net, globalState: s, payload: good,
                                      knowledge: ServerKnowledge(batchSize: 1, normalization: .identity(channels: 1)))
        XCTAssertThrowsError(try GradientInversion.invertingGradients(labels: .known).run(on: target, seed: 0)) { error in
            XCTAssert("\(error)".contains("known"), "\(error)")
        }
        XCTAssertThrowsError(try GradientInversion(distance: .squaredL2, matching: .unrolledUpdate, labels: .optimized,
                                                   optimizer: .lbfgs(), iterations: 1).run(on: target, seed: 0))
    }
}
