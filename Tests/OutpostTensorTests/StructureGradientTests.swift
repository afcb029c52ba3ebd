import OutpostTensor
import XCTest

final class StructureGradientTests: XCTestCase {
    func testReductions() {
        let x = randn([2, 3, 4], seed: 20)
        checkGradients("sum all", [x]) { $0[0].sum() }
        checkGradients("sum axes", [x]) { $0[0].sum(axes: [0, 2]) }
        checkGradients("sum keepdims", [x]) { $0[0].sum(axis: 1, keepDims: true) * $0[0] }
        checkGradients("mean", [x]) { $0[0].mean(axes: [1]) }
        checkGradients("max", [x]) { $0[0].max(axis: 2) }
        checkGradients("max all", [x]) { $0[0].max() * $0[0].sum() }
        checkGradients("min", [x]) { $0[0].min(axes: [0, 1]) }
        checkGradients("variance unbiased", [x]) { $0[0].variance(axes: [0, 2]) }
        checkGradients("variance biased", [x]) { $0[0].variance(axes: [1], unbiased: false, keepDims: true) }
        checkGradients("norm", [x]) { $0[0].norm(axes: [2]) }
        checkGradients("sum to shape", [x]) { $0[0].sum(to: [3, 1]) }
        checkGradients("expand", [randn([3, 1], seed: 21)]) { $0[0].expanded(to: [2, 3, 4]) }
    }

    func testShapeOps() {
        let x = randn([2, 3, 4], seed: 22), y = randn([2, 2, 4], seed: 23)
        checkGradients("reshape", [x]) { $0[0].reshaped([4, -1]).squared() }
        checkGradients("flatten", [x]) { $0[0].flattened().exp() }
        checkGradients("permute", [x]) { $0[0].permuted([2, 0, 1]) * Tensor.arange(3, dtype: .float64) }
        checkGradients("transpose", [x]) { $0[0].transposed(0, 2).sigmoid() }
        checkGradients("slice", [x]) { $0[0].slice(axis: 1, 1..<3).squared() }
        checkGradients("pad", [x]) { $0[0].padded(before: [0, 1, 2], after: [1, 0, 1]).squared() }
        checkGradients("concat", [x, y]) { Tensor.concat([$0[0], $0[1].exp(), $0[0]], axis: 1).squared() }
        checkGradients("stack", [x, x * 2]) { Tensor.stack([$0[0], $0[1]], axis: 1).tanh() }
        checkGradients("index", [x]) { $0[0][1].squared() }
        checkGradients("unsqueeze", [x]) { $0[0].unsqueezed(at: 1).squared() }
    }

    func testMatmul() {
        let a = randn([3, 4], seed: 24), b = randn([4, 5], seed: 25)
        checkGradients("matmul", [a, b]) { $0[0].matmul($0[1]).tanh() }
        let ba = randn([2, 3, 4], seed: 26), bb = randn([2, 4, 5], seed: 27)
        checkGradients("batched matmul", [ba, bb]) { $0[0].matmul($0[1]).squared() }
        checkGradients("broadcast batch", [ba, b]) { $0[0].matmul($0[1]).squared() }
        checkGradients("broadcast left batch", [a, bb]) { $0[0].matmul($0[1]).squared() }
        checkGradients("vector right", [a, randn([4], seed: 28)]) { $0[0].matmul($0[1]).squared() }
        checkGradients("vector left", [randn([3], seed: 29), a]) { $0[0].matmul($0[1]).squared() }
        for (ta, tb) in [(true, false), (false, true), (true, true)] {
            let l = ta ? randn([2, 4, 3], seed: 30) : ba
            let r = tb ? randn([5, 4], seed: 31) : b
            checkGradients("matmul ta=\(ta) tb=\(tb)", [l, r]) { Tensor.matmul($0[0], $0[1], transposeA: ta, transposeB: tb).squared() }
        }
        checkGradients("linear", [a, randn([6, 4], seed: 32), randn([6], seed: 33)]) { $0[0].linear($0[1], bias: $0[2]).sigmoid() }
    }

    func testMatmulValuesAndReferenceGEMM() {
        let a = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3]), b = Tensor([1, 0, 0, 1, 1, 1] as [Float], shape: [3, 2])
        assertClose(a.matmul(b).doubles, [4, 5, 10, 11])
        // BLAS and the plain-Swift GEMM must agree on a product with every transpose.
        var rng = RandomGenerator(seed: 34)
        let x = Tensor.normal([3, 17, 33], using: &rng), y = Tensor.normal([33, 9], using: &rng)
        let fast = x.matmul(y).doubles
        Engine.useReferenceGEMM = true
        defer { Engine.useReferenceGEMM = false }
        let slow = x.matmul(y).doubles
        assertClose(fast, slow, rtol: 1e-5, atol: 1e-5, "BLAS vs reference GEMM")
        let xt = Tensor.matmul(y, x, transposeA: true, transposeB: true).doubles
        Engine.useReferenceGEMM = false
        assertClose(Tensor.matmul(y, x, transposeA: true, transposeB: true).doubles, xt, rtol: 1e-5, atol: 1e-5, "transposed")
    }
}
