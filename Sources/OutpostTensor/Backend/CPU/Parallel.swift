import COutpostSIMD
import Foundation
import Synchronization

/// Engine-wide settings of the CPU backend.
public enum Engine {
    private static let _threads = Atomic<Int>(max(1, ProcessInfo.processInfo.activeProcessorCount))

    /// Threads the CPU kernels split large work across (default: all cores). BLAS itself
    /// runs single-threaded; the engine splits large matrix products across these threads.
    public static var threads: Int {
        get { _threads.load(ordering: .relaxed) }
        set { _threads.store(max(1, newValue), ordering: .relaxed) }
    }

    /// How long the engine's worker threads keep polling for the next piece of work before
    /// they sleep, in microseconds (default 200, or `OUTPOST_SPIN_MICROSECONDS`). Polling
    /// lets an attack's many small kernels (tens of microseconds each) use two cores, where
    /// waking a sleeping thread costs as much as the kernel; on a machine shared with other
    /// busy processes, 0 gives the cores back at once.
    public static var spinMicroseconds: Int {
        get { WorkerPool.spinNanoseconds.load(ordering: .relaxed) / 1000 }
        set { WorkerPool.spinNanoseconds.store(max(0, newValue) * 1000, ordering: .relaxed) }
    }

    /// When true (on this thread), matrix products use the plain-Swift reference GEMM
    /// instead of BLAS: a cross-check of the BLAS path, never a speed option.
    public static var useReferenceGEMM: Bool {
        get { ThreadState.current.referenceGEMM }
        set { ThreadState.current.referenceGEMM = newValue }
    }

    private static let _skinnyGEMM = Atomic<Bool>(true)

    /// Whether Float matrix products with 16 to 64 columns run on the engine's own kernel,
    /// which reads the left matrix in place, instead of BLAS (default true; see
    /// `BLAS.usesSkinnyKernel`). Process-wide, as products are split across worker threads.
    /// Off: the BLAS baseline of the measurements and the reference of the tests, never a
    /// speed option.
    public static var useSkinnyGEMM: Bool {
        get { _skinnyGEMM.load(ordering: .relaxed) }
        set { _skinnyGEMM.store(newValue, ordering: .relaxed) }
    }

    /// When true (on this thread), every convolution takes the im2col + BLAS path, also
    /// those the direct few-channel kernels would run: a cross-check of the direct kernels,
    /// never a speed option.
    public static var useIm2colConvolution: Bool {
        get { ThreadState.current.im2colConvolution }
        set { ThreadState.current.im2colConvolution = newValue }
    }

    /// Which 3×3 convolutions run as Winograd F(2×2, 3×3) or F(4×4, 3×3) (on this thread).
    public enum WinogradPolicy: Sendable {
        /// Those the shape rule picks (`Kernels.winogradTile`), all on F(2×2, 3×3)
        /// tiles: the default.
        case shapeRule
        /// Those the shape rule picks, on F(4×4, 3×3) tiles where
        /// `Kernels.usesLargeWinogradTiles` finds them faster (W5's 32×32 layers: 1.3–1.6x
        /// over F(2,3)). Not the default: Float32 results land about 3.5x further from exact
        /// (3.6e-6 of the largest magnitude against 1e-6), which over ResNet-34's depth puts
        /// its float32 gradients past ModelReferenceTests' bounds (norms 1.5e-4 against
        /// 1e-4, probes 6.6e-3 against 5e-3: more ReLU inputs near zero take the other
        /// branch). The attack runner's policy (`GradientInversion.winogradPolicy`).
        case shapeRuleF4x4
        /// None: they take the im2col + BLAS path, the baseline of the measurements and the
        /// reference of the tests.
        case off
        /// Every one the kernels can run (Float32, groups 1, 3×3, stride 1, dilation 1,
        /// padding 0 or 1), whatever the channel counts: a cross-check of the kernels on
        /// shapes the rule keeps on im2col, never a speed option.
        case wherePossible
        /// As `wherePossible`, on F(4×4, 3×3) tiles.
        case wherePossibleF4x4
    }

    /// Which 3×3 convolutions run as Winograd on this thread (default
    /// `.shapeRule`). `useIm2colConvolution` overrides it.
    public static var winograd: WinogradPolicy {
        get { ThreadState.current.winograd }
        set { ThreadState.current.winograd = newValue }
    }

    /// Runs `body` with `policy` as this thread's Winograd policy and restores the previous
    /// one afterwards (also when `body` throws; scopes nest). Only the calling thread's
    /// setting matters: each convolution picks its path on the thread that calls it, and
    /// the worker threads run the parts of that path they are handed. The attack runner
    /// (`GradientInversion.run`) and the benchmark's Inverting Gradients workloads run in
    /// such a scope.
    public static func withWinograd<R>(_ policy: WinogradPolicy, _ body: () throws -> R) rethrows -> R {
        let state = ThreadState.current
        let previous = state.winograd
        state.winograd = policy
        defer { state.winograd = previous }
        return try body()
    }

    /// The BLAS kernel family the engine's matrix products run on (for benchmark reports).
    public static var blasCore: String { BLAS.coreName }

    /// The median round trip, in nanoseconds, of a cache line between the calling thread and
    /// a polling worker over the engine's last few probes (nil before one completed). While
    /// it is above `OUTPOST_SLOW_ROUND_TRIP_NANOSECONDS` (default 200) batch-1 work stays on
    /// one core: see `WorkerPool`. For benchmark reports.
    public static var crossCoreRoundTripNanoseconds: Int? { WorkerPool.shared.medianRoundTripNanoseconds.map { Int($0) } }

    /// Whether this CPU can flush denormals (``withDenormalsFlushed(_:)`` does nothing where not).
    public static var canFlushDenormals: Bool { outpost_flushing_denormals() >= 0 }

    /// Runs `body` with denormal Float and Double values (magnitudes below 1.2e-38 in Float)
    /// read and written as zero, on this thread and on the worker threads that run the
    /// parallel parts of its work; the thread's previous mode is restored afterwards.
    ///
    /// Why: an attack's or a training step's values drift into denormals (products of
    /// saturated sigmoids, vanishing cotangents), and every arithmetic op that meets one takes
    /// a slow microcode path: measured on W4, 1.6x the time of the same work flushed. Such
    /// values are far below anything a gradient-matching loss or an update can resolve.
    /// TensorFlow and XLA run their CPU kernels this way; PyTorch does after
    /// `torch.set_flush_denormal(True)`. The attack runner, local training and the benchmark
    /// run inside this scope.
    public static func withDenormalsFlushed<R>(_ body: () throws -> R) rethrows -> R {
        let previous = outpost_flush_denormals(1)
        defer { if previous >= 0 { outpost_flush_denormals(previous) } }
        return try body()
    }
}

/// Splits `0..<n` into chunks of at least `grain` items and runs them on `Engine.threads`
/// threads. Small loops run inline: handing work to another thread costs more than they do.
@inline(__always)
func parallelFor(_ n: Int, grain: Int, _ body: (Range<Int>) -> Void) {
    let threads = Engine.threads
    if threads <= 1 || n < 2 * grain {
        body(0..<n)
        return
    }
    let chunks = min(threads, (n + grain - 1) / grain)
    let size = (n + chunks - 1) / chunks
    WorkerPool.shared.run(chunks) { c in
        let lo = c * size
        let hi = min(n, lo + size)
        if lo < hi { body(lo..<hi) }
    }
}

/// Runs `body(0) ... body(count - 1)` concurrently (inline when count is 1). The caller
/// chooses `count`, usually at most `Engine.threads`.
@inline(__always)
func parallelChunks(_ count: Int, _ body: (Int) -> Void) {
    if count <= 1 {
        if count == 1 { body(0) }
        return
    }
    WorkerPool.shared.run(count, body)
}
