import Foundation
import OutpostNN
import OutpostTensor
import OutpostThreatModel

/// The attacker's optimization problem, resolved from an attack's configuration and its
/// target: what is observed, how a dummy batch produces the same kind of observation, and
/// the distance between the two.
struct MatchingProblem {
    let network: Network
    let parameters: [Tensor]
    let buffers: [Tensor]
    let training: Bool
    let observed: [Tensor]
    let distance: GradientInversion.Distance
    let imageCount: Int
    let fixedLabels: [Int]?
    let normalization: PixelNormalization
    let unroll: UnrollPlan?
    /// Σ_l w_l‖g_l‖² of the observation, for the cosine distance.
    let observedNormSquared: Double

    /// The client's local training as the server assumes it.
    struct UnrollPlan {
        let sgd: SGD
        let epochs: Int
        let batchSize: Int
    }

    var dtype: DType { parameters[0].dtype }

    init(_ attack: GradientInversion, _ target: AttackTarget) throws {
        let k = target.knowledge
        network = target.network
        parameters = target.globalState.parameters.map(\.detached)
        buffers = target.globalState.buffers
        training = attack.trainingMode
        distance = attack.distance
        normalization = k.normalization
        let dtype = parameters[0].dtype
        let payload = target.payload.tensors.map { $0.detached.cast(to: dtype) }
        switch attack.matching {
        case .sharedGradient:
            observed = payload
            imageCount = k.batchSize
            unroll = nil
        case .updateAsGradient:
            let n = k.sampleCount!, epochs = k.localEpochs!, lr = k.learningRate!
            let steps = Double(((n + k.batchSize - 1) / k.batchSize) * epochs)
            observed = payload.map { $0 * (-1 / (lr * steps)) }
            imageCount = k.batchSize
            unroll = nil
        case .unrolledUpdate:
            observed = payload
            imageCount = k.sampleCount!
            unroll = UnrollPlan(sgd: try SGD(learningRate: k.learningRate!, momentum: k.momentum ?? 0, weightDecay: k.weightDecay ?? 0),
                                epochs: k.localEpochs!, batchSize: k.batchSize)
        }
        switch attack.labels {
        case .known:
            guard let labels = k.labels, labels.count == imageCount else {
                throw AttackError.invalidConfiguration("known labels: \(k.labels?.count ?? 0) given for \(imageCount) images")
            }
            fixedLabels = labels
        case .inferred:
            // Label evidence is in the gradient's sign; an update points the other way.
            let gradientLike = target.payload.kind == .gradient ? payload : payload.map { -$0 }
            let last = FinalLayerGradient(network: network, gradients: gradientLike)
            if imageCount == 1 {
                fixedLabels = [LabelInference.singleLabel(finalLayerGradient: last)]
            } else {
                let mean = LabelInference.meanPrediction(network, target.globalState, count: max(imageCount, 8), seed: 0)
                fixedLabels = LabelInference.batchLabels(finalLayerGradient: last, batchSize: imageCount, meanPrediction: mean)
            }
        case .optimized:
            fixedLabels = nil
        }
        let weights = Self.layerWeights(distance, count: observed.count)
        observedNormSquared = zip(observed, weights).reduce(0) { $0 + $1.1 * $1.0.sumOfSquares().item }
    }

    static func layerWeights(_ d: GradientInversion.Distance, count: Int) -> [Double] {
        if case .cosine(let w?) = d { return w }
        return Array(repeating: 1, count: count)
    }

    /// Cross-entropy of a dummy batch: hard labels when fixed, softmax of label logits when
    /// optimized (DLG's soft labels).
    func crossEntropy(_ logits: Tensor, labelLogits: Tensor?, rows: Range<Int>) -> Tensor {
        if let fixedLabels { return Loss.crossEntropy(logits, labels: Array(fixedLabels[rows])) }
        let soft = labelLogits!.slice(axis: 0, rows).softmax(axis: 1)
        return Loss.crossEntropy(logits, targets: soft)
    }

    /// The gradient (or unrolled update) the dummy batch produces, differentiable with
    /// respect to the images and label logits.
    func dummyObservation(images: Tensor, labelLogits: Tensor?) -> [Tensor] {
        let start = parameters.map { $0.requiringGrad() }
        guard let plan = unroll else {
            let logits = network(images, parameters: start, buffers: buffers, training: training)
            let loss = crossEntropy(logits, labelLogits: labelLogits, rows: 0..<imageCount)
            return grad(of: loss, wrt: start, createGraph: true)
        }
        var params = start
        var momentum: [Tensor?] = []
        for _ in 0..<plan.epochs {
            var begin = 0
            while begin < imageCount {
                let rows = begin..<min(begin + plan.batchSize, imageCount)
                let logits = network(images.slice(axis: 0, rows), parameters: params, buffers: buffers, training: training)
                let loss = crossEntropy(logits, labelLogits: labelLogits, rows: rows)
                let g = grad(of: loss, wrt: params, createGraph: true)
                (params, momentum) = plan.sgd.functionalStep(parameters: params, gradients: g, momentumBuffers: momentum)
                begin = rows.upperBound
            }
        }
        return zip(params, start).map { $0 - $1 }
    }

    /// The matching loss of a dummy batch.
    func loss(images: Tensor, labelLogits: Tensor?) -> Tensor {
        let dummy = dummyObservation(images: images, labelLogits: labelLogits)
        switch distance {
        case .squaredL2:
            return Tensor.squaredDistance(dummy, observed)
        case .cosine:
            return Tensor.cosineDistance(dummy, observed, targetNormSquared: observedNormSquared,
                                         weights: Self.layerWeights(distance, count: observed.count))
        }
    }
}
