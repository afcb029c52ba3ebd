import Foundation
import OutpostAttacks
import OutpostData
import OutpostMetrics
import OutpostNN
import OutpostTensor
import OutpostThreatModel
import XCTest
import OutpostTestSupport

/// Test-side stand-in for a client: computes what it would send. (The attack itself only
/// ever sees the payload.)
enum Client {
    static func gradientPayload(_ net: Network, _ state: ModelState, images: Tensor, labels: [Int]) -> ClientPayload {
        let params = state.parameters.map { $0.requiringGrad() }
        let loss = Loss.crossEntropy(net(images, parameters: params, buffers: state.buffers), labels: labels)
        return ClientPayload(kind: .gradient, tensors: grad(of: loss, wrt: params), sampleCount: labels.count)
    }

    /// Plain local SGD over `images` in order, `batchSize` per step, for `epochs`; returns Δ.
    static func updatePayload(_ net: Network, _ state: ModelState, images: Tensor, labels: [Int], learningRate: Double,
                              batchSize: Int, epochs: Int = 1) throws -> ClientPayload {
        var params = state.parameters
        var sgd = try SGD(learningRate: learningRate)
        for _ in 0..<epochs {
            for start in stride(from: 0, to: labels.count, by: batchSize) {
                let rows = start..<min(start + batchSize, labels.count)
                let vars = params.map { $0.requiringGrad() }
                let loss = Loss.crossEntropy(net(images.slice(axis: 0, rows), parameters: vars, buffers: state.buffers), labels: Array(labels[rows]))
                sgd.step(parameters: &params, gradients: grad(of: loss, wrt: vars))
            }
        }
        return ClientPayload(kind: .modelUpdate, tensors: zip(params, state.parameters).map { ($0 - $1).detached }, sampleCount: labels.count)
    }
}

/// One photos32 patch, the DLG LeNet with the given initialization, the shared gradient.
func lenetPhotoScenario(_ index: Int, init initialization: Initialization = .dlg, seed: UInt64 = 1) throws -> (AttackTarget, Tensor, Int) {
    let ds = try RealData.dataset("photos32")
    let (x, labels) = RealData.images(ds, [index])
    let net = Network.lenet(channels: 3, imageSize: 32, classes: 10)
    let state = net.initialState(initialization, seed: seed)
    let payload = Client.gradientPayload(net, state, images: x, labels: labels)
    let target = try AttackTarget(network: net, globalState: state, payload: payload,
                                  knowledge: ServerKnowledge(batchSize: 1, normalization: .identity(channels: 3)))
    return (target, x, labels[0])
}
