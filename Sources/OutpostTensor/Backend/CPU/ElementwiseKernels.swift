import COutpostSIMD

/// Elementwise maps of one tensor.
enum UnaryOp {
    case neg, exp, log, sqrt, abs, sign, sigmoid, tanh, relu, erf, softplus, square, reciprocal
    case addScalar(Double), mulScalar(Double), powScalar(Double), rsubScalar(Double), rdivScalar(Double)
    case clamp(Double, Double)
    /// 1 where lo <= x <= hi, else 0 (the mask clamp's gradient uses).
    case inRange(Double, Double)
    case leakyRelu(Double)
    /// 1 where x > 0, else `slope` (the derivative of leaky ReLU; slope 0 gives ReLU's).
    case positiveMask(slope: Double)
    /// 1 where x > c, else 0.
    case greaterThan(Double)
    /// 1 where x < c, else 0.
    case lessThan(Double)
    case isNaNMask
}

/// Elementwise maps of two broadcast tensors.
enum BinaryOp {
    case add, sub, mul, div, pow, maximum, minimum
    /// 1 where a == b, else 0.
    case equal
    /// 1 where a > b, else 0.
    case greater
    /// a · b · (1 − b): the cotangent a through a sigmoid whose output is b, in one pass.
    case sigmoidBackward
}

enum Kernels {
    /// Elements per thread below which an elementwise loop runs on the calling thread. A
    /// worker that is polling (as it is through a training step's stream of kernels) joins in
    /// about a microsecond, and a loop split like the batched convolutions keeps each half of
    /// the activations in the cache of the core that works on it next: with 16 K, W3's
    /// 75 K-element activations split (sigmoid, its derivative, the bias additions), and two
    /// threads took 0.95 of the time they took with 128 K (docs/performance.md, session 10).
    /// With 128 K those loops ran on the caller alone while the worker waited, and the
    /// worker's convolutions then read the activations from the other core's cache.
    static let elementwiseGrain = 1 << 14

    static func allFinite(_ b: Buffer) -> Bool {
        switch b.dtype {
        case .float32: return allFiniteT(b.pointer(Float.self), b.count)
        case .float64: return allFiniteT(b.pointer(Double.self), b.count)
        }
    }

    private static func allFiniteT<T: TensorScalar>(_ p: UnsafeMutablePointer<T>, _ n: Int) -> Bool {
        // x - x is 0 for finite x and NaN otherwise; summing keeps the loop branch-free.
        var acc: T = 0
        for i in 0..<n { acc += p[i] - p[i] }
        return acc == 0
    }

    // MARK: Unary

    static func unary(_ x: Buffer, _ op: UnaryOp) -> Buffer {
        let out = Buffer(count: x.count, dtype: x.dtype)
        if case .sigmoid = op, x.dtype == .float32 {
            // Vectorized exp (COutpostSIMD): libm's expf one element at a time dominated
            // sigmoid networks' forward passes.
            let src = x.pointer(Float.self), dst = out.pointer(Float.self)
            parallelFor(x.count, grain: elementwiseGrain) { r in outpost_sigmoid_f32(src + r.lowerBound, dst + r.lowerBound, r.count) }
            return out
        }
        switch x.dtype {
        case .float32: unaryT(x.pointer(Float.self), out.pointer(Float.self), x.count, op)
        case .float64: unaryT(x.pointer(Double.self), out.pointer(Double.self), x.count, op)
        }
        return out
    }

    // Every elementwise loop is written as "split the range, then dispatch on the op inside
    // each chunk": the op's closure is then a literal at its loop and is inlined and
    // vectorized. Splitting inside the dispatch instead would hand the closure to the
    // worker's chunk as a captured value, called per element, unvectorized: at two threads
    // W5's large elementwise loops took 2.4 times the CPU time they take this way.

    private static func unaryT<T: TensorScalar>(_ x: UnsafeMutablePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int, _ op: UnaryOp) {
        parallelFor(n, grain: elementwiseGrain) { r in unaryRange(x + r.lowerBound, y + r.lowerBound, r.count, op) }
    }

    @inline(__always)
    private static func map<T: TensorScalar>(_ x: UnsafeMutablePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int,
                                             _ f: (T) -> T) {
        for i in 0..<n { y[i] = f(x[i]) }
    }

    /// The C loop of a binary op (`outpost_binary_f32`), where there is one.
    private static func vectorCode(_ op: BinaryOp) -> Int32? {
        switch op {
        case .add: Int32(OUTPOST_EW_ADD)
        case .sub: Int32(OUTPOST_EW_SUB)
        case .mul: Int32(OUTPOST_EW_MUL)
        case .div: Int32(OUTPOST_EW_DIV)
        case .sigmoidBackward: Int32(OUTPOST_EW_SIGMOID_BACKWARD)
        default: nil
        }
    }

    /// The C loop of a unary op (`outpost_unary_f32`) and its constant, where there is one.
    private static func vectorCode(_ op: UnaryOp) -> (Int32, Float)? {
        switch op {
        case .neg: (Int32(OUTPOST_EW_NEG), 0)
        case .addScalar(let c): (Int32(OUTPOST_EW_ADD_SCALAR), Float(c))
        case .mulScalar(let c): (Int32(OUTPOST_EW_MUL_SCALAR), Float(c))
        case .rsubScalar(let c): (Int32(OUTPOST_EW_RSUB_SCALAR), Float(c))
        case .square: (Int32(OUTPOST_EW_SQUARE), 0)
        default: nil
        }
    }

    private static func unaryRange<T: TensorScalar>(_ x: UnsafeMutablePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int, _ op: UnaryOp) {
        if T.self == Float.self, let (code, c) = vectorCode(op) {
            outpost_unary_f32(code, c, UnsafeRawPointer(x).assumingMemoryBound(to: Float.self),
                              UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self), n)
            return
        }
        switch op {
        case .neg: map(x, y, n) { -$0 }
        case .exp: map(x, y, n) { T.exp($0) }
        case .log: map(x, y, n) { T.log($0) }
        case .sqrt: map(x, y, n) { $0.squareRoot() }
        case .abs: map(x, y, n) { Swift.abs($0) }
        case .sign: map(x, y, n) { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
        case .sigmoid: map(x, y, n) { v in v >= 0 ? 1 / (1 + T.exp(-v)) : T.exp(v) / (1 + T.exp(v)) }
        case .tanh: map(x, y, n) { T.tanh($0) }
        case .relu: map(x, y, n) { $0 > 0 ? $0 : 0 }
        case .erf: map(x, y, n) { T.erf($0) }
        case .softplus: map(x, y, n) { v in v > 20 ? v : T.log1p(T.exp(v)) }
        case .square: map(x, y, n) { $0 * $0 }
        case .reciprocal: map(x, y, n) { 1 / $0 }
        case .addScalar(let c): let c = T(c); map(x, y, n) { $0 + c }
        case .mulScalar(let c): let c = T(c); map(x, y, n) { $0 * c }
        case .powScalar(let p):
            if p == 2 { map(x, y, n) { $0 * $0 } } else { let p = T(p); map(x, y, n) { T.pow($0, p) } }
        case .rsubScalar(let c): let c = T(c); map(x, y, n) { c - $0 }
        case .rdivScalar(let c): let c = T(c); map(x, y, n) { c / $0 }
        case .clamp(let lo, let hi): let lo = T(lo), hi = T(hi); map(x, y, n) { $0.isNaN ? $0 : Swift.min(Swift.max($0, lo), hi) }
        case .inRange(let lo, let hi): let lo = T(lo), hi = T(hi); map(x, y, n) { $0 >= lo && $0 <= hi ? 1 : 0 }
        case .leakyRelu(let s): let s = T(s); map(x, y, n) { $0 > 0 ? $0 : s * $0 }
        case .positiveMask(let s): let s = T(s); map(x, y, n) { $0 > 0 ? 1 : s }
        case .greaterThan(let c): let c = T(c); map(x, y, n) { $0 > c ? 1 : 0 }
        case .lessThan(let c): let c = T(c); map(x, y, n) { $0 < c ? 1 : 0 }
        case .isNaNMask: map(x, y, n) { $0.isNaN ? 1 : 0 }
        }
    }

    static func cast(_ x: Buffer, to dtype: DType) -> Buffer {
        if x.dtype == dtype { return x }
        let out = Buffer(count: x.count, dtype: dtype)
        switch dtype {
        case .float32:
            let s = x.pointer(Double.self), d = out.pointer(Float.self)
            for i in 0..<x.count { d[i] = Float(s[i]) }
        case .float64:
            let s = x.pointer(Float.self), d = out.pointer(Double.self)
            for i in 0..<x.count { d[i] = Double(s[i]) }
        }
        return out
    }

    // MARK: Binary with broadcasting

    static func binary(_ a: Buffer, _ aShape: [Int], _ b: Buffer, _ bShape: [Int], _ op: BinaryOp, outShape: [Int]) -> Buffer {
        precondition(a.dtype == b.dtype, "binary op: dtypes differ (\(a.dtype) vs \(b.dtype))")
        let n = Shapes.count(outShape)
        let out = Buffer(count: n, dtype: a.dtype)
        // Same-shape and scalar operands (nearly every call) skip the stride bookkeeping.
        if n > 0 && (a.count == n || a.count == 1) && (b.count == n || b.count == 1) {
            switch a.dtype {
            case .float32: binaryFlat(a.pointer(Float.self), a.count == 1, b.pointer(Float.self), b.count == 1, out.pointer(Float.self), n, op)
            case .float64: binaryFlat(a.pointer(Double.self), a.count == 1, b.pointer(Double.self), b.count == 1, out.pointer(Double.self), n, op)
            }
            return out
        }
        let sa = Shapes.broadcastStrides(aShape, to: outShape)
        let sb = Shapes.broadcastStrides(bShape, to: outShape)
        switch a.dtype {
        case .float32: binaryT(a.pointer(Float.self), sa, b.pointer(Float.self), sb, out.pointer(Float.self), outShape, op)
        case .float64: binaryT(a.pointer(Double.self), sa, b.pointer(Double.self), sb, out.pointer(Double.self), outShape, op)
        }
        return out
    }

    private static func binaryT<T: TensorScalar>(_ a: UnsafeMutablePointer<T>, _ sa: [Int], _ b: UnsafeMutablePointer<T>, _ sb: [Int],
                                                 _ y: UnsafeMutablePointer<T>, _ shape: [Int], _ op: BinaryOp) {
        let n = Shapes.count(shape)
        if n == 0 { return }
        let (dims, strides) = coalesce(shape, [sa, sb])
        let rank = dims.count
        if rank == 0 { binaryFlatRange(a, true, b, true, y, 0..<1, op); return }
        let inner = dims[rank - 1], ia = strides[0][rank - 1], ib = strides[1][rank - 1]
        // One dimension left, each operand contiguous or a scalar: the flat loops.
        if rank == 1 && ia <= 1 && ib <= 1 {
            binaryFlat(a, ia == 0, b, ib == 0, y, n, op)
            return
        }
        parallelFor(n / inner, grain: max(1, elementwiseGrain / inner)) { rows in
            binaryRows(a, b, y, dims, strides, rows, op)
        }
    }

    private static func binaryFlat<T: TensorScalar>(_ a: UnsafeMutablePointer<T>, _ aScalar: Bool, _ b: UnsafeMutablePointer<T>, _ bScalar: Bool,
                                                    _ y: UnsafeMutablePointer<T>, _ n: Int, _ op: BinaryOp) {
        parallelFor(n, grain: elementwiseGrain) { r in binaryFlatRange(a, aScalar, b, bScalar, y, r, op) }
    }

    private static func binaryFlatRange<T: TensorScalar>(_ a: UnsafeMutablePointer<T>, _ aScalar: Bool, _ b: UnsafeMutablePointer<T>, _ bScalar: Bool,
                                                         _ y: UnsafeMutablePointer<T>, _ r: Range<Int>, _ op: BinaryOp) {
        if T.self == Float.self, let code = vectorCode(op) {
            let f = { (p: UnsafeMutablePointer<T>, scalar: Bool) in
                UnsafeRawPointer(p + (scalar ? 0 : r.lowerBound)).assumingMemoryBound(to: Float.self)
            }
            outpost_binary_f32(code, f(a, aScalar), aScalar ? 1 : 0, f(b, bScalar), bScalar ? 1 : 0,
                               UnsafeMutableRawPointer(y + r.lowerBound).assumingMemoryBound(to: Float.self), r.count)
            return
        }
        switch op {
        case .add: flat2(a, aScalar, b, bScalar, y, r) { $0 + $1 }
        case .sub: flat2(a, aScalar, b, bScalar, y, r) { $0 - $1 }
        case .mul: flat2(a, aScalar, b, bScalar, y, r) { $0 * $1 }
        case .div: flat2(a, aScalar, b, bScalar, y, r) { $0 / $1 }
        case .pow: flat2(a, aScalar, b, bScalar, y, r) { T.pow($0, $1) }
        case .maximum: flat2(a, aScalar, b, bScalar, y, r) { Swift.max($0, $1) }
        case .minimum: flat2(a, aScalar, b, bScalar, y, r) { Swift.min($0, $1) }
        case .equal: flat2(a, aScalar, b, bScalar, y, r) { $0 == $1 ? 1 : 0 }
        case .greater: flat2(a, aScalar, b, bScalar, y, r) { $0 > $1 ? 1 : 0 }
        case .sigmoidBackward: flat2(a, aScalar, b, bScalar, y, r) { $0 * $1 * (1 - $1) }
        }
    }

    /// y[i] = f(a[i], b[i]) over `r`, where a scalar operand is read at index 0 throughout.
    @inline(__always)
    private static func flat2<T: TensorScalar>(_ a: UnsafeMutablePointer<T>, _ aScalar: Bool, _ b: UnsafeMutablePointer<T>, _ bScalar: Bool,
                                               _ y: UnsafeMutablePointer<T>, _ r: Range<Int>, _ f: (T, T) -> T) {
        if aScalar && bScalar { let v = f(a[0], b[0]); for i in r { y[i] = v } }
        else if bScalar { let bv = b[0]; for i in r { y[i] = f(a[i], bv) } }
        else if aScalar { let av = a[0]; for i in r { y[i] = f(av, b[i]) } }
        else { for i in r { y[i] = f(a[i], b[i]) } }
    }

    private static func binaryRows<T: TensorScalar>(_ a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>, _ y: UnsafeMutablePointer<T>,
                                                    _ dims: [Int], _ strides: [[Int]], _ rows: Range<Int>, _ op: BinaryOp) {
        switch op {
        case .add: zip2Rows(a, b, y, dims, strides, rows) { $0 + $1 }
        case .sub: zip2Rows(a, b, y, dims, strides, rows) { $0 - $1 }
        case .mul: zip2Rows(a, b, y, dims, strides, rows) { $0 * $1 }
        case .div: zip2Rows(a, b, y, dims, strides, rows) { $0 / $1 }
        case .pow: zip2Rows(a, b, y, dims, strides, rows) { T.pow($0, $1) }
        case .maximum: zip2Rows(a, b, y, dims, strides, rows) { Swift.max($0, $1) }
        case .minimum: zip2Rows(a, b, y, dims, strides, rows) { Swift.min($0, $1) }
        case .equal: zip2Rows(a, b, y, dims, strides, rows) { $0 == $1 ? 1 : 0 }
        case .greater: zip2Rows(a, b, y, dims, strides, rows) { $0 > $1 ? 1 : 0 }
        case .sigmoidBackward: zip2Rows(a, b, y, dims, strides, rows) { $0 * $1 * (1 - $1) }
        }
    }

    /// Rows `rows` (of the innermost coalesced dimension) of out = f(a[..], b[..]), reading
    /// a and b through (broadcast) strides.
    @inline(__always)
    private static func zip2Rows<T: TensorScalar>(_ a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>, _ y: UnsafeMutablePointer<T>,
                                                  _ dims: [Int], _ strides: [[Int]], _ rows: Range<Int>, _ f: (T, T) -> T) {
        let rank = dims.count
        let inner = dims[rank - 1], ia = strides[0][rank - 1], ib = strides[1][rank - 1]
        var index = [Int](repeating: 0, count: rank - 1)
        var rem = rows.lowerBound
        var oa = 0, ob = 0
        for d in stride(from: rank - 2, through: 0, by: -1) {
            index[d] = rem % dims[d]
            rem /= dims[d]
            oa += index[d] * strides[0][d]
            ob += index[d] * strides[1][d]
        }
        for row in rows {
            let base = row * inner
            let yr = y + base, ar = a + oa, br = b + ob
            if ia == 1 && ib == 0 {
                let bv = br[0]
                for j in 0..<inner { yr[j] = f(ar[j], bv) }
            } else if ia == 0 && ib == 1 {
                let av = ar[0]
                for j in 0..<inner { yr[j] = f(av, br[j]) }
            } else if ia == 1 && ib == 1 {
                for j in 0..<inner { yr[j] = f(ar[j], br[j]) }
            } else {
                for j in 0..<inner { yr[j] = f(ar[j * ia], br[j * ib]) }
            }
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                oa += strides[0][d]
                ob += strides[1][d]
                if index[d] < dims[d] { break }
                oa -= strides[0][d] * dims[d]
                ob -= strides[1][d] * dims[d]
                index[d] = 0
                d -= 1
            }
        }
    }

    /// Merges adjacent dimensions that every operand walks contiguously, and drops size-1
    /// dimensions, so strided loops run over as few, as long, dimensions as possible.
    static func coalesce(_ shape: [Int], _ strides: [[Int]]) -> (dims: [Int], strides: [[Int]]) {
        var dims: [Int] = []
        var out = [[Int]](repeating: [], count: strides.count)
        for d in 0..<shape.count where shape[d] != 1 {
            if let last = dims.last, (0..<strides.count).allSatisfy({ out[$0].last! == strides[$0][d] * shape[d] }) {
                dims[dims.count - 1] = last * shape[d]
                for k in 0..<strides.count { out[k][out[k].count - 1] = strides[k][d] }
            } else {
                dims.append(shape[d])
                for k in 0..<strides.count { out[k].append(strides[k][d]) }
            }
        }
        return (dims, out)
    }

    // MARK: Strided copies (permute, slice, expand, pad, concat)

    /// A new contiguous buffer of `shape` whose element at index (i0, i1, ...) is
    /// src[offset + Σ i_d * strides[d]].
    static func gather(_ src: Buffer, offset: Int, strides: [Int], shape: [Int]) -> Buffer {
        let out = Buffer(count: Shapes.count(shape), dtype: src.dtype)
        switch src.dtype {
        case .float32: stridedCopy(src.pointer(Float.self) + offset, strides, out.pointer(Float.self), Shapes.strides(shape), shape)
        case .float64: stridedCopy(src.pointer(Double.self) + offset, strides, out.pointer(Double.self), Shapes.strides(shape), shape)
        }
        return out
    }

    /// A buffer of `count` copies of the single element of `src`.
    static func fill(_ src: Buffer, count: Int) -> Buffer {
        let out = Buffer(count: count, dtype: src.dtype)
        switch src.dtype {
        case .float32: out.pointer(Float.self).update(repeating: src.pointer(Float.self)[0], count: count)
        case .float64: out.pointer(Double.self).update(repeating: src.pointer(Double.self)[0], count: count)
        }
        return out
    }

    /// Writes contiguous `src` of `shape` into `dst` at dst[offset + Σ i_d * strides[d]].
    static func scatter(_ src: Buffer, shape: [Int], into dst: Buffer, offset: Int, strides: [Int]) {
        switch src.dtype {
        case .float32: stridedCopy(src.pointer(Float.self), Shapes.strides(shape), dst.pointer(Float.self) + offset, strides, shape)
        case .float64: stridedCopy(src.pointer(Double.self), Shapes.strides(shape), dst.pointer(Double.self) + offset, strides, shape)
        }
    }

    private static func stridedCopy<T: TensorScalar>(_ src: UnsafeMutablePointer<T>, _ ss: [Int],
                                                     _ dst: UnsafeMutablePointer<T>, _ ds: [Int], _ shape: [Int]) {
        let n = Shapes.count(shape)
        if n == 0 { return }
        let (dims, strides) = coalesce(shape, [ss, ds])
        let rank = dims.count
        if rank == 0 { dst[0] = src[0]; return }
        let inner = dims[rank - 1], si = strides[0][rank - 1], di = strides[1][rank - 1]
        var index = [Int](repeating: 0, count: rank)
        var os = 0, od = 0
        for _ in 0..<(n / inner) {
            if si == 1 && di == 1 {
                (dst + od).update(from: src + os, count: inner)
            } else {
                if si == 0 && di == 1 {
                    (dst + od).update(repeating: src[os], count: inner)
                } else {
                    for j in 0..<inner { dst[od + j * di] = src[os + j * si] }
                }
            }
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                os += strides[0][d]
                od += strides[1][d]
                if index[d] < dims[d] { break }
                os -= strides[0][d] * dims[d]
                od -= strides[1][d] * dims[d]
                index[d] = 0
                d -= 1
            }
        }
    }

    // MARK: Reductions

    enum Reduction { case sum, max }

    /// Reduces `x` of `shape` over `axes`; the result has the kept-dimension shape.
    static func reduce(_ x: Buffer, shape: [Int], axes: Set<Int>, _ kind: Reduction) -> Buffer {
        if x.count > 0 && shape.indices.allSatisfy({ axes.contains($0) || shape[$0] == 1 }) {
            // Everything into one element.
            let out = Buffer(count: 1, dtype: x.dtype)
            switch x.dtype {
            case .float32: out.pointer(Float.self)[0] = Float(reduceAll(x.pointer(Float.self), x.count, kind))
            case .float64: out.pointer(Double.self)[0] = reduceAll(x.pointer(Double.self), x.count, kind)
            }
            return out
        }
        let outShape = shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
        let out = Buffer(count: Shapes.count(outShape), dtype: x.dtype)
        let outStrides = Shapes.strides(outShape).enumerated().map { axes.contains($0.offset) ? 0 : $0.element }
        switch x.dtype {
        case .float32: reduceT(x.pointer(Float.self), shape, out.pointer(Float.self), out.count, outStrides, kind)
        case .float64: reduceT(x.pointer(Double.self), shape, out.pointer(Double.self), out.count, outStrides, kind)
        }
        return out
    }

    /// Σ x[0..<n] accumulated in Double with four partial sums (independent chains).
    @inline(__always)
    private static func sumRow<T: TensorScalar>(_ x: UnsafeMutablePointer<T>, _ n: Int) -> Double {
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        let n4 = n & ~3
        var j = 0
        while j < n4 {
            s0 += Double(x[j]); s1 += Double(x[j + 1]); s2 += Double(x[j + 2]); s3 += Double(x[j + 3])
            j += 4
        }
        while j < n { s0 += Double(x[j]); j += 1 }
        return (s0 + s1) + (s2 + s3)
    }

    /// The sum (accumulated in Double, four partial sums) or maximum (NaN wins) of n elements.
    private static func reduceAll<T: TensorScalar>(_ x: UnsafeMutablePointer<T>, _ n: Int, _ kind: Reduction) -> Double {
        if kind == .sum {
            var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
            let n4 = n & ~3
            var j = 0
            while j < n4 {
                s0 += Double(x[j]); s1 += Double(x[j + 1]); s2 += Double(x[j + 2]); s3 += Double(x[j + 3])
                j += 4
            }
            while j < n { s0 += Double(x[j]); j += 1 }
            return (s0 + s1) + (s2 + s3)
        }
        var m = -Double.infinity
        for j in 0..<n { let v = Double(x[j]); if v > m || v.isNaN { m = v } }
        return m
    }

    private static func reduceT<T: TensorScalar>(_ x: UnsafeMutablePointer<T>, _ shape: [Int], _ y: UnsafeMutablePointer<T>,
                                                 _ outCount: Int, _ os: [Int], _ kind: Reduction) {
        let n = Shapes.count(shape)
        let (dims, strides) = coalesce(shape, [Shapes.strides(shape), os])
        let rank = dims.count
        if n == 0 {
            y.update(repeating: kind == .sum ? 0 : -T.infinity, count: outCount)
            return
        }
        if rank == 0 { y[0] = x[0]; return }
        // Accumulate in Double: sums of many Float32 terms otherwise lose digits.
        var acc = [Double](repeating: kind == .sum ? 0 : -.infinity, count: outCount)
        let inner = dims[rank - 1], oi = strides[1][rank - 1]
        var index = [Int](repeating: 0, count: rank)
        var ix = 0, iy = 0
        acc.withUnsafeMutableBufferPointer { acc in
            for _ in 0..<(n / inner) {
                if oi == 0 {
                    if kind == .sum {
                        var s = 0.0
                        s = sumRow(x + ix, inner)
                        acc[iy] += s
                    } else {
                        var m = acc[iy]
                        for j in 0..<inner { let v = Double(x[ix + j]); if v > m || v.isNaN { m = v } }
                        acc[iy] = m
                    }
                } else if kind == .sum {
                    for j in 0..<inner { acc[iy + j * oi] += Double(x[ix + j]) }
                } else {
                    for j in 0..<inner {
                        let v = Double(x[ix + j])
                        if v > acc[iy + j * oi] || v.isNaN { acc[iy + j * oi] = v }
                    }
                }
                ix += inner
                var d = rank - 2
                while d >= 0 {
                    index[d] += 1
                    iy += strides[1][d]
                    if index[d] < dims[d] { break }
                    iy -= strides[1][d] * dims[d]
                    index[d] = 0
                    d -= 1
                }
            }
            for i in 0..<outCount { y[i] = T(acc[i]) }
        }
    }
}
