import COutpostSIMD
import OutpostTensor

/// L-BFGS's two-loop recursion in inner-product form, so that it reads the history once per
/// pass instead of once per pair and splits across two threads with two meetings.
///
/// Why: the two-loop recursion runs 2m dot products and 2m vector updates in a chain, each
/// needing the one before. For an attack's few thousand unknowns and m = 100 that is 400
/// passes over 12 KB vectors, 2.4 MB of history per iteration, more than one core's L2
/// (about a fifth of a DLG iteration, docs/performance.md); split across two cores it needed
/// a meeting per dot product, which cost as much as it saved. But every scalar of the
/// recursion is a combination of inner products:
///
///   α_i = ρ_i (−s_i·g − Σ_{j>i} α_j s_i·y_j)                    (first loop, newest first)
///   β_i = ρ_i (γ (−y_i·g − Σ_j α_j y_i·y_j) + Σ_{j<i} (α_j − β_j) s_j·y_i)   (second loop)
///   d   = −γ g − γ Σ_j α_j y_j + Σ_j (α_j − β_j) s_j
///
/// with γ = `hDiag`. So one pass over the history computes s_i·g, y_i·g and the newest pair's
/// products with every pair (s_i·y_new, y_i·y_new); the matrices of s_i·y_j (i < j) and
/// y_i·y_j carry the older products from iteration to iteration; O(m²) scalar work gives α
/// and β; and a second pass forms d. Each pass splits the vector in two fixed halves whose
/// partial sums are added in a fixed order, so the result does not depend on how many
/// threads ran it. It equals PyTorch's recursion up to rounding (its q and d are rounded to
/// the parameters' precision after every update; here the scalars stay in Double).
struct HistoryProducts: Sendable {
    /// Pairs whose products the matrices hold.
    private(set) var count = 0
    /// Row length of the matrices (the history's capacity).
    private(set) var capacity = 0
    /// s_i·y_j at i·capacity + j for i < j.
    private var sy: [Double] = []
    /// y_i·y_j at i·capacity + j, both triangles.
    private var yy: [Double] = []

    /// The two fixed halves of 0..<n (the first a multiple of 16 long).
    static func halves(_ n: Int) -> [Range<Int>] {
        let h = Swift.min(n, (n / 2 + 15) / 16 * 16)
        return [0..<h, h..<n]
    }

    /// `r` in blocks of 1024 elements: the first pass's unit, so that the gradient and the
    /// new y in Double (16 KB a block) stay in L1 while the history streams past them.
    static func blocks(_ r: Range<Int>) -> [Range<Int>] {
        stride(from: r.lowerBound, to: r.upperBound, by: 1024).map { $0..<Swift.min($0 + 1024, r.upperBound) }
    }

    /// Vectors this long or longer run their two halves on two threads (when a worker is
    /// polling); shorter ones run both halves on the caller.
    static let parallelLength = 2048

    private static func forEachHalf(_ n: Int, _ body: (Int, Range<Int>) -> Void) {
        let parts = halves(n)
        if n >= parallelLength {
            Engine.runSmallParts(2) { body($0, parts[$0]) }
        } else {
            for p in 0..<2 { body(p, parts[p]) }
        }
    }

    /// v[r]·a and (unless `b` is nil) v[r]·b, with a and b already in Double and indexed
    /// from the start of r.
    @inline(__always)
    private static func dots<T: TensorScalar>(_ v: [T], _ r: Range<Int>, _ a: UnsafePointer<Double>,
                                              _ b: UnsafePointer<Double>?) -> (Double, Double) {
        var va = 0.0, vb = 0.0
        v.withUnsafeBufferPointer { p in
            let base = UnsafeRawPointer(p.baseAddress!)
            if T.self == Float.self {
                outpost_dots_against_f32(base.assumingMemoryBound(to: Float.self) + r.lowerBound, a, b, r.count, &va, &vb)
            } else {
                outpost_dots_against_f64(base.assumingMemoryBound(to: Double.self) + r.lowerBound, a, b, r.count, &va, &vb)
            }
        }
        return (va, vb)
    }

    @inline(__always)
    private static func toDouble<T: TensorScalar>(_ v: [T], _ r: Range<Int>, _ out: UnsafeMutablePointer<Double>) {
        v.withUnsafeBufferPointer { p in
            for (k, j) in r.enumerated() { out[k] = Double(p[j]) }
        }
    }

    /// Recomputes every product from the vectors, with the arithmetic of the incremental
    /// updates (the newer vector of a pair in Double), so that a restored optimizer goes on
    /// exactly as one that never stopped.
    private mutating func rebuild<T: TensorScalar>(steps: [[T]], dirs: [[T]], capacity: Int) {
        let m = dirs.count, n = dirs.first?.count ?? 0
        self = HistoryProducts()
        self.capacity = Swift.max(capacity, m)
        sy = [Double](repeating: 0, count: self.capacity * self.capacity)
        yy = sy
        let parts = Self.halves(n)
        var newer = [Double](repeating: 0, count: n)
        for j in 0..<m {
            newer.withUnsafeMutableBufferPointer { yj in
                Self.toDouble(dirs[j], 0..<n, yj.baseAddress!)
                for i in 0...j {
                    var sij = 0.0, yij = 0.0
                    for r in parts where !r.isEmpty {
                        var sHalf = 0.0, yHalf = 0.0
                        for block in Self.blocks(r) {
                            let pointer = UnsafePointer(yj.baseAddress! + block.lowerBound)
                            if i < j { sHalf += Self.dots(steps[i], block, pointer, nil).0 }
                            yHalf += Self.dots(dirs[i], block, pointer, nil).0
                        }
                        sij += sHalf
                        yij += yHalf
                    }
                    if i < j { sy[i * self.capacity + j] = sij }
                    yy[i * self.capacity + j] = yij
                    yy[j * self.capacity + i] = yij
                }
            }
        }
        count = m
    }

    /// Forgets the oldest pair: every product moves one row up and one column left, which
    /// in a row-major matrix of `capacity` columns is one move by capacity + 1 elements (the
    /// last column, left with stale values, is the new pair's and is written next).
    private mutating func dropOldest() {
        let shift = capacity + 1, moved = capacity * capacity - shift
        if moved > 0 {
            for k in 0..<2 {
                func move(_ p: UnsafeMutableBufferPointer<Double>) {
                    UnsafeMutableRawPointer(p.baseAddress!).copyMemory(from: p.baseAddress! + shift, byteCount: moved * 8)
                }
                if k == 0 { sy.withUnsafeMutableBufferPointer { move($0) } } else { yy.withUnsafeMutableBufferPointer { move($0) } }
            }
        }
        count -= 1
    }

    /// The L-BFGS direction −H·g for the history (`steps` s_i, `dirs` y_i, oldest first),
    /// `ro` = 1/(y_i·s_i) and `hDiag` = γ, keeping the matrices in step with the history:
    /// `dropped` says the oldest pair left it this iteration and `added` that the last pair
    /// is new. Products that do not match the history (a fresh or restored optimizer) are
    /// recomputed first.
    mutating func direction<T: TensorScalar>(gradient g: [T], steps: [[T]], dirs: [[T]], ro: [Double], hDiag: Double,
                                             dropped: Bool, added: Bool, capacity: Int) -> [T] {
        let m = dirs.count, n = g.count
        if dropped && count == self.capacity && count > 0 { dropOldest() }
        var fresh = added
        if count != (added ? m - 1 : m) || self.capacity < m {
            rebuild(steps: steps, dirs: dirs, capacity: capacity)
            fresh = false
        }
        let newest = fresh ? dirs[m - 1] : []

        // First pass: s_i·g, y_i·g and, for a new pair, s_i·y_new and y_i·y_new, per half,
        // at partial[half·4m + k·m + i] for k = 0 (s·g), 1 (y·g), 2 (s·y_new), 3 (y·y_new).
        var partial = [Double](repeating: 0, count: 8 * m)
        if m > 0 { partial.withUnsafeMutableBufferPointer { pp in
            let results = pp.baseAddress!
            Self.forEachHalf(n) { half, r in
                if r.isEmpty { return }
                let out = results + half * 4 * m
                // The gradient and the new y in Double (uninitialized: every element is written).
                let converted = UnsafeMutablePointer<Double>.allocate(capacity: 2 * r.count)
                defer { converted.deallocate() }
                Self.toDouble(g, r, converted)
                if fresh { Self.toDouble(newest, r, converted + r.count) }
                // Block by block, so that the two Double vectors stay in L1 while every pair's
                // block streams past them (out starts at zero).
                for block in Self.blocks(r) {
                    let offset = block.lowerBound - r.lowerBound
                    let a = UnsafePointer(converted + offset), b = fresh ? UnsafePointer(converted + r.count + offset) : nil
                    for i in 0..<m {
                        let (sg, syn) = Self.dots(steps[i], block, a, b)
                        let (yg, yyn) = Self.dots(dirs[i], block, a, b)
                        out[i] += sg; out[2 * m + i] += syn
                        out[m + i] += yg; out[3 * m + i] += yyn
                    }
                }
            }
        } }
        var sums = [Double](repeating: 0, count: 4 * m)
        for k in 0..<(4 * m) { sums[k] = partial[k] + partial[4 * m + k] }
        if fresh {
            let j = m - 1, c = self.capacity
            for i in 0..<m {
                if i < j { sy[i * c + j] = sums[2 * m + i] }
                yy[i * c + j] = sums[3 * m + i]
                yy[j * c + i] = sums[3 * m + i]
            }
            count = m
        }

        // The recursion's scalars.
        let gamma = hDiag
        var alpha = [Double](repeating: 0, count: m), beta = [Double](repeating: 0, count: m)
        let c = self.capacity
        if m > 0 { sy.withUnsafeBufferPointer { syp in
            yy.withUnsafeBufferPointer { yyp in
                alpha.withUnsafeMutableBufferPointer { al in
                    let sRows = syp.baseAddress!, yRows = yyp.baseAddress!, a = al.baseAddress!
                    for i in stride(from: m - 1, through: 0, by: -1) {
                        var sq = -sums[i]
                        if i + 1 < m { sq -= outpost_dot_f64(sRows + i * c + i + 1, a + i + 1, m - i - 1) }
                        a[i] = sq * ro[i]
                    }
                    var carried = [Double](repeating: 0, count: m)
                    carried.withUnsafeMutableBufferPointer { cp in
                        let acc = cp.baseAddress!
                        for i in 0..<m {
                            let yq = -sums[m + i] - outpost_dot_f64(yRows + i * c, a, m)
                            beta[i] = ro[i] * (gamma * yq + acc[i])
                            if i + 1 < m { outpost_axpy_f64(a[i] - beta[i], sRows + i * c + i + 1, acc + i + 1, m - i - 1) }
                        }
                    }
                }
            }
        } }

        // Second pass: d = −γ g − γ Σ α_j y_j + Σ (α_j − β_j) s_j, per half.
        if n == 0 { return [] }
        // Uninitialized: the halves write every element before adding to it.
        return [T](unsafeUninitializedCapacity: n) { dp, initialized in
            let out = dp.baseAddress!
            Self.forEachHalf(n) { _, r in
                if r.isEmpty { return }
                let scale = T(-gamma)
                g.withUnsafeBufferPointer { gp in for j in r { out[j] = gp[j] * scale } }
                // Newest first: the first pass ended on the newest pairs, which are the ones
                // still in cache when the history is larger than it.
                for j in stride(from: m - 1, through: 0, by: -1) {
                    Self.axpy(alpha[j] - beta[j], steps[j], r, out)
                    Self.axpy(-gamma * alpha[j], dirs[j], r, out)
                }
            }
            initialized = n
        }
    }

    @inline(__always)
    private static func axpy<T: TensorScalar>(_ coefficient: Double, _ x: [T], _ r: Range<Int>, _ y: UnsafeMutablePointer<T>) {
        x.withUnsafeBufferPointer { p in
            let from = UnsafeRawPointer(p.baseAddress! + r.lowerBound), to = UnsafeMutableRawPointer(y + r.lowerBound)
            if T.self == Float.self {
                outpost_axpy_f32(Float(coefficient), from.assumingMemoryBound(to: Float.self),
                                 to.assumingMemoryBound(to: Float.self), r.count)
            } else {
                outpost_axpy_f64(coefficient, from.assumingMemoryBound(to: Double.self),
                                 to.assumingMemoryBound(to: Double.self), r.count)
            }
        }
    }
}
