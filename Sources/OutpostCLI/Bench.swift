import ArgumentParser
import Foundation
import OutpostBenchmarks
import OutpostTensor

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the engine on the benchmark workloads (W1-W5 of docs/performance.md).",
        discussion: """
        Each workload runs for --seconds after --warmup seconds and reports its rate: W1 dlg-lenet and W4
        delta-lenet in L-BFGS closure evaluations per second, W2 ig-resnet18 and W5 ig-convnet in attack
        iterations per second, W3 fedavg-lenet in training samples per second. scripts/bench/compare.sh runs
        the same workloads in PyTorch, interleaved, and prints the ratios.

        Examples:
          outpost bench
          outpost bench --only W1,W4 --seconds 10 --json
          outpost bench --check          (also run W1 to convergence: MSE < 1e-3 or exit 1)
        """)

    @Option(help: "Timed seconds per workload.")
    var seconds: Double = 5
    @Option(help: "Untimed warm-up seconds per workload.")
    var warmup: Double = 1
    @Option(help: "Workloads to run, comma separated (default: all).")
    var only: String?
    @Flag(help: "After timing, run W1's attack to convergence and require MSE < 1e-3.")
    var check = false
    @Option(name: .long, help: "Engine and OpenBLAS threads (default 2, as the PyTorch peer).")
    var threads: Int = 2
    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard seconds > 0, warmup >= 0 else { throw ValidationError("--seconds must be > 0 and --warmup ≥ 0") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        if let only {
            for id in only.split(separator: ",").map({ $0.uppercased() }) where !Benchmarks.ids.contains(id) {
                throw ValidationError("unknown workload \(id) (workloads: \(Benchmarks.ids.joined(separator: ", ")))")
            }
        }
    }

    func run() throws {
        Engine.threads = threads
        let selected = only.map { $0.split(separator: ",").map { $0.uppercased() } } ?? Benchmarks.ids
        var results: [BenchmarkMeasurement] = []
        for id in Benchmarks.ids where selected.contains(id) {
            guard let m = Benchmarks.measure(id, seconds: seconds, warmup: warmup) else { continue }
            results.append(m)
            if !json { print(Benchmarks.line(m)) }
        }
        let outcome = check ? try Benchmarks.convergence() : nil
        if let outcome, !json {
            print(String(format: "check: W1 to convergence: MSE %.3g after %d L-BFGS steps: %@", outcome.mse, outcome.steps, outcome.passed ? "ok" : "FAILED"))
        }
        if json { print(Benchmarks.json(results, threads: threads, check: outcome)) }
        if let outcome, !outcome.passed { throw ExitCode(1) }
    }
}
