import Foundation

extension Tensor {
    public func sigmoid() -> Tensor { unaryOp("sigmoid", .sigmoid, { g, out, _ in [Tensor.sigmoidBackward(g, out)] }) }

    /// g · s · (1 − s), the cotangent g through a sigmoid whose output is s: one op where
    /// the rule written out takes three, with the same roundings in the same order. Attacks
    /// differentiate it again, so it has its own rule.
    static func sigmoidBackward(_ g: Tensor, _ s: Tensor) -> Tensor {
        precondition(g.shape == s.shape, "sigmoid backward: cotangent \(g.shape) does not match output \(s.shape)")
        return binaryOp("sigmoid_backward", g, s, .sigmoidBackward, { c, _, needs in
            [needs[0] ? sigmoidBackward(c, s) : nil, needs[1] ? c * g * (1 - s * 2) : nil]
        })
    }
    public func tanh() -> Tensor { unaryOp("tanh", .tanh, { g, out, _ in [g * (1 - out.squared())] }) }
    public func relu() -> Tensor {
        let x = self
        return unaryOp("relu", .relu, { g, _, _ in [g * x.constantMap(.positiveMask(slope: 0))] })
    }
    public func leakyRelu(slope: Double = 0.01) -> Tensor {
        let x = self
        return unaryOp("leaky_relu", .leakyRelu(slope), { g, _, _ in [g * x.constantMap(.positiveMask(slope: slope))] })
    }
    /// log(1 + e^x), linear above 20 as in PyTorch.
    public func softplus() -> Tensor {
        let x = self
        return unaryOp("softplus", .softplus, { g, _, _ in [g * x.sigmoid()] })
    }
    /// The Gauss error function.
    public func erf() -> Tensor {
        let x = self
        return unaryOp("erf", .erf, { g, _, _ in [g * (x.squared() * -1).exp() * (2 / Double.pi.squareRoot())] })
    }
    /// GELU with the exact normal CDF: x * Φ(x).
    public func gelu() -> Tensor { self * ((self * (1 / 2.0.squareRoot())).erf() + 1) * 0.5 }
}
