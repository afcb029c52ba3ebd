extension Tensor {
    /// Matrix product over the last two dimensions, broadcasting leading (batch) dimensions;
    /// a rank-1 operand is treated as a row (left) or column (right) vector.
    public func matmul(_ other: Tensor) -> Tensor {
        if rank == 1 { return unsqueezed(at: 0).matmul(other).reshapedDroppingAxis(-2) }
        if other.rank == 1 { return matmul(other.unsqueezed(at: 1)).reshapedDroppingAxis(-1) }
        return Tensor.matmul(self, other, transposeA: false, transposeB: false)
    }

    private func reshapedDroppingAxis(_ axis: Int) -> Tensor {
        var s = shape
        s.remove(at: axis < 0 ? axis + rank : axis)
        return reshaped(s)
    }

    /// op(a) · op(b) where op transposes the last two dimensions when asked; the primitive
    /// behind `matmul`, kept with explicit transposes so gradients never copy a transpose.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool) -> Tensor {
        precondition(a.rank >= 2 && b.rank >= 2, "matmul: operands must have rank >= 2, got \(a.shape) and \(b.shape)")
        precondition(a.dtype == b.dtype, "matmul: dtypes differ (\(a.dtype) vs \(b.dtype))")
        let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        let (m, k) = transposeA ? (ac, ar) : (ar, ac)
        let (k2, n) = transposeB ? (bc, br) : (br, bc)
        precondition(k == k2, "matmul: inner dimensions differ: \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")")
        let aBatch = Array(a.shape.dropLast(2)), bBatch = Array(b.shape.dropLast(2))
        guard let batch = Shapes.broadcast(aBatch, bBatch) else {
            preconditionFailure("matmul: batch dimensions of \(a.shape) and \(b.shape) cannot be broadcast")
        }
        let outShape = batch + [m, n]
        let out = Buffer(count: Shapes.count(outShape), dtype: a.dtype)
        let batches = Shapes.count(batch)
        let aStr = Shapes.broadcastStrides(aBatch, to: batch), bStr = Shapes.broadcastStrides(bBatch, to: batch)
        let aMat = ar * ac, bMat = br * bc
        func run<T: TensorScalar>(_: T.Type) {
            let pa = a.buffer.pointer(T.self), pb = b.buffer.pointer(T.self), pc = out.pointer(T.self)
            if bBatch.isEmpty && !transposeA {
                // Every batch uses the same right matrix: one tall product.
                BLAS.gemm(transA: false, transB: transposeB, m: batches * m, n: n, k: k, a: pa, lda: ac, b: pb, ldb: bc, c: pc, ldc: n)
                return
            }
            let batchShape = batch
            for i in 0..<batches {
                var rem = i, oa = 0, ob = 0
                for d in stride(from: batchShape.count - 1, through: 0, by: -1) {
                    let idx = rem % batchShape[d]
                    rem /= batchShape[d]
                    oa += idx * aStr[d]
                    ob += idx * bStr[d]
                }
                BLAS.gemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k,
                          a: pa + oa * aMat, lda: ac, b: pb + ob * bMat, ldb: bc, c: pc + i * m * n, ldc: n)
            }
        }
        switch a.dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
        return record("matmul", Tensor(shape: outShape, buffer: out), [a, b], { g, _, need in
            var ga: Tensor?, gb: Tensor?
            if need[0] {
                ga = transposeA ? matmul(b, g, transposeA: transposeB, transposeB: true)
                                : matmul(g, b, transposeA: false, transposeB: !transposeB)
            }
            if need[1] {
                gb = transposeB ? matmul(g, a, transposeA: true, transposeB: transposeA)
                                : matmul(a, g, transposeA: !transposeA, transposeB: false)
            }
            return [ga?.sum(to: a.shape), gb?.sum(to: b.shape)]
        })
    }
}
