import COutpostSIMD
import OutpostTensor

/// L-BFGS's two-loop recursion, the inverse-Hessian approximation times −gradient, in
/// PyTorch's order of operations (`torch/optim/lbfgs.py`):
///
///     q = −g;  for i newest…oldest: αᵢ = ρᵢ sᵢ·q,  q −= αᵢ yᵢ
///     d = γ q; for i oldest…newest: βᵢ = ρᵢ yᵢ·d,  d += (αᵢ − βᵢ) sᵢ
///
/// Long Float vectors are cut into two fixed halves, and every dot product is the sum of
/// the halves' partial sums (first half first). The halves then run on two threads where a
/// worker is free, each keeping its half of the history in its own core's cache: W1's
/// history of 100 pairs of 3,082 floats is 2.4 MB, more than one core's 2 MB L2, and the
/// recursion reads it twice per iteration. One thread computes the same sums in the same
/// order, so the direction does not depend on how many threads ran it.
enum TwoLoopRecursion {
    /// Elements from which Float vectors are split (and may run on two threads).
    static let splitLength = 2048

    static func direction<T: TensorScalar>(gradient: [T], steps: [[T]], dirs: [[T]], ro: [Double], hDiag: Double) -> [T] {
        let n = gradient.count
        guard T.self == Float.self, n >= splitLength else {
            return wholeVectors(gradient: gradient, steps: steps, dirs: dirs, ro: ro, hDiag: hDiag)
        }
        let h = n / 2 / 16 * 16
        let halves = [0..<h, h..<n]
        let count = steps.count
        let gamma = Float(hDiag)
        // Pointers stay valid: the arrays are not mutated while this function runs.
        let sPointers = steps.map { $0.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: Float.self) } }
        let yPointers = dirs.map { $0.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: Float.self) } }
        var result = [T](repeating: 0, count: n)
        gradient.withUnsafeBufferPointer { gb in
            result.withUnsafeMutableBufferPointer { rb in
                let g = UnsafeRawPointer(gb.baseAddress!).assumingMemoryBound(to: Float.self)
                let q = UnsafeMutableRawPointer(rb.baseAddress!).assumingMemoryBound(to: Float.self)
                // One half's recursion; `sum` turns its partial dot product into the whole one.
                func run(_ r: Range<Int>, _ sum: (Double) -> Double) {
                    let lo = r.lowerBound, len = r.count
                    for j in r { q[j] = -g[j] }
                    var alpha = [Double](repeating: 0, count: count)
                    for i in stride(from: count - 1, through: 0, by: -1) {
                        alpha[i] = sum(outpost_dot_f32(sPointers[i] + lo, q + lo, len)) * ro[i]
                        outpost_axpy_f32(Float(-alpha[i]), yPointers[i] + lo, q + lo, len)
                    }
                    for j in r { q[j] = q[j] * gamma }
                    for i in 0..<count {
                        let beta = sum(outpost_dot_f32(yPointers[i] + lo, q + lo, len)) * ro[i]
                        outpost_axpy_f32(Float(alpha[i] - beta), sPointers[i] + lo, q + lo, len)
                    }
                }
                let paired = count >= 8 && PairedWork.run { half, reduction in
                    run(halves[half]) { reduction.sum($0, half: half) }
                }
                if !paired { runInterleaved(halves, q: q, g: g, s: sPointers, y: yPointers, ro: ro, gamma: gamma) }
            }
        }
        withExtendedLifetime((steps, dirs)) {}
        return result
    }

    /// The two halves on this thread, each dot product summed first half first.
    private static func runInterleaved(_ halves: [Range<Int>], q: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>,
                                       s: [UnsafePointer<Float>], y: [UnsafePointer<Float>], ro: [Double], gamma: Float) {
        let (a, b) = (halves[0], halves[1])
        func dot(_ v: UnsafePointer<Float>) -> Double {
            outpost_dot_f32(v + a.lowerBound, q + a.lowerBound, a.count) + outpost_dot_f32(v + b.lowerBound, q + b.lowerBound, b.count)
        }
        let n = b.upperBound
        for j in 0..<n { q[j] = -g[j] }
        var alpha = [Double](repeating: 0, count: s.count)
        for i in stride(from: s.count - 1, through: 0, by: -1) {
            alpha[i] = dot(s[i]) * ro[i]
            outpost_axpy_f32(Float(-alpha[i]), y[i], q, n)
        }
        for j in 0..<n { q[j] = q[j] * gamma }
        for i in 0..<s.count {
            let beta = dot(y[i]) * ro[i]
            outpost_axpy_f32(Float(alpha[i] - beta), s[i], q, n)
        }
    }

    /// Whole-vector dot products (Double, and Float vectors below `splitLength`).
    private static func wholeVectors<T: TensorScalar>(gradient: [T], steps: [[T]], dirs: [[T]], ro: [Double], hDiag: Double) -> [T] {
        var al = [Double](repeating: 0, count: steps.count)
        var q = FlatVector.negated(gradient)
        for i in stride(from: steps.count - 1, through: 0, by: -1) {
            al[i] = FlatVector.dot(steps[i], q) * ro[i]
            FlatVector.axpy(-al[i], dirs[i], &q)
        }
        var d = FlatVector.scaled(q, hDiag)
        for i in 0..<steps.count {
            let be = FlatVector.dot(dirs[i], d) * ro[i]
            FlatVector.axpy(al[i] - be, steps[i], &d)
        }
        return d
    }
}
