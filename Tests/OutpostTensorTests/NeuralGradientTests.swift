import OutpostTensor
import XCTest

final class NeuralGradientTests: XCTestCase {
    func testConvolutions() {
        let x = randn([2, 4, 7, 6], seed: 40)
        checkGradients("conv2d", [x, randn([3, 4, 3, 3], seed: 41), randn([3], seed: 42)]) {
            $0[0].conv2d($0[1], bias: $0[2], padding: 1).tanh()
        }
        checkGradients("conv2d stride 2", [x, randn([5, 4, 5, 5], seed: 43)]) { $0[0].conv2d($0[1], stride: 2, padding: 2).tanh() }
        checkGradients("conv2d dilation", [x, randn([2, 4, 3, 2], seed: 44)]) { $0[0].conv2d($0[1], padding: 1, dilation: 2).tanh() }
        checkGradients("conv2d groups", [x, randn([6, 2, 3, 3], seed: 45)]) { $0[0].conv2d($0[1], stride: 2, padding: 1, groups: 2).tanh() }
        checkGradients("depthwise conv2d", [x, randn([4, 1, 3, 3], seed: 46)]) { $0[0].conv2d($0[1], padding: 1, groups: 4).tanh() }
        checkGradients("pointwise conv2d", [x, randn([3, 4, 1, 1], seed: 47)]) { $0[0].conv2d($0[1]).tanh() }
        checkGradients("conv transpose", [randn([2, 3, 4, 4], seed: 48), randn([3, 2, 3, 3], seed: 49)]) {
            $0[0].convTranspose2d($0[1], stride: 2, padding: 1).tanh()
        }
        let geo = Conv2dGeometry(stride: (2, 1), padding: (1, 0), dilation: (1, 2))
        checkGradients("conv2d asymmetric", [x, randn([2, 4, 3, 2], seed: 50)]) { $0[0].conv2d($0[1], geometry: geo).sigmoid() }
    }

    func testConvolutionValues() {
        // A 1-channel 3x3 image, an all-ones 2x2 kernel: each output sums a 2x2 window.
        let x = Tensor([1, 2, 3, 4, 5, 6, 7, 8, 9] as [Double], shape: [1, 1, 3, 3])
        let w = Tensor.ones([1, 1, 2, 2], dtype: .float64)
        assertClose(x.conv2d(w).doubles, [12, 16, 24, 28])
        assertClose(x.conv2d(w, padding: 1, groups: 1).doubles, [1, 3, 5, 3, 5, 12, 16, 9, 11, 24, 28, 15, 7, 15, 17, 9])
        // BLAS and reference GEMM agree through im2col.
        var rng = RandomGenerator(seed: 51)
        let big = Tensor.normal([2, 3, 9, 9], using: &rng), k = Tensor.normal([4, 3, 3, 3], using: &rng)
        let fast = big.conv2d(k, stride: 2, padding: 1).doubles
        Engine.useReferenceGEMM = true
        defer { Engine.useReferenceGEMM = false }
        assertClose(fast, big.conv2d(k, stride: 2, padding: 1).doubles, rtol: 1e-5, atol: 1e-5)
    }

    func testPooling() {
        // Random normals: no two values in a window are within the finite-difference step.
        let x = randn([2, 3, 6, 5], seed: 55)
        checkGradients("max pool", [x]) { $0[0].maxPool2d(kernel: 2).squared() }
        checkGradients("max pool 3/2 padded", [x]) { $0[0].maxPool2d(kernel: 3, stride: 2, padding: 1).squared() }
        checkGradients("avg pool", [x]) { $0[0].avgPool2d(kernel: 2).squared() }
        checkGradients("avg pool padded", [x]) { $0[0].avgPool2d(kernel: 3, stride: 2, padding: 1).squared() }
        checkGradients("avg pool exclude pad", [x]) { $0[0].avgPool2d(kernel: 3, stride: 2, padding: 1, countIncludePad: false).squared() }
        checkGradients("adaptive avg pool", [x]) { $0[0].adaptiveAvgPool2d((4, 3)).squared() }
        checkGradients("global avg pool", [x]) { $0[0].adaptiveAvgPool2d((1, 1)).squared() }
        let v = Tensor([1, 5, 2, 0, 3, 4, 9, 8, 7] as [Double], shape: [1, 1, 3, 3])
        assertClose(v.maxPool2d(kernel: 2, stride: 1).doubles, [5, 5, 9, 8])
        assertClose(v.adaptiveAvgPool2d((2, 2)).doubles, [2.25, 3.5, 5, 5.5])
        assertClose(v.avgPool2d(kernel: 2, stride: 1).doubles, [2.25, 3.5, 5, 5.5])
    }

    func testNormalizations() {
        let x = randn([3, 4, 5, 2], seed: 60), gamma = randn([4], seed: 61), beta = randn([4], seed: 62)
        checkGradients("batch norm (training)", [x, gamma, beta]) {
            $0[0].batchNormTraining(weight: $0[1], bias: $0[2]).output.tanh()
        }
        let rm = randn([4], seed: 63), rv = randu([4], seed: 64, low: 0.5, high: 2)
        checkGradients("batch norm (inference)", [x, gamma, beta]) {
            $0[0].batchNormInference(runningMean: rm, runningVariance: rv, weight: $0[1], bias: $0[2]).tanh()
        }
        checkGradients("layer norm", [x, randn([5, 2], seed: 65), randn([5, 2], seed: 66)]) {
            $0[0].layerNorm(normalizedShape: [5, 2], weight: $0[1], bias: $0[2]).tanh()
        }
        checkGradients("group norm", [x, gamma, beta]) { $0[0].groupNorm(groups: 2, weight: $0[1], bias: $0[2]).tanh() }
        let stats = x.batchNormTraining(weight: nil, bias: nil)
        let direct = x.permuted([1, 0, 2, 3]).reshaped([4, -1])
        assertClose(stats.mean.doubles, direct.mean(axis: 1).doubles, atol: 1e-12)
        assertClose(stats.variance.doubles, direct.variance(axes: [1]).doubles, atol: 1e-12)
    }

    func testLossesAndSimilarities() {
        let logits = randn([4, 5], seed: 70), soft = randn([4, 5], seed: 71).softmax(axis: 1)
        checkGradients("softmax", [logits]) { $0[0].softmax(axis: 1) }
        checkGradients("log softmax", [logits]) { $0[0].logSoftmax(axis: 0) }
        checkGradients("cross entropy (hard)", [logits]) { Loss.crossEntropy($0[0], labels: [0, 3, 4, 1]) }
        checkGradients("cross entropy (soft, both sides)", [logits, randn([4, 5], seed: 72)]) {
            Loss.crossEntropy($0[0], targets: $0[1].softmax(axis: 1))
        }
        checkGradients("cross entropy (soft)", [logits]) { Loss.crossEntropy($0[0], targets: soft) }
        let a = randn([3, 6], seed: 73), b = randn([3, 6], seed: 74)
        checkGradients("cosine similarity", [a, b]) { Loss.cosineSimilarity($0[0], $0[1], axis: 1) }
        checkGradients("mse", [a, b]) { Loss.mse($0[0], $0[1]) }
        let img = randn([2, 3, 5, 4], seed: 75)
        checkGradients("total variation", [img]) { Loss.totalVariation($0[0]) }
        var rng = RandomGenerator(seed: 76)
        let mask = Tensor.bernoulli([3, 6], probability: 0.7, dtype: .float64, using: &rng)
        checkGradients("dropout mask", [a]) { $0[0] * mask / 0.7 }

        // Cross-entropy of uniform logits is log K; softmax rows sum to one.
        XCTAssertEqual(Loss.crossEntropy(Tensor.zeros([2, 4], dtype: .float64), labels: [1, 2]).item, log(4), accuracy: 1e-12)
        assertClose(logits.softmax(axis: 1).sum(axis: 1).doubles, [1, 1, 1, 1], atol: 1e-12)
        XCTAssertEqual(Loss.cosineSimilarity(a, a * 3, axis: 1).doubles[0], 1, accuracy: 1e-12)
    }
}

