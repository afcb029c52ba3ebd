// Convolution as three primitives that are one trilinear form B(x, w, g) = <g, conv(x, w)>
// seen from each side: conv2d = ∂B/∂g, its input gradient = ∂B/∂x, its weight gradient =
// ∂B/∂w. The vector-Jacobian product of each is another of the three, so every derivative
// order of a convolution runs on the same three kernels.

extension Tensor {
    /// 2-D convolution (cross-correlation, as PyTorch) of N×Cin×H×W `self` with
    /// Cout×(Cin/groups)×kh×kw `weight`, plus an optional bias of Cout.
    public func conv2d(_ weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                       dilation: Int = 1, groups: Int = 1) -> Tensor {
        conv2d(weight, bias: bias, geometry: Conv2dGeometry(stride: (stride, stride), padding: (padding, padding),
                                                            dilation: (dilation, dilation), groups: groups))
    }

    public func conv2d(_ weight: Tensor, bias: Tensor? = nil, geometry: Conv2dGeometry) -> Tensor {
        let y = Tensor.convolution(self, weight, geometry)
        guard let bias else { return y }
        precondition(bias.shape == [weight.shape[0]], "conv2d: bias shape \(bias.shape) does not match \(weight.shape[0]) output channels")
        return y + bias.reshaped([1, bias.count, 1, 1])
    }

    static func convProblem(x: [Int], w: [Int], _ geo: Conv2dGeometry, op: String) -> ConvProblem {
        precondition(x.count == 4, "\(op): input must be N×C×H×W, got \(x)")
        precondition(w.count == 4, "\(op): weight must be Cout×Cin/groups×kh×kw, got \(w)")
        let g = geo.groups
        precondition(g >= 1 && x[1] % g == 0 && w[0] % g == 0 && w[1] * g == x[1],
                     "\(op): input \(x) and weight \(w) do not fit groups = \(g)")
        precondition(geo.stride.0 >= 1 && geo.stride.1 >= 1 && geo.dilation.0 >= 1 && geo.dilation.1 >= 1 &&
                     geo.padding.0 >= 0 && geo.padding.1 >= 0, "\(op): invalid stride/padding/dilation")
        let (oh, ow) = geo.outputSize(h: x[2], w: x[3], kh: w[2], kw: w[3])
        precondition(oh > 0 && ow > 0, "\(op): kernel \(w[2])×\(w[3]) does not fit input \(x[2])×\(x[3]) with padding \(geo.padding)")
        return ConvProblem(n: x[0], cin: x[1], h: x[2], w: x[3], cout: w[0], kh: w[2], kw: w[3], oh: oh, ow: ow, geometry: geo)
    }

    static func convolution(_ x: Tensor, _ w: Tensor, _ geo: Conv2dGeometry) -> Tensor {
        let p = convProblem(x: x.shape, w: w.shape, geo, op: "conv2d")
        precondition(x.dtype == w.dtype, "conv2d: dtypes differ (\(x.dtype) vs \(w.dtype))")
        let out = Buffer(count: p.n * p.cout * p.l, dtype: x.dtype)
        switch x.dtype {
        case .float32: Kernels.conv2d(x.buffer, w.buffer.pointer(Float.self), out.pointer(Float.self), p, weight: w.buffer) as Void
        case .float64: Kernels.conv2d(x.buffer, w.buffer.pointer(Double.self), out.pointer(Double.self), p) as Void
        }
        let xShape = x.shape, wShape = w.shape
        return record("conv2d", Tensor(shape: [p.n, p.cout, p.oh, p.ow], buffer: out), [x, w], { g, _, need in
            [need[0] ? convInputGrad(g, w, inputShape: xShape, geo) : nil,
             need[1] ? convWeightGrad(x, g, weightShape: wShape, geo) : nil]
        })
    }

    /// The transposed convolution: the gradient of `conv2d` with respect to its input.
    static func convInputGrad(_ g: Tensor, _ w: Tensor, inputShape: [Int], _ geo: Conv2dGeometry) -> Tensor {
        let p = convProblem(x: inputShape, w: w.shape, geo, op: "conv2d input gradient")
        precondition(g.shape == [p.n, p.cout, p.oh, p.ow], "conv2d input gradient: cotangent \(g.shape) does not match output \([p.n, p.cout, p.oh, p.ow])")
        let out = Buffer(count: Shapes.count(inputShape), dtype: g.dtype)
        switch g.dtype {
        case .float32: Kernels.conv2dInputGrad(g.buffer.pointer(Float.self), w.buffer.pointer(Float.self), out.pointer(Float.self), p, cotangent: g.buffer, weight: w.buffer)
        case .float64: Kernels.conv2dInputGrad(g.buffer.pointer(Double.self), w.buffer.pointer(Double.self), out.pointer(Double.self), p)
        }
        let wShape = w.shape
        return record("conv2d_input_grad", Tensor(shape: inputShape, buffer: out), [g, w], { h, _, need in
            [need[0] ? convolution(h, w, geo) : nil,
             need[1] ? convWeightGrad(h, g, weightShape: wShape, geo) : nil]
        })
    }

    /// The gradient of `conv2d` with respect to its weight.
    static func convWeightGrad(_ x: Tensor, _ g: Tensor, weightShape: [Int], _ geo: Conv2dGeometry) -> Tensor {
        let p = convProblem(x: x.shape, w: weightShape, geo, op: "conv2d weight gradient")
        precondition(g.shape == [p.n, p.cout, p.oh, p.ow], "conv2d weight gradient: cotangent \(g.shape) does not match output \([p.n, p.cout, p.oh, p.ow])")
        let out = Buffer(count: Shapes.count(weightShape), dtype: x.dtype)
        switch x.dtype {
        case .float32: Kernels.conv2dWeightGrad(x.buffer, g.buffer.pointer(Float.self), out.pointer(Float.self), p, cotangent: g.buffer) as Void
        case .float64: Kernels.conv2dWeightGrad(x.buffer, g.buffer.pointer(Double.self), out.pointer(Double.self), p) as Void
        }
        let xShape = x.shape
        return record("conv2d_weight_grad", Tensor(shape: weightShape, buffer: out), [x, g], { h, _, need in
            [need[0] ? convInputGrad(g, h, inputShape: xShape, geo) : nil,
             need[1] ? convolution(x, h, geo) : nil]
        })
    }

    /// Transposed 2-D convolution of N×Cin×H×W `self` with a Cin×Cout×kh×kw weight, as
    /// PyTorch's `conv_transpose2d` (groups = 1, no output padding).
    public func convTranspose2d(_ weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0, dilation: Int = 1) -> Tensor {
        precondition(rank == 4 && weight.rank == 4 && weight.shape[0] == shape[1],
                     "convTranspose2d: input \(shape) and weight \(weight.shape) do not fit")
        let geo = Conv2dGeometry(stride: (stride, stride), padding: (padding, padding), dilation: (dilation, dilation))
        let (kh, kw) = (weight.shape[2], weight.shape[3])
        let oh = (shape[2] - 1) * stride - 2 * padding + dilation * (kh - 1) + 1
        let ow = (shape[3] - 1) * stride - 2 * padding + dilation * (kw - 1) + 1
        let y = Tensor.convInputGrad(self, weight, inputShape: [shape[0], weight.shape[1], oh, ow], geo)
        guard let bias else { return y }
        return y + bias.reshaped([1, bias.count, 1, 1])
    }
}
