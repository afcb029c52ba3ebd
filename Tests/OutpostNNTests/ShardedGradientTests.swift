import Foundation
import OutpostNN
import OutpostTensor
import XCTest

/// `Network.crossEntropyGradient`: a batch cut into one shard per thread gives the batch's
/// loss and gradient, and batches whose samples are not independent are never cut.
final class ShardedGradientTests: XCTestCase {
    private func withThreads<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
        let saved = Engine.threads
        Engine.threads = n
        defer { Engine.threads = saved }
        return try body()
    }

    private func batch(_ n: Int, _ shape: [Int], dtype: DType, seed: UInt64) -> (Tensor, [Int]) {
        var rng = RandomGenerator(seed: seed)
        let x = Tensor.uniform([n] + shape, low: -1, high: 1, dtype: dtype, using: &rng)
        return (x, (0..<n).map { _ in Int(rng.next() % 10) })
    }

    /// The reference: one graph for the whole batch.
    private func wholeBatch(_ net: Network, _ x: Tensor, _ labels: [Int], _ state: ModelState, training: Bool) -> (Double, [Tensor]) {
        let vars = state.parameters.map { $0.requiringGrad() }
        let loss = Loss.crossEntropy(net(x, parameters: vars, buffers: state.buffers, training: training), labels: labels)
        return (loss.item, grad(of: loss, wrt: vars))
    }

    private func maxRelativeError(_ a: [Tensor], _ b: [Tensor]) -> Double {
        zip(a, b).map { a, b in
            let scale = max(b.doubles.map(abs).max() ?? 0, 1e-30)
            return zip(a.doubles, b.doubles).map { abs($0 - $1) }.max()! / scale
        }.max()!
    }

    func testShardCountFollowsThreadsAndBatch() {
        withThreads(1) { XCTAssertEqual(Engine.shardCount(samples: 64), 1) }
        withThreads(2) {
            XCTAssertEqual(Engine.shardCount(samples: 32), 2)
            XCTAssertEqual(Engine.shardCount(samples: 15), 1)
            XCTAssertEqual(Engine.shardCount(samples: 16), 2)
        }
        withThreads(3) {
            XCTAssertEqual(Engine.shardCount(samples: 20), 2)
            XCTAssertEqual(Engine.shardCount(samples: 24), 3)
        }
    }

    /// Float64, so that only the order of the additions over the batch can differ: shards of
    /// 12, 13 and 12 samples (37 = three uneven shards) and of 18 and 19.
    func testShardsGiveTheBatchGradientInFloat64() {
        let net = Network.lenet(channels: 1, imageSize: 28, classes: 10)
        let state = net.initialState(.pytorchDefault, seed: 3, dtype: .float64)
        let (x, labels) = batch(37, [1, 28, 28], dtype: .float64, seed: 5)
        let (refLoss, refGrad) = wholeBatch(net, x, labels, state, training: true)
        for threads in [1, 2, 3] {
            withThreads(threads) {
                XCTAssertEqual(Engine.shardCount(samples: 37), threads)
                var ctx = ForwardContext(parameters: state.parameters, buffers: state.buffers, training: true)
                let (loss, gradient) = net.crossEntropyGradient(x, labels: labels, &ctx)
                XCTAssertEqual(loss, refLoss, accuracy: 1e-13 * abs(refLoss), "threads \(threads)")
                XCTAssertEqual(gradient.map(\.shape), refGrad.map(\.shape))
                XCTAssertLessThan(maxRelativeError(gradient, refGrad), 1e-12, "threads \(threads)")
                // The context keeps the given parameters, not the shards' leaves.
                XCTAssertTrue(zip(ctx.parameters, state.parameters).allSatisfy { $0.doubles == $1.doubles && !$0.requiresGrad })
            }
        }
    }

    func testShardsGiveTheBatchGradientInFloat32() {
        let net = Network.lenet(channels: 1, imageSize: 28, classes: 10)
        let state = net.initialState(.pytorchDefault, seed: 4)
        let (x, labels) = batch(32, [1, 28, 28], dtype: .float32, seed: 6)
        let (refLoss, refGrad) = wholeBatch(net, x, labels, state, training: false)
        withThreads(2) {
            var ctx = ForwardContext(parameters: state.parameters, buffers: state.buffers, training: false)
            let (loss, gradient) = net.crossEntropyGradient(x, labels: labels, &ctx)
            XCTAssertEqual(loss, refLoss, accuracy: 1e-6 * abs(refLoss))
            XCTAssertLessThan(maxRelativeError(gradient, refGrad), 1e-5)
        }
    }

    /// Each shard runs with the caller's settings, whichever thread takes it.
    func testShardsRunWithTheCallersSettings() {
        withThreads(2) {
            let seen = UnsafeMutableBufferPointer<Bool>.allocate(capacity: 4)
            defer { seen.deallocate() }
            seen.initialize(repeating: true)
            withoutGrad { Engine.runShards(4) { seen[$0] = isGradEnabled } }
            XCTAssertEqual(Array(seen), [false, false, false, false])
            XCTAssertTrue(isGradEnabled)
            seen.initialize(repeating: false)
            Engine.runShards(4) { seen[$0] = isGradEnabled }
            XCTAssertEqual(Array(seen), [true, true, true, true])
        }
    }

    func testBatchNormInTrainingAndDropoutAreNotPerSample() {
        let resnet = Network.resnet(.resnet18)
        XCTAssertFalse(resnet.isPerSample(training: true))
        XCTAssertTrue(resnet.isPerSample(training: false))
        let mobile = Network.mobileNetV2()
        XCTAssertFalse(mobile.isPerSample(training: true))
        XCTAssertTrue(mobile.isPerSample(training: false))
        XCTAssertTrue(Network.lenet().isPerSample(training: true))
        XCTAssertFalse(Sequential([Activation.relu, Dropout(0.5)]).isPerSample(training: true))
        XCTAssertTrue(Sequential([Activation.relu, Dropout(0)]).isPerSample(training: true))
    }

    /// A network with batch norm in training mode is differentiated whole: its gradient is the
    /// whole batch's bit for bit, and its running statistics advance once.
    func testBatchNormNetworkIsDifferentiatedWhole() {
        let net = Network.convNet(width: 16, channels: 3, imageSize: 16, classes: 10)
        XCTAssertFalse(net.isPerSample(training: true))
        let state = net.initialState(.pytorchDefault, seed: 2)
        let (x, labels) = batch(32, [3, 16, 16], dtype: .float32, seed: 8)
        var reference = ForwardContext(parameters: state.parameters.map { $0.requiringGrad() }, buffers: state.buffers, training: true)
        let refLoss = Loss.crossEntropy(net.forward(x, &reference), labels: labels)
        let refGrad = grad(of: refLoss, wrt: reference.parameters)
        withThreads(2) {
            var ctx = ForwardContext(parameters: state.parameters, buffers: state.buffers, training: true)
            let (loss, gradient) = net.crossEntropyGradient(x, labels: labels, &ctx)
            XCTAssertEqual(loss.bitPattern, refLoss.item.bitPattern)
            XCTAssertTrue(zip(gradient, refGrad).allSatisfy { $0.doubles == $1.doubles })
            XCTAssertTrue(zip(ctx.buffers, reference.buffers).allSatisfy { $0.doubles == $1.doubles })
            XCTAssertFalse(zip(ctx.buffers, state.buffers).allSatisfy { $0.doubles == $1.doubles })
        }
    }
}
