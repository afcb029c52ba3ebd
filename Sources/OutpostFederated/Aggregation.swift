import OutpostTensor

/// The server's aggregation rules on lists of parameter-shaped tensors.
///
/// Every rule works coordinate by coordinate in `Double` and returns tensors in the
/// payloads' dtype. Payloads are combined in the order given (the simulator passes them in
/// client-id order), so the result does not depend on which thread finished first.
public enum Aggregation {
    /// Combines `payloads` (one list of tensors per client, all with the same shapes and
    /// dtypes) with `rule`; `sampleCounts` are the clients' n_k (used by the weighted mean).
    ///
    /// - Throws: ``FederatedError/aggregation(_:)`` for no payloads, payloads whose shapes
    ///   differ, a sample count list of the wrong length, or weights that do not sum to a
    ///   positive number.
    public static func aggregate(_ payloads: [[Tensor]], sampleCounts: [Int], rule: AggregationRule) throws -> [Tensor] {
        guard let first = payloads.first else { throw FederatedError.aggregation("no payloads to aggregate") }
        guard sampleCounts.count == payloads.count else {
            throw FederatedError.aggregation("\(sampleCounts.count) sample counts for \(payloads.count) payloads")
        }
        for (k, p) in payloads.enumerated() {
            guard p.count == first.count else {
                throw FederatedError.aggregation("payload \(k) has \(p.count) tensors, payload 0 has \(first.count)")
            }
            for (l, (a, b)) in zip(p, first).enumerated() where a.shape != b.shape || a.dtype != b.dtype {
                throw FederatedError.aggregation("payload \(k), tensor \(l) is \(a.dtype) \(a.shape); payload 0 has \(b.dtype) \(b.shape)")
            }
        }
        let weights: [Double]
        switch rule {
        case .weightedMean:
            guard sampleCounts.allSatisfy({ $0 >= 0 }), sampleCounts.reduce(0, +) > 0 else {
                throw FederatedError.aggregation("sample counts \(sampleCounts) must be non-negative with a positive sum")
            }
            let total = Double(sampleCounts.reduce(0, +))
            weights = sampleCounts.map { Double($0) / total }
        case .mean:
            weights = Array(repeating: 1 / Double(payloads.count), count: payloads.count)
        case .median, .trimmedMean:
            weights = []
        }
        return (0..<first.count).map { l in
            let columns = payloads.map { $0[l].doubles }
            let count = first[l].count
            var out = [Double](repeating: 0, count: count)
            switch rule {
            case .weightedMean, .mean:
                for (column, w) in zip(columns, weights) {
                    for j in 0..<count { out[j] += w * column[j] }
                }
            case .median:
                var values = [Double](repeating: 0, count: columns.count)
                for j in 0..<count {
                    for k in columns.indices { values[k] = columns[k][j] }
                    out[j] = median(&values)
                }
            case .trimmedMean(let fraction):
                let trim = Int((fraction * Double(columns.count)).rounded(.down))
                var values = [Double](repeating: 0, count: columns.count)
                for j in 0..<count {
                    for k in columns.indices { values[k] = columns[k][j] }
                    values.sort()
                    var s = 0.0
                    for v in values[trim..<(values.count - trim)] { s += v }
                    out[j] = s / Double(values.count - 2 * trim)
                }
            }
            return Tensor(out, shape: first[l].shape, dtype: first[l].dtype)
        }
    }

    /// The median of `values` (sorted in place): the middle value, or the mean of the two
    /// middle values for an even count. The simulator rejects non-finite payloads before
    /// they get here.
    static func median(_ values: inout [Double]) -> Double {
        values.sort()
        let n = values.count
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2
    }
}
