import OutpostTensor
import XCTest

final class ElementwiseGradientTests: XCTestCase {
    func testBroadcastingArithmetic() {
        let a = randn([2, 3, 4], seed: 1), b = randn([3, 1], seed: 2), c = randu([4], seed: 3, low: 0.5, high: 2)
        checkGradients("add", [a, b]) { $0[0] + $0[1] }
        checkGradients("sub", [a, b]) { $0[0] - $0[1] }
        checkGradients("mul", [a, b]) { $0[0] * $0[1] }
        checkGradients("div", [a, c]) { $0[0] / $0[1] }
        checkGradients("neg", [a]) { -$0[0] }
        checkGradients("scalar ops", [a]) { (($0[0] + 2) * 3 - 1) / 4 }
        checkGradients("scalar reverse ops", [c]) { (5 - $0[0]) + 2 / $0[0] }
    }

    func testPowers() {
        let base = randu([3, 4], seed: 4, low: 0.5, high: 2), exponent = randn([4], seed: 5)
        checkGradients("pow tensor", [base, exponent]) { $0[0].pow($0[1]) }
        for p in [2.0, 3.0, 0.5, -1.5] { checkGradients("pow \(p)", [base]) { $0[0].pow(p) } }
        checkGradients("squared", [randn([5], seed: 6)]) { $0[0].squared() }
        checkGradients("sqrt", [base]) { $0[0].sqrt() }
        checkGradients("reciprocal", [base]) { $0[0].reciprocal() }
    }

    func testTranscendentals() {
        let x = randn([3, 5], seed: 7), positive = randu([3, 5], seed: 8, low: 0.2, high: 3)
        checkGradients("exp", [x]) { $0[0].exp() }
        checkGradients("log", [positive]) { $0[0].log() }
        checkGradients("erf", [x]) { $0[0].erf() }
    }

    func testActivations() {
        let x = awayFromZero([4, 6], seed: 9)
        checkGradients("sigmoid", [x]) { $0[0].sigmoid() }
        // The gradient itself as a function of the input and the cotangent: the sigmoid's
        // fused backward op and both of its own rules, to second order (sigmoid's fourth).
        checkGradients("sigmoid gradient", [x, randn([4, 6], seed: 10)]) { xs in
            let v = xs[0].requiresGrad ? xs[0] : xs[0].requiringGrad()
            return grad(of: (v.sigmoid() * xs[1]).sum(), wrt: [v], createGraph: true)[0]
        }
        checkGradients("tanh", [x]) { $0[0].tanh() }
        checkGradients("relu", [x]) { $0[0].relu() }
        checkGradients("leaky relu", [x]) { $0[0].leakyRelu(slope: 0.2) }
        checkGradients("softplus", [x]) { $0[0].softplus() }
        checkGradients("gelu", [x]) { $0[0].gelu() }
        checkGradients("abs", [x]) { $0[0].abs() }
    }

    func testPiecewiseOps() {
        let x = awayFromZero([4, 5], seed: 10), y = randn([4, 5], seed: 11)
        // Keep values off the clamp bounds, where the derivative jumps.
        let inside = x * 0.5
        checkGradients("clamp", [inside]) { $0[0].clamped(min: -0.6, max: 0.7) }
        checkGradients("maximum", [x, y]) { $0[0].maximum($0[1]) }
        checkGradients("minimum", [x, y]) { $0[0].minimum($0[1]) }
        let condition = x.greater(0)
        checkGradients("select", [x, y]) { Tensor.select(condition, $0[0] * 2, $0[1].exp()) }
    }

    func testCast() {
        // Linear in x, so a large step loses nothing while staying far above Float32 rounding.
        checkGradients("cast round trip", [randn([3], seed: 12)], eps: 1e-2, tolerance: 1e-5) { ($0[0].cast(to: .float32) * 2).cast(to: .float64) }
    }

    func testForwardValues() {
        let x = Tensor([-2, -0.5, 0, 0.5, 2] as [Double], shape: [5])
        assertClose(x.relu().doubles, [0, 0, 0, 0.5, 2])
        assertClose(x.sigmoid().doubles, [-2, -0.5, 0, 0.5, 2].map { 1 / (1 + exp(-$0)) })
        assertClose(x.clamped(min: -1, max: 1).doubles, [-1, -0.5, 0, 0.5, 1])
        assertClose(x.leakyRelu(slope: 0.1).doubles, [-0.2, -0.05, 0, 0.5, 2])
        assertClose(x.softplus().doubles, [-2, -0.5, 0, 0.5, 2].map { log(1 + exp($0)) })
        assertClose(x.gelu().doubles, [-2, -0.5, 0, 0.5, 2].map { $0 * 0.5 * (1 + erf($0 / 2.0.squareRoot())) })
        assertClose(x.sign().doubles, [-1, -1, 0, 1, 1])
        let big = Tensor([1000, -1000] as [Double], shape: [2])
        assertClose(big.sigmoid().doubles, [1, 0], "sigmoid must not overflow")
        assertClose(big.softplus().doubles, [1000, 0], "softplus must not overflow")
    }
}
