import Foundation

/// Recycles large allocations (tensor buffers and kernel scratch space) by size.
///
/// An optimization or attack loop allocates the same large buffers every iteration. Left to
/// malloc, blocks of hundreds of kilobytes go back to the operating system when freed and
/// come back as fresh pages on the next iteration: a page fault and a page clear per 4 KB
/// (measured: about 12% of W3's time in the kernel's fault path). Blocks of at least
/// `minimumBytes` are kept instead, up to `cacheLimit` bytes in all, and handed out again to
/// requests of the same rounded size. Smaller blocks go straight to malloc.
///
/// Every block carries its size in a 64-byte header, so `free` needs only the pointer.
enum MemoryPool {
    static let alignment = 64
    static let header = 64
    /// Blocks below this size are not kept.
    static let minimumBytes = 32 << 10
    /// Bytes of free blocks kept at most.
    static let cacheLimit = 256 << 20

    nonisolated(unsafe) private static var freeBlocks: [Int: [UnsafeMutableRawPointer]] = [:]
    nonisolated(unsafe) private static var cachedBytes = 0
    private static let lock = NSLock()

    /// The rounded size a request of `bytes` gets (whole pages for pooled blocks).
    @inline(__always)
    static func blockSize(_ bytes: Int) -> Int {
        bytes < minimumBytes ? bytes : (bytes + 4095) & ~4095
    }

    /// At least `bytes` bytes (one at minimum), 64-byte aligned, uninitialized.
    static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let size = blockSize(Swift.max(bytes, 1))
        if size >= minimumBytes {
            lock.lock()
            if var list = freeBlocks[size], let block = list.popLast() {
                freeBlocks[size] = list
                cachedBytes -= size
                lock.unlock()
                return block + header
            }
            lock.unlock()
        }
        let block = UnsafeMutableRawPointer.allocate(byteCount: size + header, alignment: alignment)
        block.storeBytes(of: size, as: Int.self)
        return block + header
    }

    /// Returns a block from `allocate(bytes:)`.
    static func free(_ pointer: UnsafeMutableRawPointer) {
        let block = pointer - header
        let size = block.load(as: Int.self)
        if size >= minimumBytes {
            lock.lock()
            if cachedBytes + size <= cacheLimit {
                freeBlocks[size, default: []].append(block)
                cachedBytes += size
                lock.unlock()
                return
            }
            lock.unlock()
        }
        block.deallocate()
    }

    /// `count` uninitialized elements of `T`.
    @inline(__always)
    static func allocate<T>(_: T.Type, capacity count: Int) -> UnsafeMutablePointer<T> {
        allocate(bytes: count * MemoryLayout<T>.stride).assumingMemoryBound(to: T.self)
    }

    @inline(__always)
    static func free<T>(_ pointer: UnsafeMutablePointer<T>) { free(UnsafeMutableRawPointer(pointer)) }
}
