// Elementwise arithmetic. Each op is one kernel call plus a vector-Jacobian product written
// in differentiable ops, so the derivative of a derivative comes for free.

extension Tensor {
    @inline(__always)
    func unaryOp(_ name: String, _ op: UnaryOp, _ vjp: @autoclosure () -> VJP) -> Tensor {
        Tensor.record(name, Tensor(shape: shape, buffer: Kernels.unary(buffer, op)), [self], vjp())
    }

    /// An elementwise map whose result is a constant (masks, signs, comparisons).
    @inline(__always)
    func constantMap(_ op: UnaryOp) -> Tensor { Tensor(shape: shape, buffer: Kernels.unary(buffer, op)) }

    static func binaryOp(_ name: String, _ a: Tensor, _ b: Tensor, _ op: BinaryOp, _ vjp: @autoclosure () -> VJP) -> Tensor {
        precondition(a.dtype == b.dtype, "\(name): dtypes differ (\(a.dtype) vs \(b.dtype))")
        guard let shape = Shapes.broadcast(a.shape, b.shape) else {
            preconditionFailure("\(name): shapes \(a.shape) and \(b.shape) cannot be broadcast together")
        }
        let out = Tensor(shape: shape, buffer: Kernels.binary(a.buffer, a.shape, b.buffer, b.shape, op, outShape: shape))
        return record(name, out, [a, b], vjp())
    }

    // MARK: Binary

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        binaryOp("add", a, b, .add, { g, _, n in [n[0] ? g.sum(to: a.shape) : nil, n[1] ? g.sum(to: b.shape) : nil] })
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        binaryOp("sub", a, b, .sub, { g, _, n in [n[0] ? g.sum(to: a.shape) : nil, n[1] ? (-g).sum(to: b.shape) : nil] })
    }

    public static func * (a: Tensor, b: Tensor) -> Tensor {
        binaryOp("mul", a, b, .mul, { g, _, n in [n[0] ? (g * b).sum(to: a.shape) : nil, n[1] ? (g * a).sum(to: b.shape) : nil] })
    }

    public static func / (a: Tensor, b: Tensor) -> Tensor {
        binaryOp("div", a, b, .div, { g, out, n in
            [n[0] ? (g / b).sum(to: a.shape) : nil, n[1] ? (-(g * out) / b).sum(to: b.shape) : nil]
        })
    }

    /// Elementwise a^b.
    public func pow(_ exponent: Tensor) -> Tensor {
        let a = self, b = exponent
        return Tensor.binaryOp("pow", a, b, .pow, { g, out, n in
            [n[0] ? (g * b * a.pow(b - 1)).sum(to: a.shape) : nil,
             n[1] ? (g * out * a.log()).sum(to: b.shape) : nil]
        })
    }

    /// Elementwise maximum; where equal, the gradient is split evenly as in PyTorch.
    public func maximum(_ other: Tensor) -> Tensor {
        let a = self, b = other
        return Tensor.binaryOp("maximum", a, b, .maximum, { g, _, n in
            let (wa, wb) = Tensor.tieWeights(a, b)
            return [n[0] ? (g * wa).sum(to: a.shape) : nil, n[1] ? (g * wb).sum(to: b.shape) : nil]
        })
    }

    /// Elementwise minimum; where equal, the gradient is split evenly as in PyTorch.
    public func minimum(_ other: Tensor) -> Tensor {
        let a = self, b = other
        return Tensor.binaryOp("minimum", a, b, .minimum, { g, _, n in
            let (wa, wb) = Tensor.tieWeights(b, a)
            return [n[0] ? (g * wa).sum(to: a.shape) : nil, n[1] ? (g * wb).sum(to: b.shape) : nil]
        })
    }

    /// Constant weights (1, ½ or 0) saying how much of a max's gradient goes to each side.
    private static func tieWeights(_ a: Tensor, _ b: Tensor) -> (Tensor, Tensor) {
        let greater = a.detached.greater(b.detached), equal = a.detached.equal(b.detached)
        let wa = greater + equal * 0.5
        return (wa, 1 - wa)
    }

    // MARK: Scalars

    public static func + (a: Tensor, s: Double) -> Tensor { a.unaryOp("add_scalar", .addScalar(s), { g, _, _ in [g] }) }
    public static func + (s: Double, a: Tensor) -> Tensor { a + s }
    public static func - (a: Tensor, s: Double) -> Tensor { a + (-s) }
    public static func - (s: Double, a: Tensor) -> Tensor { a.unaryOp("rsub_scalar", .rsubScalar(s), { g, _, _ in [-g] }) }
    public static func * (a: Tensor, s: Double) -> Tensor { a.unaryOp("mul_scalar", .mulScalar(s), { g, _, _ in [g * s] }) }
    public static func * (s: Double, a: Tensor) -> Tensor { a * s }
    public static func / (a: Tensor, s: Double) -> Tensor { a * (1 / s) }
    public static func / (s: Double, a: Tensor) -> Tensor {
        a.unaryOp("rdiv_scalar", .rdivScalar(s), { g, out, _ in [-g * out / a] })
    }
    public static prefix func - (a: Tensor) -> Tensor { a.unaryOp("neg", .neg, { g, _, _ in [-g] }) }

    /// Elementwise x^p for a constant exponent.
    public func pow(_ p: Double) -> Tensor {
        let x = self
        return unaryOp("pow_scalar", .powScalar(p), { g, _, _ in
            [p == 2 ? g * x * 2 : (p == 1 ? g : g * x.pow(p - 1) * p)]
        })
    }

    // MARK: Unary math

    public func squared() -> Tensor { let x = self; return unaryOp("square", .square, { g, _, _ in [g * x * 2] }) }
    public func sqrt() -> Tensor { unaryOp("sqrt", .sqrt, { g, out, _ in [g / (out * 2)] }) }
    public func exp() -> Tensor { unaryOp("exp", .exp, { g, out, _ in [g * out] }) }
    public func log() -> Tensor { let x = self; return unaryOp("log", .log, { g, _, _ in [g / x] }) }
    public func abs() -> Tensor { let x = self; return unaryOp("abs", .abs, { g, _, _ in [g * x.sign()] }) }
    /// -1, 0 or 1; a constant (its derivative is zero almost everywhere).
    public func sign() -> Tensor { constantMap(.sign) }
    public func reciprocal() -> Tensor { unaryOp("reciprocal", .reciprocal, { g, out, _ in [-g * out * out] }) }

    /// Limits values to [lo, hi]; the gradient passes where lo <= x <= hi, as in PyTorch.
    public func clamped(min lo: Double = -.infinity, max hi: Double = .infinity) -> Tensor {
        let x = self
        return unaryOp("clamp", .clamp(lo, hi), { g, _, _ in [g * x.constantMap(.inRange(lo, hi))] })
    }

    /// Elementwise `condition ? a : b`, where `condition` holds 1 (true) or 0 (false) and the
    /// three shapes broadcast together.
    public static func select(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let c = condition.detached
        let keep = c.constantMap(.greaterThan(0.5))
        guard let shape = Shapes.broadcast(Shapes.broadcast(c.shape, a.shape) ?? [-1], b.shape), !shape.contains(-1) else {
            preconditionFailure("select: shapes \(c.shape), \(a.shape) and \(b.shape) cannot be broadcast together")
        }
        let ka = keep.expanded(to: shape), ea = a.expanded(to: shape), eb = b.expanded(to: shape)
        // Blend with a mask rather than arithmetic so an infinity on the unchosen side
        // cannot turn into NaN.
        let out = Tensor(shape: shape, buffer: Kernels.select(ka.buffer, ea.detached.buffer, eb.detached.buffer))
        return record("select", out, [ea, eb], { g, _, n in
            let zero = g.zerosLike()
            return [n[0] ? select(ka, g, zero) : nil, n[1] ? select(ka, zero, g) : nil]
        })
    }

    // MARK: Comparisons (constant masks of 1 and 0)

    public func greater(_ other: Tensor) -> Tensor { Tensor.constantBinary(self, other, .greater) }
    public func equal(_ other: Tensor) -> Tensor { Tensor.constantBinary(self, other, .equal) }
    public func greater(_ c: Double) -> Tensor { constantMap(.greaterThan(c)) }
    public func less(_ c: Double) -> Tensor { constantMap(.lessThan(c)) }
    /// 1 where the element is NaN.
    public func isNaNMask() -> Tensor { constantMap(.isNaNMask) }

    static func constantBinary(_ a: Tensor, _ b: Tensor, _ op: BinaryOp) -> Tensor {
        guard let shape = Shapes.broadcast(a.shape, b.shape) else {
            preconditionFailure("comparison: shapes \(a.shape) and \(b.shape) cannot be broadcast together")
        }
        return Tensor(shape: shape, buffer: Kernels.binary(a.buffer, a.shape, b.buffer, b.shape, op, outShape: shape))
    }

    /// The same values in another dtype; gradients are cast back.
    public func cast(to dtype: DType) -> Tensor {
        if dtype == self.dtype { return self }
        let from = self.dtype
        return Tensor.record("cast", Tensor(shape: shape, buffer: Kernels.cast(buffer, to: dtype)), [self], { g, _, _ in [g.cast(to: from)] })
    }
}

extension Kernels {
    static func select(_ mask: Buffer, _ a: Buffer, _ b: Buffer) -> Buffer {
        let out = Buffer(count: mask.count, dtype: a.dtype)
        switch a.dtype {
        case .float32:
            let m = mask.pointer(Float.self), x = a.pointer(Float.self), y = b.pointer(Float.self), o = out.pointer(Float.self)
            for i in 0..<out.count { o[i] = m[i] != 0 ? x[i] : y[i] }
        case .float64:
            let m = mask.pointer(Double.self), x = a.pointer(Double.self), y = b.pointer(Double.self), o = out.pointer(Double.self)
            for i in 0..<out.count { o[i] = m[i] != 0 ? x[i] : y[i] }
        }
        return out
    }
}
