import COutpostSIMD
import Foundation
import Synchronization

/// The engine's worker threads: one fewer than the cores, started on first use, shared by
/// every parallel kernel.
///
/// Why not `DispatchQueue.concurrentPerform`: it wakes a sleeping thread for every call,
/// which costs 5–20 µs, as much as one of the small convolutions and element-wise loops of
/// a batch-1 attack. Here a worker that has just finished polls for the next job for
/// `Engine.spinMicroseconds` before it sleeps, as OpenMP's workers do.
///
/// One job at a time: a call made while another job runs (from inside a chunk, or from
/// another thread) runs its chunks inline. Chunks are claimed through one atomic word that
/// holds the job's number and the next chunk index, so a worker that wakes late cannot
/// claim a chunk of a job that has ended; the caller returns only after every claimed chunk
/// has finished, so the job's closure outlives every use.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    static let spinNanoseconds: Atomic<Int> = {
        let micro = ProcessInfo.processInfo.environment["OUTPOST_SPIN_MICROSECONDS"].flatMap { Int($0) } ?? 200
        return Atomic(max(0, micro) * 1000)
    }()

    /// The job's number (high 32 bits) and its next unclaimed chunk (low 32 bits).
    private let claim = Atomic<UInt64>(0)
    /// Unmanaged pointer to the running `Job`, and its chunk count.
    private let jobPointer = Atomic<UInt>(0)
    private let jobChunks = Atomic<Int>(0)
    /// The caller's denormal mode (`outpost_flushing_denormals`), which the workers take on
    /// for its chunks so that a result does not depend on which thread computed it.
    private let jobFlushesDenormals = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let sleep = NSCondition()
    private let started = Atomic<Int>(0)
    private let startLock = NSLock()

    private final class Job {
        let body: (Int) -> Void
        init(_ body: @escaping (Int) -> Void) { self.body = body }
    }

    private static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    // MARK: Polling only on an otherwise idle machine
    //
    // A polling worker that shares its core with another busy process is preempted inside
    // its chunks, and the caller then waits a whole time slice for it: on a loaded machine
    // polling made W3 slower than waking threads (OpenMP's spinning policy collapses the same
    // way, see docs/performance.md). So workers poll only while the kernel reports no
    // runnable threads besides the engine's own, sampled at most every 20 ms.

    /// Workers asleep (or about to be) on `sleep`. Sequentially consistent where a new job
    /// checks it after publishing, and a worker raises it before checking for jobs, so
    /// that one of the two always sees the other.
    private let asleep = Atomic<Int>(0)
    private let loadSampledAt = Atomic<UInt64>(0)
    private let othersRunning = Atomic<Bool>(false)
    private let lastSampleCrowded = Atomic<Bool>(false)
    /// Bumped to send sleeping workers back to polling without giving them work.
    private let nudges = Atomic<Int>(0)

    private func othersAreRunning() -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        let last = loadSampledAt.load(ordering: .relaxed)
        if last != 0, now &- last < 20_000_000 { return othersRunning.load(ordering: .relaxed) }
        guard loadSampledAt.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged else {
            return othersRunning.load(ordering: .relaxed)
        }
        // The engine's own runnable threads: the caller and every worker not asleep. A
        // single sample over that count is often a short-lived process; two in a row are not.
        let own = 1 + started.load(ordering: .relaxed) - asleep.load(ordering: .relaxed)
        let crowded = (Self.runnableThreads() ?? 0) > own
        let busy = crowded && lastSampleCrowded.load(ordering: .relaxed)
        lastSampleCrowded.store(crowded, ordering: .relaxed)
        othersRunning.store(busy, ordering: .relaxed)
        return busy
    }

    /// Whether a worker is polling now, so that work handed to it starts at once. Small
    /// splits (one image's convolution, a few microseconds a part) check this first: a
    /// sleeping worker wakes too late to take its part, and the caller would wait for it.
    /// A sleeping (or not yet started) worker is woken to poll, so that the next small
    /// split finds it ready, unless other processes want the cores.
    func workerIsPolling() -> Bool {
        if Self.forceSmallSplits.load(ordering: .relaxed) { return true }
        if othersRunning.load(ordering: .relaxed) || Engine.threads < 2 || Self.cores < 2 { return false }
        if started.load(ordering: .relaxed) == 0 {
            startWorkers(min(Engine.threads, Self.cores) - 1)
            return false
        }
        if asleep.load(ordering: .relaxed) > 0 {
            nudges.add(1, ordering: .sequentiallyConsistent)
            wakeSleepers()
            return false
        }
        return true
    }

    /// Whether a job of a few hundred microseconds should go to the workers now: there are
    /// two engine threads and two cores, and no other process wants the cores. A sleeping
    /// worker is woken by the job itself and joins it late, which such a job can afford.
    func coresAreFree() -> Bool {
        if Self.forceSmallSplits.load(ordering: .relaxed) { return Engine.threads >= 2 }
        return Engine.threads >= 2 && Self.cores >= 2 && !othersAreRunning()
    }

    private func wakeSleepers() {
        sleep.lock()
        sleep.broadcast()
        sleep.unlock()
    }

    /// Tests only: small splits run whether or not a worker is polling or other processes
    /// want the cores (`coresAreFree` still asks for two engine threads); the pool's claims
    /// keep them correct either way, so that their results can be checked on any machine.
    static let forceSmallSplits = Atomic<Bool>(false)

    /// Runnable threads on the machine now (the fourth field of /proc/loadavg, "running/total"),
    /// nil where that file does not exist.
    private static func runnableThreads() -> Int? {
        let fd = open("/proc/loadavg", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 128)
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, 127) }
        guard n > 0, let text = String(bytes: bytes[0..<n], encoding: .ascii) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count >= 4, let slash = fields[3].firstIndex(of: "/") else { return nil }
        return Int(fields[3][..<slash])
    }

    func run(_ count: Int, _ body: (Int) -> Void) {
        guard count > 1, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for c in 0..<count { body(c) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        startWorkers(min(count, Self.cores) - 1)
        withoutActuallyEscaping(body) { body in
            let job = Job(body)
            let raw = UInt(bitPattern: Unmanaged.passUnretained(job).toOpaque())
            let generation = ((claim.load(ordering: .relaxed) >> 32) &+ 1) & 0xffff_ffff
            finished.store(0, ordering: .relaxed)
            jobChunks.store(count, ordering: .relaxed)
            jobPointer.store(raw, ordering: .relaxed)
            jobFlushesDenormals.store(Int(outpost_flushing_denormals()), ordering: .relaxed)
            claim.store(generation << 32, ordering: .sequentiallyConsistent)
            if asleep.load(ordering: .sequentiallyConsistent) > 0 { wakeSleepers() }
            work(generation: generation, count: count, job: raw)
            // A worker preempted inside its chunk holds the caller here; yielding lets it run
            // when both share a core.
            var polls = 0
            while finished.load(ordering: .acquiring) < count {
                polls += 1
                if polls & 1023 == 0 { sched_yield() } else { outpost_cpu_relax() }
            }
            withExtendedLifetime(job) {}
        }
    }

    /// Claims and runs chunks of job `generation` until none is left. `job` is turned back
    /// into a reference only after a successful claim, while the job is known to be running.
    private func work(generation: UInt64, count: Int, job: UInt) {
        var word = claim.load(ordering: .acquiring)
        while word >> 32 == generation, Int(word & 0xffff_ffff) < count {
            let (exchanged, original) = claim.compareExchange(expected: word, desired: word + 1, ordering: .acquiringAndReleasing)
            if exchanged {
                Self.runChunk(job, Int(word & 0xffff_ffff))
                finished.add(1, ordering: .releasing)
                word = word + 1
            } else {
                word = original
            }
        }
    }

    /// Out of line so that every retain and release of the job happens before the chunk is
    /// counted as finished (after which the caller may free it).
    @inline(never)
    private static func runChunk(_ job: UInt, _ index: Int) {
        Unmanaged<Job>.fromOpaque(UnsafeRawPointer(bitPattern: job)!)._withUnsafeGuaranteedRef { $0.body(index) }
    }

    private func startWorkers(_ wanted: Int) {
        guard wanted > started.load(ordering: .relaxed) else { return }
        startLock.lock()
        defer { startLock.unlock() }
        while started.load(ordering: .relaxed) < wanted {
            let thread = Thread { [unowned self] in self.workerLoop() }
            thread.name = "outpost-worker-\(started.load(ordering: .relaxed) + 1)"
            thread.start()
            started.add(1, ordering: .relaxed)
        }
    }

    private func workerLoop() {
        var seen = claim.load(ordering: .acquiring) >> 32
        var flushing = Int(outpost_flushing_denormals())
        while true {
            let generation = waitForJob(after: seen)
            seen = generation
            let mode = jobFlushesDenormals.load(ordering: .acquiring)
            if mode >= 0 && mode != flushing {
                outpost_flush_denormals(Int32(mode))
                flushing = mode
            }
            let count = jobChunks.load(ordering: .acquiring)
            let raw = jobPointer.load(ordering: .acquiring)
            if raw != 0 { work(generation: generation, count: count, job: raw) }
        }
    }

    private func waitForJob(after seen: UInt64) -> UInt64 {
        while true {
            let spinFor = othersAreRunning() ? 0 : UInt64(Self.spinNanoseconds.load(ordering: .relaxed))
            let start = DispatchTime.now().uptimeNanoseconds
            var polls = 0
            while true {
                let generation = claim.load(ordering: .acquiring) >> 32
                if generation != seen { return generation }
                polls += 1
                if polls & 63 == 0, DispatchTime.now().uptimeNanoseconds - start >= spinFor { break }
                outpost_cpu_relax()
            }
            if let generation = sleepUntilWorkOrNudge(after: seen) { return generation }
        }
    }

    /// Sleeps until a new job (its number) or a nudge (nil: poll again).
    private func sleepUntilWorkOrNudge(after seen: UInt64) -> UInt64? {
        sleep.lock()
        defer { sleep.unlock() }
        asleep.add(1, ordering: .sequentiallyConsistent)
        defer { asleep.subtract(1, ordering: .sequentiallyConsistent) }
        let nudged = nudges.load(ordering: .sequentiallyConsistent)
        while true {
            let generation = claim.load(ordering: .sequentiallyConsistent) >> 32
            if generation != seen { return generation }
            if nudges.load(ordering: .sequentiallyConsistent) != nudged { return nil }
            sleep.wait()
        }
    }
}
