#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-thread engine state: grad mode and anomaly detection. Thread-local so that clients
/// training in parallel threads cannot switch each other's grad mode off.
final class ThreadState {
    var gradEnabled = true
    var detectAnomalies = false
    var firstAnomaly: Anomaly?
    var referenceGEMM = false
    var im2colConvolution = false
    var winograd = Engine.WinogradPolicy.shapeRule

    /// The choices a thread's ops read (grad mode and kernel choices; not anomaly
    /// detection), to carry them to another thread that does part of this one's work.
    struct Settings {
        var gradEnabled: Bool
        var referenceGEMM: Bool
        var im2colConvolution: Bool
        var winograd: Engine.WinogradPolicy
    }

    var settings: Settings {
        get { Settings(gradEnabled: gradEnabled, referenceGEMM: referenceGEMM, im2colConvolution: im2colConvolution, winograd: winograd) }
        set {
            gradEnabled = newValue.gradEnabled
            referenceGEMM = newValue.referenceGEMM
            im2colConvolution = newValue.im2colConvolution
            winograd = newValue.winograd
        }
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            #if canImport(Darwin)
            Unmanaged<ThreadState>.fromOpaque(pointer).release()
            #else
            if let pointer { Unmanaged<ThreadState>.fromOpaque(pointer).release() }
            #endif
        }
        return key
    }()

    static var current: ThreadState {
        if let raw = pthread_getspecific(key) {
            return Unmanaged<ThreadState>.fromOpaque(raw).takeUnretainedValue()
        }
        let state = ThreadState()
        pthread_setspecific(key, Unmanaged.passRetained(state).toOpaque())
        return state
    }

    func check(_ result: Tensor, op: String, inputs: [Tensor]) {
        guard firstAnomaly == nil, !result.isFinite else { return }
        firstAnomaly = Anomaly(op: op, inputShapes: inputs.map(\.shape), outputShape: result.shape,
                               inputsWereFinite: inputs.allSatisfy(\.isFinite))
    }
}

/// The first op that produced a NaN or an infinity while anomaly detection was on.
public struct Anomaly: Sendable, Equatable, CustomStringConvertible {
    public let op: String
    public let inputShapes: [[Int]]
    public let outputShape: [Int]
    /// False when the non-finite value was already in an input (the op only passed it on).
    public let inputsWereFinite: Bool

    public var description: String {
        "\(op) produced a non-finite value (inputs \(inputShapes.map { "\($0)" }.joined(separator: ", ")) -> \(outputShape))"
            + (inputsWereFinite ? "" : "; an input was already non-finite")
    }
}

/// Runs `body` with gradient recording off: results carry no graph (PyTorch's `no_grad`).
public func withoutGrad<R>(_ body: () throws -> R) rethrows -> R {
    let state = ThreadState.current
    let saved = state.gradEnabled
    state.gradEnabled = false
    defer { state.gradEnabled = saved }
    return try body()
}

/// Runs `body` with gradient recording set as given.
public func withGradEnabled<R>(_ enabled: Bool, _ body: () throws -> R) rethrows -> R {
    let state = ThreadState.current
    let saved = state.gradEnabled
    state.gradEnabled = enabled
    defer { state.gradEnabled = saved }
    return try body()
}

/// Whether ops on this thread record the graph.
public var isGradEnabled: Bool { ThreadState.current.gradEnabled }

/// Runs `body` checking every op's output for NaN and infinity, and returns the first op
/// that produced one (nil if none did). Costs one scan of each result: use it to find where
/// an optimization diverged, not in production loops.
public func detectingAnomalies<R>(_ body: () throws -> R) rethrows -> (result: R, anomaly: Anomaly?) {
    let state = ThreadState.current
    let saved = (state.detectAnomalies, state.firstAnomaly)
    state.detectAnomalies = true
    state.firstAnomaly = nil
    defer { (state.detectAnomalies, state.firstAnomaly) = saved }
    let r = try body()
    return (r, state.firstAnomaly)
}
