// Normalizations and losses composed from primitive ops: their gradients of every order
// follow from the primitives' rules.

extension Tensor {
    /// Batch normalization of N×C×... in training mode (batch statistics, biased variance),
    /// returning the output and the batch mean and unbiased variance for the running-stat update.
    public func batchNormTraining(weight: Tensor?, bias: Tensor?, eps: Double = 1e-5) -> (output: Tensor, mean: Tensor, variance: Tensor) {
        precondition(rank >= 2, "batchNorm: expected N×C×..., got \(shape)")
        let axes = [0] + Array(2..<rank)
        let n = axes.reduce(1) { $0 * shape[$1] }
        precondition(n > 1, "batchNorm: training mode needs more than one value per channel, got input \(shape)")
        let mean = self.mean(axes: axes, keepDims: true)
        let centered = self - mean
        let variance = centered.squared().mean(axes: axes, keepDims: true)
        var y = centered / (variance + eps).sqrt()
        y = Tensor.channelAffine(y, weight: weight, bias: bias)
        let c = shape[1]
        return (y, mean.detached.reshaped([c]), (variance.detached * (Double(n) / Double(n - 1))).reshaped([c]))
    }

    /// Batch normalization with fixed statistics (evaluation mode).
    public func batchNormInference(runningMean: Tensor, runningVariance: Tensor, weight: Tensor?, bias: Tensor?, eps: Double = 1e-5) -> Tensor {
        precondition(rank >= 2 && runningMean.shape == [shape[1]] && runningVariance.shape == [shape[1]],
                     "batchNorm: statistics \(runningMean.shape)/\(runningVariance.shape) do not match input \(shape)")
        let view = [1, shape[1]] + [Int](repeating: 1, count: rank - 2)
        let y = (self - runningMean.reshaped(view)) / (runningVariance.reshaped(view) + eps).sqrt()
        return Tensor.channelAffine(y, weight: weight, bias: bias)
    }

    static func channelAffine(_ y: Tensor, weight: Tensor?, bias: Tensor?) -> Tensor {
        let view = [1, y.shape[1]] + [Int](repeating: 1, count: y.rank - 2)
        var out = y
        if let weight { out = out * weight.reshaped(view) }
        if let bias { out = out + bias.reshaped(view) }
        return out
    }

    /// Layer normalization over the trailing dimensions `normalizedShape`.
    public func layerNorm(normalizedShape: [Int], weight: Tensor? = nil, bias: Tensor? = nil, eps: Double = 1e-5) -> Tensor {
        precondition(normalizedShape.count <= rank && Array(shape.suffix(normalizedShape.count)) == normalizedShape,
                     "layerNorm: normalized shape \(normalizedShape) is not a suffix of \(shape)")
        let axes = Array((rank - normalizedShape.count)..<rank)
        let centered = self - mean(axes: axes, keepDims: true)
        var y = centered / (centered.squared().mean(axes: axes, keepDims: true) + eps).sqrt()
        if let weight { y = y * weight }
        if let bias { y = y + bias }
        return y
    }

    /// Group normalization of N×C×... with `groups` channel groups.
    public func groupNorm(groups: Int, weight: Tensor? = nil, bias: Tensor? = nil, eps: Double = 1e-5) -> Tensor {
        precondition(rank >= 2 && groups >= 1 && shape[1] % groups == 0, "groupNorm: \(groups) groups do not divide the channels of \(shape)")
        let grouped = reshaped([shape[0], groups, -1])
        let centered = grouped - grouped.mean(axis: 2, keepDims: true)
        let y = (centered / (centered.squared().mean(axis: 2, keepDims: true) + eps).sqrt()).reshaped(shape)
        return Tensor.channelAffine(y, weight: weight, bias: bias)
    }

    /// Softmax along `axis`.
    public func softmax(axis: Int = -1) -> Tensor {
        let shifted = self - max(axis: axis, keepDims: true).detached
        let e = shifted.exp()
        return e / e.sum(axis: axis, keepDims: true)
    }

    /// Log-softmax along `axis`.
    public func logSoftmax(axis: Int = -1) -> Tensor {
        let shifted = self - max(axis: axis, keepDims: true).detached
        return shifted - shifted.exp().sum(axis: axis, keepDims: true).log()
    }

    /// Dropout with drop probability `p` (scaling kept elements by 1/(1-p)).
    public func dropout(_ p: Double, using rng: inout RandomGenerator) -> Tensor {
        precondition(p >= 0 && p < 1, "dropout: probability \(p) is outside [0, 1)")
        if p == 0 { return self }
        return self * (Tensor.bernoulli(shape, probability: 1 - p, dtype: dtype, using: &rng) / (1 - p))
    }

    /// Linear layer: self · weightᵀ + bias, weight of shape out×in (PyTorch's layout).
    public func linear(_ weight: Tensor, bias: Tensor? = nil) -> Tensor {
        precondition(weight.rank == 2 && shape.last == weight.shape[1],
                     "linear: input \(shape) does not fit weight \(weight.shape) (out×in)")
        let y = Tensor.matmul(rank == 2 ? self : reshaped([-1, weight.shape[1]]), weight, transposeA: false, transposeB: true)
        let out = bias.map { y + $0 } ?? y
        return rank == 2 ? out : out.reshaped(Array(shape.dropLast()) + [weight.shape[0]])
    }
}

/// Loss functions and similarity measures.
public enum Loss {
    /// Mean cross-entropy of N×K logits against hard class labels.
    public static func crossEntropy(_ logits: Tensor, labels: [Int]) -> Tensor {
        precondition(logits.rank == 2 && logits.shape[0] == labels.count,
                     "crossEntropy: logits \(logits.shape) do not match \(labels.count) labels")
        return crossEntropy(logits, targets: .oneHot(labels, classes: logits.shape[1], dtype: logits.dtype))
    }

    /// Mean cross-entropy of N×K logits against probability targets (soft labels):
    /// -Σ_k t_k log softmax(z)_k, averaged over the batch.
    public static func crossEntropy(_ logits: Tensor, targets: Tensor) -> Tensor {
        precondition(logits.shape == targets.shape && logits.rank == 2,
                     "crossEntropy: logits \(logits.shape) and targets \(targets.shape) must both be N×K")
        return -(targets * logits.logSoftmax(axis: 1)).sum() / Double(logits.shape[0])
    }

    /// Mean squared error.
    public static func mse(_ a: Tensor, _ b: Tensor) -> Tensor { (a - b).squared().mean() }

    /// Cosine similarity of `a` and `b` along `axis` (PyTorch's eps = 1e-8 guard on each norm).
    public static func cosineSimilarity(_ a: Tensor, _ b: Tensor, axis: Int = -1, eps: Double = 1e-8) -> Tensor {
        let dot = (a * b).sum(axis: axis)
        let na = a.norm(axes: [axis]).maximum(Tensor(scalar: eps, dtype: a.dtype))
        let nb = b.norm(axes: [axis]).maximum(Tensor(scalar: eps, dtype: b.dtype))
        return dot / (na * nb)
    }

    /// Total variation of N×C×H×W images: mean absolute difference of vertical neighbours
    /// plus mean absolute difference of horizontal neighbours (Geiping et al.'s prior).
    public static func totalVariation(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4, "totalVariation: expected N×C×H×W, got \(x.shape)")
        let (h, w) = (x.shape[2], x.shape[3])
        let dy = x.slice(axis: 2, 1..<h) - x.slice(axis: 2, 0..<(h - 1))
        let dx = x.slice(axis: 3, 1..<w) - x.slice(axis: 3, 0..<(w - 1))
        return dy.abs().mean() + dx.abs().mean()
    }
}
