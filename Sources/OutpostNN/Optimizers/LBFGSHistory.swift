import COutpostSIMD
import OutpostTensor

/// How L-BFGS turns its history into a direction.
enum LBFGSDirection: Sendable, Equatable {
    /// PyTorch's two-loop recursion: 2m dot products and 2m axpys, each needing the vector
    /// the one before it wrote, so it runs on one thread and reads the history twice in 2m
    /// dependent sweeps.
    case twoLoop
    /// The same recursion rearranged around the Gram matrices SᵀY and YᵀY (kept from one
    /// iteration to the next): one pass over the history for Sᵀg, Yᵀg and the new pair's row
    /// of the Gram matrices, the recursion on m-vectors in Double, and one pass forming the
    /// direction as a combination of g and the pairs, accumulated per element in Double
    /// (Float pairs: in runs of four pairs summed in Float, see `outpost_lbfgs_combine_f32`).
    /// Both passes split the vectors by element range across the engine's threads.
    case compact
}

/// The (s, y) pairs of L-BFGS, oldest first, in one contiguous ring buffer per kind (pair
/// `i` in slot `(head + i) mod capacity`), allocated for `capacity` pairs with the first one,
/// and for ``LBFGSDirection/compact`` the Gram matrices of the pairs, indexed by slot.
struct LBFGSHistory<T: TensorScalar>: Sendable {
    /// At most this many pairs (`history_size`); the oldest is dropped when a new one comes.
    let capacity: Int
    /// Elements per vector (known from the first pair).
    private(set) var length = 0
    /// Pairs held.
    private(set) var count = 0
    private var head = 0
    private var slots = 0
    private var s: [T] = []
    private var y: [T] = []
    /// 1 / (yᵀs) per slot.
    private var ro: [Double] = []
    /// s_aᵀ y_b for pair a older than pair b, at [b · slots + a] (`syByNewer`) and at
    /// [a · slots + b] (`syByOlder`), so that both loops of the recursion read rows.
    private var syByNewer: [Double] = []
    private var syByOlder: [Double] = []
    /// y_aᵀ y_b at [a · slots + b] and [b · slots + a].
    private var yy: [Double] = []
    /// False when the Gram matrices must be computed again from the pairs (after a restore,
    /// or after a two-loop direction left a pair's row out).
    private var gramValid = true
    /// The slot of the newest pair while its Gram row is not yet computed (the next compact
    /// direction's history pass computes it).
    private var pending: Int?

    init(capacity: Int) {
        precondition(capacity >= 1, "LBFGSHistory: capacity \(capacity)")
        self.capacity = capacity
    }

    private func slot(_ i: Int) -> Int {
        let k = head + i
        return k >= slots ? k - slots : k
    }

    /// The step s of pair `i` (0: oldest).
    func step(_ i: Int) -> [T] { Array(s[slot(i) * length ..< (slot(i) + 1) * length]) }
    /// The gradient difference y of pair `i` (0: oldest).
    func gradientChange(_ i: Int) -> [T] { Array(y[slot(i) * length ..< (slot(i) + 1) * length]) }
    /// 1 / (yᵀs) of pair `i` (0: oldest).
    func rho(_ i: Int) -> Double { ro[slot(i)] }

    /// Forgets every pair (keeping the allocations).
    mutating func removeAll() {
        count = 0
        head = 0
        pending = nil
        gramValid = true
    }

    /// Appends a pair, dropping the oldest one when `capacity` pairs are held.
    mutating func append(y newY: [T], s newS: [T], rho: Double) {
        if slots == 0 {
            length = newY.count
            allocate()
        }
        precondition(newY.count == length && newS.count == length,
                     "LBFGSHistory: vectors of \(newY.count) and \(newS.count) elements, the history holds \(length)")
        let k: Int
        if count == capacity {
            k = head
            head = head + 1 == slots ? 0 : head + 1
        } else {
            k = slot(count)
            count += 1
        }
        s.withUnsafeMutableBufferPointer { p in
            newS.withUnsafeBufferPointer { src in
                if length > 0 { (p.baseAddress! + k * length).update(from: src.baseAddress!, count: length) }
            }
        }
        y.withUnsafeMutableBufferPointer { p in
            newY.withUnsafeBufferPointer { src in
                if length > 0 { (p.baseAddress! + k * length).update(from: src.baseAddress!, count: length) }
            }
        }
        ro[k] = rho
        if pending != nil { gramValid = false }
        pending = k
    }

    /// Marks the Gram matrices for recomputation (after the pairs were restored).
    mutating func invalidateGram() {
        gramValid = false
        pending = nil
    }

    /// Allocates the ring for `capacity` pairs, uninitialized: the pages of a slot are
    /// touched only when a pair is written there. (Growing it step by step and zeroing it
    /// tripled the page faults of W1, whose attack starts a new optimizer every 200
    /// iterations.)
    private mutating func allocate() {
        let total = capacity * length
        s = [T](unsafeUninitializedCapacity: total) { _, initialized in initialized = total }
        y = [T](unsafeUninitializedCapacity: total) { _, initialized in initialized = total }
        ro = [Double](repeating: 0, count: capacity)
        syByNewer = [Double](repeating: 0, count: capacity * capacity)
        syByOlder = syByNewer
        yy = syByNewer
        slots = capacity
    }

    /// The L-BFGS direction −H·g for the pairs held, with H₀ = `hDiag` · I.
    mutating func direction(gradient g: [T], hDiag: Double, method: LBFGSDirection) -> [T] {
        precondition(count == 0 || g.count == length, "LBFGSHistory: gradient of \(g.count) elements, the history holds \(length)")
        switch method {
        case .twoLoop:
            if pending != nil { invalidateGram() }
            return twoLoop(g, hDiag)
        case .compact:
            return compact(g, hDiag)
        }
    }

    // MARK: The two-loop recursion

    private func twoLoop(_ g: [T], _ hDiag: Double) -> [T] {
        var al = [Double](repeating: 0, count: count)
        var q = FlatVector.negated(g)
        let n = length
        s.withUnsafeBufferPointer { sp in
            y.withUnsafeBufferPointer { yp in
                for i in stride(from: count - 1, through: 0, by: -1) {
                    let k = slot(i)
                    al[i] = FlatVector.dot(sp.baseAddress! + k * n, q) * ro[k]
                    FlatVector.axpy(-al[i], yp.baseAddress! + k * n, &q)
                }
            }
        }
        var d = FlatVector.scaled(q, hDiag)
        s.withUnsafeBufferPointer { sp in
            y.withUnsafeBufferPointer { yp in
                for i in 0..<count {
                    let k = slot(i)
                    let be = FlatVector.dot(yp.baseAddress! + k * n, d) * ro[k]
                    FlatVector.axpy(al[i] - be, sp.baseAddress! + k * n, &d)
                }
            }
        }
        return d
    }

    // MARK: The compact form

    /// Pieces of the element range the history passes split: fixed by the length alone, so
    /// that the dot products' rounding does not depend on the thread count.
    private static func blocks(_ n: Int) -> [Range<Int>] {
        let wanted = n < 1024 ? 1 : n < 4096 ? 4 : 12
        let size = Swift.max(16, ((n + wanted - 1) / wanted + 15) / 16 * 16)
        return stride(from: 0, to: n, by: size).map { $0 ..< Swift.min(n, $0 + size) }
    }

    /// Pieces for passes over `pairs` pairs: one below about 64K elements a pass, where
    /// handing work to another thread costs more than it saves, and one while other
    /// processes want the cores (a woken worker then comes too late to take its part, and
    /// every split costs a wake-up: measured 4% more CPU time in system calls, nothing
    /// saved), and while the cores are far apart (`Engine.smallJobsPay`). Otherwise one
    /// piece per block, each taken by whichever thread is free (`Engine.runClaiming`): a
    /// worker that was asleep wakes during the pass (a pass takes 50–250 µs on W1 and W4) and
    /// takes the blocks the caller has not reached. (Two pieces per thread, each of several
    /// blocks and so read in longer runs, measured no faster on W4: 1.018.)
    private static func parts(_ blocks: Int, pairs: Int, length n: Int) -> Int {
        if pairs * n < 65_536 || blocks < 2 || !Engine.smallJobsPay { return 1 }
        return blocks
    }

    /// For each pair in `order` (slots), s·g, y·g and, with `ynew`, s·ynew and y·ynew (four
    /// values a pair): per block in parallel, then the blocks' partial sums in block order.
    private func historyDots(_ order: [Int], _ sp: UnsafePointer<T>, _ yp: UnsafePointer<T>, _ g: UnsafePointer<T>,
                             _ ynew: UnsafePointer<T>?) -> [Double] {
        let m = order.count, n = length
        let blocks = Self.blocks(n)
        var partial = [Double](repeating: 0, count: blocks.count * 4 * m)
        let parts = Self.parts(blocks.count, pairs: m, length: n)
        order.withUnsafeBufferPointer { ord in
            partial.withUnsafeMutableBufferPointer { out in
                let ordp = ord.baseAddress!, outp = out.baseAddress!
                let bounds = blocks.map(\.lowerBound) + [n]
                bounds.withUnsafeBufferPointer { bp in
                    Engine.runClaiming(parts) { t in
                        let first = t * blocks.count / parts, end = (t + 1) * blocks.count / parts
                        let o = outp + first * 4 * m, bounds = bp.baseAddress! + first
                        if T.self == Float.self {
                            outpost_lbfgs_dots_f32(Self.f32(sp), Self.f32(yp), n, ordp, m, Self.f32(g), ynew.map(Self.f32), bounds, end - first, o)
                        } else {
                            outpost_lbfgs_dots_f64(Self.f64(sp), Self.f64(yp), n, ordp, m, Self.f64(g), ynew.map(Self.f64), bounds, end - first, o)
                        }
                    }
                }
            }
        }
        var total = Array(partial.prefix(4 * m))
        for b in 1..<Swift.max(1, blocks.count) {
            for k in 0..<(4 * m) { total[k] += partial[b * 4 * m + k] }
        }
        return total
    }

    @inline(__always) private static func f32(_ p: UnsafePointer<T>) -> UnsafePointer<Float> {
        UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
    }
    @inline(__always) private static func f64(_ p: UnsafePointer<T>) -> UnsafePointer<Double> {
        UnsafeRawPointer(p).assumingMemoryBound(to: Double.self)
    }

    /// Stores pair `newer`'s Gram row: s_aᵀy_newer and y_aᵀy_newer for the pairs `order`
    /// (slots, older than `newer` or `newer` itself) from `dots` as `historyDots` returns them.
    private mutating func storeGramRow(_ newer: Int, _ order: [Int], _ dots: [Double]) {
        for (i, a) in order.enumerated() {
            let sy = dots[4 * i + 2], yyv = dots[4 * i + 3]
            if a != newer {
                syByNewer[newer * slots + a] = sy
                syByOlder[a * slots + newer] = sy
            }
            yy[newer * slots + a] = yyv
            yy[a * slots + newer] = yyv
        }
    }

    private mutating func rebuildGram() {
        let n = length
        for i in 0..<count {
            let order = (0...i).map(slot)
            let k = slot(i)
            let dots = s.withUnsafeBufferPointer { sp in
                y.withUnsafeBufferPointer { yp in
                    let yk = yp.baseAddress! + k * n
                    return historyDots(order, sp.baseAddress!, yp.baseAddress!, yk, yk)
                }
            }
            storeGramRow(k, order, dots)
        }
        gramValid = true
        pending = nil
    }

    private mutating func compact(_ g: [T], _ hDiag: Double) -> [T] {
        let n = length, m = count
        if n == 0 || m == 0 {
            // No pairs: d = −hDiag · g, as the two-loop recursion computes it.
            return FlatVector.scaled(FlatVector.negated(g), hDiag)
        }
        if !gramValid { rebuildGram() }
        let order = (0..<m).map(slot)

        // 1. One pass: Sᵀg, Yᵀg and the new pair's Gram row.
        let newer = pending
        let dots = s.withUnsafeBufferPointer { sp in
            y.withUnsafeBufferPointer { yp in
                g.withUnsafeBufferPointer { gp in
                    historyDots(order, sp.baseAddress!, yp.baseAddress!, gp.baseAddress!, newer.map { yp.baseAddress! + $0 * n })
                }
            }
        }
        if let newer {
            storeGramRow(newer, order, dots)
            pending = nil
        }

        // 2. The recursion on the Gram matrices, in Double (O(m²)): u_i = s_iᵀq_i with q
        // starting at −g, α_i = ρ_i u_i, and q losing α_i y_i takes α_i s_jᵀy_i from every
        // older u_j; then w_i = y_iᵀr with r starting at hDiag·q, β_i = ρ_i w_i, and r gaining
        // (α_i − β_i) s_i adds (α_i − β_i) s_iᵀy_k to every newer w_k.
        var cs = [Double](repeating: 0, count: m), cy = [Double](repeating: 0, count: m)
        var work = [Double](repeating: 0, count: 3 * m)
        outpost_lbfgs_coefficients(m, head, slots, ro, syByNewer, syByOlder, yy, dots, hDiag, &cs, &cy, &work)

        // 3. One pass: d = −hDiag·g + Σ (cy_i y_i + cs_i s_i), each element accumulated in
        // Double (Float pairs: four at a time in Float, then in Double) and rounded once, on
        // the same element ranges as the first pass. It runs backwards, from the newest pair
        // and the last element, so that it starts on what the first pass left in the cache:
        // the history (W1: 2.4 MB) does not fit in one core's L2.
        let backwards = Array(order.reversed())
        cs.reverse()
        cy.reverse()
        var d = [T](repeating: 0, count: n)
        let blocks = Self.blocks(n)
        let parts = Self.parts(blocks.count, pairs: m, length: n)
        s.withUnsafeBufferPointer { sp in
            y.withUnsafeBufferPointer { yp in
                g.withUnsafeBufferPointer { gp in
                    d.withUnsafeMutableBufferPointer { dp in
                        backwards.withUnsafeBufferPointer { ord in
                            cs.withUnsafeBufferPointer { csp in
                                cy.withUnsafeBufferPointer { cyp in
                                    let (S, Y, G, D) = (sp.baseAddress!, yp.baseAddress!, gp.baseAddress!, dp.baseAddress!)
                                    let (O, CS, CY) = (ord.baseAddress!, csp.baseAddress!, cyp.baseAddress!)
                                    Engine.runClaiming(parts) { t in
                                        let lo = blocks[t * blocks.count / parts].lowerBound
                                        let hi = blocks[(t + 1) * blocks.count / parts - 1].upperBound
                                        if T.self == Float.self {
                                            outpost_lbfgs_combine_f32(Self.f32(S), Self.f32(Y), n, O, m, CS, CY, Self.f32(G), -hDiag,
                                                                      UnsafeMutableRawPointer(D).assumingMemoryBound(to: Float.self), lo, hi)
                                        } else {
                                            outpost_lbfgs_combine_f64(Self.f64(S), Self.f64(Y), n, O, m, CS, CY, Self.f64(G), -hDiag,
                                                                      UnsafeMutableRawPointer(D).assumingMemoryBound(to: Double.self), lo, hi)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return d
    }
}
