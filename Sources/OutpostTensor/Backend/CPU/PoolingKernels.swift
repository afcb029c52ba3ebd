/// Flat element offsets, e.g. where each max-pooling window found its maximum.
final class IndexMap: @unchecked Sendable {
    let offsets: [Int]
    init(_ offsets: [Int]) { self.offsets = offsets }
}

/// The rectangles of an average-style pooling, per output position of one plane, with the
/// factor each summed element is scaled by.
struct PoolWindows {
    let h, w, oh, ow: Int
    let rows: [Range<Int>]
    let cols: [Range<Int>]
    /// scale[oy * ow + ox]
    let scale: [Double]
}

extension Kernels {
    /// Max-pooling argmax offsets (into the whole input) for an N×C×H×W input.
    /// Padding never wins: windows only look at real elements, as PyTorch's -inf padding.
    static func maxPoolIndices<T: TensorScalar>(_ x: UnsafePointer<T>, planes: Int, h: Int, w: Int,
                                                kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
                                                oh: Int, ow: Int) -> [Int] {
        var idx = [Int](repeating: 0, count: planes * oh * ow)
        idx.withUnsafeMutableBufferPointer { idx in
            for plane in 0..<planes {
                let base = plane * h * w
                for oy in 0..<oh {
                    let y0 = Swift.max(oy * stride.0 - padding.0, 0), y1 = Swift.min(oy * stride.0 - padding.0 + kernel.0, h)
                    for ox in 0..<ow {
                        let x0 = Swift.max(ox * stride.1 - padding.1, 0), x1 = Swift.min(ox * stride.1 - padding.1 + kernel.1, w)
                        var best = base + y0 * w + x0
                        var bestValue = x[best]
                        for y in y0..<y1 {
                            for xx in x0..<x1 {
                                let v = x[base + y * w + xx]
                                if v > bestValue || v.isNaN { bestValue = v; best = base + y * w + xx }
                            }
                        }
                        idx[(plane * oh + oy) * ow + ox] = best
                    }
                }
            }
        }
        return idx
    }

    static func gather(_ x: Buffer, _ map: IndexMap) -> Buffer {
        let out = Buffer(count: map.offsets.count, dtype: x.dtype)
        switch x.dtype {
        case .float32: let s = x.pointer(Float.self), d = out.pointer(Float.self); for (i, o) in map.offsets.enumerated() { d[i] = s[o] }
        case .float64: let s = x.pointer(Double.self), d = out.pointer(Double.self); for (i, o) in map.offsets.enumerated() { d[i] = s[o] }
        }
        return out
    }

    static func scatterAdd(_ g: Buffer, _ map: IndexMap, count: Int) -> Buffer {
        let out = Buffer.zeroed(count: count, dtype: g.dtype)
        switch g.dtype {
        case .float32: let s = g.pointer(Float.self), d = out.pointer(Float.self); for (i, o) in map.offsets.enumerated() { d[o] += s[i] }
        case .float64: let s = g.pointer(Double.self), d = out.pointer(Double.self); for (i, o) in map.offsets.enumerated() { d[o] += s[i] }
        }
        return out
    }

    /// out[plane, o] = scale[o] * Σ x[plane, window(o)].
    static func windowSum(_ x: Buffer, planes: Int, _ win: PoolWindows) -> Buffer {
        let out = Buffer(count: planes * win.oh * win.ow, dtype: x.dtype)
        func run<T: TensorScalar>(_: T.Type) {
            let s = x.pointer(T.self), d = out.pointer(T.self)
            for plane in 0..<planes {
                let src = s + plane * win.h * win.w, dst = d + plane * win.oh * win.ow
                for oy in 0..<win.oh {
                    for ox in 0..<win.ow {
                        var acc: T = 0
                        for y in win.rows[oy] { for xx in win.cols[ox] { acc += src[y * win.w + xx] } }
                        dst[oy * win.ow + ox] = acc * T(win.scale[oy * win.ow + ox])
                    }
                }
            }
        }
        switch x.dtype { case .float32: run(Float.self); case .float64: run(Double.self) }
        return out
    }

    /// The adjoint of `windowSum`: dx[plane, window(o)] += scale[o] * g[plane, o].
    static func windowScatter(_ g: Buffer, planes: Int, _ win: PoolWindows) -> Buffer {
        let out = Buffer.zeroed(count: planes * win.h * win.w, dtype: g.dtype)
        func run<T: TensorScalar>(_: T.Type) {
            let s = g.pointer(T.self), d = out.pointer(T.self)
            for plane in 0..<planes {
                let src = s + plane * win.oh * win.ow, dst = d + plane * win.h * win.w
                for oy in 0..<win.oh {
                    for ox in 0..<win.ow {
                        let v = src[oy * win.ow + ox] * T(win.scale[oy * win.ow + ox])
                        for y in win.rows[oy] { for xx in win.cols[ox] { dst[y * win.w + xx] += v } }
                    }
                }
            }
        }
        switch g.dtype { case .float32: run(Float.self); case .float64: run(Double.self) }
        return out
    }
}
