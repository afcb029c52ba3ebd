import Foundation

/// Contiguous, row-major storage of one tensor's elements on the CPU.
///
/// Buffers are written once, by the kernel that creates them, and never mutated afterwards
/// (except through `Tensor.withUnsafeMutableScalars`, which copies a shared buffer first):
/// that is what lets tensors share a buffer (reshape is free) and keeps value semantics.
/// A future device backend adds its own buffer kind behind the same kernels boundary.
final class Buffer: @unchecked Sendable {
    let count: Int
    let dtype: DType
    let raw: UnsafeMutableRawPointer
    /// The im2col column matrix of these elements for one convolution geometry, kept because
    /// a convolution's input is unfolded again by its weight gradient and by higher-order
    /// rules (see `Kernels.columns`). Guarded by `Buffer.cacheLock`; small matrices only.
    var columnsCache: (key: ColumnsKey, columns: Buffer)?
    /// The Winograd transform of these elements (a weight's U = G g Gᵀ, an input's
    /// V = Bᵀ d B or an output cotangent's P = A dY Aᵀ), kept because the forward and the
    /// input gradient share a weight's, the forward and the weight gradient an input's, and
    /// both gradients a cotangent's (see `Kernels.winogradTransform`). Guarded by
    /// `Buffer.cacheLock`.
    var winogradCache: (key: WinogradKey, data: Buffer)?
    static let cacheLock = NSLock()

    init(count: Int, dtype: DType) {
        self.count = count
        self.dtype = dtype
        raw = MemoryPool.allocate(bytes: max(count, 1) * dtype.size)
    }

    /// A buffer whose elements are zero.
    static func zeroed(count: Int, dtype: DType) -> Buffer {
        let b = Buffer(count: count, dtype: dtype)
        b.raw.initializeMemory(as: UInt8.self, repeating: 0, count: count * dtype.size)
        return b
    }

    deinit { MemoryPool.free(raw) }

    @inline(__always) func pointer<T: TensorScalar>(_: T.Type) -> UnsafeMutablePointer<T> {
        raw.assumingMemoryBound(to: T.self)
    }

    func copy() -> Buffer {
        let b = Buffer(count: count, dtype: dtype)
        b.raw.copyMemory(from: raw, byteCount: count * dtype.size)
        return b
    }
}
