// outpost-bench: the workloads of docs/performance.md, each run for a fixed time after a
// warm-up, reported as a table or (with --json) as one JSON object. scripts/bench/compare.sh
// runs it interleaved with the PyTorch peer (scripts/bench/torch_workloads.py).
import Foundation
import OutpostAttacks
import OutpostDefenses
import OutpostNN
import OutpostTensor
import OutpostThreatModel

struct Options {
    var seconds = 5.0
    var warmup = 1.0
    var json = false
    var check = false
    var checkOnly = false
    var threads = 2
    var only: [String]? = nil
    /// Run exactly this many chunks (after one warm-up chunk) instead of timing: for profilers.
    var count: Int? = nil
    /// Time Soteria's sensitivities instead of the workloads.
    var soteria = false
}

func usage() -> Never {
    print("""
    usage: outpost-bench [--seconds S] [--warmup S] [--threads N] [--only W1,W3] [--json] [--check | --check-only]

      --seconds S   timed seconds per workload (default 5)
      --warmup S    untimed seconds per workload before timing (default 1)
      --threads N   engine and OpenBLAS threads (default 2)
      --only LIST   run these workloads (W1 dlg-lenet, W2 ig-resnet18, W3 fedavg-lenet,
                    W4 delta-lenet, W5 ig-convnet); default all
      --count N     instead of timing, run N chunks of work after one warm-up chunk
                    (for instruction-counting profilers such as callgrind)
      --json        print one JSON object instead of the table
      --check       after the timed part, run W1's attack to convergence and require
                    MSE < 1e-3 to the true image (exit 1 otherwise)
      --check-only  only the convergence check
      --soteria     instead of the workloads: time one local step's Soteria sensitivities
                    (W3's LeNet on 1x28x28, batches 1, 8, 32) with one backward pass per
                    feature and with replicated-batch passes at several graph budgets,
                    and compare their results
    """)
    exit(2)
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst().makeIterator()
    while let a = args.next() {
        func value() -> String { guard let v = args.next() else { usage() }; return v }
        switch a {
        case "--seconds": o.seconds = Double(value()) ?? { usage() }()
        case "--warmup": o.warmup = Double(value()) ?? { usage() }()
        case "--threads": o.threads = Int(value()) ?? { usage() }()
        case "--only": o.only = value().split(separator: ",").map { $0.uppercased() }
        case "--count": o.count = Int(value()) ?? { usage() }()
        case "--json": o.json = true
        case "--check": o.check = true
        case "--check-only": o.check = true; o.checkOnly = true
        case "--soteria": o.soteria = true
        default: usage()
        }
    }
    return o
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

struct Measurement {
    let id: String, name: String, unit: String
    let units: Int
    let seconds: Double
    var rate: Double { Double(units) / seconds }
}

func measure(_ make: () -> any Workload, seconds: Double, warmup: Double, count: Int?) -> Measurement {
    var w = make()
    if let count {
        _ = w.run()
        let start = now()
        let units = (0..<count).reduce(0) { s, _ in s + w.run() }
        return Measurement(id: w.id, name: w.name, unit: w.unit, units: units, seconds: now() - start)
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
    return Measurement(id: w.id, name: w.name, unit: w.unit, units: units, seconds: elapsed)
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

let options = parseOptions()
Engine.threads = options.threads
if options.soteria {
    soteriaTiming()
    exit(0)
}
var results: [Measurement] = []
if !options.checkOnly {
    for (id, make) in allWorkloads where options.only?.contains(id) ?? true {
        results.append(measure(make, seconds: options.seconds, warmup: options.warmup, count: options.count))
        if !options.json {
            let m = results.last!
            print("\(m.id) \(m.name.padding(toLength: 13, withPad: " ", startingAt: 0)) \(String(format: "%12.2f", m.rate)) \(m.unit)  (\(m.units) in \(String(format: "%.2f", m.seconds)) s)")
        }
    }
}

var check: (mse: Double, steps: Int, loss: Double)? = nil
if options.check {
    check = try convergenceCheck()
    if !options.json {
        print(String(format: "check: W1 to convergence: MSE %.3g after %d L-BFGS steps (loss %.3g): %@", check!.mse, check!.steps, check!.loss,
                     check!.mse < 1e-3 ? "ok" : "FAILED"))
    }
}

if options.json {
    var fields: [String] = []
    for m in results {
        fields.append("\"\(m.id)\": {\"name\": \"\(m.name)\", \"unit\": \"\(m.unit)\", \"rate\": \(m.rate), \"units\": \(m.units), \"seconds\": \(m.seconds)}")
    }
    var object = "{\"engine\": \"outpost\", \"threads\": \(options.threads), \"blas\": \"\(Engine.blasCore)\", \"workloads\": {\(fields.joined(separator: ", "))}"
    if let check { object += ", \"check\": {\"mse\": \(check.mse), \"steps\": \(check.steps), \"passed\": \(check.mse < 1e-3)}" }
    print(object + "}")
}
if let check, !(check.mse < 1e-3) { exit(1) }
