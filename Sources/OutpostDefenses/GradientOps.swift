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

    /// Indices of the `k` entries with the smallest `key`, ties broken by the lower index
    /// (so the selection is deterministic and has exactly `k` elements).
    public static func smallest(_ k: Int, of key: [Double]) -> [Int] {
        guard k > 0 else { return [] }
        let order = key.indices.sorted { key[$0] < key[$1] || (key[$0] == key[$1] && $0 < $1) }
        return Array(order.prefix(k))
    }

    /// Indices of the `k` entries with the largest `key`, ties broken by the lower index.
    public static func largest(_ k: Int, of key: [Double]) -> [Int] {
        guard k > 0 else { return [] }
        let order = key.indices.sorted { key[$0] > key[$1] || (key[$0] == key[$1] && $0 < $1) }
        return Array(order.prefix(k))
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
