import Foundation
import OutpostTensor

/// How a model's parameters are drawn. All schemes are seeded and reproducible.
public enum Initialization: Sendable, Equatable {
    /// PyTorch's layer defaults: weights Kaiming-uniform with a = √5 (bound 1/√fan_in),
    /// biases uniform(±1/√fan_in), normalization scale 1 and shift 0.
    case pytorchDefault
    /// Every parameter, including normalization ones, uniform in [low, high]: what the DLG
    /// paper's code does with (−0.5, 0.5).
    case uniform(low: Double, high: Double)
    /// Xavier (Glorot) uniform weights, gain 1; biases 0; normalization 1/0.
    case xavierUniform
    /// Xavier (Glorot) normal weights, gain 1; biases 0; normalization 1/0.
    case xavierNormal
    /// Kaiming (He) normal weights for ReLU (gain √2) over fan-in or fan-out (torchvision's
    /// ResNet uses fan-out); biases 0; normalization 1/0.
    case kaimingNormal(fanOut: Bool)

    /// The DLG paper's explicit wide initialization.
    public static let dlg = Initialization.uniform(low: -0.5, high: 0.5)

    func sample(_ spec: ParameterSpec, rng: inout RandomGenerator, dtype: DType) -> Tensor {
        let shape = spec.shape
        func uniform(_ bound: Double) -> Tensor { .uniform(shape, low: -bound, high: bound, dtype: dtype, using: &rng) }
        switch (self, spec.role) {
        case let (.uniform(low, high), _):
            return .uniform(shape, low: low, high: high, dtype: dtype, using: &rng)
        case (_, .normScale):
            return .ones(shape, dtype: dtype)
        case (_, .normShift):
            return .zeros(shape, dtype: dtype)
        case let (.pytorchDefault, .weight(fanIn, _)), let (.pytorchDefault, .bias(fanIn)):
            return uniform(1 / Double(fanIn).squareRoot())
        case (_, .bias):
            return .zeros(shape, dtype: dtype)
        case let (.xavierUniform, .weight(fanIn, fanOut)):
            return uniform((6 / Double(fanIn + fanOut)).squareRoot())
        case let (.xavierNormal, .weight(fanIn, fanOut)):
            return .normal(shape, std: (2 / Double(fanIn + fanOut)).squareRoot(), dtype: dtype, using: &rng)
        case let (.kaimingNormal(useFanOut), .weight(fanIn, fanOut)):
            return .normal(shape, std: (2 / Double(useFanOut ? fanOut : fanIn)).squareRoot(), dtype: dtype, using: &rng)
        }
    }
}
