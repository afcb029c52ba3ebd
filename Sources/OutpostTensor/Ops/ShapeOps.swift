extension Tensor {
    /// The same elements in a new shape (no copy). One dimension may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var target = newShape
        if let i = target.firstIndex(of: -1) {
            let known = target.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "reshape: cannot infer a dimension reshaping \(shape) to \(newShape)")
            target[i] = count / known
        }
        precondition(target.allSatisfy { $0 >= 0 } && Shapes.count(target) == count,
                     "reshape: cannot reshape \(shape) (\(count) elements) to \(newShape)")
        if target == shape { return self }
        let from = shape
        return Tensor.record("reshape", Tensor(shape: target, buffer: buffer), [self], { g, _, _ in [g.reshaped(from)] })
    }

    /// Flattens dimensions `from...` into one.
    public func flattened(from start: Int = 1) -> Tensor {
        let s = Shapes.normalizeAxis(start, rank: Swift.max(rank, 1), op: "flatten")
        if rank <= s { return self }
        return reshaped(Array(shape[..<s]) + [shape[s...].reduce(1, *)])
    }

    /// Inserts a size-1 dimension at `axis`.
    public func unsqueezed(at axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        precondition(a >= 0 && a <= rank, "unsqueeze: axis \(axis) out of range for rank \(rank)")
        var s = shape
        s.insert(1, at: a)
        return reshaped(s)
    }

    /// Reorders dimensions: result dimension i is this tensor's dimension `order[i]`.
    public func permuted(_ order: [Int]) -> Tensor {
        precondition(order.count == rank && Set(order) == Set(0..<rank), "permute: \(order) is not a permutation of the \(rank) axes of \(shape)")
        if order == Array(0..<rank) { return self }
        let own = Shapes.strides(shape)
        let newShape = order.map { shape[$0] }
        let out = Tensor(shape: newShape, buffer: Kernels.gather(buffer, offset: 0, strides: order.map { own[$0] }, shape: newShape))
        var inverse = [Int](repeating: 0, count: rank)
        for (i, o) in order.enumerated() { inverse[o] = i }
        return Tensor.record("permute", out, [self], { g, _, _ in [g.permuted(inverse)] })
    }

    /// Swaps two dimensions (default: the last two).
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        let i = Shapes.normalizeAxis(a, rank: rank, op: "transpose"), j = Shapes.normalizeAxis(b, rank: rank, op: "transpose")
        var order = Array(0..<rank)
        order.swapAt(i, j)
        return permuted(order)
    }

    /// Elements `range` of dimension `axis`.
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        let a = Shapes.normalizeAxis(axis, rank: rank, op: "slice")
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[a],
                     "slice: range \(range) is outside dimension \(a) of size \(shape[a]) (shape \(shape))")
        if range.count == shape[a] { return self }
        let own = Shapes.strides(shape)
        var newShape = shape
        newShape[a] = range.count
        let out = Tensor(shape: newShape, buffer: Kernels.gather(buffer, offset: range.lowerBound * own[a], strides: own, shape: newShape))
        var before = [Int](repeating: 0, count: rank), after = before
        before[a] = range.lowerBound
        after[a] = shape[a] - range.upperBound
        return Tensor.record("slice", out, [self], { g, _, _ in [g.padded(before: before, after: after)] })
    }

    /// Zero padding: `before[d]` and `after[d]` zeros around dimension d.
    public func padded(before: [Int], after: [Int]) -> Tensor {
        precondition(before.count == rank && after.count == rank && (before + after).allSatisfy { $0 >= 0 },
                     "pad: padding \(before)/\(after) does not fit shape \(shape)")
        let newShape = (0..<rank).map { shape[$0] + before[$0] + after[$0] }
        let out = Buffer.zeroed(count: Shapes.count(newShape), dtype: dtype)
        let strides = Shapes.strides(newShape)
        let offset = (0..<rank).reduce(0) { $0 + before[$1] * strides[$1] }
        Kernels.scatter(buffer, shape: shape, into: out, offset: offset, strides: strides)
        let dims = shape
        return Tensor.record("pad", Tensor(shape: newShape, buffer: out), [self], { g, _, _ in
            var r = g
            for d in 0..<dims.count where before[d] != 0 || after[d] != 0 { r = r.slice(axis: d, before[d]..<(before[d] + dims[d])) }
            return [r]
        })
    }

    /// Spatial zero padding of an N×C×H×W tensor.
    public func padded2d(top: Int, bottom: Int, left: Int, right: Int) -> Tensor {
        precondition(rank == 4, "padded2d: expected N×C×H×W, got \(shape)")
        return padded(before: [0, 0, top, left], after: [0, 0, bottom, right])
    }

    /// Joins tensors along `axis`; all other dimensions must agree.
    public static func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concat: no tensors")
        let first = tensors[0]
        let a = Shapes.normalizeAxis(axis, rank: first.rank, op: "concat")
        for t in tensors {
            precondition(t.rank == first.rank && t.dtype == first.dtype &&
                         (0..<first.rank).allSatisfy { $0 == a || t.shape[$0] == first.shape[$0] },
                         "concat: shape \(t.shape) does not match \(first.shape) outside axis \(a)")
        }
        if tensors.count == 1 { return first }
        var newShape = first.shape
        newShape[a] = tensors.reduce(0) { $0 + $1.shape[a] }
        let out = Buffer(count: Shapes.count(newShape), dtype: first.dtype)
        let strides = Shapes.strides(newShape)
        var start = 0
        var ranges: [Range<Int>] = []
        for t in tensors {
            Kernels.scatter(t.buffer, shape: t.shape, into: out, offset: start * strides[a], strides: strides)
            ranges.append(start..<(start + t.shape[a]))
            start += t.shape[a]
        }
        return record("concat", Tensor(shape: newShape, buffer: out), tensors, { g, _, n in
            ranges.enumerated().map { n[$0.offset] ? g.slice(axis: a, $0.element) : nil }
        })
    }

    /// Stacks equally shaped tensors along a new leading axis.
    public static func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        concat(tensors.map { $0.unsqueezed(at: axis) }, axis: axis)
    }

    /// Rows `i` of dimension 0.
    public subscript(_ i: Int) -> Tensor {
        precondition(rank >= 1 && i >= 0 && i < shape[0], "index: \(i) is out of range for shape \(shape)")
        return slice(axis: 0, i..<(i + 1)).reshaped(Array(shape.dropFirst()))
    }
}
