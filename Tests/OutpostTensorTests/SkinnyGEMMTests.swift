@testable import OutpostTensor
import XCTest

/// The kernel for Float products with 16 to 64 columns (COutpostSIMD/skinny_gemm.c, routed
/// from `BLAS.gemm`): against the Double-accumulating reference GEMM over shapes with
/// ragged edges, and the convolutions that reach it (a batch-1 convolution on a small
/// image) against the BLAS path and against Float64, including the double backward of a
/// gradient-matching loss.
///
/// Tolerance: the kernel and BLAS both round each Float fused multiply-add, in different
/// orders; results are compared relative to the reference's largest magnitude, within
/// 1e-5 (observed near 1e-7), while a skipped step, a wrong row or a stale mask moves
/// whole elements by O(1) of that scale.
final class SkinnyGEMMTests: XCTestCase {
    private func relativeError(_ a: [Double], _ reference: [Double]) -> Double {
        precondition(a.count == reference.count)
        let scale = reference.map(abs).max() ?? 0
        let diff = zip(a, reference).map { abs($0 - $1) }.max() ?? 0
        return scale == 0 ? diff : diff / scale
    }

    private func randomFloats(_ count: Int, _ rng: inout RandomGenerator) -> [Float] {
        Tensor.normal([count], dtype: .float32, using: &rng).doubles.map { Float($0) }
    }

    /// `BLAS.gemm` (taking whichever kernel its rules pick) against the reference GEMM on
    /// random operands with padded strides: within 1e-5 relative, and the padding of C's
    /// rows untouched.
    private func checkAgainstReference(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int,
                                       beta: Float, _ rng: inout RandomGenerator, file: StaticString = #filePath, line: UInt = #line) {
        let what = "m\(m) n\(n) k\(k) transA \(transA) transB \(transB) beta \(beta)"
        let a = randomFloats((transA ? k : m) * lda, &rng)
        let b = randomFloats((transB ? n : k) * ldb, &rng)
        let c0 = randomFloats(m * ldc, &rng)
        var c = c0, reference = c0
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: pa.baseAddress!, lda: lda,
                              b: pb.baseAddress!, ldb: ldb, beta: beta, c: pc.baseAddress!, ldc: ldc)
                }
                reference.withUnsafeMutableBufferPointer { pr in
                    BLAS.referenceGEMM(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1,
                                       a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                                       beta: beta, c: pr.baseAddress!, ldc: ldc)
                }
            }
        }
        for i in 0..<m {
            for j in n..<ldc where c[i * ldc + j] != c0[i * ldc + j] {
                XCTFail("\(what): padding at row \(i), column \(j) written", file: file, line: line)
            }
        }
        let err = relativeError(c.map(Double.init), reference.map(Double.init))
        XCTAssertLessThan(err, 1e-5, "\(what): relative error \(err)", file: file, line: line)
    }

    func testKernelAgainstReferenceGEMM() throws {
        try XCTSkipUnless(BLAS.skinnyKernelAvailable, "the kernel needs AVX-512")
        var rng = RandomGenerator(seed: 11)
        var count = 0
        // Columns: one vector, partial vectors, 2–4 vectors with ragged ends. Rows: whole
        // row blocks (8, 16), remainders of every size class, and 129 (over a stripe of the
        // transposed layout). Steps: 1, odd, one over the transposed pass length (33).
        for n in [16, 17, 31, 33, 48, 50, 64] {
            for m in [8, 13, 16, 29, 129, 300] {
                for k in [1, 7, 33, 130] {
                    for transA in [false, true] {
                        let beta: Float = (m + k) % 2 == 0 ? 0 : 1
                        XCTAssertTrue(BLAS.usesSkinnyKernel(m: m, n: n, k: k))
                        checkAgainstReference(transA: transA, transB: false, m: m, n: n, k: k,
                                              lda: (transA ? m : k) + 3, ldb: n + 5, ldc: n + 2, beta: beta, &rng)
                        count += 1
                    }
                }
            }
        }
        XCTAssertEqual(count, 7 * 6 * 4 * 2)
    }

    func testShapeRuleKeepsOtherProductsOnBLAS() {
        XCTAssertFalse(BLAS.usesSkinnyKernel(m: 512, n: 15, k: 4608))
        XCTAssertFalse(BLAS.usesSkinnyKernel(m: 512, n: 65, k: 4608))
        XCTAssertFalse(BLAS.usesSkinnyKernel(m: 7, n: 16, k: 4608))
        Engine.useSkinnyGEMM = false
        defer { Engine.useSkinnyGEMM = true }
        XCTAssertFalse(BLAS.usesSkinnyKernel(m: 512, n: 16, k: 4608))
    }

    /// The kernel for short reductions, C = A·Bᵀ (`outpost_wide_sgemm_nt`), against the
    /// reference: steps 1, 16, 25 (odd), 64; columns below, at and over a vector group and a
    /// stripe of the transposed tile (384 columns for 16 steps, 64 for 64), ragged ends; rows
    /// not a multiple of the row block of 4 (remainders 1, 2, 3); padded strides; beta 0 and 1.
    func testWideKernelAgainstReferenceGEMM() throws {
        try XCTSkipUnless(BLAS.skinnyKernelAvailable, "the kernel needs AVX-512")
        var rng = RandomGenerator(seed: 29)
        var count = 0
        for k in [1, 16, 25, 64] {
            for n in [64, 65, 100, 128, 400, 777] {
                for m in [32, 33, 34, 35, 70] {
                    for beta: Float in [0, 1] {
                        XCTAssertTrue(BLAS.usesWideKernel(m: m, n: n, k: k))
                        checkAgainstReference(transA: false, transB: true, m: m, n: n, k: k,
                                              lda: k + 3, ldb: k + 1, ldc: n + 2, beta: beta, &rng)
                        count += 1
                    }
                }
            }
        }
        XCTAssertEqual(count, 4 * 6 * 5 * 2)
    }

    func testWideShapeRule() {
        XCTAssertFalse(BLAS.usesWideKernel(m: 512, n: 4608, k: 65))
        XCTAssertFalse(BLAS.usesWideKernel(m: 16, n: 576, k: 25))
        XCTAssertFalse(BLAS.usesWideKernel(m: 512, n: 63, k: 16))
        Engine.useSkinnyGEMM = false
        defer { Engine.useSkinnyGEMM = true }
        XCTAssertFalse(BLAS.usesWideKernel(m: 512, n: 4608, k: 16))
    }

    /// The weight gradients of ResNet-18's batch-1 3×3 layers on 4×4 and 8×8 images
    /// (512×4608×16 and 256×2304×64, the kernel for short reductions) against Float64, on
    /// one thread and split by columns across 3.
    func testWideWeightGradientsAgainstFloat64() throws {
        try XCTSkipUnless(BLAS.skinnyKernelAvailable, "the kernel needs AVX-512")
        let saved = Engine.threads
        defer { Engine.threads = saved }
        let cases = [
            Case(cin: 512, size: 4, cout: 512, kernel: 3, stride: 1, padding: 1),
            Case(cin: 256, size: 8, cout: 256, kernel: 3, stride: 1, padding: 1),
            Case(cin: 45, size: 5, cout: 37, kernel: 3, stride: 1, padding: 1),
        ]
        for threads in [1, 3] {
            Engine.threads = threads
            for c in cases {
                let f32 = run(c, dtype: .float32, skinny: true), f64 = run(c, dtype: .float64, skinny: true)
                let err = relativeError(f32[2], f64[2])
                XCTAssertLessThan(err, 1e-5, "weight gradient \(c), \(threads) threads: relative error \(err)")
            }
        }
    }

    private struct Case: CustomStringConvertible {
        let cin, size, cout, kernel, stride, padding: Int
        var description: String { "cin\(cin) \(size)x\(size) cout\(cout) \(kernel)x\(kernel) stride \(stride) padding \(padding)" }
    }

    /// Forward, input gradient and weight gradient of a batch-1 convolution.
    private func run(_ c: Case, dtype: DType, skinny: Bool) -> [[Double]] {
        Engine.useSkinnyGEMM = skinny
        defer { Engine.useSkinnyGEMM = true }
        var rng = RandomGenerator(seed: UInt64(c.cin * 1000 + c.cout + c.size))
        let x = Tensor.normal([1, c.cin, c.size, c.size], dtype: dtype, using: &rng).requiringGrad()
        let w = Tensor.normal([c.cout, c.cin, c.kernel, c.kernel], std: 0.05, dtype: dtype, using: &rng).requiringGrad()
        let y = x.conv2d(w, stride: c.stride, padding: c.padding)
        let g = Tensor.normal(y.shape, dtype: dtype, using: &rng)
        let grads = grad(of: y, wrt: [x, w], seed: g)
        return [y.doubles, grads[0].doubles, grads[1].doubles]
    }

    func testBatchOneConvolutionsAgainstBLASAndFloat64() throws {
        try XCTSkipUnless(BLAS.skinnyKernelAvailable, "the kernel needs AVX-512")
        let cases = [
            Case(cin: 512, size: 4, cout: 512, kernel: 3, stride: 1, padding: 1),   // ResNet-18's layer 4: 16 columns
            Case(cin: 256, size: 8, cout: 256, kernel: 3, stride: 1, padding: 1),   // layer 3: 64 columns
            Case(cin: 256, size: 8, cout: 512, kernel: 3, stride: 2, padding: 1),   // layer 4's first, strided
            Case(cin: 128, size: 16, cout: 256, kernel: 1, stride: 2, padding: 0),  // layer 3's shortcut
            Case(cin: 37, size: 5, cout: 45, kernel: 3, stride: 1, padding: 1),     // 25 columns, odd rows and steps
            Case(cin: 19, size: 7, cout: 23, kernel: 3, stride: 1, padding: 0),     // 25 columns, 171 steps
        ]
        for c in cases {
            let skinny = run(c, dtype: .float32, skinny: true)
            let blas = run(c, dtype: .float32, skinny: false)
            let reference = run(c, dtype: .float64, skinny: true)
            for (i, part) in ["forward", "input gradient", "weight gradient"].enumerated() {
                let err = relativeError(skinny[i], reference[i])
                XCTAssertLessThan(err, 1e-5, "\(part) \(c): relative error to Float64 \(err)")
                let errBLAS = relativeError(skinny[i], blas[i])
                XCTAssertLessThan(errBLAS, 1e-5, "\(part) \(c): relative error to BLAS \(errBLAS)")
            }
        }
    }

    func testThreadSplits() throws {
        // Products split by rows across 3 threads, blocks of 16 rows, the last one short.
        try XCTSkipUnless(BLAS.skinnyKernelAvailable, "the kernel needs AVX-512")
        let saved = Engine.threads
        Engine.threads = 3
        defer { Engine.threads = saved }
        let c = Case(cin: 300, size: 4, cout: 200, kernel: 3, stride: 1, padding: 1)
        let skinny = run(c, dtype: .float32, skinny: true), reference = run(c, dtype: .float64, skinny: true)
        for (i, part) in ["forward", "input gradient", "weight gradient"].enumerated() {
            let err = relativeError(skinny[i], reference[i])
            XCTAssertLessThan(err, 1e-5, "\(part) \(c), 3 threads: relative error \(err)")
        }
    }

    func testDifferentiatingTheGradientsAgain() throws {
        // Inverting Gradients' graph on two batch-1 convolutions with 16 and 36 output
        // positions: the gradient of a matching loss on the weight gradients, taken with
        // respect to the image and a weight, runs every kernel again (and the products with
        // the weight gradients' cotangents as left matrices). Kernel against BLAS, Float32.
        try XCTSkipUnless(BLAS.skinnyKernelAvailable, "the kernel needs AVX-512")
        func secondOrder(_ skinny: Bool) -> [[Double]] {
            Engine.useSkinnyGEMM = skinny
            defer { Engine.useSkinnyGEMM = true }
            var rng = RandomGenerator(seed: 23)
            let x = Tensor.normal([1, 40, 8, 8], dtype: .float32, using: &rng).requiringGrad()
            let w1 = Tensor.normal([72, 40, 3, 3], std: 0.1, dtype: .float32, using: &rng).requiringGrad()
            let w2 = Tensor.normal([96, 72, 3, 3], std: 0.1, dtype: .float32, using: &rng).requiringGrad()
            let target = Tensor.normal([96, 72, 3, 3], dtype: .float32, using: &rng)
            let y = x.conv2d(w1, stride: 1, padding: 0).sigmoid().conv2d(w2, stride: 1, padding: 0)
            let gw = grad(of: (y * y).sum(), wrt: [w1, w2], createGraph: true)
            let loss = ((gw[1] - target) * (gw[1] - target)).sum() + (gw[0] * gw[0]).sum()
            let g = grad(of: loss, wrt: [x, w1])
            return [g[0].doubles, g[1].doubles]
        }
        let skinny = secondOrder(true), blas = secondOrder(false)
        for (i, part) in ["image", "first weight"].enumerated() {
            let err = relativeError(skinny[i], blas[i])
            XCTAssertLessThan(err, 1e-4, "second order, \(part): relative error \(err)")
        }
    }
}
