import OutpostTensor
import XCTest

/// Checks first- and second-order gradients of `f` against central finite differences in
/// random directions, in Float64 (the model is JAX's `check_grads` and PyTorch's
/// `gradcheck` / `gradgradcheck`).
///
/// First order: L(x) = <u, f(x)> for a random cotangent u; the analytic directional
/// derivative Σ_i <∇_i L, v_i> must match (L(x + εv) − L(x − εv)) / 2ε, for each input alone
/// and for all together. Second order: G(x) = Σ_i <w_i, ∇_i L(x)> with the gradient built
/// with `createGraph`; the same check is applied to G, which exercises every backward rule's
/// own backward.
func checkGradients(_ name: String, _ inputs: [Tensor], order: Int = 2, eps: Double = 1e-6,
                    tolerance: Double = 1e-6, seed: UInt64 = 7,
                    file: StaticString = #filePath, line: UInt = #line,
                    _ f: @escaping ([Tensor]) -> Tensor) {
    var rng = RandomGenerator(seed: seed)
    let xs = inputs.map { $0.cast(to: .float64) }
    let probe = f(xs)
    let u = Tensor.normal(probe.shape, dtype: .float64, using: &rng)
    let loss: ([Tensor]) -> Tensor = { (f($0) * u).sum() }
    checkDirectional("\(name) (first order)", xs, eps: eps, tolerance: tolerance, rng: &rng, file: file, line: line, loss)
    guard order >= 2 else { return }
    let ws = xs.map { Tensor.normal($0.shape, dtype: .float64, using: &rng) }
    let gradLoss: ([Tensor]) -> Tensor = { xs in
        let vars = xs.map { $0.requiresGrad ? $0 : $0.requiringGrad() }
        let gs = grad(of: loss(vars), wrt: vars, createGraph: true)
        return zip(gs, ws).map { ($0 * $1).sum() }.reduce(Tensor(scalar: 0, dtype: .float64), +)
    }
    checkDirectional("\(name) (second order)", xs, eps: eps, tolerance: tolerance, rng: &rng, file: file, line: line, gradLoss)
}

private func checkDirectional(_ name: String, _ xs: [Tensor], eps: Double, tolerance: Double, rng: inout RandomGenerator,
                              file: StaticString, line: UInt, _ loss: @escaping ([Tensor]) -> Tensor) {
    let vars = xs.map { $0.requiringGrad() }
    let grads = grad(of: loss(vars), wrt: vars)
    let directions = xs.map { Tensor.normal($0.shape, dtype: .float64, using: &rng) }
    // Each input alone, then all together.
    var cases: [[Int]] = xs.indices.map { [$0] }
    if xs.count > 1 { cases.append(Array(xs.indices)) }
    for chosen in cases {
        func shifted(_ s: Double) -> [Tensor] {
            xs.enumerated().map { chosen.contains($0.offset) ? $0.element + directions[$0.offset] * s : $0.element }
        }
        let numeric = (loss(shifted(eps)).item - loss(shifted(-eps)).item) / (2 * eps)
        let analytic = chosen.reduce(0.0) { $0 + (grads[$1] * directions[$1]).sum().item }
        let scale = max(1, abs(numeric), abs(analytic))
        XCTAssert(abs(numeric - analytic) <= tolerance * scale,
                  "\(name), inputs \(chosen): analytic \(analytic) vs numeric \(numeric)", file: file, line: line)
    }
}

/// A Float64 tensor of normal values.
func randn(_ shape: [Int], seed: UInt64, std: Double = 1, mean: Double = 0) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    return .normal(shape, mean: mean, std: std, dtype: .float64, using: &rng)
}

/// A Float64 tensor of uniform values in [low, high).
func randu(_ shape: [Int], seed: UInt64, low: Double, high: Double) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    return .uniform(shape, low: low, high: high, dtype: .float64, using: &rng)
}

/// Values bounded away from zero (for ops with a kink or pole at 0).
func awayFromZero(_ shape: [Int], seed: UInt64) -> Tensor {
    let x = randn(shape, seed: seed)
    return x + x.sign() * 0.3
}

func assertClose(_ a: [Double], _ b: [Double], rtol: Double = 1e-5, atol: Double = 1e-6, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(message): lengths differ", file: file, line: line)
    var worst = 0.0, at = -1
    for (i, (x, y)) in zip(a, b).enumerated() {
        let err = abs(x - y) - (atol + rtol * abs(y))
        if err > worst || (x.isNaN != y.isNaN) { worst = max(err, 1); at = i }
    }
    XCTAssert(at < 0, "\(message): element \(at) differs: \(at >= 0 ? a[at] : 0) vs \(at >= 0 ? b[at] : 0)", file: file, line: line)
}
