import Foundation

/// The geometry of a 2-D convolution: what the forward, input-gradient and weight-gradient
/// kernels share.
public struct Conv2dGeometry: Sendable, Equatable {
    public var stride: (Int, Int)
    public var padding: (Int, Int)
    public var dilation: (Int, Int)
    public var groups: Int

    public init(stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) {
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.stride == b.stride && a.padding == b.padding && a.dilation == b.dilation && a.groups == b.groups
    }

    /// Output height and width for an input of `h`×`w` and a `kh`×`kw` kernel; 0 in a
    /// dimension where the (dilated) kernel does not fit the padded input.
    public func outputSize(h: Int, w: Int, kh: Int, kw: Int) -> (Int, Int) {
        (Shapes.windowPositions(size: h, padding: padding.0, extent: dilation.0 * (kh - 1) + 1, stride: stride.0),
         Shapes.windowPositions(size: w, padding: padding.1, extent: dilation.1 * (kw - 1) + 1, stride: stride.1))
    }
}

/// Sizes of one convolution problem, resolved from the shapes.
struct ConvProblem {
    let n, cin, h, w, cout, kh, kw, oh, ow: Int
    let geometry: Conv2dGeometry
    var groups: Int { geometry.groups }
    var cinG: Int { cin / groups }
    var coutG: Int { cout / groups }
    /// Rows of the column matrix of one group: cin/groups * kh * kw.
    var k: Int { cinG * kh * kw }
    /// Output positions per image.
    var l: Int { oh * ow }
    /// A 1x1, stride-1, unpadded convolution reads its input directly as the column matrix.
    var isPointwise: Bool {
        kh == 1 && kw == 1 && geometry.stride == (1, 1) && geometry.padding == (0, 0)
    }
}

/// What an im2col column matrix depends on besides the input's elements.
struct ColumnsKey: Equatable {
    let n, cin, h, w, kh, kw: Int
    let stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)

    init(_ p: ConvProblem) {
        (n, cin, h, w, kh, kw) = (p.n, p.cin, p.h, p.w, p.kh, p.kw)
        (stride, padding, dilation) = (p.geometry.stride, p.geometry.padding, p.geometry.dilation)
    }

    static func == (a: Self, b: Self) -> Bool {
        a.n == b.n && a.cin == b.cin && a.h == b.h && a.w == b.w && a.kh == b.kh && a.kw == b.kw &&
            a.stride == b.stride && a.padding == b.padding && a.dilation == b.dilation
    }
}

extension Kernels {
    /// Column matrices up to this many elements (4 MB of Float) unfold the whole batch at once
    /// and are kept with their input buffer for reuse.
    static let cachedColumnsLimit = 1 << 20

    /// Whether a convolution takes the whole-batch path: one column matrix [k, n*l] for all
    /// images (groups = 1, not pointwise, small enough to keep).
    @inline(__always)
    static func unfoldsWholeBatch(_ p: ConvProblem) -> Bool {
        p.groups == 1 && !p.isPointwise && p.k * p.l * p.n <= cachedColumnsLimit
    }

    /// The whole-batch column matrix [k, n*l] of `x` (image i in columns i*l..<(i+1)*l),
    /// from the buffer's cache or computed (images split across `threads`) and cached.
    static func columns<T: TensorScalar>(_ x: Buffer, _ p: ConvProblem, _: T.Type, threads: Int) -> Buffer {
        let key = ColumnsKey(p)
        Buffer.cacheLock.lock()
        let cached = x.columnsCache
        Buffer.cacheLock.unlock()
        if let cached, cached.key == key { return cached.columns }
        let cols = Buffer(count: p.k * p.l * p.n, dtype: x.dtype)
        let src = x.pointer(T.self), dst = cols.pointer(T.self)
        let ld = p.n * p.l, imageSize = p.cin * p.h * p.w
        let parts = Swift.min(threads, p.n)
        parallelChunks(parts) { t in
            for i in slice(t, of: parts, p.n) { im2col(src + i * imageSize, channels: p.cin, p, dst + i * p.l, ld: ld) }
        }
        Buffer.cacheLock.lock()
        x.columnsCache = (key, cols)
        Buffer.cacheLock.unlock()
        return cols
    }

    /// The output positions o in 0..<count whose input coordinate o * stride + offset lies in
    /// 0..<size, as a range (empty when none does).
    @inline(__always)
    static func validRange(offset: Int, stride: Int, size: Int, count: Int) -> Range<Int> {
        let lo = Swift.min(count, offset >= 0 ? 0 : (-offset + stride - 1) / stride)
        let last = size - 1 - offset
        let hi = last < 0 ? 0 : Swift.min(count, last / stride + 1)
        return lo..<Swift.max(lo, hi)
    }

    /// Zeros n elements; short runs inline (a memset call costs more than they do).
    @inline(__always)
    static func zero<T: TensorScalar>(_ p: UnsafeMutablePointer<T>, _ n: Int) {
        if n > 64 { p.update(repeating: 0, count: n) } else { for i in 0..<Swift.max(n, 0) { p[i] = 0 } }
    }

    /// Source offsets of im2col for small images, per geometry: for each kernel position
    /// (i, j) and output position o, the offset in a channel plane, or h*w + o (one of l
    /// zero slots after the plane) where the window reads padding. Short rows make the
    /// span-based loops below spend more on bookkeeping than on copying; a table lookup per
    /// element does not. Distinct padding slots keep every offset of a row distinct, so
    /// col2im's scatter-add never waits on its own previous store to the same address.
    final class GatherTable: @unchecked Sendable {
        let offsets: UnsafeMutablePointer<Int32>
        init(_ p: ConvProblem) {
            let (sh, sw) = p.geometry.stride, (ph, pw) = p.geometry.padding, (dh, dw) = p.geometry.dilation
            offsets = .allocate(capacity: p.kh * p.kw * p.l)
            var t = 0
            for i in 0..<p.kh {
                for j in 0..<p.kw {
                    for oy in 0..<p.oh {
                        for ox in 0..<p.ow {
                            let y = oy * sh - ph + i * dh, x = ox * sw - pw + j * dw
                            offsets[t] = Int32(y >= 0 && y < p.h && x >= 0 && x < p.w ? y * p.w + x : p.h * p.w + oy * p.ow + ox)
                            t += 1
                        }
                    }
                }
            }
        }
        deinit { offsets.deallocate() }
    }

    private struct GatherKey: Hashable {
        let h, w, kh, kw, sh, sw, ph, pw, dh, dw: Int
    }

    nonisolated(unsafe) private static var gatherTables: [GatherKey: GatherTable] = [:]
    private static let gatherLock = NSLock()

    /// Whether im2col and col2im of `p` go through a gather table (narrow outputs, small tables).
    @inline(__always)
    static func usesGatherTable(_ p: ConvProblem) -> Bool { p.ow <= 16 && p.kh * p.kw * p.l <= 1 << 16 && p.h * p.w + p.l < Int(Int32.max) }

    static func gatherTable(_ p: ConvProblem) -> GatherTable {
        let g = p.geometry
        let key = GatherKey(h: p.h, w: p.w, kh: p.kh, kw: p.kw, sh: g.stride.0, sw: g.stride.1, ph: g.padding.0, pw: g.padding.1,
                            dh: g.dilation.0, dw: g.dilation.1)
        gatherLock.lock()
        defer { gatherLock.unlock() }
        if let t = gatherTables[key] { return t }
        let t = GatherTable(p)
        if gatherTables.count > 256 { gatherTables.removeAll() }
        gatherTables[key] = t
        return t
    }

    /// Unfolds one image's channels [c, h, w] into columns [c*kh*kw, oh*ow]; row r of the
    /// column matrix starts at cols + r * ld (ld >= oh*ow, so several images can sit side
    /// by side). Padding is written as zeros; valid spans are copied without per-element tests.
    static func im2col<T: TensorScalar>(_ x: UnsafePointer<T>, channels: Int, _ p: ConvProblem, _ cols: UnsafeMutablePointer<T>, ld: Int) {
        if usesGatherTable(p) {
            let table = gatherTable(p).offsets
            let hw = p.h * p.w, kk = p.kh * p.kw, l = p.l
            let plane = UnsafeMutablePointer<T>.allocate(capacity: hw + l)
            defer { plane.deallocate() }
            (plane + hw).update(repeating: 0, count: l)
            for c in 0..<channels {
                plane.update(from: x + c * hw, count: hw)
                for r in 0..<kk {
                    let line = cols + (c * kk + r) * ld, t = table + r * l
                    for o in 0..<l { line[o] = plane[Int(t[o])] }
                }
            }
            return
        }
        let (sh, sw) = p.geometry.stride, (ph, pw) = p.geometry.padding, (dh, dw) = p.geometry.dilation
        let (h, w, oh, ow) = (p.h, p.w, p.oh, p.ow)
        var row = 0
        for c in 0..<channels {
            let plane = x + c * h * w
            for i in 0..<p.kh {
                let rows = validRange(offset: i * dh - ph, stride: sh, size: h, count: oh)
                for j in 0..<p.kw {
                    let xOffset = j * dw - pw
                    let span = validRange(offset: xOffset, stride: sw, size: w, count: ow)
                    let dst = cols + row * ld
                    zero(dst, rows.lowerBound * ow)
                    for oy in rows {
                        let line = dst + oy * ow
                        let src = plane + (oy * sh + i * dh - ph) * w + xOffset
                        zero(line, span.lowerBound)
                        if sw == 1 {
                            for ox in span { line[ox] = src[ox] }
                        } else {
                            for ox in span { line[ox] = src[ox * sw] }
                        }
                        zero(line + span.upperBound, ow - span.upperBound)
                    }
                    zero(dst + rows.upperBound * ow, (oh - rows.upperBound) * ow)
                    row += 1
                }
            }
        }
    }

    /// Folds columns back, adding overlapping contributions: the adjoint of `im2col`.
    static func col2im<T: TensorScalar>(_ cols: UnsafePointer<T>, channels: Int, _ p: ConvProblem, _ x: UnsafeMutablePointer<T>, ld: Int) {
        if usesGatherTable(p) {
            // Within one row of the column matrix every offset occurs at most once; padding
            // reads land in the extra slots after the plane, which are discarded.
            let table = gatherTable(p).offsets
            let hw = p.h * p.w, kk = p.kh * p.kw, l = p.l
            let plane = UnsafeMutablePointer<T>.allocate(capacity: hw + l)
            defer { plane.deallocate() }
            (plane + hw).update(repeating: 0, count: l)
            for c in 0..<channels {
                plane.update(from: x + c * hw, count: hw)
                for r in 0..<kk {
                    let line = cols + (c * kk + r) * ld, t = table + r * l
                    for o in 0..<l { plane[Int(t[o])] += line[o] }
                }
                (x + c * hw).update(from: plane, count: hw)
            }
            return
        }
        let (sh, sw) = p.geometry.stride, (ph, pw) = p.geometry.padding, (dh, dw) = p.geometry.dilation
        let (h, w, oh, ow) = (p.h, p.w, p.oh, p.ow)
        var row = 0
        for c in 0..<channels {
            let plane = x + c * h * w
            for i in 0..<p.kh {
                let rows = validRange(offset: i * dh - ph, stride: sh, size: h, count: oh)
                for j in 0..<p.kw {
                    let xOffset = j * dw - pw
                    let span = validRange(offset: xOffset, stride: sw, size: w, count: ow)
                    let src = cols + row * ld
                    for oy in rows {
                        let dst = plane + (oy * sh + i * dh - ph) * w + xOffset
                        let line = src + oy * ow
                        if sw == 1 {
                            for ox in span { dst[ox] += line[ox] }
                        } else {
                            for ox in span { dst[ox * sw] += line[ox] }
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// `im2col` of one image, split by channel ranges across `threads` when large.
    static func im2colParallel<T: TensorScalar>(_ x: UnsafePointer<T>, _ p: ConvProblem, _ cols: UnsafeMutablePointer<T>, ld: Int, threads: Int) {
        let parts = Swift.min(threads, p.cinG, p.k * p.l / (1 << 16))
        if parts <= 1 { im2col(x, channels: p.cinG, p, cols, ld: ld); return }
        let per = (p.cinG + parts - 1) / parts
        let x = UnsafeMutablePointer(mutating: x)
        parallelChunks(parts) { t in
            let c0 = t * per, c1 = Swift.min(p.cinG, c0 + per)
            if c0 < c1 { im2col(x + c0 * p.h * p.w, channels: c1 - c0, p, cols + c0 * p.kh * p.kw * ld, ld: ld) }
        }
    }

    /// `col2im` of one image, split by channel ranges (each channel's rows write only its own
    /// plane) across `threads` when large.
    static func col2imParallel<T: TensorScalar>(_ cols: UnsafePointer<T>, _ p: ConvProblem, _ x: UnsafeMutablePointer<T>, ld: Int, threads: Int) {
        let parts = Swift.min(threads, p.cinG, p.k * p.l / (1 << 16))
        if parts <= 1 { col2im(cols, channels: p.cinG, p, x, ld: ld); return }
        let per = (p.cinG + parts - 1) / parts
        let cols = UnsafeMutablePointer(mutating: cols)
        parallelChunks(parts) { t in
            let c0 = t * per, c1 = Swift.min(p.cinG, c0 + per)
            if c0 < c1 { col2im(cols + c0 * p.kh * p.kw * ld, channels: c1 - c0, p, x + c0 * p.h * p.w, ld: ld) }
        }
    }

    /// Threads worth using for a convolution of `p` (1 below the parallel threshold).
    static func convThreads(_ p: ConvProblem) -> Int {
        p.n * p.cout * p.k * p.l >= BLAS.parallelThreshold ? Engine.threads : 1
    }

    /// Images unfolded into one column matrix: enough columns for an efficient product,
    /// within a memory budget of about 8 MB of columns. Pointwise convolutions read the
    /// input directly, one image at a time.
    static func imagesPerChunk(_ p: ConvProblem, limit: Int) -> Int {
        if p.isPointwise { return 1 }
        return Swift.max(1, Swift.min(limit, (1 << 21) / Swift.max(1, p.k * p.l)))
    }

    /// Contiguous slice t of `threads` slices of 0..<n.
    @inline(__always)
    static func slice(_ t: Int, of parts: Int, _ n: Int) -> Range<Int> {
        let per = (n + parts - 1) / parts
        return Swift.min(n, t * per)..<Swift.min(n, (t + 1) * per)
    }

    /// Copies images `count` images of [rows, l] into one [rows, count*l] matrix (image i in
    /// columns i*l..<(i+1)*l), or back with `toImages`.
    @inline(__always)
    static func interleave<T: TensorScalar>(_ images: UnsafeMutablePointer<T>, _ matrix: UnsafeMutablePointer<T>,
                                            count: Int, rows: Int, l: Int, toImages: Bool) {
        let ld = count * l
        for i in 0..<count {
            for r in 0..<rows {
                let img = images + (i * rows + r) * l, mat = matrix + r * ld + i * l
                if toImages { img.update(from: mat, count: l) } else { mat.update(from: img, count: l) }
            }
        }
    }

    // MARK: Forward

    /// The forward convolution on the whole-batch column matrix of `x`.
    /// `weight`, when given, is the buffer of `wt` (where the Winograd path keeps its transform).
    static func conv2d<T: TensorScalar>(_ x: Buffer, _ wt: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ p: ConvProblem, weight: Buffer? = nil) {
        if usesDirectConvolution(p) { conv2dDirect(UnsafePointer(x.pointer(T.self)), wt, y, p); return }
        if let tile = winogradTile(p, T.self) {
            conv2dWinograd(UnsafePointer(x.pointer(T.self)), wt, y, p, tile, xOwner: x, wOwner: weight)
            return
        }
        guard unfoldsWholeBatch(p) else { conv2d(UnsafePointer(x.pointer(T.self)), wt, y, p); return }
        let threads = convThreads(p)
        let cols = columns(x, p, T.self, threads: threads)
        let ld = p.n * p.l
        if p.n == 1 {
            BLAS.gemmParallel(transA: false, transB: false, m: p.cout, n: ld, k: p.k, a: wt, lda: p.k, b: cols.pointer(T.self), ldb: ld,
                              c: y, ldc: ld, threads: threads)
            return
        }
        let out = MemoryPool.allocate(T.self, capacity: p.cout * ld)
        defer { MemoryPool.free(out) }
        BLAS.gemmParallel(transA: false, transB: false, m: p.cout, n: ld, k: p.k, a: wt, lda: p.k, b: cols.pointer(T.self), ldb: ld,
                          c: out, ldc: ld, threads: threads)
        interleave(y, out, count: p.n, rows: p.cout, l: p.l, toImages: true)
    }

    /// The weight gradient on the whole-batch column matrix of `x`.
    /// `cotangent`, when given, is the buffer of `gy` (where the Winograd path keeps its transform).
    static func conv2dWeightGrad<T: TensorScalar>(_ x: Buffer, _ gy: UnsafePointer<T>, _ dw: UnsafeMutablePointer<T>, _ p: ConvProblem,
                                                  cotangent: Buffer? = nil) {
        if usesDirectConvolution(p) { conv2dWeightGradDirect(UnsafePointer(x.pointer(T.self)), gy, dw, p); return }
        if let tile = winogradTile(p, T.self) {
            conv2dWeightGradWinograd(UnsafePointer(x.pointer(T.self)), gy, dw, p, tile, xOwner: x, gOwner: cotangent)
            return
        }
        guard unfoldsWholeBatch(p) else { conv2dWeightGrad(UnsafePointer(x.pointer(T.self)), gy, dw, p); return }
        let threads = convThreads(p)
        let cols = columns(x, p, T.self, threads: threads)
        let ld = p.n * p.l
        var a = gy
        let g = MemoryPool.allocate(T.self, capacity: p.n > 1 ? p.cout * ld : 1)
        defer { MemoryPool.free(g) }
        if p.n > 1 {
            interleave(UnsafeMutablePointer(mutating: gy), g, count: p.n, rows: p.cout, l: p.l, toImages: false)
            a = UnsafePointer(g)
        }
        BLAS.gemmParallel(transA: false, transB: true, m: p.cout, n: p.k, k: ld, a: a, lda: ld, b: cols.pointer(T.self), ldb: ld,
                          c: dw, ldc: p.k, threads: threads)
    }

    /// y[n] = W · im2col(x[n]) per group.
    static func conv2d<T: TensorScalar>(_ x: UnsafePointer<T>, _ wt: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ p: ConvProblem) {
        if p.groups != 1 { conv2dGrouped(x, wt, y, p); return }
        if let tile = winogradTile(p, T.self) { conv2dWinograd(x, wt, y, p, tile); return }
        let threads = convThreads(p)
        if threads > 1 && p.n >= threads {
            parallelChunks(threads) { t in conv2dImages(x, wt, y, p, slice(t, of: threads, p.n), threads: 1) }
        } else {
            conv2dImages(x, wt, y, p, 0..<p.n, threads: threads)
        }
    }

    /// The forward convolution of `images` (groups = 1), several images per product.
    private static func conv2dImages<T: TensorScalar>(_ x: UnsafePointer<T>, _ wt: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
                                                      _ p: ConvProblem, _ images: Range<Int>, threads: Int) {
        if images.isEmpty { return }
        let chunk = imagesPerChunk(p, limit: images.count)
        let cols = MemoryPool.allocate(T.self, capacity: p.isPointwise ? 1 : p.k * p.l * chunk)
        let out = MemoryPool.allocate(T.self, capacity: chunk > 1 ? p.cout * p.l * chunk : 1)
        defer { MemoryPool.free(cols); MemoryPool.free(out) }
        let imageSize = p.cin * p.h * p.w
        var start = images.lowerBound
        while start < images.upperBound {
            let c = Swift.min(chunk, images.upperBound - start)
            let ld = c * p.l
            let b: UnsafePointer<T>
            if p.isPointwise {
                b = x + start * imageSize
            } else {
                for i in 0..<c { im2colParallel(x + (start + i) * imageSize, p, cols + i * p.l, ld: ld, threads: threads) }
                b = UnsafePointer(cols)
            }
            let dst = c == 1 ? y + start * p.cout * p.l : out
            BLAS.gemmParallel(transA: false, transB: false, m: p.cout, n: ld, k: p.k, a: wt, lda: p.k, b: b, ldb: ld,
                              c: dst, ldc: ld, threads: threads)
            if c > 1 { interleave(y + start * p.cout * p.l, out, count: c, rows: p.cout, l: p.l, toImages: true) }
            start += c
        }
    }

    private static func conv2dGrouped<T: TensorScalar>(_ x: UnsafePointer<T>, _ wt: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ p: ConvProblem) {
        parallelFor(p.n, grain: convThreads(p) > 1 ? 1 : p.n) { images in
            let cols = MemoryPool.allocate(T.self, capacity: p.isPointwise ? 1 : p.k * p.l)
            defer { MemoryPool.free(cols) }
            for n in images {
                for g in 0..<p.groups {
                    let xg = x + (n * p.cin + g * p.cinG) * p.h * p.w
                    let colsPtr: UnsafePointer<T>
                    if p.isPointwise { colsPtr = xg } else {
                        im2col(xg, channels: p.cinG, p, cols, ld: p.l)
                        colsPtr = UnsafePointer(cols)
                    }
                    BLAS.gemm(transA: false, transB: false, m: p.coutG, n: p.l, k: p.k,
                              a: wt + g * p.coutG * p.k, lda: p.k, b: colsPtr, ldb: p.l,
                              c: y + (n * p.cout + g * p.coutG) * p.l, ldc: p.l)
                }
            }
        }
    }

    // MARK: Input gradient

    /// dx[n] = col2im(Wᵀ · g[n]) per group: the transposed convolution.
    /// `cotangent` and `weight`, when given, are the buffers of `gy` and `wt` (where the
    /// Winograd path keeps their transforms).
    static func conv2dInputGrad<T: TensorScalar>(_ gy: UnsafePointer<T>, _ wt: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, _ p: ConvProblem,
                                                 cotangent: Buffer? = nil, weight: Buffer? = nil) {
        if p.groups != 1 { conv2dInputGradGrouped(gy, wt, dx, p); return }
        if usesDirectConvolution(p) { conv2dInputGradDirect(gy, wt, dx, p); return }
        if let tile = winogradTile(p, T.self) { conv2dInputGradWinograd(gy, wt, dx, p, tile, gOwner: cotangent, wOwner: weight); return }
        let threads = convThreads(p)
        if unfoldsWholeBatch(p) {
            let ld = p.n * p.l, imageSize = p.cin * p.h * p.w
            let cols = MemoryPool.allocate(T.self, capacity: p.k * ld)
            let g = MemoryPool.allocate(T.self, capacity: p.n > 1 ? p.cout * ld : 1)
            defer { MemoryPool.free(cols); MemoryPool.free(g) }
            var src = gy
            if p.n > 1 {
                interleave(UnsafeMutablePointer(mutating: gy), g, count: p.n, rows: p.cout, l: p.l, toImages: false)
                src = UnsafePointer(g)
            }
            BLAS.gemmParallel(transA: true, transB: false, m: p.k, n: ld, k: p.cout, a: wt, lda: p.k, b: src, ldb: ld,
                              c: cols, ldc: ld, threads: threads)
            dx.update(repeating: 0, count: p.n * imageSize)
            let parts = Swift.min(threads, p.n)
            parallelChunks(parts) { t in
                for i in slice(t, of: parts, p.n) { col2im(cols + i * p.l, channels: p.cin, p, dx + i * imageSize, ld: ld) }
            }
            return
        }
        if threads > 1 && p.n >= threads {
            parallelChunks(threads) { t in conv2dInputGradImages(gy, wt, dx, p, slice(t, of: threads, p.n), threads: 1) }
        } else {
            conv2dInputGradImages(gy, wt, dx, p, 0..<p.n, threads: threads)
        }
    }

    private static func conv2dInputGradImages<T: TensorScalar>(_ gy: UnsafePointer<T>, _ wt: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>,
                                                               _ p: ConvProblem, _ images: Range<Int>, threads: Int) {
        if images.isEmpty { return }
        let imageSize = p.cin * p.h * p.w
        if p.isPointwise {
            for n in images {
                BLAS.gemmParallel(transA: true, transB: false, m: p.k, n: p.l, k: p.cout, a: wt, lda: p.k,
                                  b: gy + n * p.cout * p.l, ldb: p.l, c: dx + n * imageSize, ldc: p.l, threads: threads)
            }
            return
        }
        (dx + images.lowerBound * imageSize).update(repeating: 0, count: images.count * imageSize)
        let chunk = imagesPerChunk(p, limit: images.count)
        let cols = MemoryPool.allocate(T.self, capacity: p.k * p.l * chunk)
        let g = MemoryPool.allocate(T.self, capacity: chunk > 1 ? p.cout * p.l * chunk : 1)
        defer { MemoryPool.free(cols); MemoryPool.free(g) }
        var start = images.lowerBound
        while start < images.upperBound {
            let c = Swift.min(chunk, images.upperBound - start)
            let ld = c * p.l
            let src: UnsafePointer<T>
            if c == 1 { src = gy + start * p.cout * p.l } else {
                interleave(UnsafeMutablePointer(mutating: gy) + start * p.cout * p.l, g, count: c, rows: p.cout, l: p.l, toImages: false)
                src = UnsafePointer(g)
            }
            BLAS.gemmParallel(transA: true, transB: false, m: p.k, n: ld, k: p.cout, a: wt, lda: p.k, b: src, ldb: ld,
                              c: cols, ldc: ld, threads: threads)
            for i in 0..<c { col2imParallel(cols + i * p.l, p, dx + (start + i) * imageSize, ld: ld, threads: threads) }
            start += c
        }
    }

    private static func conv2dInputGradGrouped<T: TensorScalar>(_ gy: UnsafePointer<T>, _ wt: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, _ p: ConvProblem) {
        dx.update(repeating: 0, count: p.n * p.cin * p.h * p.w)
        parallelFor(p.n, grain: convThreads(p) > 1 ? 1 : p.n) { images in
            let cols = MemoryPool.allocate(T.self, capacity: p.k * p.l)
            defer { MemoryPool.free(cols) }
            for n in images {
                for g in 0..<p.groups {
                    let dxg = dx + (n * p.cin + g * p.cinG) * p.h * p.w
                    let target = p.isPointwise ? dxg : cols
                    BLAS.gemm(transA: true, transB: false, m: p.k, n: p.l, k: p.coutG,
                              a: wt + g * p.coutG * p.k, lda: p.k, b: gy + (n * p.cout + g * p.coutG) * p.l, ldb: p.l,
                              c: target, ldc: p.l)
                    if !p.isPointwise { col2im(cols, channels: p.cinG, p, dxg, ld: p.l) }
                }
            }
        }
    }

    // MARK: Weight gradient

    /// dW = Σ_n g[n] · im2col(x[n])ᵀ per group.
    static func conv2dWeightGrad<T: TensorScalar>(_ x: UnsafePointer<T>, _ gy: UnsafePointer<T>, _ dw: UnsafeMutablePointer<T>, _ p: ConvProblem) {
        if p.groups != 1 { conv2dWeightGradGrouped(x, gy, dw, p); return }
        if let tile = winogradTile(p, T.self) { conv2dWeightGradWinograd(x, gy, dw, p, tile); return }
        let threads = convThreads(p)
        let wCount = p.cout * p.k
        if threads > 1 && p.n >= threads {
            let partial = MemoryPool.allocate(T.self, capacity: (threads - 1) * wCount)
            defer { MemoryPool.free(partial) }
            parallelChunks(threads) { t in
                conv2dWeightGradImages(x, gy, t == 0 ? dw : partial + (t - 1) * wCount, p, slice(t, of: threads, p.n), threads: 1)
            }
            for t in 1..<threads {
                let src = partial + (t - 1) * wCount
                if slice(t, of: threads, p.n).isEmpty { continue }
                for i in 0..<wCount { dw[i] += src[i] }
            }
        } else {
            conv2dWeightGradImages(x, gy, dw, p, 0..<p.n, threads: threads)
        }
    }

    /// dw = Σ over `images` (overwritten, zero when `images` is empty).
    private static func conv2dWeightGradImages<T: TensorScalar>(_ x: UnsafePointer<T>, _ gy: UnsafePointer<T>, _ dw: UnsafeMutablePointer<T>,
                                                                _ p: ConvProblem, _ images: Range<Int>, threads: Int) {
        if images.isEmpty { dw.update(repeating: 0, count: p.cout * p.k); return }
        let imageSize = p.cin * p.h * p.w
        let chunk = imagesPerChunk(p, limit: images.count)
        let cols = MemoryPool.allocate(T.self, capacity: p.isPointwise ? 1 : p.k * p.l * chunk)
        let g = MemoryPool.allocate(T.self, capacity: chunk > 1 ? p.cout * p.l * chunk : 1)
        defer { MemoryPool.free(cols); MemoryPool.free(g) }
        var start = images.lowerBound
        while start < images.upperBound {
            let c = Swift.min(chunk, images.upperBound - start)
            let ld = c * p.l
            let b: UnsafePointer<T>
            if p.isPointwise { b = x + start * imageSize } else {
                for i in 0..<c { im2colParallel(x + (start + i) * imageSize, p, cols + i * p.l, ld: ld, threads: threads) }
                b = UnsafePointer(cols)
            }
            let a: UnsafePointer<T>
            if c == 1 { a = gy + start * p.cout * p.l } else {
                interleave(UnsafeMutablePointer(mutating: gy) + start * p.cout * p.l, g, count: c, rows: p.cout, l: p.l, toImages: false)
                a = UnsafePointer(g)
            }
            BLAS.gemmParallel(transA: false, transB: true, m: p.cout, n: p.k, k: ld, a: a, lda: ld, b: b, ldb: ld,
                              beta: start == images.lowerBound ? 0 : 1, c: dw, ldc: p.k, threads: threads)
            start += c
        }
    }

    private static func conv2dWeightGradGrouped<T: TensorScalar>(_ x: UnsafePointer<T>, _ gy: UnsafePointer<T>, _ dw: UnsafeMutablePointer<T>, _ p: ConvProblem) {
        let wCount = p.cout * p.k
        let chunks = convThreads(p) > 1 ? Swift.min(Engine.threads, p.n) : 1
        let partial = MemoryPool.allocate(T.self, capacity: chunks * wCount)
        defer { MemoryPool.free(partial) }
        partial.update(repeating: 0, count: chunks * wCount)
        let per = (p.n + chunks - 1) / chunks
        parallelChunks(chunks) { chunk in
            let cols = MemoryPool.allocate(T.self, capacity: p.isPointwise ? 1 : p.k * p.l)
            defer { MemoryPool.free(cols) }
            let acc = partial + chunk * wCount
            for n in (chunk * per)..<Swift.min(p.n, (chunk + 1) * per) {
                for g in 0..<p.groups {
                    let xg = x + (n * p.cin + g * p.cinG) * p.h * p.w
                    let colsPtr: UnsafePointer<T>
                    if p.isPointwise { colsPtr = xg } else {
                        im2col(xg, channels: p.cinG, p, cols, ld: p.l)
                        colsPtr = UnsafePointer(cols)
                    }
                    BLAS.gemm(transA: false, transB: true, m: p.coutG, n: p.k, k: p.l,
                              a: gy + (n * p.cout + g * p.coutG) * p.l, lda: p.l, b: colsPtr, ldb: p.l,
                              beta: 1, c: acc + g * p.coutG * p.k, ldc: p.k)
                }
            }
        }
        dw.update(from: partial, count: wCount)
        for c in 1..<Swift.max(chunks, 1) {
            let src = partial + c * wCount
            for i in 0..<wCount { dw[i] += src[i] }
        }
    }
}
