import COutpostSIMD
import OutpostTensor

/// Loops over the flattened parameter vectors of L-BFGS. Arithmetic on elements runs in
/// the parameters' precision `T`, like PyTorch's in-place tensor ops; reductions (dot
/// products, sums, maxima) accumulate in `Double`.
enum FlatVector {
    static func dot<T: TensorScalar>(_ a: [T], _ b: [T]) -> Double {
        precondition(a.count == b.count, "FlatVector.dot: lengths \(a.count) and \(b.count) differ")
        return a.withUnsafeBufferPointer { pa in
            guard let x = pa.baseAddress else { return 0 }
            return dot(x, b)
        }
    }

    /// a · b for `a` pointing at `b.count` elements (a vector of the L-BFGS history).
    /// Vectorized (COutpostSIMD), accumulating in Double.
    static func dot<T: TensorScalar>(_ a: UnsafePointer<T>, _ b: [T]) -> Double {
        b.withUnsafeBufferPointer { pb in
            guard let y = pb.baseAddress else { return 0 }
            if T.self == Float.self {
                return outpost_dot_f32(UnsafeRawPointer(a).assumingMemoryBound(to: Float.self),
                                       UnsafeRawPointer(y).assumingMemoryBound(to: Float.self), pb.count)
            }
            return outpost_dot_f64(UnsafeRawPointer(a).assumingMemoryBound(to: Double.self),
                                   UnsafeRawPointer(y).assumingMemoryBound(to: Double.self), pb.count)
        }
    }

    /// y ← y + α·x for `x` pointing at `y.count` elements; vectorized (COutpostSIMD), product
    /// and sum rounded separately.
    static func axpy<T: TensorScalar>(_ alpha: Double, _ x: UnsafePointer<T>, _ y: inout [T]) {
        y.withUnsafeMutableBufferPointer { py in
            guard let ys = py.baseAddress else { return }
            if T.self == Float.self {
                outpost_axpy_f32(Float(alpha), UnsafeRawPointer(x).assumingMemoryBound(to: Float.self),
                                 UnsafeMutableRawPointer(ys).assumingMemoryBound(to: Float.self), py.count)
            } else {
                outpost_axpy_f64(alpha, UnsafeRawPointer(x).assumingMemoryBound(to: Double.self),
                                 UnsafeMutableRawPointer(ys).assumingMemoryBound(to: Double.self), py.count)
            }
        }
    }

    /// max |a[j]|; NaN if any element is NaN.
    static func absMax<T: TensorScalar>(_ a: [T]) -> Double {
        a.withUnsafeBufferPointer { p in
            var m: T = 0
            for v in p {
                if v.isNaN { return .nan }
                let x = v.magnitude
                if x > m { m = x }
            }
            return Double(m)
        }
    }

    /// max |s · a[j]|, with the product rounded to `T` as PyTorch's `d.mul(t)` does.
    static func scaledAbsMax<T: TensorScalar>(_ a: [T], _ s: Double) -> Double {
        let st = T(s)
        return a.withUnsafeBufferPointer { p in
            var m: T = 0
            for v in p {
                let x = (v * st).magnitude
                if x.isNaN { return .nan }
                if x > m { m = x }
            }
            return Double(m)
        }
    }

    static func absSum<T: TensorScalar>(_ a: [T]) -> Double {
        a.withUnsafeBufferPointer { p in
            var s = 0.0
            for v in p { s += Double(v.magnitude) }
            return s
        }
    }

    /// y ← y + α·x.
    static func axpy<T: TensorScalar>(_ alpha: Double, _ x: [T], _ y: inout [T]) {
        precondition(x.count == y.count, "FlatVector.axpy: lengths \(x.count) and \(y.count) differ")
        x.withUnsafeBufferPointer { px in
            guard let xs = px.baseAddress else { return }
            axpy(alpha, xs, &y)
        }
    }

    /// x + α·d as a new vector.
    static func adding<T: TensorScalar>(_ x: [T], _ alpha: Double, _ d: [T]) -> [T] {
        var r = x
        axpy(alpha, d, &r)
        return r
    }

    /// α·x.
    static func scaled<T: TensorScalar>(_ x: [T], _ alpha: Double) -> [T] {
        let a = T(alpha)
        return x.map { $0 * a }
    }

    /// a − b.
    static func difference<T: TensorScalar>(_ a: [T], _ b: [T]) -> [T] {
        precondition(a.count == b.count, "FlatVector.difference: lengths \(a.count) and \(b.count) differ")
        return [T](unsafeUninitializedCapacity: a.count) { out, initialized in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    for j in 0..<pa.count { out[j] = pa[j] - pb[j] }
                }
            }
            initialized = a.count
        }
    }

    static func negated<T: TensorScalar>(_ a: [T]) -> [T] { a.map { -$0 } }

    static func allFinite<T: TensorScalar>(_ a: [T]) -> Bool {
        a.withUnsafeBufferPointer { p in
            var acc: T = 0
            for v in p { acc += v - v }   // 0 for finite values, NaN otherwise
            return acc == 0
        }
    }

    /// The parameters concatenated in order (each flattened row-major).
    static func flatten<T: TensorScalar>(_ tensors: [Tensor], as _: T.Type) -> [T] {
        var out: [T] = []
        out.reserveCapacity(tensors.reduce(0) { $0 + $1.count })
        for t in tensors { t.withUnsafeScalars(T.self) { out.append(contentsOf: $0) } }
        return out
    }

    /// Tensors of the given shapes holding consecutive pieces of `flat`.
    static func unflatten<T: TensorScalar>(_ flat: [T], shapes: [[Int]]) -> [Tensor] {
        var offset = 0
        return shapes.map { shape in
            let n = shape.reduce(1, *)
            defer { offset += n }
            return Tensor.zeros(shape, dtype: T.dtype).updatingScalars(T.self) { dst in
                flat.withUnsafeBufferPointer { src in
                    if n > 0 { dst.baseAddress!.update(from: src.baseAddress! + offset, count: n) }
                }
            }
        }
    }
}
