import OutpostNN
import OutpostTensor
import OutpostThreatModel

/// Closed-form recovery of the input of a model that begins with a fully connected layer
/// (Phong et al.; Geiping et al. §3): for y = Wx + b, ∂L/∂W_i = (∂L/∂b_i)·x for every row i,
/// so any row with a non-zero bias gradient gives x = (∂L/∂W_i) / (∂L/∂b_i). Exact for a
/// single sample (a batch gives a mixture); also exact for a one-step update, whose
/// learning-rate factor cancels in the ratio.
public enum AnalyticRecovery {
    public static func recover(_ target: AttackTarget) throws -> AttackTrial {
        let specs = target.network.parameterSpecs
        guard specs.count >= 2, specs[0].shape.count == 2, case .bias = specs[1].role, specs[1].shape == [specs[0].shape[0]],
              specs[0].shape[1] == target.network.inputShape.reduce(1, *) else {
            throw AttackError.unsupported("analytic recovery needs a model whose first layer is fully connected on the flattened input (with bias); \(target.network.architecture) is not")
        }
        let w = target.payload.tensors[0].doubles, b = target.payload.tensors[1].doubles
        let features = specs[0].shape[1]
        guard let row = b.indices.max(by: { abs(b[$0]) < abs(b[$1]) }), abs(b[row]) > 0 else {
            throw AttackError.unsupported("every bias gradient of the first layer is zero: nothing to divide by")
        }
        let x = (0..<features).map { w[row * features + $0] / b[row] }
        let input = Tensor(x, shape: [1] + target.network.inputShape, dtype: target.globalState.parameters[0].dtype)
        let pixels = withoutGrad { target.knowledge.normalization.denormalize(input).clamped(min: 0, max: 1) }
        return AttackTrial(index: 0, pixels: pixels, labels: [], finalLoss: 0, diverged: false, iterations: 0, history: [], seconds: 0)
    }
}
