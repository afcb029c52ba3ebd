import Foundation

extension Tensor {
    public func sigmoid() -> Tensor { unaryOp("sigmoid", .sigmoid) { g, out, _ in [g * out * (1 - out)] } }
    public func tanh() -> Tensor { unaryOp("tanh", .tanh) { g, out, _ in [g * (1 - out.squared())] } }
    public func relu() -> Tensor {
        let x = self
        return unaryOp("relu", .relu) { g, _, _ in [g * x.constantMap(.positiveMask(slope: 0))] }
    }
    public func leakyRelu(slope: Double = 0.01) -> Tensor {
        let x = self
        return unaryOp("leaky_relu", .leakyRelu(slope)) { g, _, _ in [g * x.constantMap(.positiveMask(slope: slope))] }
    }
    /// log(1 + e^x), linear above 20 as in PyTorch.
    public func softplus() -> Tensor {
        let x = self
        return unaryOp("softplus", .softplus) { g, _, _ in [g * x.sigmoid()] }
    }
    /// The Gauss error function.
    public func erf() -> Tensor {
        let x = self
        return unaryOp("erf", .erf) { g, _, _ in [g * (x.squared() * -1).exp() * (2 / Double.pi.squareRoot())] }
    }
    /// GELU with the exact normal CDF: x * Φ(x).
    public func gelu() -> Tensor { self * ((self * (1 / 2.0.squareRoot())).erf() + 1) * 0.5 }
}
