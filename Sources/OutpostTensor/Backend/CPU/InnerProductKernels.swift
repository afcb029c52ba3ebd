import COutpostSIMD

extension Kernels {
    /// Elements per thread below which a reduction runs on the calling thread alone.
    static let reductionGrain = 1 << 16

    /// `part(range)` over chunks of 0..<n, the chunks split across the engine's threads and
    /// combined with `add` in chunk order (the same result for the same thread count).
    @inline(__always)
    private static func chunkedSum<V>(_ n: Int, zero: V, add: (V, V) -> V, _ part: (Range<Int>) -> V) -> V {
        let chunks = Swift.min(Engine.threads, Swift.max(1, n / reductionGrain))
        if chunks <= 1 { return part(0..<n) }
        let size = (n + chunks - 1) / chunks
        var partial = [V](repeating: zero, count: chunks)
        partial.withUnsafeMutableBufferPointer { out in
            parallelChunks(chunks) { c in
                let lo = c * size, hi = Swift.min(n, lo + size)
                out[c] = lo < hi ? part(lo..<hi) : zero
            }
        }
        return partial.reduce(zero, add)
    }

    @inline(__always)
    private static func chunkedSum(_ n: Int, _ part: (Range<Int>) -> Double) -> Double { chunkedSum(n, zero: 0, add: +, part) }

    /// Σ a[i]·b[i] over two buffers of equal length, accumulated in Double.
    static func dot(_ a: Buffer, _ b: Buffer) -> Double {
        precondition(a.count == b.count && a.dtype == b.dtype, "dot: buffers differ in length or type")
        switch a.dtype {
        case .float32:
            let x = a.pointer(Float.self), y = b.pointer(Float.self)
            return chunkedSum(a.count) { r in outpost_dot_f32(x + r.lowerBound, y + r.lowerBound, r.count) }
        case .float64:
            let x = a.pointer(Double.self), y = b.pointer(Double.self)
            return chunkedSum(a.count) { r in outpost_dot_f64(x + r.lowerBound, y + r.lowerBound, r.count) }
        }
    }

    /// Σ (sa·a[i] − sb·b[i])², each term formed and accumulated in Double.
    static func scaledSquaredDistance(_ a: Buffer, _ sa: Double, _ b: Buffer, _ sb: Double) -> Double {
        precondition(a.count == b.count && a.dtype == b.dtype, "scaledSquaredDistance: buffers differ in length or type")
        switch a.dtype {
        case .float32:
            let x = a.pointer(Float.self), y = b.pointer(Float.self)
            return chunkedSum(a.count) { r in outpost_scaled_sqdist_f32(x + r.lowerBound, sa, y + r.lowerBound, sb, r.count) }
        case .float64:
            let x = a.pointer(Double.self), y = b.pointer(Double.self)
            return chunkedSum(a.count) { r in outpost_scaled_sqdist_f64(x + r.lowerBound, sa, y + r.lowerBound, sb, r.count) }
        }
    }

    /// (Σ a[i]², Σ a[i]·b[i]) in one pass, accumulated in Double.
    static func sumOfSquaresAndDot(_ a: Buffer, _ b: Buffer) -> (Double, Double) {
        precondition(a.count == b.count && a.dtype == b.dtype, "sumOfSquaresAndDot: buffers differ in length or type")
        let sums = chunkedSum(a.count, zero: SIMD2<Double>(), add: +) { r -> SIMD2<Double> in
            var aa = 0.0, ab = 0.0
            switch a.dtype {
            case .float32: outpost_dot2_f32(a.pointer(Float.self) + r.lowerBound, b.pointer(Float.self) + r.lowerBound, r.count, &aa, &ab)
            case .float64: outpost_dot2_f64(a.pointer(Double.self) + r.lowerBound, b.pointer(Double.self) + r.lowerBound, r.count, &aa, &ab)
            }
            return SIMD2(aa, ab)
        }
        return (sums[0], sums[1])
    }

    /// alpha·a + beta·b elementwise, in the buffers' precision.
    static func linearCombination(_ alpha: Double, _ a: Buffer, _ beta: Double, _ b: Buffer) -> Buffer {
        precondition(a.count == b.count && a.dtype == b.dtype, "linearCombination: buffers differ in length or type")
        let out = Buffer(count: a.count, dtype: a.dtype)
        switch a.dtype {
        case .float32:
            let x = a.pointer(Float.self), y = b.pointer(Float.self), z = out.pointer(Float.self)
            parallelFor(a.count, grain: elementwiseGrain) { r in
                outpost_axpby_f32(Float(alpha), x + r.lowerBound, Float(beta), y + r.lowerBound, z + r.lowerBound, r.count)
            }
        case .float64:
            let x = a.pointer(Double.self), y = b.pointer(Double.self), z = out.pointer(Double.self)
            parallelFor(a.count, grain: elementwiseGrain) { r in
                outpost_axpby_f64(alpha, x + r.lowerBound, beta, y + r.lowerBound, z + r.lowerBound, r.count)
            }
        }
        return out
    }
}
