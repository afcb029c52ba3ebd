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

    // MARK: How far apart the two cores are
    //
    // A split is paid for in cache lines moved between the cores: the claim, the job, and
    // every buffer one core wrote and the other reads next. On the machine of
    // docs/performance.md that price changes over minutes with where the host places the two
    // vCPUs: a cache-line round trip between them takes 55–85 ns at some times and 300–350 ns
    // at others. In the slow state the batch-1 splits (one image's convolution by channels,
    // the L-BFGS passes) made W1 and W4 slower on two threads than on one (W4 1.14–1.24 s
    // against 0.97 s), while in the fast state they make them faster. So a polling worker
    // answers pings, the caller times a few round trips every `probeIntervalNanoseconds`,
    // and while the median of the last five probes is above `slowRoundTripNanoseconds` those
    // small splits stay on the calling core and the worker is left asleep between probes.
    // Shards and batched splits (hundreds of microseconds a part) go on either way.

    /// The threshold (`OUTPOST_SLOW_ROUND_TRIP_NANOSECONDS`, default 200); tests change it.
    static let slowRoundTripNanoseconds: Atomic<UInt64> = {
        let ns = ProcessInfo.processInfo.environment["OUTPOST_SLOW_ROUND_TRIP_NANOSECONDS"].flatMap { UInt64($0) }
        return Atomic(ns ?? 200)
    }()
    /// Time between probes (100 ms); tests shorten it.
    static let probeIntervalNanoseconds = Atomic<UInt64>(100_000_000)
    private static let pingsPerProbe: UInt64 = 16
    /// Odd: a ping waiting for a worker's answer, which adds one.
    private let ping = Atomic<UInt64>(0)
    private let probing = Atomic<Bool>(false)
    /// When the next probe may run (after a probe: one interval; after a failed one: 1 ms).
    private let probeDueAt = Atomic<UInt64>(0)
    private let probeNudgedAt = Atomic<UInt64>(0)
    private let recentRoundTrips = Mutex<[UInt64]>([])
    private let coresFarApart = Atomic<Bool>(false)
    private let roundTripMedian = Atomic<UInt64>(0)
    /// Probes that got every answer.
    let probesCompleted = Atomic<Int>(0)

    /// The median round trip of the recent probes, nanoseconds (nil before one completed).
    var medianRoundTripNanoseconds: UInt64? {
        let m = roundTripMedian.load(ordering: .relaxed)
        return m == 0 ? nil : m
    }

    /// Whether the last probes found the cores close enough for small splits; runs a probe
    /// when one is due and a worker polls. While the cores are far apart, nothing else wakes
    /// the worker, so a due probe does (at most once a millisecond) and one of the next calls
    /// finds it polling; while they are close, the callers' own splits wake it.
    private func coresAreClose() -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        if now >= probeDueAt.load(ordering: .relaxed), started.load(ordering: .relaxed) > 0 {
            if asleep.load(ordering: .relaxed) == 0 {
                probe(now)
            } else if coresFarApart.load(ordering: .relaxed), now &- probeNudgedAt.load(ordering: .relaxed) >= 1_000_000 {
                probeNudgedAt.store(now, ordering: .relaxed)
                nudgeSleepers()
            }
        }
        return !coresFarApart.load(ordering: .relaxed)
    }

    /// Times `pingsPerProbe` round trips with a polling worker. Gives up without a sample
    /// (and tries again in 1 ms) when an answer takes over 20 µs: a worker that is busy,
    /// asleep, or preempted.
    private func probe(_ now: UInt64) {
        guard probing.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return }
        defer { probing.store(false, ordering: .releasing) }
        probeDueAt.store(now + 1_000_000, ordering: .relaxed)
        var value = ping.load(ordering: .relaxed)
        if value & 1 == 1 { value += 1 }   // an unanswered ping of a failed probe
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<Self.pingsPerProbe {
            ping.store(value + 1, ordering: .releasing)
            var polls = 0
            while ping.load(ordering: .acquiring) != value + 2 {
                polls += 1
                if polls & 255 == 0, DispatchTime.now().uptimeNanoseconds &- start > 20_000 {
                    ping.store(value + 2, ordering: .releasing)
                    return
                }
                outpost_cpu_relax()
            }
            value += 2
        }
        let end = DispatchTime.now().uptimeNanoseconds
        let perTrip = (end &- start) / Self.pingsPerProbe
        let threshold = Self.slowRoundTripNanoseconds.load(ordering: .relaxed)
        recentRoundTrips.withLock { trips in
            trips.append(perTrip)
            if trips.count > 5 { trips.removeFirst() }
            let median = trips.sorted()[trips.count / 2]
            roundTripMedian.store(median, ordering: .relaxed)
            coresFarApart.store(median > threshold, ordering: .relaxed)
        }
        probeDueAt.store(end + Self.probeIntervalNanoseconds.load(ordering: .relaxed), ordering: .relaxed)
        probesCompleted.add(1, ordering: .relaxed)
    }

    /// Answers a waiting ping (workers, while they poll for a job).
    @inline(__always)
    private func answerPing() {
        let p = ping.load(ordering: .relaxed)
        if p & 1 == 1 { _ = ping.compareExchange(expected: p, desired: p + 1, ordering: .acquiringAndReleasing) }
    }

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
        // While the cores are far apart the worker is left asleep between probes.
        guard coresAreClose() else { return false }
        if asleep.load(ordering: .relaxed) > 0 {
            nudgeSleepers()
            return false
        }
        return true
    }

    /// Whether a pass of some tens of microseconds a part (the L-BFGS history passes) should
    /// be split now: as `coresAreFree`, and the cores are close (see `coresAreClose`).
    func smallJobsPay() -> Bool {
        if Self.forceSmallSplits.load(ordering: .relaxed) { return Engine.threads >= 2 }
        return coresAreFree() && coresAreClose()
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

    /// Sends sleeping workers back to polling without a job.
    private func nudgeSleepers() {
        nudges.add(1, ordering: .sequentiallyConsistent)
        wakeSleepers()
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
                answerPing()
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
