import COutpostSIMD
@testable import OutpostTensor
import XCTest

/// The direct few-channel convolution kernels against the im2col + BLAS path, forward and
/// both gradients, in Float and Double.
final class DirectConvolutionTests: XCTestCase {
    private struct Case {
        let n, cin, h, w, cout, kh, kw: Int
        let geo: Conv2dGeometry
    }

    /// The Float kernel sets this CPU has, each tested whatever the size of the work: AVX-512
    /// on a CPU with it, AVX2 on one with it, and the portable loops.
    private static let kernelSets: [Engine.DirectConvolutionKernels] = {
        var seen = Set<String>()
        return [.avx512, .avx2, .portable].filter { seen.insert(Engine.directConvolutionKernelName($0)).inserted }
    }()

    /// Forward, input gradient and weight gradient of one case, on the path chosen by
    /// `im2col`, the direct path with the Float kernels `kernels`.
    private func run(_ c: Case, dtype: DType, im2col: Bool, seed: UInt64,
                     kernels: Engine.DirectConvolutionKernels = .automatic) -> [[Double]] {
        Engine.useIm2colConvolution = im2col
        Engine.directConvolutionKernels = kernels
        defer {
            Engine.useIm2colConvolution = false
            Engine.directConvolutionKernels = .automatic
        }
        var rng = RandomGenerator(seed: seed)
        let x = Tensor.normal([c.n, c.cin, c.h, c.w], dtype: dtype, using: &rng).requiringGrad()
        let w = Tensor.normal([c.cout, c.cin, c.kh, c.kw], dtype: dtype, using: &rng).requiringGrad()
        let y = x.conv2d(w, geometry: c.geo)
        let g = Tensor.normal(y.shape, dtype: dtype, using: &rng)
        let grads = grad(of: y, wrt: [x, w], seed: g)
        return [y.doubles, grads[0].doubles, grads[1].doubles]
    }

    /// The direct path against im2col: Double, and Float with each of the CPU's kernel sets.
    private func compare(_ c: Case, file: StaticString = #filePath, line: UInt = #line) {
        for dtype in [DType.float32, .float64] {
            let reference = run(c, dtype: dtype, im2col: true, seed: 3)
            let tol = dtype == .float32 ? 1e-4 : 1e-11
            for kernels in dtype == .float32 ? Self.kernelSets : [.automatic] {
                let direct = run(c, dtype: dtype, im2col: false, seed: 3, kernels: kernels)
                for (i, part) in ["forward", "input gradient", "weight gradient"].enumerated() {
                    assertClose(direct[i], reference[i], rtol: tol, atol: tol,
                                "\(part) \(dtype) \(Engine.directConvolutionKernelName(kernels)) n\(c.n) cin\(c.cin) "
                                    + "\(c.h)x\(c.w) cout\(c.cout) k\(c.kh)x\(c.kw) \(c.geo)",
                                file: file, line: line)
                }
            }
        }
    }

    func testKernelSetsMatchTheCPU() {
        // The sets are what the CPU has, so that on an AVX-512 machine the comparisons above
        // run the AVX-512 and the AVX2 kernels both.
        let cpu = String(cString: outpost_simd_path())
        XCTAssertEqual(Engine.directConvolutionKernelName(.avx512), cpu == "scalar" ? "portable" : cpu)
        XCTAssertEqual(Engine.directConvolutionKernelName(.automatic), Engine.directConvolutionKernelName(.avx512))
        XCTAssertEqual(Engine.directConvolutionKernelName(.avx2), cpu == "scalar" ? "portable" : "avx2")
        XCTAssertEqual(Engine.directConvolutionKernelName(.portable), "portable")
        XCTAssertEqual(Self.kernelSets.count, cpu == "avx512" ? 3 : cpu == "avx2" ? 2 : 1)
    }

    func testAutomaticKernelsFollowTheWork() throws {
        // By default AVX-512 runs only calls with enough work (a batch), AVX2 the rest, except
        // on AMD CPUs, where AVX-512 runs everything; the two differ in the weight gradient's
        // summation order, so the results tell which ran.
        try XCTSkipUnless(Engine.directConvolutionKernelName(.avx512) == "avx512", "no AVX-512")
        let small: Engine.DirectConvolutionKernels = Engine.directConvolutionKernelNameForLeastWork == "avx512" ? .avx512 : .avx2
        XCTAssertEqual(Engine.directConvolutionKernelNameForLeastWork == "avx512", outpost_cpu_is_amd() != 0)
        let saved = Engine.threads
        Engine.threads = 1
        defer { Engine.threads = saved }
        let geo = Conv2dGeometry(stride: (1, 1), padding: (2, 2))
        let batch = Case(n: 16, cin: 12, h: 7, w: 7, cout: 12, kh: 5, kw: 5, geo: geo)
        let single = Case(n: 1, cin: 12, h: 8, w: 8, cout: 12, kh: 5, kw: 5, geo: geo)
        for (c, expected) in [(batch, Engine.DirectConvolutionKernels.avx512), (single, small)] {
            let other: Engine.DirectConvolutionKernels = expected == .avx512 ? .avx2 : .avx512
            let auto = run(c, dtype: .float32, im2col: false, seed: 7)
            XCTAssertEqual(auto, run(c, dtype: .float32, im2col: false, seed: 7, kernels: expected), "n\(c.n)")
            XCTAssertNotEqual(auto[2], run(c, dtype: .float32, im2col: false, seed: 7, kernels: other)[2], "n\(c.n)")
        }
    }

    func testGeometriesAgainstIm2col() {
        var count = 0
        for (cin, cout) in [(1, 12), (3, 12), (12, 12), (3, 1), (12, 16)] {
            for k in [1, 3, 5] {
                for stride in [1, 2] {
                    for padding in 0...2 {
                        for (h, w, n) in [(7, 7, 1), (9, 13, 2), (16, 16, 3), (11, 6, 1), (5, 28, 1), (4, 33, 2)] {
                            let geo = Conv2dGeometry(stride: (stride, stride), padding: (padding, padding))
                            let (oh, ow) = geo.outputSize(h: h, w: w, kh: k, kw: k)
                            if oh <= 0 || ow <= 0 { continue }
                            compare(Case(n: n, cin: cin, h: h, w: w, cout: cout, kh: k, kw: k, geo: geo))
                            count += 1
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(count, 300)
    }

    /// Each thread keeps its last few layouts (conv_direct.c, 8 of them). Twelve shapes that
    /// differ in one size each, visited in orders that hit, miss and evict, must each get
    /// their own layout every time.
    func testLayoutsAreReusedOnlyForTheirOwnGeometry() {
        let base = Case(n: 1, cin: 3, h: 10, w: 12, cout: 4, kh: 3, kw: 3, geo: Conv2dGeometry(stride: (1, 1), padding: (1, 1)))
        let shapes: [Case] = [
            base,
            Case(n: 2, cin: 3, h: 10, w: 12, cout: 4, kh: 3, kw: 3, geo: base.geo),
            Case(n: 1, cin: 2, h: 10, w: 12, cout: 4, kh: 3, kw: 3, geo: base.geo),
            Case(n: 1, cin: 3, h: 11, w: 12, cout: 4, kh: 3, kw: 3, geo: base.geo),
            Case(n: 1, cin: 3, h: 10, w: 13, cout: 4, kh: 3, kw: 3, geo: base.geo),
            Case(n: 1, cin: 3, h: 10, w: 12, cout: 5, kh: 3, kw: 3, geo: base.geo),
            Case(n: 1, cin: 3, h: 10, w: 12, cout: 4, kh: 5, kw: 3, geo: base.geo),
            Case(n: 1, cin: 3, h: 10, w: 12, cout: 4, kh: 3, kw: 5, geo: base.geo),
            Case(n: 1, cin: 3, h: 10, w: 12, cout: 4, kh: 3, kw: 3, geo: Conv2dGeometry(stride: (2, 1), padding: (1, 1))),
            Case(n: 1, cin: 3, h: 10, w: 12, cout: 4, kh: 3, kw: 3, geo: Conv2dGeometry(stride: (1, 2), padding: (1, 1))),
            Case(n: 1, cin: 3, h: 10, w: 12, cout: 4, kh: 3, kw: 3, geo: Conv2dGeometry(stride: (1, 1), padding: (0, 1))),
            Case(n: 1, cin: 3, h: 10, w: 12, cout: 4, kh: 3, kw: 3, geo: Conv2dGeometry(stride: (1, 1), padding: (1, 1), dilation: (1, 2))),
        ]
        let order = Array(0..<12) + Array((0..<12).reversed()) + [5, 5, 0, 11, 3, 7, 1, 9, 2, 10, 4, 8, 6, 0]
        for i in order { compare(shapes[i]) }
    }

    /// Output sizes follow PyTorch's floor rule, so a kernel longer than its padded input fits
    /// no times and conv2d's check stops it; the truncating rule gave one output row there,
    /// which the direct kernels computed by reading past the input (4×33, 5×5, stride 2).
    func testOutputSizeFollowsTheFloorRule() {
        let strided = Conv2dGeometry(stride: (2, 2), padding: (0, 0))
        XCTAssertTrue(strided.outputSize(h: 4, w: 33, kh: 5, kw: 5) == (0, 15))
        XCTAssertTrue(strided.outputSize(h: 5, w: 6, kh: 5, kw: 5) == (1, 1))
        let padded = Conv2dGeometry(stride: (1, 1), padding: (1, 1))
        XCTAssertTrue(padded.outputSize(h: 2, w: 3, kh: 5, kw: 5) == (0, 1))
        let dilated = Conv2dGeometry(stride: (1, 1), padding: (0, 0), dilation: (2, 2))
        XCTAssertTrue(dilated.outputSize(h: 4, w: 5, kh: 3, kw: 3) == (0, 1))
        // Pooling windows: kernel 3, stride 3 on 2 pixels fits no times.
        XCTAssertEqual(Shapes.windowPositions(size: 2, padding: 0, extent: 3, stride: 3), 0)
        XCTAssertEqual(Shapes.windowPositions(size: 7, padding: 1, extent: 3, stride: 2), 4)
    }

    func testUnusualGeometries() {
        // Asymmetric strides, paddings and dilations, non-square kernels, wide rows (several
        // vector tiles), stride 3, and an output a single pixel wide.
        let cases = [
            Case(n: 2, cin: 3, h: 12, w: 10, cout: 5, kh: 3, kw: 2, geo: Conv2dGeometry(stride: (2, 1), padding: (1, 0), dilation: (1, 2))),
            Case(n: 1, cin: 2, h: 15, w: 15, cout: 7, kh: 3, kw: 3, geo: Conv2dGeometry(stride: (1, 1), padding: (2, 2), dilation: (2, 2))),
            Case(n: 2, cin: 4, h: 9, w: 40, cout: 9, kh: 5, kw: 3, geo: Conv2dGeometry(stride: (1, 1), padding: (2, 1))),
            Case(n: 3, cin: 3, h: 20, w: 37, cout: 13, kh: 3, kw: 3, geo: Conv2dGeometry(stride: (3, 3), padding: (1, 1))),
            Case(n: 1, cin: 5, h: 6, w: 5, cout: 3, kh: 3, kw: 5, geo: Conv2dGeometry(stride: (1, 2), padding: (1, 0))),
            Case(n: 2, cin: 16, h: 8, w: 8, cout: 16, kh: 3, kw: 3, geo: Conv2dGeometry(stride: (1, 1), padding: (1, 1))),
            Case(n: 1, cin: 3, h: 4, w: 4, cout: 2, kh: 5, kw: 5, geo: Conv2dGeometry(stride: (2, 2), padding: (2, 2))),
        ]
        for c in cases { compare(c) }
    }

    func testBatchSplitAcrossThreads() {
        // Large enough for the convolutions to split images across threads (W3's third layer).
        let saved = Engine.threads
        Engine.threads = 3
        defer { Engine.threads = saved }
        compare(Case(n: 32, cin: 12, h: 14, w: 14, cout: 12, kh: 5, kw: 5, geo: Conv2dGeometry(stride: (1, 1), padding: (2, 2))))
        compare(Case(n: 7, cin: 3, h: 32, w: 32, cout: 12, kh: 5, kw: 5, geo: Conv2dGeometry(stride: (2, 2), padding: (2, 2))))
    }

    /// Outputs with an odd number of rows of up to 8 pixels go through the AVX-512 kernels two
    /// images at a time, one tile holding the last row of one and the first of the next: W3's
    /// 7x7 layers (16 images: the weight gradient parks its sums between chunks of pairs), odd
    /// batches (a last image alone), and rows of exactly 8 (not contiguous across images).
    func testOddRowImagesTakenInPairs() {
        let saved = Engine.threads
        Engine.threads = 1
        defer { Engine.threads = saved }
        let cases = [
            Case(n: 16, cin: 12, h: 14, w: 14, cout: 12, kh: 5, kw: 5, geo: Conv2dGeometry(stride: (2, 2), padding: (2, 2))),
            Case(n: 5, cin: 12, h: 7, w: 7, cout: 12, kh: 5, kw: 5, geo: Conv2dGeometry(stride: (1, 1), padding: (2, 2))),
            Case(n: 3, cin: 2, h: 7, w: 8, cout: 5, kh: 3, kw: 3, geo: Conv2dGeometry(stride: (1, 1), padding: (1, 1))),
            Case(n: 2, cin: 3, h: 5, w: 3, cout: 4, kh: 3, kw: 3, geo: Conv2dGeometry(stride: (1, 1), padding: (1, 1))),
        ]
        for c in cases { compare(c) }
    }

    func testSingleImageSplitIsExact() {
        // One image splits across threads (by output tiles and taps on the 16-lane kernels,
        // by channels on the others); each part must reproduce the whole kernel's arithmetic,
        // so the results are identical, not merely close.
        func run(threads: Int, _ c: Case, _ kernels: Engine.DirectConvolutionKernels) -> [[Double]] {
            let saved = Engine.threads
            Engine.threads = threads
            WorkerPool.forceSmallSplits.store(true, ordering: .relaxed)
            defer {
                Engine.threads = saved
                WorkerPool.forceSmallSplits.store(false, ordering: .relaxed)
            }
            return self.run(c, dtype: .float32, im2col: false, seed: 5, kernels: kernels)
        }
        let cases = [
            Case(n: 1, cin: 3, h: 32, w: 32, cout: 12, kh: 5, kw: 5, geo: Conv2dGeometry(stride: (2, 2), padding: (2, 2))),
            Case(n: 1, cin: 12, h: 16, w: 16, cout: 12, kh: 5, kw: 5, geo: Conv2dGeometry(stride: (2, 2), padding: (2, 2))),
            Case(n: 1, cin: 12, h: 8, w: 8, cout: 12, kh: 5, kw: 5, geo: Conv2dGeometry(stride: (1, 1), padding: (2, 2))),
            Case(n: 1, cin: 7, h: 20, w: 19, cout: 13, kh: 3, kw: 3, geo: Conv2dGeometry(stride: (1, 1), padding: (1, 1))),
            // 7x7 output: two-row tiles, the last holding one row.
            Case(n: 1, cin: 12, h: 14, w: 14, cout: 12, kh: 5, kw: 5, geo: Conv2dGeometry(stride: (2, 2), padding: (2, 2))),
        ]
        for kernels in Self.kernelSets {
            for c in cases {
                let whole = run(threads: 1, c, kernels)
                for threads in [2, 3] {
                    let split = run(threads: threads, c, kernels)
                    for (i, part) in ["forward", "input gradient", "weight gradient"].enumerated() {
                        XCTAssertEqual(split[i], whole[i], "\(part), \(Engine.directConvolutionKernelName(kernels)), \(threads) threads, "
                                           + "cin\(c.cin) cout\(c.cout) \(c.h)x\(c.w)")
                    }
                }
            }
        }
    }

    func testSecondOrderAgainstIm2col() {
        // The double-backward graph of DLG: gradients of a gradient-matching loss with
        // respect to the image run all three kernels again.
        func secondOrder(im2col: Bool) -> [Double] {
            Engine.useIm2colConvolution = im2col
            defer { Engine.useIm2colConvolution = false }
            var rng = RandomGenerator(seed: 9)
            let x = Tensor.normal([1, 3, 16, 16], dtype: .float32, using: &rng).requiringGrad()
            let w = Tensor.normal([12, 3, 5, 5], dtype: .float32, using: &rng).requiringGrad()
            let target = Tensor.normal([12, 3, 5, 5], dtype: .float32, using: &rng)
            let y = x.conv2d(w, stride: 2, padding: 2).sigmoid()
            let gw = grad(of: y.sum(), wrt: [w], createGraph: true)[0]
            let loss = ((gw - target) * (gw - target)).sum()
            return grad(of: loss, wrt: [x])[0].doubles
        }
        assertClose(secondOrder(im2col: false), secondOrder(im2col: true), rtol: 1e-3, atol: 1e-4, "second order")
    }
}
