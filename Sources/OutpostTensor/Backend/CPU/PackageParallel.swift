import Synchronization

extension Engine {
    /// Runs `body(0) ... body(parts - 1)` concurrently on the engine's worker threads (inline,
    /// in order, when `parts` is 1), for the other modules of this package: the caller picks
    /// `parts`, usually at most ``threads``, and what each part computes.
    package static func runParts(_ parts: Int, _ body: (Int) -> Void) {
        parallelChunks(parts, body)
    }

    /// Runs `body(0) ... body(items - 1)` on at most ``threads`` threads, each item taken by
    /// whichever thread is free first, so that a worker that wakes late takes the items the
    /// caller has not reached (inline, in order, on one thread).
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

    /// Whether a worker thread is polling for work now, so that a split of a few tens of
    /// microseconds pays (see `WorkerPool.workerIsPolling`); asking wakes a sleeping worker to
    /// poll for the next split unless other processes want the cores.
    package static var workerIsPolling: Bool { WorkerPool.shared.workerIsPolling() }

    /// Whether work of a few hundred microseconds should be split across the engine's
    /// threads now: two threads and two cores, and no other process wants them (see
    /// `WorkerPool.coresAreFree`). A sleeping worker is woken by the split and joins late.
    package static var coresAreFree: Bool { WorkerPool.shared.coresAreFree() }
}
