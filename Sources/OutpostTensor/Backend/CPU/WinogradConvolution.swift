import COutpostSIMD

// Winograd F(2×2, 3×3) convolutions (COutpostSIMD/winograd.c for the transforms, BLAS for
// the products): every 2×2 block of output pixels is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A of a 4×4
// input patch d, summed over input channels, so each of the three convolution kernels is
// a transform, 16 independent matrix products (one per position ξ of the 4×4 tile) and an
// inverse transform, with 16 multiplies per 4 outputs where im2col has 36:
//
//   forward          M[ξ]  = U[ξ] · V[ξ]      (cout × cin)·(cin × tiles), y = Aᵀ M A
//   input gradient   Q[ξ]  = U[ξ]ᵀ · P[ξ]     (cin × cout)·(cout × tiles), dx = adjoint of Bᵀ d B
//   weight gradient  dU[ξ] = P[ξ] · V[ξ]ᵀ     (cout × tiles)·(tiles × cin), dw = Gᵀ dU G
//
// with U = G g Gᵀ, V = Bᵀ d B and P = A dY Aᵀ (the output transform's adjoint). The three
// are the derivatives of one bilinear form, as the im2col kernels are, so the autodiff's
// higher orders (Ops/Convolution.swift) run on them unchanged.
//
// The same three run on F(4×4, 3×3) tiles (6×6 input patches, 36 products per 16 outputs)
// under the `.shapeRuleF4x4` policy, where `usesLargeWinogradTiles` picks them: its fewer
// multiplies win when the batch has many tiles that a 4×4 grid fills well, but its rounding
// is about 3.5x F(2,3)'s (even with the more accurate points of winograd.c), so the default
// policy keeps F(2,3) (Engine.WinogradPolicy); the attacks run F(4,3).
//
// Shape rule (`winogradTile`): Float32, groups = 1, a 3×3 kernel, stride 1,
// dilation 1, equal padding of 0 or 1, at least 32 input and 32 output channels, and at least
// 64 tiles (2×2 output blocks) in the batch. Float64 stays on im2col (the engine's gradient
// checks run in Float64, where F(2,3)'s extra rounding would show). Measured against im2col
// (`outpost-bench --conv`, docs/performance.md, "Winograd F(2×2, 3×3) convolutions"): with
// few tiles the 16 products are too short for BLAS, which packs the whole of U (16/9 of the
// weight) for a handful of columns: ResNet-18's 256-channel 8×8 layers at batch 1 (16 tiles)
// ran at 0.86–1.21x and its 512-channel 4×4 ones (4 tiles) at 0.23–0.41x, so they stay on
// im2col; its 64-channel 32×32 (256 tiles) and 128-channel 16×16 (64) layers and all of
// W5's (batch 8) take Winograd. Layers with at most 16 input and 16 output channels take
// the direct kernels (DirectConvolution.swift); 17 to 31 channels were not measured and
// stay on im2col.

/// What a cached Winograd transform depends on besides its buffer's elements.
struct WinogradKey: Equatable {
    enum Kind { case weights, inputs, cotangents }
    /// A weight's U, an input's V or an output cotangent's P.
    let kind: Kind
    /// F(2,3) and F(4,3) transforms of one buffer differ in size and layout.
    let tile: WinogradTile
    let n, cin, h, w, cout, pad: Int

    static func weights(_ p: ConvProblem, _ tile: WinogradTile) -> Self {
        Self(kind: .weights, tile: tile, n: 0, cin: p.cin, h: 0, w: 0, cout: p.cout, pad: 0)
    }
    static func inputs(_ p: ConvProblem, _ tile: WinogradTile) -> Self {
        Self(kind: .inputs, tile: tile, n: p.n, cin: p.cin, h: p.h, w: p.w, cout: 0, pad: p.geometry.padding.0)
    }
    static func cotangents(_ p: ConvProblem, _ tile: WinogradTile) -> Self {
        Self(kind: .cotangents, tile: tile, n: p.n, cin: 0, h: p.oh, w: p.ow, cout: p.cout, pad: 0)
    }
}

/// The output tile of a Winograd convolution: F(2×2, 3×3) or F(4×4, 3×3).
enum WinogradTile: Equatable {
    case f2x2, f4x4

    /// Output pixels along each side of a tile.
    var size: Int { self == .f2x2 ? 2 : 4 }
    /// Matrix products per tile: (size + 2)².
    var positions: Int { self == .f2x2 ? 16 : 36 }

    func input(_ s: UnsafePointer<outpost_wino_shape>, _ x: UnsafePointer<Float>, _ v: UnsafeMutablePointer<Float>, _ ldv: Int, _ xs: Int,
               _ c: Range<Int>, _ r0: Int, _ r1: Int) -> Int32 {
        self == .f2x2 ? outpost_wino_input_f32(s, x, v, ldv, xs, c.lowerBound, c.upperBound, r0, r1)
            : outpost_wino43_input_f32(s, x, v, ldv, xs, c.lowerBound, c.upperBound, r0, r1)
    }
    func inputAdjoint(_ s: UnsafePointer<outpost_wino_shape>, _ q: UnsafePointer<Float>, _ ldq: Int, _ xs: Int, _ dx: UnsafeMutablePointer<Float>,
                      _ c: Range<Int>, _ r0: Int, _ r1: Int, _ edge: UnsafeMutablePointer<Float>?) -> Int32 {
        self == .f2x2 ? outpost_wino_input_adjoint_f32(s, q, ldq, xs, dx, c.lowerBound, c.upperBound, r0, r1, edge)
            : outpost_wino43_input_adjoint_f32(s, q, ldq, xs, dx, c.lowerBound, c.upperBound, r0, r1, edge)
    }
    func output(_ s: UnsafePointer<outpost_wino_shape>, _ m: UnsafePointer<Float>, _ ldm: Int, _ xs: Int, _ y: UnsafeMutablePointer<Float>,
                _ o: Range<Int>, _ r0: Int, _ r1: Int) -> Int32 {
        self == .f2x2 ? outpost_wino_output_f32(s, m, ldm, xs, y, o.lowerBound, o.upperBound, r0, r1)
            : outpost_wino43_output_f32(s, m, ldm, xs, y, o.lowerBound, o.upperBound, r0, r1)
    }
    func outputAdjoint(_ s: UnsafePointer<outpost_wino_shape>, _ gy: UnsafePointer<Float>, _ p: UnsafeMutablePointer<Float>, _ ldp: Int,
                       _ xs: Int, _ o: Range<Int>, _ r0: Int, _ r1: Int) -> Int32 {
        self == .f2x2 ? outpost_wino_output_adjoint_f32(s, gy, p, ldp, xs, o.lowerBound, o.upperBound, r0, r1)
            : outpost_wino43_output_adjoint_f32(s, gy, p, ldp, xs, o.lowerBound, o.upperBound, r0, r1)
    }
    func weight(_ s: UnsafePointer<outpost_wino_shape>, _ w: UnsafePointer<Float>, _ u: UnsafeMutablePointer<Float>, _ xs: Int, _ o: Range<Int>) {
        if self == .f2x2 { outpost_wino_weight_f32(s, w, u, xs, o.lowerBound, o.upperBound) }
        else { outpost_wino43_weight_f32(s, w, u, xs, o.lowerBound, o.upperBound) }
    }
    func weightAdjoint(_ s: UnsafePointer<outpost_wino_shape>, _ du: UnsafePointer<Float>, _ xs: Int, _ dw: UnsafeMutablePointer<Float>,
                       _ o: Range<Int>) {
        if self == .f2x2 { outpost_wino_weight_adjoint_f32(s, du, xs, dw, o.lowerBound, o.upperBound) }
        else { outpost_wino43_weight_adjoint_f32(s, du, xs, dw, o.lowerBound, o.upperBound) }
    }
}

extension Kernels {
    /// The tile `p` runs on by Winograd (the shape rule below), or nil where it takes another path.
    static func winogradTile<T: TensorScalar>(_ p: ConvProblem, _: T.Type) -> WinogradTile? {
        let g = p.geometry
        guard T.self == Float.self && p.groups == 1 && p.kh == 3 && p.kw == 3 && g.stride == (1, 1) && g.dilation == (1, 1)
            && g.padding.0 == g.padding.1 && g.padding.0 <= 1 && !Engine.useIm2colConvolution else { return nil }
        switch Engine.winograd {
        case .off: return nil
        case .wherePossible: return .f2x2
        case .wherePossibleF4x4: return .f4x4
        case .shapeRule, .shapeRuleF4x4:
            guard p.cin >= 32 && p.cout >= 32 && p.n * ((p.oh + 1) / 2) * ((p.ow + 1) / 2) >= 64 else { return nil }
            return Engine.winograd == .shapeRuleF4x4 && usesLargeWinogradTiles(p) ? .f4x4 : .f2x2
        }
    }

    /// Whether a convolution the F(2×2, 3×3) rule takes runs on F(4×4, 3×3) instead: when
    /// the batch has at least 64 tiles of 4×4 and they need at most 0.7 of F(2,3)'s
    /// multiplies (36 per 4×4 tile against 16 per 2×2 tile; below 16/36 · 4 = 0.5625 only
    /// where the border tiles are partial). Measured (`outpost-bench --conv`,
    /// docs/performance.md, "Winograd F(4×4, 3×3)"): W5's 32×32 layers at batch 8 (512 tiles,
    /// 0.5625) ran 1.15–2.0x (mostly 1.3–1.6x) faster than on F(2,3) in all three kernels,
    /// W2's 64-channel 32×32 layer at batch 1 (64 tiles) 1.15–1.7x; W5's 10×10 layers
    /// (72 tiles, 0.81: a 10×10 output fills 3×3 tiles of 4×4 to 69%) ran 0.6–0.95x, and
    /// with 16 tiles (W2's 16×16 layer) the weight gradient ran at 0.5x, its 36 products too
    /// short over few tiles.
    static func usesLargeWinogradTiles(_ p: ConvProblem) -> Bool {
        let large = p.n * ((p.oh + 3) / 4) * ((p.ow + 3) / 4), small = p.n * ((p.oh + 1) / 2) * ((p.ow + 1) / 2)
        return large >= 64 && 36 * large * 10 <= 16 * small * 7
    }

    private static func winogradShape(_ p: ConvProblem, _ tile: WinogradTile) -> outpost_wino_shape {
        let m = tile.size
        return outpost_wino_shape(n: p.n, cin: p.cin, h: p.h, w: p.w, cout: p.cout, oh: p.oh, ow: p.ow, pad: p.geometry.padding.0,
                                  th: (p.oh + m - 1) / m, tw: (p.ow + m - 1) / m)
    }

    /// The distance between the 16 (F(2,3)) or 36 (F(4,3)) matrices of `count` elements
    /// each: whole 4 KB pages plus one cache line, so the transforms' side-by-side streams
    /// fall into different cache sets (see winograd.c).
    @inline(__always)
    static func winogradStride(_ count: Int) -> Int { (count + 1023) / 1024 * 1024 + 16 }

    /// Transforms up to this many floats are kept with their buffer. A weight's U (16/9 of
    /// the weight) serves the forward, the input gradient and, in a gradient-matching
    /// attack, every step. An input's V serves the forward and the weight gradient, an output
    /// cotangent's P the input and the weight gradient, and in a double-backward graph each
    /// is used once more. 5M floats (20 MB) cover W5's 64- and 128-channel layers (batch 8,
    /// 32×32); measured on W5, caching up to 12M floats instead (its 256-channel layers too)
    /// gained about 4% for 220 MB more peak memory, so larger transforms are recomputed, and
    /// their forward and input gradient run blocked.
    static let winogradInputCacheLimit = 5 << 20
    static let winogradWeightCacheLimit = 1 << 22

    /// Bytes of the transformed blocks (16 or 36 · (cin + cout) floats per tile) that the blocked
    /// forward and input gradient keep per thread, and the fewest tiles per block (fewer make
    /// the 16 products too short for BLAS to amortize its packing of U).
    static let winogradBlockBytes = 4 << 20
    static let winogradBlockTiles = 128

    @inline(__always)
    private static func float<T>(_ p: UnsafePointer<T>) -> UnsafePointer<Float> { UnsafeRawPointer(p).assumingMemoryBound(to: Float.self) }
    @inline(__always)
    private static func float<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
    }

    /// Runs `body(range)` on slices of 0..<count, one per thread.
    @inline(__always)
    private static func split(_ count: Int, threads: Int, _ body: (Range<Int>) -> Void) {
        let parts = Swift.max(1, Swift.min(threads, count))
        parallelChunks(parts) { t in
            let r = slice(t, of: parts, count)
            if !r.isEmpty { body(r) }
        }
    }

    /// The tile's products, split by ξ across threads.
    private static func winogradProducts(_ tile: WinogradTile, threads: Int, _ product: (Int) -> Void) {
        split(tile.positions, threads: threads) { r in for xi in r { product(xi) } }
    }

    /// `owner`'s cached transform under `key`, if any.
    private static func cachedTransform(_ owner: Buffer?, _ key: WinogradKey) -> Buffer? {
        guard let owner else { return nil }
        Buffer.cacheLock.lock()
        defer { Buffer.cacheLock.unlock() }
        if let c = owner.winogradCache, c.key == key { return c.data }
        return nil
    }

    private static func cacheTransform(_ owner: Buffer?, _ key: WinogradKey, _ data: Buffer, limit: Int) {
        guard let owner, data.count <= limit else { return }
        Buffer.cacheLock.lock()
        owner.winogradCache = (key, data)
        Buffer.cacheLock.unlock()
    }

    /// U = G g Gᵀ of the weight (one [cout][cin] matrix per position ξ,
    /// `winogradStride(cout·cin)` apart), from `owner`'s cache or computed (split over output
    /// channels) and cached.
    private static func winogradWeights(_ owner: Buffer?, _ w: UnsafePointer<Float>, _ p: ConvProblem, _ tile: WinogradTile,
                                        _ s: UnsafePointer<outpost_wino_shape>, threads: Int) -> Buffer {
        let stride = winogradStride(p.cout * p.cin)
        return winogradTransform(owner, .weights(p, tile), stride: stride, channels: p.cout, threads: threads,
                                 limit: winogradWeightCacheLimit) { out, r in
            tile.weight(s, w, out, stride, r)
            return 1
        }
    }

    /// V = Bᵀ d B of every tile of x (one [cin][tiles] matrix per position ξ,
    /// `winogradStride(cin·tiles)` apart), from `owner`'s cache or computed (split over input
    /// channels) and cached when small.
    private static func winogradInputs(_ owner: Buffer?, _ x: UnsafePointer<Float>, _ p: ConvProblem, _ tile: WinogradTile,
                                       _ s: UnsafePointer<outpost_wino_shape>, threads: Int) -> Buffer {
        let rows = s.pointee.n * s.pointee.th, tiles = rows * s.pointee.tw, stride = winogradStride(p.cin * tiles)
        return winogradTransform(owner, .inputs(p, tile), stride: stride, channels: p.cin, threads: threads,
                                 limit: winogradInputCacheLimit) { out, r in
            tile.input(s, x, out, tiles, stride, r, 0, rows)
        }
    }

    /// P = A dY Aᵀ of every tile of gy (one [cout][tiles] matrix per position ξ,
    /// `winogradStride(cout·tiles)` apart), from `owner`'s cache or computed (split over
    /// output channels) and cached.
    private static func winogradCotangents(_ owner: Buffer?, _ gy: UnsafePointer<Float>, _ p: ConvProblem, _ tile: WinogradTile,
                                           _ s: UnsafePointer<outpost_wino_shape>, threads: Int) -> Buffer {
        let rows = s.pointee.n * s.pointee.th, tiles = rows * s.pointee.tw, stride = winogradStride(p.cout * tiles)
        return winogradTransform(owner, .cotangents(p, tile), stride: stride, channels: p.cout, threads: threads,
                                 limit: winogradInputCacheLimit) { out, r in
            tile.outputAdjoint(s, gy, out, tiles, stride, r, 0, rows)
        }
    }

    /// A transform of one matrix per position of `key`'s tile, `stride` floats apart: from
    /// `owner`'s cache, or computed by `fill(out, channelRange)` split over `channels` (0 from
    /// `fill`: out of memory) and cached when at most `limit` floats.
    private static func winogradTransform(_ owner: Buffer?, _ key: WinogradKey, stride: Int, channels: Int, threads: Int, limit: Int,
                                          _ fill: (UnsafeMutablePointer<Float>, Range<Int>) -> Int32) -> Buffer {
        if let cached = cachedTransform(owner, key) { return cached }
        let buffer = Buffer(count: key.tile.positions * stride, dtype: .float32)
        let out = buffer.pointer(Float.self)
        split(channels, threads: threads) { r in
            precondition(fill(out, r) != 0, "conv2d: out of memory for Winograd scratch")
        }
        cacheTransform(owner, key, buffer, limit: limit)
        return buffer
    }

    /// Tile rows per block of the blocked forward and input gradient: about
    /// `winogradBlockBytes` of transformed blocks, at least `winogradBlockTiles` tiles.
    static func winogradBlockRows(_ p: ConvProblem, _ tile: WinogradTile, tw: Int) -> Int {
        let perRow = tile.positions * (p.cin + p.cout) * tw * MemoryLayout<Float>.size
        return Swift.max(1, winogradBlockBytes / perRow, (winogradBlockTiles + tw - 1) / tw)
    }

    /// y = conv(x, w) by Winograd on `tile` (from `winogradTile`). `xOwner` and `wOwner`,
    /// when given, are the buffers of x and w, which keep their transforms for the gradients.
    static func conv2dWinograd<T: TensorScalar>(_ x: UnsafePointer<T>, _ wt: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ p: ConvProblem,
                                                _ tile: WinogradTile, xOwner: Buffer? = nil, wOwner: Buffer? = nil) {
        var shape = winogradShape(p, tile)
        let positions = tile.positions
        let threads = convThreads(p)
        let rows = p.n * shape.th, tw = shape.tw
        let (xf, yf) = (float(x), float(y))
        let blockRows = winogradBlockRows(p, tile, tw: tw)
        withUnsafePointer(to: &shape) { s in
            let u = winogradWeights(wOwner, float(wt), p, tile, s, threads: threads)
            let up = u.pointer(Float.self), us = winogradStride(p.cout * p.cin)
            let wholeV = positions * winogradStride(p.cin * rows * tw)
            if blockRows >= rows || wholeV <= winogradInputCacheLimit || cachedTransform(xOwner, .inputs(p, tile)) != nil {
                // One block: V whole (and kept for the weight gradient when small), the
                // transforms split over channels and the products over ξ.
                let tiles = rows * tw
                let v = winogradInputs(xOwner, xf, p, tile, s, threads: threads)
                let vp = v.pointer(Float.self), vs = winogradStride(p.cin * tiles), ms = winogradStride(p.cout * tiles)
                let m = MemoryPool.allocate(Float.self, capacity: positions * ms)
                defer { MemoryPool.free(m) }
                winogradProducts(tile, threads: threads) { xi in
                    BLAS.gemm(transA: false, transB: false, m: p.cout, n: tiles, k: p.cin, a: UnsafePointer(up + xi * us), lda: p.cin,
                              b: UnsafePointer(vp + xi * vs), ldb: tiles, c: m + xi * ms, ldc: tiles)
                }
                split(p.cout, threads: threads) { r in
                    precondition(tile.output(s, m, tiles, ms, yf, r, 0, rows) != 0,
                                 "conv2d: out of memory for Winograd scratch")
                }
                return
            }
            // Blocks of tile rows, each transformed, multiplied and transformed back while in
            // cache; threads take contiguous ranges of rows.
            let tiles = blockRows * tw
            let vs = winogradStride(p.cin * tiles), ms = winogradStride(p.cout * tiles)
            split(rows, threads: threads) { range in
                let v = MemoryPool.allocate(Float.self, capacity: positions * vs)
                let m = MemoryPool.allocate(Float.self, capacity: positions * ms)
                defer { MemoryPool.free(v); MemoryPool.free(m) }
                for r0 in stride(from: range.lowerBound, to: range.upperBound, by: blockRows) {
                    let r1 = Swift.min(range.upperBound, r0 + blockRows), n = (r1 - r0) * tw
                    precondition(tile.input(s, xf, v, tiles, vs, 0..<p.cin, r0, r1) != 0, "conv2d: out of memory for Winograd scratch")
                    for xi in 0..<positions {
                        BLAS.gemm(transA: false, transB: false, m: p.cout, n: n, k: p.cin, a: UnsafePointer(up + xi * us), lda: p.cin,
                                  b: UnsafePointer(v + xi * vs), ldb: tiles, c: m + xi * ms, ldc: tiles)
                    }
                    precondition(tile.output(s, m, tiles, ms, yf, 0..<p.cout, r0, r1) != 0, "conv2d: out of memory for Winograd scratch")
                }
            }
        }
    }

    /// dx = convᵀ(g, w) by Winograd on `tile`; `gOwner` and `wOwner`, when given, are the
    /// buffers of g and w, which keep their transforms.
    static func conv2dInputGradWinograd<T: TensorScalar>(_ gy: UnsafePointer<T>, _ wt: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>,
                                                         _ p: ConvProblem, _ tile: WinogradTile, gOwner: Buffer? = nil, wOwner: Buffer? = nil) {
        var shape = winogradShape(p, tile)
        let positions = tile.positions
        let threads = convThreads(p)
        let rows = p.n * shape.th, tw = shape.tw, th = shape.th
        let (gf, dxf) = (float(gy), float(dx))
        let blockRows = winogradBlockRows(p, tile, tw: tw)
        withUnsafePointer(to: &shape) { s in
            let u = winogradWeights(wOwner, float(wt), p, tile, s, threads: threads)
            let up = u.pointer(Float.self), us = winogradStride(p.cout * p.cin)
            let wholeP = positions * winogradStride(p.cout * rows * tw)
            if blockRows >= rows || wholeP <= winogradInputCacheLimit || cachedTransform(gOwner, .cotangents(p, tile)) != nil {
                // One block: P whole (and kept for the weight gradient when small).
                let tiles = rows * tw
                let ps = winogradStride(p.cout * tiles), qs = winogradStride(p.cin * tiles)
                let pmBuffer = winogradCotangents(gOwner, gf, p, tile, s, threads: threads)
                let pm = pmBuffer.pointer(Float.self)
                let q = MemoryPool.allocate(Float.self, capacity: positions * qs)
                defer { MemoryPool.free(q) }
                winogradProducts(tile, threads: threads) { xi in
                    BLAS.gemm(transA: true, transB: false, m: p.cin, n: tiles, k: p.cout, a: UnsafePointer(up + xi * us), lda: p.cin,
                              b: UnsafePointer(pm + xi * ps), ldb: tiles, c: q + xi * qs, ldc: tiles)
                }
                split(p.cin, threads: threads) { r in
                    precondition(tile.inputAdjoint(s, q, tiles, qs, dxf, r, 0, rows, nil) != 0,
                                 "conv2d input gradient: out of memory for Winograd scratch")
                }
                return
            }
            // Blocks of tile rows as in the forward. Consecutive tile rows of an image share
            // two input rows: within a thread the blocks run in order and add to them; the
            // first rows of a thread's range go to its edge buffer, added once all are done.
            let tiles = blockRows * tw
            let ps = winogradStride(p.cout * tiles), qs = winogradStride(p.cin * tiles)
            let parts = Swift.max(1, Swift.min(threads, rows))
            let edgeSize = p.cin * 2 * p.w
            let edges = MemoryPool.allocate(Float.self, capacity: parts * edgeSize)
            defer { MemoryPool.free(edges) }
            parallelChunks(parts) { t in
                let range = slice(t, of: parts, rows)
                if range.isEmpty { return }
                let pm = MemoryPool.allocate(Float.self, capacity: positions * ps)
                let q = MemoryPool.allocate(Float.self, capacity: positions * qs)
                defer { MemoryPool.free(pm); MemoryPool.free(q) }
                for r0 in stride(from: range.lowerBound, to: range.upperBound, by: blockRows) {
                    let r1 = Swift.min(range.upperBound, r0 + blockRows), n = (r1 - r0) * tw
                    precondition(tile.outputAdjoint(s, gf, pm, tiles, ps, 0..<p.cout, r0, r1) != 0,
                                 "conv2d input gradient: out of memory for Winograd scratch")
                    for xi in 0..<positions {
                        BLAS.gemm(transA: true, transB: false, m: p.cin, n: n, k: p.cout, a: UnsafePointer(up + xi * us), lda: p.cin,
                                  b: UnsafePointer(pm + xi * ps), ldb: tiles, c: q + xi * qs, ldc: tiles)
                    }
                    let edge = t > 0 && r0 == range.lowerBound ? edges + t * edgeSize : nil
                    precondition(tile.inputAdjoint(s, q, tiles, qs, dxf, 0..<p.cin, r0, r1, edge) != 0,
                                 "conv2d input gradient: out of memory for Winograd scratch")
                }
            }
            for t in 1..<parts {
                let r0 = slice(t, of: parts, rows).lowerBound
                let (img, ty) = (r0 / th, r0 % th)
                if ty == 0 || r0 >= rows { continue }
                let edge = edges + t * edgeSize
                for c in 0..<p.cin {
                    for k in 0..<2 {
                        let y = tile.size * ty + k - p.geometry.padding.0
                        if y < 0 || y >= p.h { continue }
                        let dst = dxf + ((img * p.cin + c) * p.h + y) * p.w, src = edge + (c * 2 + k) * p.w
                        for i in 0..<p.w { dst[i] += src[i] }
                    }
                }
            }
        }
    }

    /// dw = Σ_n g[n] ⋆ x[n] by Winograd on `tile`; `xOwner` and `gOwner` as in the other two.
    static func conv2dWeightGradWinograd<T: TensorScalar>(_ x: UnsafePointer<T>, _ gy: UnsafePointer<T>, _ dw: UnsafeMutablePointer<T>,
                                                          _ p: ConvProblem, _ tile: WinogradTile, xOwner: Buffer? = nil, gOwner: Buffer? = nil) {
        var shape = winogradShape(p, tile)
        let threads = convThreads(p)
        let tiles = p.n * shape.th * shape.tw
        let vs = winogradStride(p.cin * tiles), ps = winogradStride(p.cout * tiles), us = winogradStride(p.cout * p.cin)
        let du = MemoryPool.allocate(Float.self, capacity: tile.positions * us)
        defer { MemoryPool.free(du) }
        withUnsafePointer(to: &shape) { s in
            let v = winogradInputs(xOwner, float(x), p, tile, s, threads: threads)
            let vp = v.pointer(Float.self)
            let pmBuffer = winogradCotangents(gOwner, float(gy), p, tile, s, threads: threads)
            let pm = pmBuffer.pointer(Float.self)
            winogradProducts(tile, threads: threads) { xi in
                BLAS.gemm(transA: false, transB: true, m: p.cout, n: p.cin, k: tiles, a: UnsafePointer(pm + xi * ps), lda: tiles,
                          b: UnsafePointer(vp + xi * vs), ldb: tiles, c: du + xi * us, ldc: p.cin)
            }
            let dwf = float(dw)
            split(p.cout, threads: threads) { r in tile.weightAdjoint(s, du, us, dwf, r) }
        }
    }
}
