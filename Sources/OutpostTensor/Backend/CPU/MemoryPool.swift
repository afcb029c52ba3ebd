import Foundation

/// Recycles allocations (tensor buffers and kernel scratch space) by size.
///
/// An optimization or attack loop allocates the same buffers every iteration. Left to
/// malloc, large blocks go back to the operating system when freed and come back as fresh
/// pages on the next iteration: a page fault and a page clear per 4 KB (measured: about 12%
/// of W3's time in the kernel's fault path). Small 64-byte-aligned blocks cost malloc's
/// aligned path and its consolidation of free chunks (about 11% of W1's time). So freed
/// blocks are kept and handed out again to requests of the same rounded size: small ones
/// (below `largeBytes`, rounded to 64 bytes) up to `smallPerClass` per size and
/// `smallCacheLimit` bytes in all, large ones (rounded to pages) up to `cacheLimit` bytes.
///
/// Every block carries its size in a 64-byte header, so `free` needs only the pointer.
enum MemoryPool {
    static let alignment = 64
    static let header = 64
    /// Blocks from this size up are rounded to whole pages and share the byte budget.
    static let largeBytes = 32 << 10
    /// Free small blocks kept per size class.
    static let smallPerClass = 256
    /// Bytes of free small blocks kept at most.
    static let smallCacheLimit = 32 << 20
    /// Bytes of free large blocks kept at most: 1 GiB, or a sixteenth of the machine's memory
    /// where that is less. At 256 MiB, W5 (Inverting Gradients, ConvNet width 64, batch 8:
    /// about 1.1 GB at its peak) gave about 50 MB a step back to the system and faulted it
    /// in again (12,500 page faults a step, about 2% of its time); at 1 GiB it faults only
    /// while it warms up, and its peak memory stays the same.
    static let cacheLimit = Int(min(UInt64(1) << 30, ProcessInfo.processInfo.physicalMemory / 16))

    nonisolated(unsafe) private static var smallBlocks = [[UnsafeMutableRawPointer]](repeating: [], count: largeBytes / 64 + 1)
    nonisolated(unsafe) private static var largeBlocks: [Int: [UnsafeMutableRawPointer]] = [:]
    nonisolated(unsafe) private static var cachedBytes = 0
    nonisolated(unsafe) private static var smallCachedBytes = 0
    private static let lock = NSLock()

    /// The rounded size a request of `bytes` gets.
    @inline(__always)
    static func blockSize(_ bytes: Int) -> Int {
        bytes < largeBytes ? (bytes + 63) & ~63 : (bytes + 4095) & ~4095
    }

    /// At least `bytes` bytes (one at minimum), 64-byte aligned, uninitialized.
    static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let size = blockSize(Swift.max(bytes, 1))
        lock.lock()
        let reused: UnsafeMutableRawPointer?
        if size < largeBytes {
            reused = smallBlocks[size >> 6].popLast()
            if reused != nil { smallCachedBytes -= size }
        } else {
            reused = largeBlocks[size]?.popLast()
            if reused != nil { cachedBytes -= size }
        }
        lock.unlock()
        if let reused { return reused + header }
        let block = UnsafeMutableRawPointer.allocate(byteCount: size + header, alignment: alignment)
        block.storeBytes(of: size, as: Int.self)
        return block + header
    }

    /// Returns a block from `allocate(bytes:)`.
    static func free(_ pointer: UnsafeMutableRawPointer) {
        let block = pointer - header
        let size = block.load(as: Int.self)
        lock.lock()
        if size < largeBytes {
            if smallBlocks[size >> 6].count < smallPerClass && smallCachedBytes + size <= smallCacheLimit {
                smallBlocks[size >> 6].append(block)
                smallCachedBytes += size
                lock.unlock()
                return
            }
        } else if cachedBytes + size <= cacheLimit {
            largeBlocks[size, default: []].append(block)
            cachedBytes += size
            lock.unlock()
            return
        }
        lock.unlock()
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
