// `outpost-bench --ops`: the fixed cost of one small op (allocation, graph bookkeeping,
// dispatch), which batch-1 attacks pay hundreds of times per closure evaluation: W4 runs
// about 430 ops an evaluation, most on tensors of a few thousand elements or fewer.
import Foundation
import OutpostTensor

extension Benchmarks {
    /// Prints nanoseconds per op for an element-wise add and a scale by a constant, on 4 and
    /// on 3,072 elements (one LeNet activation), with grad mode off, and with grad on and one
    /// operand a variable (so that a graph node is recorded).
    public static func opOverhead(seconds: Double) {
        var rng = RandomGenerator(seed: 1)
        print("op                      elements   ns/op (no grad)   ns/op (recording)")
        for count in [4, 3072] {
            let a = Tensor.uniform([count], using: &rng), b = Tensor.uniform([count], using: &rng)
            let variable = a.requiringGrad()
            let ops: [(String, (Tensor) -> Tensor)] = [("add", { $0 + b }), ("mul_scalar", { $0 * 0.5 }), ("sigmoid", { $0.sigmoid() })]
            for (name, op) in ops {
                let plain = nanosecondsPerCall(seconds) { withoutGrad { op(a) } }
                let recording = nanosecondsPerCall(seconds) { op(variable) }
                print("\(name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(String(format: "%9d %17.0f %19.0f", count, plain, recording))")
            }
        }
    }

    private static func nanosecondsPerCall(_ seconds: Double, _ body: () -> Tensor) -> Double {
        var calls = 0, sink = 0
        let start = now()
        var elapsed = 0.0
        repeat {
            for _ in 0..<1000 { sink &+= body().count }
            calls += 1000
            elapsed = now() - start
        } while elapsed < seconds
        precondition(sink > 0)
        return elapsed / Double(calls) * 1e9
    }
}
