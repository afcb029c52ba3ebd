import Foundation
@testable import OutpostTensor
import XCTest

/// `MemoryPool` keeps freed blocks on the thread that freed them.
final class MemoryPoolTests: XCTestCase {
    private var savedLimits = (0, 0)

    /// Earlier tests may have filled the shared byte budgets with blocks that their threads
    /// keep; lifted, every free here is kept.
    override func setUp() {
        savedLimits = (MemoryPool.cacheLimit.load(ordering: .relaxed), MemoryPool.smallCacheLimit.load(ordering: .relaxed))
        MemoryPool.cacheLimit.store(Int.max / 2, ordering: .relaxed)
        MemoryPool.smallCacheLimit.store(Int.max / 2, ordering: .relaxed)
    }

    override func tearDown() {
        MemoryPool.cacheLimit.store(savedLimits.0, ordering: .relaxed)
        MemoryPool.smallCacheLimit.store(savedLimits.1, ordering: .relaxed)
    }

    /// Runs `body` on a new thread and waits for it.
    private func onAnotherThread(_ body: @escaping @Sendable () -> Void) {
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            body()
            done.signal()
        }
        thread.start()
        done.wait()
    }

    func testBlocksAreReusedOnlyByTheThreadThatFreedThem() {
        for bytes in [1000, 3 << 20] {  // a small and a large size class
            let mine = MemoryPool.allocate(bytes: bytes)
            MemoryPool.free(mine)
            nonisolated(unsafe) var theirs: UnsafeMutableRawPointer?
            onAnotherThread {
                // This thread's shelf is empty: a new block, not the one this test freed.
                let block = MemoryPool.allocate(bytes: bytes)
                theirs = block
                MemoryPool.free(block)
                XCTAssertEqual(MemoryPool.allocate(bytes: bytes), block, "reused on the thread that freed it")
                // Freed again; the thread's end returns it to the system.
                MemoryPool.free(block)
            }
            XCTAssertNotEqual(theirs, mine, "\(bytes) bytes")
            let again = MemoryPool.allocate(bytes: bytes)
            XCTAssertEqual(again, mine, "\(bytes) bytes")
            MemoryPool.free(again)
        }
    }

    /// A block freed on another thread than the one that allocated it joins the freeing
    /// thread's shelf.
    func testABlockFreedElsewhereStaysWithTheFreeingThread() {
        let bytes = 5 << 20
        let block = MemoryPool.allocate(bytes: bytes)
        let address = UInt(bitPattern: block)
        nonisolated(unsafe) var reused = false
        onAnotherThread {
            MemoryPool.free(UnsafeMutableRawPointer(bitPattern: address)!)
            let next = MemoryPool.allocate(bytes: bytes)
            reused = UInt(bitPattern: next) == address
            MemoryPool.free(next)
        }
        XCTAssertTrue(reused)
        let mine = MemoryPool.allocate(bytes: bytes)
        XCTAssertNotEqual(UInt(bitPattern: mine), address)
        MemoryPool.free(mine)
    }
}
