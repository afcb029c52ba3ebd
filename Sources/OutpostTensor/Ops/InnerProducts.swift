// Inner products as single-pass primitives. Gradient matching compares vectors as long as
// the model (11 M elements for ResNet-18), where every temporary of `(a * b).sum()` or
// `a.squared().sum()` is a full pass over memory and an allocation; these read their inputs
// once and keep their cotangents to one pass each.

extension Tensor {
    /// Σ self[i]·other[i] over tensors of the same shape, as a rank-0 tensor (accumulated
    /// in Double).
    public func dot(_ other: Tensor) -> Tensor {
        precondition(shape == other.shape, "dot: shapes \(shape) and \(other.shape) differ")
        precondition(dtype == other.dtype, "dot: dtypes differ (\(dtype) vs \(other.dtype))")
        return dot(other, value: Kernels.dot(buffer, other.buffer))
    }

    /// `dot(_:)` whose value (in Double) the caller has computed.
    func dot(_ other: Tensor, value: Double) -> Tensor {
        let a = self, b = other
        return Tensor.record("dot", Tensor(scalar: value, dtype: dtype), [a, b], { g, _, need in
            [need[0] ? b * g : nil, need[1] ? a * g : nil]
        })
    }

    /// alpha·x + beta·y for tensors x, y of one shape and rank-0 alpha, beta, in one pass.
    public static func linearCombination(_ x: Tensor, _ alpha: Tensor, _ y: Tensor, _ beta: Tensor) -> Tensor {
        precondition(x.shape == y.shape, "linearCombination: shapes \(x.shape) and \(y.shape) differ")
        precondition(alpha.count == 1 && beta.count == 1, "linearCombination: coefficients must have one element")
        precondition(x.dtype == y.dtype && alpha.dtype == x.dtype && beta.dtype == x.dtype, "linearCombination: dtypes differ")
        let out = Tensor(shape: x.shape, buffer: Kernels.linearCombination(alpha.item, x.buffer, beta.item, y.buffer))
        return record("linear_combination", out, [x, alpha, y, beta], { g, _, need in
            [need[0] ? g * alpha.reshaped([]) : nil, need[1] ? g.dot(x).reshaped(alpha.shape) : nil,
             need[2] ? g * beta.reshaped([]) : nil, need[3] ? g.dot(y).reshaped(beta.shape) : nil]
        })
    }

    /// Σ self[i]², as a rank-0 tensor (accumulated in Double).
    public func sumOfSquares() -> Tensor { sumOfSquares(value: Kernels.dot(buffer, buffer)) }

    /// `sumOfSquares()` whose value (in Double) the caller has computed.
    func sumOfSquares(value: Double) -> Tensor {
        let x = self
        return Tensor.record("sum_of_squares", Tensor(scalar: value, dtype: dtype), [x], { g, _, _ in [x * (g * 2)] })
    }

    /// Σ (self[i] − other[i])² over tensors of the same shape, as a rank-0 tensor (each
    /// difference formed and accumulated in Double).
    public func squaredDistance(_ other: Tensor) -> Tensor {
        precondition(shape == other.shape, "squaredDistance: shapes \(shape) and \(other.shape) differ")
        precondition(dtype == other.dtype, "squaredDistance: dtypes differ (\(dtype) vs \(other.dtype))")
        let a = self, b = other
        let value = Kernels.scaledSquaredDistance(buffer, 1, other.buffer, 1)
        return Tensor.record("squared_distance", Tensor(scalar: value, dtype: dtype), [a, b], { g, _, need in
            let twice = g * 2
            return [need[0] ? (a - b) * twice : nil, need[1] ? (b - a) * twice : nil]
        })
    }

    /// Σ_l ‖a_l − b_l‖² over two lists of tensors (one vector each, as gradient matching
    /// compares a model's parameter gradients), as a rank-0 tensor.
    public static func squaredDistance(_ a: [Tensor], _ b: [Tensor]) -> Tensor {
        precondition(a.count == b.count && !a.isEmpty, "squaredDistance: \(a.count) tensors against \(b.count)")
        return zip(a, b).map { $0.squaredDistance($1) }.reduce(Tensor(scalar: 0, dtype: a[0].dtype), +)
    }

    /// The smallest 1 − cos that a Float32 `cosineDistance` takes from its dot products.
    static let cosineDistanceDotFormFloor = 1e-5

    /// 1 − cos(a, b) of two vectors given as lists of tensors (one vector: the weighted
    /// concatenation, layer l scaled by √weights[l]), with b fixed.
    ///
    /// The value is ½ Σ_l w_l ‖a_l/‖a‖ − b_l/‖b‖‖², evaluated in Double: the same quantity
    /// as 1 − a·b/(‖a‖‖b‖), but a sum of squared differences keeps its precision near a
    /// perfect match, where the float32 dot-product form cannot resolve below ~1e-7 and
    /// stalls L-BFGS. Its derivative with respect to a_l is that of 1 − D/√S, with
    /// S = Σ_l w_l‖a_l‖² and D = Σ_l w_l a_l·b_l/‖b‖: w_l (D/S^{3/2} a_l − b_l/(√S‖b‖)),
    /// one `linearCombination` per layer whose coefficients are built from S and D as
    /// graph nodes (`sumOfSquares`, `dot`), so higher orders hold too. Each layer is read
    /// once forward (twice in Float64 or near a match, see below) and once backward.
    ///
    /// - Parameters:
    ///   - targetNormSquared: Σ_l w_l ‖b_l‖².
    ///   - weights: w_l per layer (1 when nil); layers of weight 0 are skipped.
    public static func cosineDistance(_ a: [Tensor], _ b: [Tensor], targetNormSquared: Double, weights: [Double]? = nil) -> Tensor {
        precondition(a.count == b.count && !a.isEmpty, "cosineDistance: \(a.count) tensors against \(b.count)")
        precondition(weights.map { $0.count == a.count } ?? true, "cosineDistance: \(weights?.count ?? 0) weights for \(a.count) tensors")
        for l in a.indices {
            precondition(a[l].shape == b[l].shape && a[l].dtype == b[l].dtype,
                         "cosineDistance: tensor \(l) is \(a[l].dtype) \(a[l].shape) against \(b[l].dtype) \(b[l].shape)")
        }
        let dtype = a[0].dtype
        let layers = a.indices.filter { (weights?[$0] ?? 1) != 0 }
        let targetInverse = 1 / targetNormSquared.squareRoot()
        var sumSquares = Tensor(scalar: 0, dtype: dtype), products = Tensor(scalar: 0, dtype: dtype)
        var exactSumSquares = 0.0, exactProducts = 0.0
        for l in layers {
            let w = weights?[l] ?? 1
            let (aa, ab) = Kernels.sumOfSquaresAndDot(a[l].buffer, b[l].buffer)
            exactSumSquares += w * aa
            exactProducts += w * ab
            let s = a[l].sumOfSquares(value: aa), d = a[l].dot(b[l], value: ab)
            sumSquares = sumSquares + (w == 1 ? s : s * w)
            products = products + d * (w * targetInverse)
        }
        let inverse = 1 / exactSumSquares.squareRoot()
        // The dot products are accumulated in Double, so 1 − D/√S from them is exact to
        // about 1e-14 absolute. Where that is below a Float32 loss's resolution relative to
        // the value (1 − cos ≥ 1e-5: relative error under 1e-9) the second pass over both
        // vectors, a third of this loss's memory traffic, is skipped; near a perfect match,
        // and always in Float64, the sum of squared differences keeps the precision.
        let fromDots = 1 - exactProducts * inverse * targetInverse
        let value: Double
        if dtype == .float32 && fromDots >= Self.cosineDistanceDotFormFloor {
            value = fromDots
        } else {
            value = layers.reduce(0.0) { sum, l in
                sum + (weights?[l] ?? 1) * Kernels.scaledSquaredDistance(a[l].buffer, inverse, b[l].buffer, targetInverse)
            } / 2
        }
        let inputs = layers.map { a[$0] }, targets = layers.map { b[$0] }, layerWeights = layers.map { weights?[$0] ?? 1 }
        return record("cosine_distance", Tensor(scalar: value, dtype: dtype), inputs, { g, _, need in
            let root = sumSquares.sqrt()
            let alpha = g * products / (sumSquares * root), beta = -g / root * targetInverse
            return inputs.indices.map { i in
                guard need[i] else { return nil }
                let w = layerWeights[i]
                return linearCombination(inputs[i], w == 1 ? alpha : alpha * w, targets[i], w == 1 ? beta : beta * w)
            }
        })
    }
}
