#if canImport(Accelerate)
import Accelerate
#elseif canImport(COpenBLAS)
import COpenBLAS
#endif

/// Matrix products: BLAS (OpenBLAS on Linux, Accelerate on Apple platforms) and a
/// plain-Swift reference used to cross-check it.
enum BLAS {
    static func setThreads(_ n: Int) {
        #if canImport(COpenBLAS) && !canImport(Accelerate)
        openblas_set_num_threads(Int32(n))
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
