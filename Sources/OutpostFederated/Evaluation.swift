import Dispatch
import Foundation
import OutpostData
import OutpostNN
import OutpostTensor

/// Test-set evaluation of a model in inference mode (batch norm on running statistics).
public enum ModelEvaluation {
    /// Accuracy and mean cross-entropy of `state` on the first `limit` images of `dataset`
    /// (all when nil), in batches of `batchSize`, with `threads` batches at a time.
    ///
    /// Images are normalized with `normalization` when given. Per-batch sums are combined
    /// in batch order, so the result does not depend on `threads`; the engine's own
    /// threads are set to 1 while batches run and restored afterwards. Throws
    /// ``FederatedConfigurationError`` for a batch size below 1 or images of another shape
    /// than the network's input.
    public static func evaluate(network: Network, state: ModelState, dataset: ImageDataset, normalization: Normalization?,
                                batchSize: Int = 500, limit: Int? = nil, threads: Int = 1) throws -> EvaluationResult {
        guard batchSize >= 1 else {
            throw FederatedConfigurationError.invalidField(field: "evaluation.batchSize", value: "\(batchSize)", requirement: "at least 1")
        }
        let count = min(limit ?? dataset.count, dataset.count)
        guard count > 0 else { return EvaluationResult(accuracy: 0, loss: 0, sampleCount: 0) }
        guard dataset.imageShape == network.inputShape else {
            throw FederatedConfigurationError.incompatibleData(
                "test images are \(dataset.imageShape), the \(network.architecture) expects \(network.inputShape)")
        }
        let dtype = state.parameters.first?.dtype ?? .float32
        let batches = stride(from: 0, to: count, by: batchSize).map { $0..<min($0 + batchSize, count) }
        let slots = ResultSlots<(correct: Int, lossSum: Double)>(count: batches.count)
        func evaluateBatch(_ b: Int) throws {
            let range = batches[b]
            var pixels = try dataset.batch(range).images
            if let normalization { pixels = normalization.normalize(pixels, planeSize: dataset.height * dataset.width) }
            let x = Tensor(pixels, shape: [range.count] + dataset.imageShape).cast(to: dtype)
            let labels = Array(dataset.labels[range])
            let (correct, loss) = withoutGrad { () -> (Int, Double) in
                let logits = network(x, state, training: false)
                let classes = logits.shape[1]
                let values = logits.doubles
                var correct = 0
                for (i, label) in labels.enumerated() {
                    let row = values[(i * classes)..<((i + 1) * classes)]
                    var best = row.startIndex
                    for j in row.indices where row[j] > row[best] { best = j }
                    if best - row.startIndex == label { correct += 1 }
                }
                return (correct, Loss.crossEntropy(logits, labels: labels).item * Double(labels.count))
            }
            slots.set(b, (correct, loss))
        }
        try runInParallel(count: batches.count, threads: threads, evaluateBatch)
        var correct = 0, lossSum = 0.0
        for b in 0..<batches.count {
            let r = slots.value(b)!
            correct += r.correct
            lossSum += r.lossSum
        }
        return EvaluationResult(accuracy: Double(correct) / Double(count), loss: lossSum / Double(count), sampleCount: count)
    }
}

/// Results written by parallel workers, one slot per task, read back in task order.
final class ResultSlots<Value>: @unchecked Sendable {
    private var values: [Value?]
    private let lock = NSLock()

    init(count: Int) { values = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: Value) { lock.withLock { values[index] = value } }
    func value(_ index: Int) -> Value? { lock.withLock { values[index] } }
}

/// Runs `body(0..<count)` on `threads` workers that take tasks in order from a shared
/// counter, with the engine's kernel threads set to 1 meanwhile (so that every task
/// computes exactly what it would alone). An error stops workers from taking new tasks;
/// the error of the lowest failed task is rethrown, which is the one a sequential run
/// would have stopped at (every lower task was taken before the first failure).
func runInParallel(count: Int, threads: Int, _ body: (Int) throws -> Void) throws {
    guard count > 0 else { return }
    let savedThreads = Engine.threads
    Engine.threads = 1
    defer { Engine.threads = savedThreads }
    let workers = max(1, min(threads, count))
    if workers == 1 {
        for i in 0..<count { try body(i) }
        return
    }
    let queue = TaskQueue(count: count)
    withoutActuallyEscaping(body) { body in
        let box = UncheckedBox(body)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let task = queue.next() {
                do { try box.value(task) } catch { queue.fail(task, error) }
            }
        }
    }
    if let error = queue.error { throw error }
}

/// Hands out task indices in order and records the failure of the lowest task.
private final class TaskQueue: @unchecked Sendable {
    private let count: Int
    private var nextTask = 0
    private var failure: (task: Int, error: any Error)?
    private let lock = NSLock()

    init(count: Int) { self.count = count }

    func next() -> Int? {
        lock.withLock {
            guard failure == nil, nextTask < count else { return nil }
            defer { nextTask += 1 }
            return nextTask
        }
    }

    func fail(_ task: Int, _ error: any Error) {
        lock.withLock { if failure == nil || task < failure!.task { failure = (task, error) } }
    }

    var error: (any Error)? { lock.withLock { failure?.error } }
}

/// Carries a non-Sendable closure into `concurrentPerform`; the workers only call it,
/// each with its own task index, and every shared write goes through a lock.
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
