#if canImport(Accelerate)
import Accelerate
#elseif canImport(COpenBLAS)
import COpenBLAS
#endif
#if canImport(Glibc)
import Glibc
#endif
import COutpostSIMD
import Foundation

/// Matrix products: BLAS (OpenBLAS on Linux, Accelerate on Apple platforms) and a
/// plain-Swift reference used to cross-check it.
///
/// OpenBLAS always runs single-threaded here: the engine splits large products across
/// `Engine.threads` itself (``gemmParallel``), so BLAS threads never nest inside the
/// engine's own workers and small products never pay for a thread hand-off.
enum BLAS {
    /// One-time library setup, done before the first product.
    static let configured: Bool = {
        #if canImport(COpenBLAS) && !canImport(Accelerate)
        selectOpenBLASCore()
        openblas_set_num_threads(1)
        #endif
        return true
    }()

    #if canImport(COpenBLAS) && !canImport(Accelerate)
    /// OpenBLAS builds with run-time CPU dispatch pick their kernels from the CPU model, and
    /// releases that predate a CPU fall back to SSE3 ("Prescott") kernels on it: Debian 12's
    /// 0.3.21 does that on Sapphire and Emerald Rapids Xeons, where AVX-512 kernels run
    /// several times faster. When the library reports such a fallback (and the user has not
    /// chosen with OPENBLAS_CORETYPE) the kernels are re-selected from the CPU's features.
    static func selectOpenBLASCore() {
        guard getenv("OPENBLAS_CORETYPE") == nil,
              let handle = dlopen(nil, RTLD_NOW),
              let corenameSym = dlsym(handle, "openblas_get_corename"),
              let initSym = dlsym(handle, "gotoblas_dynamic_init"),
              let quitSym = dlsym(handle, "gotoblas_dynamic_quit") else { return }
        typealias CoreName = @convention(c) () -> UnsafeMutablePointer<CChar>?
        typealias Void0 = @convention(c) () -> Void
        let corename = unsafeBitCast(corenameSym, to: CoreName.self)
        guard let name = corename().map({ String(cString: $0).lowercased() }),
              ["prescott", "core2", "penryn", "dunnington", "nehalem", "sandybridge", "unknown"].contains(name) else { return }
        let flags = cpuFlags()
        let core: String
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "fma"]) {
            core = "SkylakeX"
        } else if flags.isSuperset(of: ["avx2", "fma"]) {
            core = "Haswell"
        } else {
            return
        }
        setenv("OPENBLAS_CORETYPE", core, 1)
        unsafeBitCast(quitSym, to: Void0.self)()
        unsafeBitCast(initSym, to: Void0.self)()
        unsetenv("OPENBLAS_CORETYPE")
    }

    /// The CPU feature flags the kernel reports (Linux), empty where unavailable.
    static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
    #endif

    /// The BLAS kernel family in use ("SkylakeX", "Haswell", ...; "Accelerate" on Apple).
    static var coreName: String {
        _ = configured
        #if canImport(COpenBLAS) && !canImport(Accelerate)
        return openblas_get_corename().map { String(cString: $0) } ?? "unknown"
        #else
        return "Accelerate"
        #endif
    }

    /// C = alpha * op(A) * op(B) + beta * C, row-major; op(A) is m x k, op(B) is k x n.
    @inline(__always)
    static func gemm<T: TensorScalar>(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                                      alpha: T = 1, a: UnsafePointer<T>, lda: Int,
                                      b: UnsafePointer<T>, ldb: Int,
                                      beta: T = 0, c: UnsafeMutablePointer<T>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        if Engine.useReferenceGEMM {
            referenceGEMM(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                          b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        if T.self == Float.self && !transB && alpha == 1 && (beta == 0 || beta == 1) && usesSkinnyKernel(m: m, n: n, k: k),
           outpost_skinny_sgemm(transA ? 1 : 0, m, n, k, UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), lda,
                                UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), ldb,
                                UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc, beta == 0 ? 0 : 1) != 0 {
            return
        }
        if T.self == Float.self && !transA && transB && alpha == 1 && (beta == 0 || beta == 1) && usesWideKernel(m: m, n: n, k: k),
           outpost_wide_sgemm_nt(m, n, k, UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), lda,
                                 UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), ldb,
                                 UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc, beta == 0 ? 0 : 1) != 0 {
            return
        }
        _ = configured
        var beta = beta
        if beta == 0 && ldc == n {
            // OpenBLAS clears C with a slow generic loop when beta is 0 (measured: about as
            // many instructions as the product itself for a 12×300 weight gradient); a memset
            // and beta 1 give the same result.
            c.update(repeating: 0, count: m * n)
            beta = 1
        }
        let ta = transA ? CblasTrans : CblasNoTrans
        let tb = transB ? CblasTrans : CblasNoTrans
        if T.self == Float.self {
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), Float(alpha),
                        UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), Int32(lda),
                        UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), Int32(ldb), Float(beta),
                        UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), Int32(ldc))
        } else {
            cblas_dgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), Double(alpha),
                        UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), Int32(lda),
                        UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), Int32(ldb), Double(beta),
                        UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), Int32(ldc))
        }
    }

    /// Whether a Float product op(A)·B goes to the kernel for few columns
    /// (COutpostSIMD/skinny_gemm.c) instead of BLAS: 16 to 64 columns and at least 8 rows.
    /// BLAS copies all of A into its own layout on every call, which at these widths costs
    /// about as much as the arithmetic (a batch-1 convolution on a 4×4 or 8×8 image, the
    /// Winograd products of a 16×16 one); the kernel reads A in place. Measured against
    /// OpenBLAS 0.3.21's SkylakeX kernels over m 8…1024, k 16…1152, both layouts of A: the
    /// kernel is faster from 16 to 64 columns (1.1–2× with A in cache; more where BLAS's copy
    /// of A misses the cache), slower below 16 (one masked vector per row wastes most of
    /// its lanes) and from about 128 columns with long reductions.
    @inline(__always)
    static func usesSkinnyKernel(m: Int, n: Int, k: Int) -> Bool {
        n >= 16 && n <= 64 && m >= 8 && skinnyKernelAvailable && Engine.useSkinnyGEMM
    }

    static let skinnyKernelAvailable = outpost_skinny_sgemm_available() != 0

    /// Whether a Float product A·Bᵀ goes to the kernel for short reductions
    /// (COutpostSIMD/skinny_gemm.c, `outpost_wide_sgemm_nt`) instead of BLAS: at most 64
    /// steps, at least 64 columns and 32 rows. This is the weight gradient of a batch-1
    /// convolution on a small image (dY·colᵀ, 16 or 64 steps, up to 512×4608 outputs), where
    /// BLAS.gemm clears C, then BLAS packs both operands and reads C back to add to it;
    /// the kernel writes each element of C once. Measured against OpenBLAS 0.3.21's SkylakeX
    /// kernels (with the memset BLAS.gemm adds), one thread: 512×4608×16 0.55–0.63 ms against
    /// 0.97–1.07, 256×2304×64 0.47–0.48 against 0.59–0.61; 1.3–2× at 32×576×25, 32×64×16,
    /// 512×64×64, 64×4608×64. Longer reductions (80, 96 steps: 1.1–1.4×) and fewer rows
    /// (24: 1.6×) also won but are left to BLAS until a workload needs them. Turned off with
    /// the kernel for few columns (`Engine.useSkinnyGEMM`).
    @inline(__always)
    static func usesWideKernel(m: Int, n: Int, k: Int) -> Bool {
        k <= 64 && n >= 64 && m >= 32 && skinnyKernelAvailable && Engine.useSkinnyGEMM
    }

    /// Multiply-adds below which a product runs on the calling thread: a thread hand-off
    /// costs more than it saves.
    static let parallelThreshold = 1 << 20

    /// `gemm` split across `Engine.threads` by blocks of rows or columns of C (whichever
    /// dimension is longer), each block a single-threaded BLAS call; small products run inline.
    static func gemmParallel<T: TensorScalar>(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                                              alpha: T = 1, a: UnsafePointer<T>, lda: Int,
                                              b: UnsafePointer<T>, ldb: Int,
                                              beta: T = 0, c: UnsafeMutablePointer<T>, ldc: Int,
                                              threads: Int = Engine.threads) {
        let work = m * n * k
        let splitColumns = n >= m
        let extent = splitColumns ? n : m
        let blocks = Swift.min(threads, work / parallelThreshold, extent / 16)
        if blocks <= 1 {
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                 beta: beta, c: c, ldc: ldc)
            return
        }
        // Blocks of a multiple of 16 so each keeps whole vector tiles.
        let size = ((extent + blocks - 1) / blocks + 15) / 16 * 16
        let a = UnsafeMutablePointer(mutating: a), b = UnsafeMutablePointer(mutating: b)
        parallelChunks(blocks) { block in
            let lo = block * size, hi = Swift.min(extent, lo + size)
            guard lo < hi else { return }
            if splitColumns {
                gemm(transA: transA, transB: transB, m: m, n: hi - lo, k: k, alpha: alpha, a: a, lda: lda,
                     b: transB ? b + lo * ldb : b + lo, ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
            } else {
                gemm(transA: transA, transB: transB, m: hi - lo, n: n, k: k, alpha: alpha,
                     a: transA ? a + lo : a + lo * lda, lda: lda, b: b, ldb: ldb, beta: beta, c: c + lo * ldc, ldc: ldc)
            }
        }
    }

    /// The textbook triple loop, accumulating in Double.
    static func referenceGEMM<T: TensorScalar>(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                                               alpha: T, a: UnsafePointer<T>, lda: Int,
                                               b: UnsafePointer<T>, ldb: Int,
                                               beta: T, c: UnsafeMutablePointer<T>, ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var acc = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    acc += Double(av) * Double(bv)
                }
                let prior = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
                c[i * ldc + j] = T(Double(alpha) * acc + prior)
            }
        }
    }
}
