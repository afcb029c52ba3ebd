extension Engine {
    /// Runs `body(0) ... body(parts - 1)` concurrently on the engine's worker threads (inline,
    /// in order, when `parts` is 1), for the other modules of this package: the caller picks
    /// `parts`, usually at most ``threads``, and what each part computes.
    package static func runParts(_ parts: Int, _ body: (Int) -> Void) {
        parallelChunks(parts, body)
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
