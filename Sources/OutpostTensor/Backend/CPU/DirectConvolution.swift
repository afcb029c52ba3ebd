import COutpostSIMD
import Synchronization

// Direct convolution kernels (COutpostSIMD/conv_direct.c) for few channels.
//
// Shape rule: groups = 1, cin <= 16 and cout <= 16 take the direct kernels; everything else
// im2col + BLAS. With so few channels a convolution is a few hundred multiply-adds per
// output element at most, and im2col's column matrix (kh*kw copies of the input), BLAS's
// packing of it and col2im's element-wise scatter cost more than the arithmetic (LeNet in
// W1, W3, W4 and Soteria: cin 1..12, cout 12). The kernels were AVX2 (8 lanes) where
// OpenBLAS runs AVX-512 products, so once the products are large enough to run at BLAS's
// speed the unfolding no longer dominates and im2col wins: measured (forward plus both
// gradients, one thread, docs/performance.md) at cout = 32 the direct kernels were slower in
// most shapes, at cout = 12 faster in most. (There are AVX-512 kernels now, but by default
// they run only calls with a batch's worth of work, see conv_direct.c; the rule was not
// measured again.) Wide layers (ResNet-18 and ConvNet in W2 and W5,
// 64 channels and more, including their first 3 -> 64 convolutions) keep the im2col path.

extension Engine {
    /// Which Float kernels the direct few-channel convolutions run.
    enum DirectConvolutionKernels: Int, CaseIterable {
        /// AVX-512 for calls with enough work (batches; every call on AMD CPUs), AVX2 + FMA
        /// for the rest, the portable loops without AVX2 (the default; see conv_direct.c's
        /// float_lanes).
        case automatic = 0
        /// AVX-512 whatever the work (AVX2 or portable on a CPU without it).
        case avx512 = 16
        /// At most AVX2 + FMA.
        case avx2 = 8
        /// The portable loops.
        case portable = 1
    }

    private static let _directConvolutionKernels = Atomic<Int>(DirectConvolutionKernels.automatic.rawValue)

    /// Which Float kernels the direct convolutions run (for all threads; read when a
    /// convolution starts). Anything but `.automatic` is a cross-check of one kernel set on
    /// a CPU that has several, never a speed option.
    static var directConvolutionKernels: DirectConvolutionKernels {
        get { DirectConvolutionKernels(rawValue: _directConvolutionKernels.load(ordering: .relaxed)) ?? .automatic }
        set { _directConvolutionKernels.store(newValue.rawValue, ordering: .relaxed) }
    }

    /// The widest Float kernels `kernels` selects on this CPU: "avx512", "avx2" or "portable".
    static func directConvolutionKernelName(_ kernels: DirectConvolutionKernels) -> String {
        String(cString: outpost_conv2d_direct_kernels(kernels.rawValue))
    }

    /// The Float kernels `.automatic` selects for a call with the least work: "avx2" where
    /// AVX-512 is kept for batches, otherwise `directConvolutionKernelName(.automatic)`.
    static var directConvolutionKernelNameForLeastWork: String {
        String(cString: outpost_conv2d_direct_kernels_for_least_work())
    }
}

extension Kernels {
    static func usesDirectConvolution(_ p: ConvProblem) -> Bool {
        p.groups == 1 && p.cin <= 16 && p.cout <= 16 && !Engine.useIm2colConvolution
    }

    private static func directShape(_ p: ConvProblem) -> outpost_conv_shape {
        let g = p.geometry
        return outpost_conv_shape(n: p.n, cin: p.cin, h: p.h, w: p.w, cout: p.cout, kh: p.kh, kw: p.kw, oh: p.oh, ow: p.ow,
                                  sh: g.stride.0, sw: g.stride.1, ph: g.padding.0, pw: g.padding.1,
                                  dh: g.dilation.0, dw: g.dilation.1, max_lanes: Engine.directConvolutionKernels.rawValue)
    }

    /// Threads for a direct convolution: whole images per thread, so a batch of one runs on one.
    private static func directParts(_ p: ConvProblem) -> Int { Swift.min(convThreads(p), p.n) }

    @inline(__always)
    private static func raw<T>(_ p: UnsafePointer<T>) -> UnsafeRawPointer { UnsafeRawPointer(p) }

    /// Runs `kernel` on slices of the batch, one per thread; `kernel` returns 0 when its
    /// scratch could not be allocated.
    private static func directChunks(_ p: ConvProblem, _ what: String,
                                     _ kernel: (UnsafePointer<outpost_conv_shape>, Range<Int>) -> Int32) {
        var s = directShape(p)
        let parts = directParts(p)
        withUnsafePointer(to: &s) { s in
            parallelChunks(parts) { t in
                let r = slice(t, of: parts, p.n)
                if r.isEmpty { return }
                precondition(kernel(s, r) != 0, "\(what): out of memory for the direct kernel's scratch")
            }
        }
    }

    // MARK: One image on two threads
    //
    // An attack's batch of one would leave the second core idle. A single image splits by
    // channels instead: the forward pass and the weight gradient by blocks of four output
    // channels (the kernels' own blocks), the input gradient by input channels. Each part is
    // the same kernel on a narrower shape, doing the same arithmetic in the same order for
    // the elements it owns, so the result does not depend on the split. Only while a worker
    // is polling: the parts take microseconds, less than waking a sleeping worker.

    /// Multiply-adds from which one image is worth splitting (a hand-off to the worker costs
    /// about a microsecond; LeNet's layers are about 230 K each).
    static let singleImageSplitWork = 1 << 17

    /// The channel ranges one image's work splits into (`block` channels per unit), or nil
    /// to run it whole.
    private static func channelParts(_ p: ConvProblem, channels: Int, block: Int) -> [Range<Int>]? {
        let blocks = (channels + block - 1) / block
        let parts = Swift.min(Engine.threads, blocks)
        guard p.n == 1, parts > 1, p.cout * p.k * p.l >= singleImageSplitWork, WorkerPool.shared.workerIsPolling() else { return nil }
        return (0..<parts).compactMap { t in
            let b = slice(t, of: parts, blocks)
            let lo = Swift.min(channels, b.lowerBound * block), hi = Swift.min(channels, b.upperBound * block)
            return lo < hi ? lo..<hi : nil
        }
    }

    /// Runs `kernel` once per part of one image's output channels (blocks of four), each on
    /// the shape narrowed to its channels; false (nothing ran) when the image stays whole.
    private static func splitOverOutputBlocks(_ p: ConvProblem, _ what: String,
                                              _ kernel: (UnsafePointer<outpost_conv_shape>, Range<Int>) -> Int32) -> Bool {
        guard let parts = channelParts(p, channels: p.cout, block: 4) else { return false }
        let full = directShape(p)
        parallelChunks(parts.count) { t in
            var s = narrowed(full, cout: parts[t].count)
            precondition(kernel(&s, parts[t]) != 0, "\(what): out of memory for the direct kernel's scratch")
        }
        return true
    }

    // Where the 16-lane kernels run the image, the forward pass splits by output tiles and
    // the weight gradient by taps instead: both halves even, where blocks of four output
    // channels split LeNet's 12 channels 8 + 4 (the caller, with two thirds of the work,
    // finished last). Each element is still computed exactly as by the whole call.

    /// Whether one image's work should be split now, and the shape for the 16-lane kernels
    /// when they run it (nil: they do not, or no split).
    private static func sixteenLaneSplit(_ p: ConvProblem) -> (shape: outpost_conv_shape, tiles: Int)? {
        guard p.n == 1, Engine.threads >= 2, p.cout * p.k * p.l >= singleImageSplitWork else { return nil }
        var s = directShape(p)
        let tiles = outpost_conv2d_single_image_tiles(&s)
        guard tiles >= 2, WorkerPool.shared.workerIsPolling() else { return nil }
        return (s, tiles)
    }

    /// y = conv(x, w) for one image, its output tiles split across the threads; false (nothing
    /// ran) when it stays whole.
    private static func forwardOverTiles(_ p: ConvProblem, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                         _ y: UnsafeMutablePointer<Float>) -> Bool {
        guard let (shape, tiles) = sixteenLaneSplit(p) else { return false }
        let parts = Swift.min(Engine.threads, tiles)
        parallelChunks(parts) { t in
            var s = shape
            let r = slice(t, of: parts, tiles)
            precondition(r.isEmpty || outpost_conv2d_direct_tiles_f32(&s, x, w, y, r.lowerBound, r.upperBound) != 0,
                         "conv2d: out of memory for the direct kernel's scratch")
        }
        return true
    }

    /// dw for one image, its taps (in blocks of four) split across the threads; false
    /// (nothing ran) when it stays whole.
    private static func weightGradOverTaps(_ p: ConvProblem, _ x: UnsafePointer<Float>, _ g: UnsafePointer<Float>,
                                           _ dw: UnsafeMutablePointer<Float>) -> Bool {
        let blocks = (p.k + 3) / 4
        guard blocks >= 2, let (shape, _) = sixteenLaneSplit(p) else { return false }
        let parts = Swift.min(Engine.threads, blocks)
        parallelChunks(parts) { t in
            var s = shape
            let b = slice(t, of: parts, blocks)
            precondition(b.isEmpty || outpost_conv2d_weight_grad_taps_f32(&s, x, g, dw, b.lowerBound * 4, Swift.min(p.k, b.upperBound * 4)) != 0,
                         "conv2d weight gradient: out of memory for the direct kernel's scratch")
        }
        return true
    }

    private static func narrowed(_ s: outpost_conv_shape, cin: Int? = nil, cout: Int? = nil) -> outpost_conv_shape {
        var t = s
        if let cin { t.cin = cin }
        if let cout { t.cout = cout }
        return t
    }

    /// y = conv(x, w) with the direct kernels.
    static func conv2dDirect<T: TensorScalar>(_ x: UnsafePointer<T>, _ w: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ p: ConvProblem) {
        if T.self == Float.self {
            let xf = raw(x).assumingMemoryBound(to: Float.self), wf = raw(w).assumingMemoryBound(to: Float.self)
            let yf = UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self)
            if forwardOverTiles(p, xf, wf, yf) { return }
            if splitOverOutputBlocks(p, "conv2d", { s, c in
                outpost_conv2d_direct_f32(s, xf, wf + c.lowerBound * p.k, yf + c.lowerBound * p.l, 0, 1)
            }) { return }
        }
        directChunks(p, "conv2d") { s, r in
            T.self == Float.self
                ? outpost_conv2d_direct_f32(s, raw(x).assumingMemoryBound(to: Float.self), raw(w).assumingMemoryBound(to: Float.self),
                                            UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self), r.lowerBound, r.upperBound)
                : outpost_conv2d_direct_f64(s, raw(x).assumingMemoryBound(to: Double.self), raw(w).assumingMemoryBound(to: Double.self),
                                            UnsafeMutableRawPointer(y).assumingMemoryBound(to: Double.self), r.lowerBound, r.upperBound)
        }
    }

    /// dx = convᵀ(g, w) with the direct kernels.
    static func conv2dInputGradDirect<T: TensorScalar>(_ gy: UnsafePointer<T>, _ w: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, _ p: ConvProblem) {
        if T.self == Float.self, let parts = channelParts(p, channels: p.cin, block: 1) {
            let full = directShape(p), taps = p.kh * p.kw, gf = raw(gy).assumingMemoryBound(to: Float.self)
            let wf = raw(w).assumingMemoryBound(to: Float.self), dxf = UnsafeMutableRawPointer(dx).assumingMemoryBound(to: Float.self)
            parallelChunks(parts.count) { t in
                let c = parts[t]
                // The kernel reads each output channel's taps contiguously: gather this part's.
                let slice = MemoryPool.allocate(Float.self, capacity: p.cout * c.count * taps)
                defer { MemoryPool.free(slice) }
                for co in 0..<p.cout {
                    (slice + co * c.count * taps).update(from: wf + (co * p.cin + c.lowerBound) * taps, count: c.count * taps)
                }
                var s = narrowed(full, cin: c.count)
                precondition(outpost_conv2d_input_grad_direct_f32(&s, gf, slice, dxf + c.lowerBound * p.h * p.w, 0, 1) != 0,
                             "conv2d input gradient: out of memory for the direct kernel's scratch")
            }
            return
        }
        directChunks(p, "conv2d input gradient") { s, r in
            T.self == Float.self
                ? outpost_conv2d_input_grad_direct_f32(s, raw(gy).assumingMemoryBound(to: Float.self), raw(w).assumingMemoryBound(to: Float.self),
                                                       UnsafeMutableRawPointer(dx).assumingMemoryBound(to: Float.self), r.lowerBound, r.upperBound)
                : outpost_conv2d_input_grad_direct_f64(s, raw(gy).assumingMemoryBound(to: Double.self), raw(w).assumingMemoryBound(to: Double.self),
                                                       UnsafeMutableRawPointer(dx).assumingMemoryBound(to: Double.self), r.lowerBound, r.upperBound)
        }
    }

    /// dw = Σ_n g[n] ⋆ x[n] with the direct kernels; each thread sums its own images, then
    /// the partial sums are added.
    static func conv2dWeightGradDirect<T: TensorScalar>(_ x: UnsafePointer<T>, _ gy: UnsafePointer<T>, _ dw: UnsafeMutablePointer<T>, _ p: ConvProblem) {
        if T.self == Float.self {
            let xf = raw(x).assumingMemoryBound(to: Float.self), gf = raw(gy).assumingMemoryBound(to: Float.self)
            let dwf = UnsafeMutableRawPointer(dw).assumingMemoryBound(to: Float.self)
            if weightGradOverTaps(p, xf, gf, dwf) { return }
            if splitOverOutputBlocks(p, "conv2d weight gradient", { s, c in
                outpost_conv2d_weight_grad_direct_f32(s, xf, gf + c.lowerBound * p.l, dwf + c.lowerBound * p.k, 0, 1)
            }) { return }
        }
        var s = directShape(p)
        let parts = directParts(p)
        let wCount = p.cout * p.k
        let partial = MemoryPool.allocate(T.self, capacity: Swift.max(1, (parts - 1) * wCount))
        defer { MemoryPool.free(partial) }
        withUnsafePointer(to: &s) { s in
            parallelChunks(Swift.max(parts, 1)) { t in
                let r = slice(t, of: Swift.max(parts, 1), p.n)
                let out = t == 0 ? dw : partial + (t - 1) * wCount
                let ok: Int32
                if T.self == Float.self {
                    ok = outpost_conv2d_weight_grad_direct_f32(s, raw(x).assumingMemoryBound(to: Float.self), raw(gy).assumingMemoryBound(to: Float.self),
                                                               UnsafeMutableRawPointer(out).assumingMemoryBound(to: Float.self), r.lowerBound, r.upperBound)
                } else {
                    ok = outpost_conv2d_weight_grad_direct_f64(s, raw(x).assumingMemoryBound(to: Double.self), raw(gy).assumingMemoryBound(to: Double.self),
                                                               UnsafeMutableRawPointer(out).assumingMemoryBound(to: Double.self), r.lowerBound, r.upperBound)
                }
                precondition(ok != 0, "conv2d weight gradient: out of memory for the direct kernel's scratch")
            }
        }
        for t in 1..<Swift.max(parts, 1) {
            let src = partial + (t - 1) * wCount
            for i in 0..<wCount { dw[i] += src[i] }
        }
    }
}
