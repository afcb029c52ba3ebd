import Foundation
@testable import OutpostTensor
import XCTest

/// The engine's worker pool: every chunk runs exactly once per job, nested and concurrent
/// calls run inline instead of deadlocking, and sleeping workers wake for new work.
final class WorkerPoolTests: XCTestCase {
    private func withThreads(_ n: Int, _ body: () throws -> Void) rethrows {
        let saved = Engine.threads
        Engine.threads = n
        defer { Engine.threads = saved }
        try body()
    }

    /// Asks for single-image splits (every 50 µs, so that a worker woken for a probe is still
    /// polling at the next ask) until a cross-core probe has completed, for at most two
    /// seconds: the answer after that probe, or nil if none completed (a busy machine: the
    /// pool does not poll while other processes want the cores).
    private func splitAnswerAfterNextProbe() -> Bool? {
        let deadline = Date().addingTimeInterval(2)
        let before = WorkerPool.shared.probesCompleted.load(ordering: .relaxed)
        while Date() < deadline {
            let answer = WorkerPool.shared.workerIsPolling()
            if WorkerPool.shared.probesCompleted.load(ordering: .relaxed) != before { return answer }
            usleep(50)
        }
        return nil
    }

    /// Batch-1 splits follow the measured cross-core latency: none while the round trip is
    /// above the threshold (also for the L-BFGS passes), and they resume after the next probe
    /// once it is below. Thresholds of 0 and UInt64.max make every probe slow and fast.
    func testSmallSplitsStopWhileTheCoresAreFarApartAndResumeAfter() throws {
        try XCTSkipIf(ProcessInfo.processInfo.activeProcessorCount < 2, "one core")
        let savedThreshold = WorkerPool.slowRoundTripNanoseconds.load(ordering: .relaxed)
        let savedInterval = WorkerPool.probeIntervalNanoseconds.load(ordering: .relaxed)
        defer {
            WorkerPool.slowRoundTripNanoseconds.store(savedThreshold, ordering: .relaxed)
            WorkerPool.probeIntervalNanoseconds.store(savedInterval, ordering: .relaxed)
        }
        WorkerPool.probeIntervalNanoseconds.store(0, ordering: .relaxed)
        try withThreads(2) {
            WorkerPool.slowRoundTripNanoseconds.store(0, ordering: .relaxed)
            guard let whileSlow = splitAnswerAfterNextProbe() else { throw XCTSkip("no probe completed: the machine is busy") }
            XCTAssertFalse(whileSlow, "a split while every round trip counts as slow")
            XCTAssertFalse(WorkerPool.shared.smallJobsPay(), "L-BFGS passes split while every round trip counts as slow")
            XCTAssertGreaterThan(Engine.crossCoreRoundTripNanoseconds ?? 0, 0)
            // From slow to fast: the worker sleeps between probes now, so this also checks
            // that a probe still completes.
            WorkerPool.slowRoundTripNanoseconds.store(UInt64.max, ordering: .relaxed)
            var resumed = false
            for _ in 0..<8 where !resumed {
                guard splitAnswerAfterNextProbe() != nil else { throw XCTSkip("no probe completed: the machine is busy") }
                // Several probes may be needed: the decision follows the median of the last five.
                resumed = WorkerPool.shared.workerIsPolling() || WorkerPool.shared.smallJobsPay()
            }
            XCTAssertTrue(resumed, "no split after probes below the threshold")
        }
    }

    func testEveryChunkRunsOnceAcrossManyJobs() {
        withThreads(4) {
            for count in [2, 3, 7, 64] {
                for _ in 0..<2000 {
                    let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
                    hits.initialize(repeating: 0, count: count)
                    defer { hits.deallocate() }
                    parallelChunks(count) { hits[$0] += 1 }
                    XCTAssertEqual((0..<count).map { hits[$0] }, Array(repeating: 1, count: count))
                }
            }
        }
    }

    /// `Engine.runClaiming` runs every item once, on no more threads than the engine has,
    /// even when there are more items than threads. Each item takes about 20 µs, long enough
    /// for a sleeping worker to wake and take some.
    func testClaimedItemsRunOnceOnAtMostTheEnginesThreads() {
        for threads in [1, 2, 3] {
            withThreads(threads) {
                for items in [1, 2, 5, 12, 40] {
                    for _ in 0..<20 {
                        let hits = UnsafeMutablePointer<Int>.allocate(capacity: items)
                        let runners = UnsafeMutablePointer<pthread_t>.allocate(capacity: items)
                        hits.initialize(repeating: 0, count: items)
                        defer { hits.deallocate(); runners.deallocate() }
                        Engine.runClaiming(items) { i in
                            hits[i] += 1
                            runners[i] = pthread_self()
                            let start = DispatchTime.now().uptimeNanoseconds
                            while DispatchTime.now().uptimeNanoseconds - start < 20_000 {}
                        }
                        XCTAssertEqual((0..<items).map { hits[$0] }, Array(repeating: 1, count: items), "\(threads) threads, \(items) items")
                        let distinct = Set((0..<items).map { runners[$0] })
                        XCTAssertLessThanOrEqual(distinct.count, threads, "\(threads) threads, \(items) items")
                    }
                }
            }
        }
    }

    func testParallelForCoversTheRangeOnce() {
        withThreads(2) {
            let n = 1_000_003
            let seen = UnsafeMutablePointer<UInt8>.allocate(capacity: n)
            seen.initialize(repeating: 0, count: n)
            defer { seen.deallocate() }
            parallelFor(n, grain: 1000) { r in for i in r { seen[i] &+= 1 } }
            XCTAssertTrue((0..<n).allSatisfy { seen[$0] == 1 })
        }
    }

    func testNestedCallsRunInline() {
        withThreads(2) {
            let total = UnsafeMutablePointer<Int>.allocate(capacity: 4)
            total.initialize(repeating: 0, count: 4)
            defer { total.deallocate() }
            parallelChunks(2) { outer in
                parallelChunks(2) { inner in total[outer * 2 + inner] += 1 }
            }
            XCTAssertEqual((0..<4).map { total[$0] }, [1, 1, 1, 1])
        }
    }

    func testConcurrentCallersAllFinish() {
        withThreads(2) {
            let callers = 4, jobs = 500
            let sums = UnsafeMutablePointer<Int>.allocate(capacity: callers * 2)
            sums.initialize(repeating: 0, count: callers * 2)
            defer { sums.deallocate() }
            let address = UInt(bitPattern: sums)
            DispatchQueue.concurrentPerform(iterations: callers) { c in
                let sums = UnsafeMutablePointer<Int>(bitPattern: address)!
                for _ in 0..<jobs { parallelChunks(2) { sums[c * 2 + $0] += 1 } }
            }
            XCTAssertEqual((0..<callers * 2).map { sums[$0] }, Array(repeating: jobs, count: callers * 2))
        }
    }

    func testSleepingWorkersWakeForNewWork() {
        let savedSpin = Engine.spinMicroseconds
        Engine.spinMicroseconds = 0
        defer { Engine.spinMicroseconds = savedSpin }
        withThreads(2) {
            for _ in 0..<50 {
                let hits = UnsafeMutablePointer<Int>.allocate(capacity: 2)
                hits.initialize(repeating: 0, count: 2)
                defer { hits.deallocate() }
                parallelChunks(2) { hits[$0] += 1 }
                XCTAssertEqual([hits[0], hits[1]], [1, 1])
                usleep(200)
            }
        }
    }
}
