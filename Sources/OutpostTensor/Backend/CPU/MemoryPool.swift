import Foundation
import Synchronization

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
/// Free blocks are kept per thread, on the thread that freed them, and handed out again
/// only there (the byte budgets are shared). With one list for all threads, a block the
/// caller had just written went to the other core's next request, and every line of it
/// crossed between the cores' caches before that core could write it; the shards of W3's
/// local training (`Engine.runShards`) ran 10% faster with per-thread lists, and no lock
/// is taken.
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
    static let smallCacheLimit = Atomic<Int>(32 << 20)
    /// Bytes of free large blocks kept at most: 1 GiB, or a sixteenth of the machine's memory
    /// where that is less. At 256 MiB, W5 (Inverting Gradients, ConvNet width 64, batch 8:
    /// about 1.1 GB at its peak) gave about 50 MB a step back to the system and faulted it
    /// in again (12,500 page faults a step, about 2% of its time); at 1 GiB it faults only
    /// while it warms up, and its peak memory stays the same.
    /// (Atomics, so that tests can lift both budgets for a while.)
    static let cacheLimit = Atomic<Int>(Int(min(UInt64(1) << 30, ProcessInfo.processInfo.physicalMemory / 16)))

    /// One thread's free blocks, freed with the thread.
    ///
    /// The small blocks sit in one fixed stack per size class, reached through pointers that
    /// never change: every op allocates and frees a few of them, and Swift arrays in a class
    /// cost each of those calls a dynamic exclusivity check (with a thread-local lookup) and
    /// a uniqueness check, about 8% of a small element-wise op.
    private final class Shelf {
        static let smallClasses = largeBytes / 64 + 1
        /// Per size class, `smallPerClass` slots, allocated when the class is first used.
        let smallStacks = UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutableRawPointer>?>.allocate(capacity: smallClasses)
        let smallCounts = UnsafeMutablePointer<Int>.allocate(capacity: smallClasses)
        var large: [Int: [UnsafeMutableRawPointer]] = [:]

        init() {
            smallStacks.initialize(repeating: nil, count: Self.smallClasses)
            smallCounts.initialize(repeating: 0, count: Self.smallClasses)
        }

        /// The stack of size class `c`.
        @inline(__always)
        func stack(_ c: Int) -> UnsafeMutablePointer<UnsafeMutableRawPointer> {
            if let stack = smallStacks[c] { return stack }
            let stack = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: smallPerClass)
            smallStacks[c] = stack
            return stack
        }

        /// The free small blocks.
        var smallBlocks: [UnsafeMutableRawPointer] {
            (0..<Self.smallClasses).flatMap { c in (0..<smallCounts[c]).map { smallStacks[c]![$0] } }
        }

        deinit {
            for c in 0..<Self.smallClasses { smallStacks[c]?.deallocate() }
            smallStacks.deallocate()
            smallCounts.deallocate()
        }
    }
    private static let cachedBytes = Atomic<Int>(0)
    private static let smallCachedBytes = Atomic<Int>(0)

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            #if canImport(Darwin)
            MemoryPool.empty(Unmanaged<Shelf>.fromOpaque(pointer).takeRetainedValue())
            #else
            if let pointer { MemoryPool.empty(Unmanaged<Shelf>.fromOpaque(pointer).takeRetainedValue()) }
            #endif
        }
        return key
    }()

    /// Gives an ending thread's free blocks back to the system.
    private static func empty(_ shelf: Shelf) {
        for block in shelf.smallBlocks {
            smallCachedBytes.subtract(block.load(as: Int.self), ordering: .relaxed)
            block.deallocate()
        }
        for block in shelf.large.values.joined() {
            cachedBytes.subtract(block.load(as: Int.self), ordering: .relaxed)
            block.deallocate()
        }
    }

    @inline(__always)
    private static var shelf: Shelf {
        if let raw = pthread_getspecific(key) { return Unmanaged<Shelf>.fromOpaque(raw).takeUnretainedValue() }
        let shelf = Shelf()
        pthread_setspecific(key, Unmanaged.passRetained(shelf).toOpaque())
        return shelf
    }

    /// The rounded size a request of `bytes` gets.
    @inline(__always)
    static func blockSize(_ bytes: Int) -> Int {
        bytes < largeBytes ? (bytes + 63) & ~63 : (bytes + 4095) & ~4095
    }

    /// At least `bytes` bytes (one at minimum), 64-byte aligned, uninitialized.
    static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let size = blockSize(Swift.max(bytes, 1))
        let shelf = self.shelf
        if size < largeBytes {
            let c = size >> 6, n = shelf.smallCounts[c]
            if n > 0 {
                shelf.smallCounts[c] = n - 1
                smallCachedBytes.subtract(size, ordering: .relaxed)
                return shelf.smallStacks[c]![n - 1] + header
            }
        } else if let reused = shelf.large[size]?.popLast() {
            cachedBytes.subtract(size, ordering: .relaxed)
            return reused + header
        }
        let block = UnsafeMutableRawPointer.allocate(byteCount: size + header, alignment: alignment)
        block.storeBytes(of: size, as: Int.self)
        return block + header
    }

    /// Returns a block from `allocate(bytes:)`.
    static func free(_ pointer: UnsafeMutableRawPointer) {
        let block = pointer - header
        let size = block.load(as: Int.self)
        let shelf = self.shelf
        if size < largeBytes {
            let c = size >> 6, n = shelf.smallCounts[c]
            if n < smallPerClass {
                if smallCachedBytes.add(size, ordering: .relaxed).newValue <= smallCacheLimit.load(ordering: .relaxed) {
                    shelf.stack(c)[n] = block
                    shelf.smallCounts[c] = n + 1
                    return
                }
                smallCachedBytes.subtract(size, ordering: .relaxed)
            }
        } else {
            if cachedBytes.add(size, ordering: .relaxed).newValue <= cacheLimit.load(ordering: .relaxed) {
                shelf.large[size, default: []].append(block)
                return
            }
            cachedBytes.subtract(size, ordering: .relaxed)
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
