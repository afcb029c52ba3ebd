extension Tensor {
    /// Max pooling of an N×C×H×W tensor (stride defaults to the kernel size).
    public func maxPool2d(kernel: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
        precondition(rank == 4, "maxPool2d: expected N×C×H×W, got \(shape)")
        let s = stride ?? kernel
        precondition(kernel >= 1 && s >= 1 && padding >= 0 && padding * 2 <= kernel,
                     "maxPool2d: invalid kernel \(kernel), stride \(s), padding \(padding)")
        let (h, w) = (shape[2], shape[3])
        let oh = Shapes.windowPositions(size: h, padding: padding, extent: kernel, stride: s)
        let ow = Shapes.windowPositions(size: w, padding: padding, extent: kernel, stride: s)
        precondition(oh > 0 && ow > 0, "maxPool2d: kernel \(kernel) does not fit input \(h)×\(w)")
        let planes = shape[0] * shape[1]
        let offsets: [Int]
        switch dtype {
        case .float32: offsets = Kernels.maxPoolIndices(buffer.pointer(Float.self), planes: planes, h: h, w: w, kernel: (kernel, kernel), stride: (s, s), padding: (padding, padding), oh: oh, ow: ow)
        case .float64: offsets = Kernels.maxPoolIndices(buffer.pointer(Double.self), planes: planes, h: h, w: w, kernel: (kernel, kernel), stride: (s, s), padding: (padding, padding), oh: oh, ow: ow)
        }
        return gathering(IndexMap(offsets), shape: [shape[0], shape[1], oh, ow])
    }

    /// Elements at fixed flat offsets; differentiable in the values (the offsets are constant).
    func gathering(_ map: IndexMap, shape outShape: [Int]) -> Tensor {
        let inShape = shape
        return Tensor.record("gather", Tensor(shape: outShape, buffer: Kernels.gather(buffer, map)), [self], { g, _, _ in
            [g.scatteringAdd(map, shape: inShape)]
        })
    }

    /// The adjoint of `gathering`: adds each element into a zero tensor at its offset.
    func scatteringAdd(_ map: IndexMap, shape outShape: [Int]) -> Tensor {
        let inShape = shape
        let out = Tensor(shape: outShape, buffer: Kernels.scatterAdd(buffer, map, count: Shapes.count(outShape)))
        return Tensor.record("scatter_add", out, [self], { g, _, _ in [g.gathering(map, shape: inShape)] })
    }

    /// Average pooling (stride defaults to the kernel size); padded zeros count in the
    /// average unless `countIncludePad` is false, as in PyTorch.
    public func avgPool2d(kernel: Int, stride: Int? = nil, padding: Int = 0, countIncludePad: Bool = true) -> Tensor {
        precondition(rank == 4, "avgPool2d: expected N×C×H×W, got \(shape)")
        let s = stride ?? kernel
        precondition(kernel >= 1 && s >= 1 && padding >= 0 && padding * 2 <= kernel,
                     "avgPool2d: invalid kernel \(kernel), stride \(s), padding \(padding)")
        let (h, w) = (shape[2], shape[3])
        let oh = Shapes.windowPositions(size: h, padding: padding, extent: kernel, stride: s)
        let ow = Shapes.windowPositions(size: w, padding: padding, extent: kernel, stride: s)
        precondition(oh > 0 && ow > 0, "avgPool2d: kernel \(kernel) does not fit input \(h)×\(w)")
        func span(_ o: Int, _ size: Int) -> (clipped: Range<Int>, padded: Int) {
            let start = o * s - padding, end = Swift.min(start + kernel, size + padding)
            return (Swift.max(start, 0)..<Swift.min(end, size), end - start)
        }
        let rows = (0..<oh).map { span($0, h) }, cols = (0..<ow).map { span($0, w) }
        var scale = [Double]()
        for r in rows { for c in cols { scale.append(1 / Double(countIncludePad ? r.padded * c.padded : r.clipped.count * c.clipped.count)) } }
        return pooled(PoolWindows(h: h, w: w, oh: oh, ow: ow, rows: rows.map(\.clipped), cols: cols.map(\.clipped), scale: scale))
    }

    /// Adaptive average pooling to `outputSize`×`outputSize` (PyTorch's window rule).
    public func adaptiveAvgPool2d(_ outputSize: (Int, Int)) -> Tensor {
        precondition(rank == 4, "adaptiveAvgPool2d: expected N×C×H×W, got \(shape)")
        let (h, w) = (shape[2], shape[3]), (oh, ow) = outputSize
        precondition(oh >= 1 && ow >= 1, "adaptiveAvgPool2d: invalid output size \(outputSize)")
        func window(_ i: Int, _ o: Int, _ size: Int) -> Range<Int> { (i * size / o)..<(((i + 1) * size + o - 1) / o) }
        let rows = (0..<oh).map { window($0, oh, h) }, cols = (0..<ow).map { window($0, ow, w) }
        var scale = [Double]()
        for r in rows { for c in cols { scale.append(1 / Double(r.count * c.count)) } }
        return pooled(PoolWindows(h: h, w: w, oh: oh, ow: ow, rows: rows, cols: cols, scale: scale))
    }

    private func pooled(_ win: PoolWindows) -> Tensor {
        let planes = shape[0] * shape[1]
        let out = Tensor(shape: [shape[0], shape[1], win.oh, win.ow], buffer: Kernels.windowSum(buffer, planes: planes, win))
        let inShape = shape
        return Tensor.record("avg_pool", out, [self], { g, _, _ in [g.unpooled(win, shape: inShape)] })
    }

    /// The adjoint of average pooling.
    private func unpooled(_ win: PoolWindows, shape inShape: [Int]) -> Tensor {
        let planes = inShape[0] * inShape[1]
        let out = Tensor(shape: inShape, buffer: Kernels.windowScatter(buffer, planes: planes, win))
        return Tensor.record("avg_unpool", out, [self], { g, _, _ in [g.pooled(win)] })
    }
}
