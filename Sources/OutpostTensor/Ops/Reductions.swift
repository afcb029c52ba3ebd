extension Tensor {
    /// Sum over `axes` (negative axes count from the end).
    public func sum(axes: [Int], keepDims: Bool = false) -> Tensor {
        let ax = Shapes.normalizeAxes(axes, rank: rank, op: "sum")
        let kept = shape.enumerated().map { ax.contains($0.offset) ? 1 : $0.element }
        let s = Tensor(shape: kept, buffer: Kernels.reduce(buffer, shape: shape, axes: Set(ax), .sum))
        let x = self
        let r = Tensor.record("sum", s, [self], { g, _, _ in [g.expanded(to: x.shape)] })
        return keepDims ? r : r.reshaped(shape.enumerated().filter { !ax.contains($0.offset) }.map(\.element))
    }

    /// Sum over one axis.
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }

    /// Sum of all elements (rank 0).
    public func sum() -> Tensor { sum(axes: Array(0..<rank)) }

    public func mean(axes: [Int], keepDims: Bool = false) -> Tensor {
        let ax = Shapes.normalizeAxes(axes, rank: rank, op: "mean")
        let n = ax.reduce(1) { $0 * shape[$1] }
        return sum(axes: ax, keepDims: keepDims) / Double(n)
    }
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }
    public func mean() -> Tensor { sum() / Double(Swift.max(count, 1)) }

    /// Maximum over `axes`. The gradient is shared evenly between tied maxima (PyTorch's amax).
    public func max(axes: [Int], keepDims: Bool = false) -> Tensor {
        let ax = Shapes.normalizeAxes(axes, rank: rank, op: "max")
        precondition(ax.allSatisfy { shape[$0] > 0 }, "max: cannot reduce an empty axis of shape \(shape)")
        let kept = shape.enumerated().map { ax.contains($0.offset) ? 1 : $0.element }
        let m = Tensor(shape: kept, buffer: Kernels.reduce(buffer, shape: shape, axes: Set(ax), .max))
        let x = self
        let r = Tensor.record("max", m, [self], { g, out, _ in
            let hit = x.detached.equal(out.detached)
            return [g * hit / hit.sum(axes: ax, keepDims: true)]
        })
        return keepDims ? r : r.reshaped(shape.enumerated().filter { !ax.contains($0.offset) }.map(\.element))
    }
    public func max(axis: Int, keepDims: Bool = false) -> Tensor { max(axes: [axis], keepDims: keepDims) }
    public func max() -> Tensor { max(axes: Array(0..<rank)) }
    public func min(axes: [Int], keepDims: Bool = false) -> Tensor { -(-self).max(axes: axes, keepDims: keepDims) }
    public func min() -> Tensor { -(-self).max() }

    /// Variance over `axes`; `unbiased` divides by n - 1 (PyTorch's default for `var`).
    public func variance(axes: [Int], unbiased: Bool = true, keepDims: Bool = false) -> Tensor {
        let ax = Shapes.normalizeAxes(axes, rank: rank, op: "variance")
        let n = ax.reduce(1) { $0 * shape[$1] }
        let centered = self - mean(axes: ax, keepDims: true)
        return centered.squared().sum(axes: ax, keepDims: keepDims) / Double(unbiased ? Swift.max(n - 1, 1) : n)
    }
    public func variance(unbiased: Bool = true) -> Tensor { variance(axes: Array(0..<rank), unbiased: unbiased) }

    /// L2 norm over `axes` (all axes when nil).
    public func norm(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        squared().sum(axes: axes ?? Array(0..<rank), keepDims: keepDims).sqrt()
    }

    /// Sums broadcast dimensions away so the result has `target` shape: the adjoint of
    /// `expanded(to:)`, which is how every broadcasting op routes its gradient.
    public func sum(to target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        precondition(lead >= 0, "sum(to:): cannot reduce shape \(shape) to \(target)")
        var axes = Array(0..<lead)
        for (i, d) in target.enumerated() where d == 1 && shape[lead + i] != 1 { axes.append(lead + i) }
        let reduced = axes.isEmpty ? self : sum(axes: axes, keepDims: true)
        precondition(Array(reduced.shape[lead...]) == target, "sum(to:): cannot reduce shape \(shape) to \(target)")
        return reduced.reshaped(target)
    }

    /// Broadcasts to `target` shape by repeating size-1 and missing leading dimensions.
    public func expanded(to target: [Int]) -> Tensor {
        if shape == target { return self }
        precondition(Shapes.broadcast(shape, target) == target, "expanded(to:): shape \(shape) cannot be broadcast to \(target)")
        let out = Tensor(shape: target, buffer: count == 1 ? Kernels.fill(buffer, count: Shapes.count(target))
                                                             : Kernels.gather(buffer, offset: 0, strides: Shapes.broadcastStrides(shape, to: target), shape: target))
        let from = shape
        return Tensor.record("expand", out, [self], { g, _, _ in [g.sum(to: from)] })
    }
}
