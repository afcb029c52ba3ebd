import Foundation
import OutpostTensor

/// Element-level operations on gradients shared by the defenses. Gradients are lists of
/// parameter-shaped tensors (Float32 or Float64); the defenses read their elements as
/// `Double`, change them, and write tensors of the original shape and dtype back.
public enum GradientOps {
    /// How many of `count` entries a percentage selects: `percent`/100 · `count`, rounded to
    /// the nearest integer (halves away from zero) and kept within 0...count.
    public static func selectionCount(percent: Double, of count: Int) -> Int {
        min(max(Int((percent / 100 * Double(count)).rounded(.toNearestOrAwayFromZero)), 0), count)
    }

    /// Indices of the `k` entries with the smallest `key`, ties broken by the lower index (so
    /// the selection is deterministic and has exactly `k` elements), in ascending index order.
    /// NaN keys count as larger than every number. Linear time on average: a selection of the
    /// k-th key, not a sort (OUTPOST's pruning of 80% of a 62K-entry gradient took 1 ms
    /// sorted).
    public static func smallest(_ k: Int, of key: [Double]) -> [Int] {
        select(k, key.map(orderedBits))
    }

    /// Indices of the `k` entries with the largest `key`, ties broken by the lower index, in
    /// ascending index order. NaN keys count as larger than every number.
    public static func largest(_ k: Int, of key: [Double]) -> [Int] {
        select(k, key.map { ~orderedBits($0) })
    }

    /// An unsigned integer that orders as `x` does, with −0 as +0 and every NaN above +∞.
    @inline(__always)
    private static func orderedBits(_ x: Double) -> UInt64 {
        if x.isNaN { return UInt64.max }
        let b = (x == 0 ? 0.0 : x).bitPattern
        return b >> 63 == 1 ? ~b : b | (1 << 63)
    }

    /// Indices of the `k` smallest `bits`, ties by lower index, in ascending index order.
    private static func select(_ k: Int, _ bits: [UInt64]) -> [Int] {
        let n = bits.count
        guard k > 0 else { return [] }
        guard k < n else { return Array(0..<n) }
        var scratch = bits
        let threshold = scratch.withUnsafeMutableBufferPointer { kthSmallest($0, k - 1) }
        var equalTaken = k - bits.reduce(0) { $0 + ($1 < threshold ? 1 : 0) }
        var out: [Int] = []
        out.reserveCapacity(k)
        for (i, b) in bits.enumerated() {
            if b < threshold {
                out.append(i)
            } else if b == threshold && equalTaken > 0 {
                out.append(i)
                equalTaken -= 1
            }
        }
        return out
    }

    /// The value that would sit at position `rank` of `a` sorted (a is reordered):
    /// quickselect with a three-way partition (gradients hold long runs of equal keys, such as
    /// exact zeros) and a median-of-three pivot, falling back to a sort of what is left after
    /// more rounds than a balanced selection needs, so no input takes quadratic time.
    private static func kthSmallest(_ a: UnsafeMutableBufferPointer<UInt64>, _ rank: Int) -> UInt64 {
        var lo = 0, hi = a.count - 1
        var rounds = 0
        let limit = 2 * (Int.bitWidth - a.count.leadingZeroBitCount) + 8
        while lo < hi {
            rounds += 1
            if rounds > limit {
                let sorted = a[lo...hi].sorted()
                return sorted[rank - lo]
            }
            let mid = lo + (hi - lo) / 2
            let pivot = Swift.max(Swift.min(a[lo], a[mid]), Swift.min(Swift.max(a[lo], a[mid]), a[hi]))
            // a[lo..<lt] < pivot, a[lt..<i] == pivot, a[gt+1...hi] > pivot.
            var lt = lo, i = lo, gt = hi
            while i <= gt {
                let v = a[i]
                if v < pivot {
                    a.swapAt(lt, i); lt += 1; i += 1
                } else if v > pivot {
                    a.swapAt(i, gt); gt -= 1
                } else {
                    i += 1
                }
            }
            if rank < lt { hi = lt - 1 } else if rank > gt { lo = gt + 1 } else { return pivot }
        }
        return a[lo]
    }

    /// A boolean mask of `count` entries, true at `indices`.
    public static func mask(_ indices: [Int], count: Int) -> [Bool] {
        var m = [Bool](repeating: false, count: count)
        for i in indices { m[i] = true }
        return m
    }

    /// The L2 norm of one tensor.
    public static func norm(_ t: Tensor) -> Double {
        t.doubles.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }

    /// The L2 norm of a list of tensors taken as one vector.
    public static func globalNorm(_ tensors: [Tensor]) -> Double {
        tensors.reduce(0) { s, t in s + t.doubles.reduce(0) { $0 + $1 * $1 } }.squareRoot()
    }

    /// The tensor multiplied by a constant, as a constant (no autodiff graph).
    public static func scaled(_ t: Tensor, by factor: Double) -> Tensor {
        factor == 1 ? t.detached : Tensor(t.doubles.map { $0 * factor }, shape: t.shape, dtype: t.dtype)
    }

    /// Scales `tensors` by min(1, bound / ‖tensors‖), their joint L2 norm (clip by global norm).
    /// Returns the clipped tensors and the norm before clipping.
    public static func clipGlobally(_ tensors: [Tensor], to bound: Double) -> (clipped: [Tensor], norm: Double) {
        let n = globalNorm(tensors)
        let factor = n > bound ? bound / n : 1
        return (tensors.map { scaled($0, by: factor) }, n)
    }

    /// Elementwise a + b of equally shaped tensor lists (as constants).
    public static func add(_ a: [Tensor], _ b: [Tensor]) -> [Tensor] {
        zip(a, b).map { x, y in
            Tensor(zip(x.doubles, y.doubles).map { $0 + $1 }, shape: x.shape, dtype: x.dtype)
        }
    }

    /// The mean of equally shaped tensor lists (e.g. per-sample gradients), as constants.
    public static func mean(_ lists: [[Tensor]]) -> [Tensor] {
        precondition(!lists.isEmpty, "GradientOps.mean: no tensors")
        let n = Double(lists.count)
        return lists[0].indices.map { l in
            var acc = [Double](repeating: 0, count: lists[0][l].count)
            for list in lists {
                for (i, v) in list[l].doubles.enumerated() { acc[i] += v }
            }
            return Tensor(acc.map { $0 / n }, shape: lists[0][l].shape, dtype: lists[0][l].dtype)
        }
    }

    /// Concatenates tensors' elements in order (the flat parameter vector).
    public static func flatten(_ tensors: [Tensor]) -> [Double] {
        var out: [Double] = []
        out.reserveCapacity(tensors.reduce(0) { $0 + $1.count })
        for t in tensors { out += t.doubles }
        return out
    }

    /// Cuts a flat vector back into tensors shaped and typed like `like`.
    public static func unflatten(_ flat: [Double], like: [Tensor]) -> [Tensor] {
        precondition(flat.count == like.reduce(0) { $0 + $1.count }, "GradientOps.unflatten: \(flat.count) values do not fill the tensors")
        var start = 0
        return like.map { t in
            defer { start += t.count }
            return Tensor(Array(flat[start..<(start + t.count)]), shape: t.shape, dtype: t.dtype)
        }
    }

    /// The unbiased sample variance (PyTorch's `var`) of the elements; 0 for fewer than two.
    public static func variance(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let mean = values.reduce(0, +) / Double(values.count)
        return values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
    }

    /// Checks that a gradient list matches the model's parameters in count and shapes.
    static func checkShapes(_ gradient: [Tensor], _ parameters: [Tensor], defense: String) throws {
        guard gradient.count == parameters.count else {
            throw DefenseError.unsupported(defense: defense, message: "gradient has \(gradient.count) tensors, the model has \(parameters.count) parameters")
        }
        for (i, (g, p)) in zip(gradient, parameters).enumerated() where g.shape != p.shape {
            throw DefenseError.unsupported(defense: defense, message: "gradient tensor \(i) has shape \(g.shape), its parameter \(p.shape)")
        }
    }
}

/// Throws ``DefenseError/invalidParameter(defense:message:)`` unless `condition` holds.
func require(_ condition: Bool, _ defense: String, _ message: @autoclosure () -> String) throws {
    if !condition { throw DefenseError.invalidParameter(defense: defense, message: message()) }
}

/// Whether `x` is a finite number in `range`.
func within(_ x: Double, _ range: ClosedRange<Double>) -> Bool { x.isFinite && range.contains(x) }
