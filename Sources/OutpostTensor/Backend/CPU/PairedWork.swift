import COutpostSIMD
import Synchronization

/// Work cut into two fixed halves that run on two threads at once and combine partial
/// sums as they go (for example L-BFGS's two-loop recursion over a long history, where each
/// dot product feeds the next update). A half that waited for the other to arrive would
/// deadlock if it ran alone, so `run` runs both halves or neither.
public enum PairedWork {
    /// Runs `body(0, r)` and `body(1, r)` concurrently with a shared `r`; false when no
    /// worker thread could join at once (nothing ran: do the work on one thread instead).
    public static func run(_ body: (_ half: Int, _ reduction: PairedReduction) -> Void) -> Bool {
        let reduction = PairedReduction()
        return WorkerPool.shared.runPaired { half in body(half, reduction) }
    }
}

/// The two halves' meeting point: `sum` returns partial₀ + partial₁, added in that order on
/// both threads so that both see the same bits, and the same as one thread adding its two
/// partial sums in that order.
public final class PairedReduction: @unchecked Sendable {
    private let arrived0 = Atomic<Int>(0)
    private let arrived1 = Atomic<Int>(0)
    /// Partial sums by round parity and half; a half writes a slot again only two rounds
    /// later, after the other half has arrived at the round in between (and so has read it).
    private let partials = UnsafeMutablePointer<Double>.allocate(capacity: 4)
    // Each counted by its own half only.
    private var rounds0 = 0
    private var rounds1 = 0

    init() { partials.initialize(repeating: 0, count: 4) }
    deinit { partials.deallocate() }

    public func sum(_ partial: Double, half: Int) -> Double {
        let round: Int
        if half == 0 { rounds0 += 1; round = rounds0 } else { rounds1 += 1; round = rounds1 }
        let slot = (round & 1) * 2
        partials[slot + half] = partial
        if half == 0 {
            arrived0.store(round, ordering: .releasing)
            while arrived1.load(ordering: .acquiring) < round { outpost_cpu_relax() }
        } else {
            arrived1.store(round, ordering: .releasing)
            while arrived0.load(ordering: .acquiring) < round { outpost_cpu_relax() }
        }
        return partials[slot] + partials[slot + 1]
    }
}
