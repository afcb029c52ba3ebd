// The benchmark workloads and their timing, shared by the `outpost-bench` executable and
// `outpost bench`.
import Foundation
import OutpostAttacks
import OutpostDefenses
import OutpostNN
import OutpostTensor
import OutpostThreatModel

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// One workload's measured rate.
public struct BenchmarkMeasurement: Sendable, Codable {
    public let id: String, name: String, unit: String
    /// Units of work done in `seconds`.
    public let units: Int
    public let seconds: Double
    public var rate: Double { Double(units) / seconds }
}

/// W1's convergence check: the attack run to convergence must recover the image.
public struct ConvergenceCheck: Sendable {
    public let mse: Double, steps: Int, loss: Double
    public var passed: Bool { mse < 1e-3 }
}

/// The benchmark workloads of docs/performance.md, shared by `outpost-bench` and `outpost bench`.
public enum Benchmarks {
    /// The workloads' ids ("W1" ... "W5"), in order.
    public static var ids: [String] { allWorkloads.map(\.id) }

    /// Runs workload `id` for `seconds` after `warmup` seconds (or, with `count`, exactly
    /// `count` chunks after one warm-up chunk, for profilers); nil for an unknown id. With
    /// `flushDenormals` (the default) the workload runs as the attack runner and local
    /// training do, inside `Engine.withDenormalsFlushed`.
    public static func measure(_ id: String, seconds: Double, warmup: Double, count: Int? = nil,
                               flushDenormals: Bool = true) -> BenchmarkMeasurement? {
        guard let make = allWorkloads.first(where: { $0.id == id })?.make else { return nil }
        let run = { OutpostBenchmarks.measure(make, seconds: seconds, warmup: warmup, count: count) }
        return flushDenormals ? Engine.withDenormalsFlushed(run) : run()
    }

    /// W1 run to convergence with the attack itself.
    public static func convergence() throws -> ConvergenceCheck {
        let c = try convergenceCheck()
        return ConvergenceCheck(mse: c.mse, steps: c.steps, loss: c.loss)
    }

    /// Prints Soteria's sensitivities timed both ways.
    public static func soteria() { soteriaTiming() }

    /// Prints every per-step defense's cost on one LeNet gradient; false when OUTPOST is not
    /// at least ten times cheaper than Soteria (the OUTPOST paper's overhead claim).
    public static func defenses() throws -> Bool { try defenseTiming() }

    /// The allocator serving this process's malloc: "jemalloc <version>" where jemalloc
    /// answers (linked into the executables on Linux, or preloaded), else "system".
    public static var allocator: String {
        #if canImport(Glibc)
        typealias Mallctl = @convention(c) (UnsafePointer<CChar>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?,
                                            UnsafeMutableRawPointer?, Int) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallctl") else { return "system" }
        var version: UnsafePointer<CChar>? = nil
        var size = MemoryLayout<UnsafePointer<CChar>?>.size
        let status = withUnsafeMutablePointer(to: &version) {
            unsafeBitCast(symbol, to: Mallctl.self)("version", UnsafeMutableRawPointer($0), &size, nil, 0)
        }
        guard status == 0, let version else { return "jemalloc" }
        // "5.3.0-0-g54eaed1d...": the release is enough.
        return "jemalloc " + (String(cString: version).split(separator: "-").first.map(String.init) ?? "")
        #else
        return "system"
        #endif
    }

    /// One JSON object: engine, threads, BLAS core, allocator, the engine's last cross-core
    /// round trip (`Engine.crossCoreRoundTripNanoseconds`, null before a probe), each
    /// workload's rate and the check.
    public static func json(_ results: [BenchmarkMeasurement], threads: Int, check: ConvergenceCheck?, flushDenormals: Bool = true) -> String {
        var fields: [String] = []
        for m in results {
            fields.append("\"\(m.id)\": {\"name\": \"\(m.name)\", \"unit\": \"\(m.unit)\", \"rate\": \(m.rate), \"units\": \(m.units), \"seconds\": \(m.seconds)}")
        }
        var object = "{\"engine\": \"outpost\", \"threads\": \(threads), \"blas\": \"\(Engine.blasCore)\", \"allocator\": \"\(allocator)\", "
            + "\"round_trip_ns\": \(Engine.crossCoreRoundTripNanoseconds.map(String.init) ?? "null"), "
            + "\"flush_denormals\": \(flushDenormals && Engine.canFlushDenormals), \"workloads\": {\(fields.joined(separator: ", "))}"
        if let check { object += ", \"check\": {\"mse\": \(check.mse), \"steps\": \(check.steps), \"passed\": \(check.passed)}" }
        return object + "}"
    }

    /// A table line for one measurement.
    public static func line(_ m: BenchmarkMeasurement) -> String {
        "\(m.id) \(m.name.padding(toLength: 13, withPad: " ", startingAt: 0)) \(String(format: "%12.2f", m.rate)) \(m.unit)  (\(m.units) in \(String(format: "%.2f", m.seconds)) s)"
    }
}

func measure(_ make: () -> any Workload, seconds: Double, warmup: Double, count: Int?) -> BenchmarkMeasurement {
    var w = make()
    if let count {
        _ = w.run()
        let start = now()
        let units = (0..<count).reduce(0) { s, _ in s + w.run() }
        return BenchmarkMeasurement(id: w.id, name: w.name, unit: w.unit, units: units, seconds: now() - start)
    }
    let warmEnd = now() + warmup
    repeat { _ = w.run() } while now() < warmEnd
    var units = 0
    let start = now()
    var elapsed = 0.0
    repeat {
        units += w.run()
        elapsed = now() - start
    } while elapsed < seconds
    return BenchmarkMeasurement(id: w.id, name: w.name, unit: w.unit, units: units, seconds: elapsed)
}

/// W1 run to convergence with the attack itself (GradientInversion.dlg): the reconstruction
/// must match the true image.
func convergenceCheck() throws -> (mse: Double, steps: Int, loss: Double) {
    let w = DLGLeNet()
    let payload = ClientPayload(kind: .gradient, tensors: w.target, sampleCount: 1)
    let target = try AttackTarget(network: w.net, globalState: w.state, payload: payload,
                                  knowledge: ServerKnowledge(batchSize: 1, normalization: .identity(channels: 3)))
    let outcome = try GradientInversion.dlg(iterations: 300).run(on: target, seed: 0)
    guard let trial = outcome.attackerChoice else { return (.infinity, 0, .nan) }
    let mse = withoutGrad { (trial.pixels - w.truth).squared().mean().item }
    return (mse, trial.iterations, trial.finalLoss)
}

/// Soteria's sensitivities for one local step of W3's model (LeNet, 1×28×28), both ways,
/// at a few batch sizes and replication budgets.
func soteriaTiming() {
    let net = Network.lenet(channels: 1, imageSize: 28, classes: 10)
    let parameters = net.initialState(.pytorchDefault, seed: 1).parameters
    for batch in [1, 8, 32] {
        var rng = RandomGenerator(seed: 7)
        let images = Tensor.uniform([batch, 1, 28, 28], using: &rng)
        let step = LocalStep(network: net, parameters: parameters, buffers: [], images: images,
                             labels: (0..<batch).map { $0 % 10 }, iteration: 1, round: 1, training: true)
        var start = now()
        let before = Soteria.perFeatureSensitivities(step, offset: 0.1)
        let beforeSeconds = now() - start
        print(String(format: "soteria: %d features, batch %d: per-feature passes %.3f s", before.count, batch, beforeSeconds))
        for budget in [1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 25] {
            start = now()
            let after = Soteria.replicatedSensitivities(step, offset: 0.1, budget: budget)
            let afterSeconds = now() - start
            let diff = zip(before, after).map { abs($0 - $1) / max(abs($0), 1e-12) }.max() ?? 0
            print(String(format: "  replicated passes, graph budget 2^%d: %.3f s (%.2fx); max relative difference %.2g",
                         budget.trailingZeroBitCount, afterSeconds, beforeSeconds / afterSeconds, diff))
        }
    }
}

/// Per-step cost of every per-step defense on the DLG LeNet's gradient of one random
/// 3×32×32 image (the OUTPOST paper's overhead axis), as a Markdown table, at OUTPOST's
/// first local iteration (where it always perturbs, its most expensive step).
func defenseTiming() throws -> Bool {
    let net = Network.lenet(channels: 3, imageSize: 32, classes: 10)
    let state = net.initialState(.dlg, seed: 1)
    var rng = RandomGenerator(seed: 1001)
    let images = Tensor.uniform([1] + net.inputShape, using: &rng)
    let step = LocalStep(network: net, parameters: state.parameters, buffers: state.buffers, images: images,
                         labels: [Int(rng.next() % 10)], iteration: 1, round: 1, training: false)
    let gradient = step.gradient(rows: 0..<1)
    let gradientRepetitions = 100
    let start = now()
    for _ in 0..<gradientRepetitions { _ = step.gradient(rows: 0..<1) }
    let gradientSeconds = (now() - start) / Double(gradientRepetitions)
    // Every per-step defense at its defaults, and OUTPOST with its cheaper Fisher estimate too.
    let cases: [(DefenseConfiguration, String?)] = DefenseConfiguration.defaults.filter { $0.level == .step }.flatMap { c in
        c == .outpost(.init()) ? [(c, nil), (.outpost(.init(fisher: .batchMeanSquared)), "OUTPOST (batch-mean Fisher)")] : [(c, nil)]
    }
    var seconds: [String: Double] = [:]
    print("Per-step defense cost, LeNet, one 3×32×32 image (\(Engine.threads) threads):")
    print("| defense | per step (ms) | × one gradient |\n| --- | ---: | ---: |")
    print(String(format: "| (forward + backward) | %.3f | 1 |", gradientSeconds * 1000))
    for (config, label) in cases {
        let defense = try config.makeStepDefense()
        // Soteria takes one backward pass per representation feature: tens of milliseconds.
        let repetitions = config.name == "soteria" ? 5 : 100
        let s = try DefenseTiming.secondsPerStep(defense, gradient: gradient, step: step, repetitions: repetitions)
        let name = label ?? defense.name
        seconds[name] = s
        print(String(format: "| %@ | %.3f | %.1f |", name, s * 1000, s / gradientSeconds))
    }
    let outpost = seconds["OUTPOST"] ?? .nan, soteria = seconds["Soteria"] ?? .nan
    let holds = outpost * 10 < soteria
    print(String(format: "OUTPOST costs %.3g of Soteria per perturbed step (the paper's claim: far cheaper; required: < 0.1): %@",
                 outpost / soteria, holds ? "ok" : "FAILED"))
    return holds
}
