// outpost-bench: the workloads of docs/performance.md, each run for a fixed time after a
// warm-up, reported as a table or (with --json) as one JSON object. scripts/bench/compare.sh
// runs it interleaved with the PyTorch peer (scripts/bench/torch_workloads.py).
import Foundation
#if canImport(CJemalloc)
import CJemalloc  // links jemalloc as the process's allocator (see Package.swift)
#endif
import OutpostBenchmarks
import OutpostTensor

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
    /// Time every per-step defense instead of the workloads.
    var defenses = false
    /// Time the wide 3×3 convolutions' kernels, Winograd against im2col.
    var conv = false
    var ops = false
    /// Run the workloads without flushing denormals (the engine's behaviour outside its scopes).
    var keepDenormals = false
}

func usage() -> Never {
    print("""
    usage: outpost-bench [--seconds S] [--warmup S] [--threads N] [--only W1,W3] [--json] [--check | --check-only]
                         [--keep-denormals] | --soteria | --conv | --defenses | --ops

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
      --keep-denormals  run the workloads without flushing denormal floats to zero (by
                    default they run inside Engine.withDenormalsFlushed, as attacks and
                    local training do)
      --soteria     instead of the workloads: time one local step's Soteria sensitivities
                    (W3's LeNet on 1x28x28, batches 1, 8, 32) with one backward pass per
                    feature and with replicated-batch passes at several graph budgets,
                    and compare their results
      --defenses    instead of the workloads: time every per-step defense on the DLG
                    LeNet's gradient of one 3x32x32 image, as a table (exit 1 unless
                    OUTPOST costs less than a tenth of Soteria)
      --conv        instead of the workloads: time W2's and W5's wide 3x3 convolutions
                    kernel by kernel, Winograd F(2x2, 3x3) against im2col (--seconds each;
                    --only: shapes whose names start with one of the list, e.g. 'W5 64')
      --ops         instead of the workloads: nanoseconds per small op (add, scale, sigmoid on
                    4 and 3,072 elements), with grad off and while recording (--seconds each)
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
        case "--defenses": o.defenses = true
        case "--conv": o.conv = true
        case "--ops": o.ops = true
        case "--keep-denormals": o.keepDenormals = true
        default: usage()
        }
    }
    return o
}

let options = parseOptions()
Engine.threads = options.threads
if options.conv {
    Benchmarks.convolutionTiming(seconds: options.seconds, only: options.only)
    exit(0)
}
if options.ops {
    Engine.withDenormalsFlushed { Benchmarks.opOverhead(seconds: options.seconds) }
    exit(0)
}
if options.soteria {
    Benchmarks.soteria()
    exit(0)
}
if options.defenses {
    exit(try Benchmarks.defenses() ? 0 : 1)
}
var results: [BenchmarkMeasurement] = []
if !options.checkOnly {
    for id in Benchmarks.ids where options.only?.contains(id) ?? true {
        guard let m = Benchmarks.measure(id, seconds: options.seconds, warmup: options.warmup, count: options.count,
                                              flushDenormals: !options.keepDenormals) else { continue }
        results.append(m)
        if !options.json { print(Benchmarks.line(m)) }
    }
}

var check: ConvergenceCheck? = nil
if options.check {
    check = try Benchmarks.convergence()
    if !options.json {
        print(String(format: "check: W1 to convergence: MSE %.3g after %d L-BFGS steps (loss %.3g): %@", check!.mse, check!.steps, check!.loss,
                     check!.mse < 1e-3 ? "ok" : "FAILED"))
    }
}

if options.json { print(Benchmarks.json(results, threads: options.threads, check: check, flushDenormals: !options.keepDenormals)) }
if let check, !check.passed { exit(1) }
