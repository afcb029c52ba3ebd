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

    /// Whether a pass of some tens of microseconds a part should be split across the
    /// engine's threads now: as ``coresAreFree``, and a cache line crosses between the cores
    /// quickly enough (see `WorkerPool`'s probes of the cross-core latency).
    package static var smallJobsPay: Bool { WorkerPool.shared.smallJobsPay() }

    /// Runs `body(0) ... body(count - 1)` at the same time, one shard per engine thread,
    /// each shard's own parallel kernels inline on the thread that runs it.
    ///
    /// Why shards: W3's local training split op by op reached about 1.4 to 1.7 times one
    /// thread's speed. Between the split kernels the caller ran the small ops alone, and
    /// each split moved activations and gradients between the cores' caches. A shard keeps
    /// its part of the batch on one core from the first layer to the last (with
    /// ``MemoryPool``'s per-thread blocks), so the only data that crosses is the parameters
    /// and the shards' results.
    ///
    /// Each shard runs with the caller's grad mode and kernel choices (the per-thread
    /// settings of `ThreadState`), whichever thread takes it. Under anomaly detection the
    /// shards run one after another on the caller, so that it sees every op.
    package static func runShards(_ count: Int, _ body: (Int) -> Void) {
        let caller = ThreadState.current
        guard count > 1, !caller.detectAnomalies else {
            for shard in 0..<max(count, 0) { body(shard) }
            return
        }
        let settings = caller.settings
        parallelChunks(count) { shard in
            let state = ThreadState.current
            let saved = state.settings
            state.settings = settings
            defer { state.settings = saved }
            body(shard)
        }
    }

    /// How many shards (``runShards(_:_:)``) a batch of `samples` should be computed in: one
    /// per engine thread, as long as each shard gets at least `minimumPerShard` samples.
    /// It depends on the thread count and the batch alone, never on the machine's load, so
    /// that a result does not depend on what else runs: on a busy machine a shard the
    /// worker has not claimed yet runs on the caller after its own.
    package static func shardCount(samples: Int, minimumPerShard: Int = 8) -> Int {
        let perShard = max(1, minimumPerShard)
        guard threads > 1, samples >= 2 * perShard else { return 1 }
        return min(threads, samples / perShard)
    }
}
