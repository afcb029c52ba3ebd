import OutpostNN
import OutpostTensor
import OutpostThreatModel

/// Label inference from the final layer's gradient, the first step of iDLG and of batch
/// attacks that do not know the labels.
public enum LabelInference {
    /// iDLG (Zhao et al. 2020) for one sample: with cross-entropy, the final layer's bias
    /// gradient is p − y, negative only at the true label; without a bias, each weight row's
    /// gradient is (p_c − y_c)·h with h ≥ 0 after sigmoid/ReLU, so the row sums carry the
    /// same sign.
    public static func singleLabel(finalLayerGradient g: FinalLayerGradient) -> Int {
        let scores = g.perClassScores
        return scores.indices.min { scores[$0] < scores[$1] } ?? 0
    }

    /// Counts of each label in a batch of `batchSize`, from the bias gradient corrected by
    /// the model's mean prediction (the bias-corrected count estimate of Geiping et al.'s
    /// framework, after Wainakh et al.): b_c = mean_n (p_nc − y_nc), so
    /// count_c ≈ B·(p̄_c − b_c), with p̄ the mean softmax of the model on random inputs.
    /// Counts are rounded by largest remainder to sum to B. Returns labels sorted.
    public static func batchLabels(finalLayerGradient g: FinalLayerGradient, batchSize: Int, meanPrediction: [Double]) -> [Int] {
        let b = g.perClassScores
        let estimates = zip(meanPrediction, b).map { max(0, Double(batchSize) * ($0 - $1)) }
        var counts = estimates.map { Int($0.rounded(.down)) }
        var remaining = batchSize - counts.reduce(0, +)
        let order = estimates.indices.sorted { estimates[$0] - Double(counts[$0]) > estimates[$1] - Double(counts[$1]) }
        var i = 0
        while remaining > 0 && !order.isEmpty {
            counts[order[i % order.count]] += 1
            remaining -= 1
            i += 1
        }
        while remaining < 0, let c = counts.indices.filter({ counts[$0] > 0 }).min(by: { estimates[$0] < estimates[$1] }) {
            counts[c] -= 1
            remaining += 1
        }
        return counts.enumerated().flatMap { Array(repeating: $0.offset, count: $0.element) }
    }

    /// The model's mean softmax over `count` random model-space inputs: what a batch's
    /// predictions look like before the labels are known.
    public static func meanPrediction(_ network: Network, _ state: ModelState, count: Int, seed: UInt64) -> [Double] {
        var rng = RandomGenerator(seed: seed)
        let x = Tensor.normal([count] + network.inputShape, dtype: state.parameters[0].dtype, using: &rng)
        return withoutGrad { network(x, state).softmax(axis: 1).mean(axis: 0).doubles }
    }
}

/// The part of a gradient (or of −update) that belongs to the final linear layer.
public struct FinalLayerGradient: Sendable {
    public let weight: Tensor
    public let bias: Tensor?

    /// Finds the final layer in a parameter-ordered list of gradients by the network's
    /// structure.
    public init(network: Network, gradients: [Tensor]) {
        weight = gradients[network.headWeightIndex]
        bias = network.headBiasIndex.map { gradients[$0] }
    }

    /// One score per class whose sign says whether the class is in the batch (negative).
    public var perClassScores: [Double] { bias?.doubles ?? weight.sum(axis: 1).doubles }
}
