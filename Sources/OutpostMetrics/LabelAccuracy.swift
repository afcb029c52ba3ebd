/// Accuracy of recovered labels: how many of `total` labels were recovered.
public struct LabelAccuracy: Sendable, Equatable, CustomStringConvertible {
    /// Number of labels recovered correctly.
    public let correct: Int
    /// Number of labels counted (see the two constructors for what that is).
    public let total: Int

    /// `correct / total`, in [0, 1].
    public var accuracy: Double { Double(correct) / Double(total) }

    /// `"3/4 (75.00%)"`.
    public var description: String { "\(correct)/\(total) (\(formatFixed(100 * accuracy, digits: 2))%)" }

    /// Order-sensitive accuracy: position `i` counts when `predicted[i] == truth[i]`
    /// (for labels optimized jointly with each image, as in DLG/iDLG).
    ///
    /// - Throws: ``MetricsError/emptyBatch(_:)`` for empty lists and
    ///   ``MetricsError/countMismatch(what:expected:actual:)`` when the lengths differ.
    public static func positional(predicted: [Int], truth: [Int]) throws -> LabelAccuracy {
        guard !truth.isEmpty else { throw MetricsError.emptyBatch("no true labels") }
        guard predicted.count == truth.count else {
            throw MetricsError.countMismatch(what: "predicted labels", expected: truth.count, actual: predicted.count)
        }
        let correct = zip(predicted, truth).filter { $0 == $1 }.count
        return LabelAccuracy(correct: correct, total: truth.count)
    }

    /// Order-free accuracy for batch label inference, where only the multiset of labels is
    /// recovered: `correct` = size of the multiset intersection (each label counts
    /// `min(times predicted, times true)` times), `total` = the larger of the two list lengths,
    /// so that missing labels and surplus guesses both lower the score. For lists of equal
    /// length n this is the usual "recovered labels / n".
    ///
    /// - Throws: ``MetricsError/emptyBatch(_:)`` when `truth` is empty.
    public static func multiset(predicted: [Int], truth: [Int]) throws -> LabelAccuracy {
        guard !truth.isEmpty else { throw MetricsError.emptyBatch("no true labels") }
        var remaining = [Int: Int]()
        for label in truth { remaining[label, default: 0] += 1 }
        var correct = 0
        for label in predicted {
            if let left = remaining[label], left > 0 {
                remaining[label] = left - 1
                correct += 1
            }
        }
        return LabelAccuracy(correct: correct, total: max(predicted.count, truth.count))
    }

    /// The label of each row of scores (logits, probabilities or soft labels): the index of its
    /// largest value, the first one on ties.
    ///
    /// - Throws: ``MetricsError/emptyBatch(_:)`` for no rows or an empty row and
    ///   ``MetricsError/invalidScore(row:column:value:)`` for a NaN or infinite score.
    public static func argmaxLabels<T: BinaryFloatingPoint>(_ scores: [[T]]) throws -> [Int] {
        guard !scores.isEmpty else { throw MetricsError.emptyBatch("no score rows") }
        return try scores.enumerated().map { index, row in
            guard !row.isEmpty else { throw MetricsError.emptyBatch("score row \(index) is empty") }
            var best = 0
            for (j, value) in row.enumerated() {
                guard value.isFinite else {
                    throw MetricsError.invalidScore(row: index, column: j, value: "\(Double(value))")
                }
                if value > row[best] { best = j }
            }
            return best
        }
    }
}
