import Foundation
import OutpostAttacks
import OutpostData
import OutpostMetrics
import OutpostNN
import OutpostTensor
import OutpostThreatModel
import XCTest

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

enum RealData {
    static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url = url.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    static func dataset(_ name: String, split: Split = .train) throws -> ImageDataset {
        let dir = repositoryRoot.appendingPathComponent("../shared/data").standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: dir) else { throw XCTSkip("real data folder \(dir) is absent") }
        return try loadDataset(name, split: split, directory: dir)
    }

    /// Images `indices` of a data set as an N×C×H×W pixel tensor with their labels.
    static func images(_ ds: ImageDataset, _ indices: [Int]) -> (Tensor, [Int]) {
        let size = ds.channels * ds.height * ds.width
        var values: [Float] = []
        for i in indices { values += ds.images[(i * size)..<((i + 1) * size)] }
        return (Tensor(values, shape: [indices.count, ds.channels, ds.height, ds.width]), indices.map { ds.labels[$0] })
    }
}

/// SSIM of image i of two N×C×H×W pixel tensors.
func ssim(_ truth: Tensor, _ reconstruction: Tensor, _ i: Int = 0) throws -> Double {
    let c = truth.shape[1], h = truth.shape[2], w = truth.shape[3]
    let a = try Image(channels: c, height: h, width: w, pixels: Array(truth[i].doubles))
    let b = try Image(channels: c, height: h, width: w, pixels: Array(reconstruction[i].doubles), outOfRange: .clamp)
    return try ImageMetrics.ssim(a, b)
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
