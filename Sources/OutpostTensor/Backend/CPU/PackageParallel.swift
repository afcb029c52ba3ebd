import Synchronization

extension Engine {
    /// Runs `body(0) ... body(items - 1)` on at most ``threads`` threads, for the other modules
    /// of this package. Each item is taken by whichever thread is free first, so that a worker
    /// that wakes late takes the items the caller has not reached (inline, in order, on one
    /// thread).
    package static func runClaiming(_ items: Int, _ body: (Int) -> Void) {
        let parts = Swift.min(threads, items)
        guard parts > 1 else {
            for i in 0..<items { body(i) }
            return
        }
        let next = Atomic<Int>(0)
        parallelChunks(parts) { _ in
            while true {
                let i = next.add(1, ordering: .relaxed).oldValue
                if i >= items { return }
                body(i)
            }
        }
    }

    /// Whether work of a few hundred microseconds should be split across the engine's
    /// threads now: two threads and two cores, and no other process wants them (see
    /// `WorkerPool.coresAreFree`). A sleeping worker is woken by the split and joins late.
    package static var coresAreFree: Bool { WorkerPool.shared.coresAreFree() }
}
