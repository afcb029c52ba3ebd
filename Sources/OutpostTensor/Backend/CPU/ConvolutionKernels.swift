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

    /// Output height and width for an input of `h`×`w` and a `kh`×`kw` kernel.
    public func outputSize(h: Int, w: Int, kh: Int, kw: Int) -> (Int, Int) {
        ((h + 2 * padding.0 - dilation.0 * (kh - 1) - 1) / stride.0 + 1,
         (w + 2 * padding.1 - dilation.1 * (kw - 1) - 1) / stride.1 + 1)
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

extension Kernels {
    /// Unfolds one image's channels [c, h, w] into columns [c*kh*kw, oh*ow].
    static func im2col<T: TensorScalar>(_ x: UnsafePointer<T>, channels: Int, _ p: ConvProblem, _ cols: UnsafeMutablePointer<T>) {
        let (sh, sw) = p.geometry.stride, (ph, pw) = p.geometry.padding, (dh, dw) = p.geometry.dilation
        var row = 0
        for c in 0..<channels {
            let plane = x + c * p.h * p.w
            for i in 0..<p.kh {
                for j in 0..<p.kw {
                    let dst = cols + row * p.l
                    for oy in 0..<p.oh {
                        let y = oy * sh - ph + i * dh
                        let line = dst + oy * p.ow
                        if y < 0 || y >= p.h {
                            line.update(repeating: 0, count: p.ow)
                            continue
                        }
                        let src = plane + y * p.w
                        for ox in 0..<p.ow {
                            let xx = ox * sw - pw + j * dw
                            line[ox] = xx >= 0 && xx < p.w ? src[xx] : 0
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// Folds columns back, adding overlapping contributions: the adjoint of `im2col`.
    static func col2im<T: TensorScalar>(_ cols: UnsafePointer<T>, channels: Int, _ p: ConvProblem, _ x: UnsafeMutablePointer<T>) {
        let (sh, sw) = p.geometry.stride, (ph, pw) = p.geometry.padding, (dh, dw) = p.geometry.dilation
        var row = 0
        for c in 0..<channels {
            let plane = x + c * p.h * p.w
            for i in 0..<p.kh {
                for j in 0..<p.kw {
                    let src = cols + row * p.l
                    for oy in 0..<p.oh {
                        let y = oy * sh - ph + i * dh
                        if y < 0 || y >= p.h { continue }
                        let dst = plane + y * p.w
                        let line = src + oy * p.ow
                        for ox in 0..<p.ow {
                            let xx = ox * sw - pw + j * dw
                            if xx >= 0 && xx < p.w { dst[xx] += line[ox] }
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// y[n] = W · im2col(x[n]) per group.
    static func conv2d<T: TensorScalar>(_ x: UnsafePointer<T>, _ wt: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ p: ConvProblem) {
        parallelFor(p.n, grain: 1) { images in
            let cols = UnsafeMutablePointer<T>.allocate(capacity: p.isPointwise ? 1 : p.k * p.l)
            defer { cols.deallocate() }
            for n in images {
                for g in 0..<p.groups {
                    let xg = x + (n * p.cin + g * p.cinG) * p.h * p.w
                    let colsPtr: UnsafePointer<T>
                    if p.isPointwise { colsPtr = xg } else {
                        im2col(xg, channels: p.cinG, p, cols)
                        colsPtr = UnsafePointer(cols)
                    }
                    BLAS.gemm(transA: false, transB: false, m: p.coutG, n: p.l, k: p.k,
                              a: wt + g * p.coutG * p.k, lda: p.k, b: colsPtr, ldb: p.l,
                              c: y + (n * p.cout + g * p.coutG) * p.l, ldc: p.l)
                }
            }
        }
    }

    /// dx[n] = col2im(Wᵀ · g[n]) per group: the transposed convolution.
    static func conv2dInputGrad<T: TensorScalar>(_ gy: UnsafePointer<T>, _ wt: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, _ p: ConvProblem) {
        dx.update(repeating: 0, count: p.n * p.cin * p.h * p.w)
        parallelFor(p.n, grain: 1) { images in
            let cols = UnsafeMutablePointer<T>.allocate(capacity: p.k * p.l)
            defer { cols.deallocate() }
            for n in images {
                for g in 0..<p.groups {
                    let dxg = dx + (n * p.cin + g * p.cinG) * p.h * p.w
                    let target = p.isPointwise ? dxg : cols
                    BLAS.gemm(transA: true, transB: false, m: p.k, n: p.l, k: p.coutG,
                              a: wt + g * p.coutG * p.k, lda: p.k, b: gy + (n * p.cout + g * p.coutG) * p.l, ldb: p.l,
                              c: target, ldc: p.l)
                    if !p.isPointwise { col2im(cols, channels: p.cinG, p, dxg) }
                }
            }
        }
    }

    /// dW = Σ_n g[n] · im2col(x[n])ᵀ per group.
    static func conv2dWeightGrad<T: TensorScalar>(_ x: UnsafePointer<T>, _ gy: UnsafePointer<T>, _ dw: UnsafeMutablePointer<T>, _ p: ConvProblem) {
        let wCount = p.cout * p.k
        let chunks = Swift.min(Engine.threads, p.n)
        let partial = UnsafeMutablePointer<T>.allocate(capacity: chunks * wCount)
        defer { partial.deallocate() }
        partial.update(repeating: 0, count: chunks * wCount)
        let per = (p.n + chunks - 1) / chunks
        parallelFor(chunks, grain: 1) { range in
            let cols = UnsafeMutablePointer<T>.allocate(capacity: p.isPointwise ? 1 : p.k * p.l)
            defer { cols.deallocate() }
            for chunk in range {
                let acc = partial + chunk * wCount
                for n in (chunk * per)..<Swift.min(p.n, (chunk + 1) * per) {
                    for g in 0..<p.groups {
                        let xg = x + (n * p.cin + g * p.cinG) * p.h * p.w
                        let colsPtr: UnsafePointer<T>
                        if p.isPointwise { colsPtr = xg } else {
                            im2col(xg, channels: p.cinG, p, cols)
                            colsPtr = UnsafePointer(cols)
                        }
                        BLAS.gemm(transA: false, transB: true, m: p.coutG, n: p.k, k: p.l,
                                  a: gy + (n * p.cout + g * p.coutG) * p.l, lda: p.l, b: colsPtr, ldb: p.l,
                                  beta: 1, c: acc + g * p.coutG * p.k, ldc: p.k)
                    }
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
