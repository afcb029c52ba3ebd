/// An N-dimensional array of `Float` or `Double` with value semantics and reverse-mode
/// automatic differentiation to any order.
///
/// A tensor is immutable: every op returns a new tensor, and shape-only ops such as
/// `reshaped(_:)` share storage without copying. A tensor that `requiresGrad` carries a
/// node of the autodiff graph; see ``grad(of:wrt:seed:createGraph:)``.
public struct Tensor: @unchecked Sendable {
    /// The extent of each dimension, outermost first.
    public let shape: [Int]
    let buffer: Buffer
    /// The autodiff node that produced this tensor, or the leaf node of a variable.
    var node: Node?

    init(shape: [Int], buffer: Buffer, node: Node? = nil) {
        assert(Shapes.count(shape) == buffer.count, "shape \(shape) does not match \(buffer.count) elements")
        self.shape = shape
        self.buffer = buffer
        self.node = node
    }

    /// The element type.
    public var dtype: DType { buffer.dtype }
    /// Number of elements.
    public var count: Int { buffer.count }
    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Whether gradients flow to or through this tensor.
    public var requiresGrad: Bool { node != nil }
    /// Whether this tensor is a variable created with `requiringGrad()` (a leaf of the graph).
    public var isLeaf: Bool { node?.isLeaf ?? true }

    // MARK: Creation

    /// A Float32 tensor with the given elements in row-major order.
    public init(_ values: [Float], shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(shape)")
        precondition(values.count == Shapes.count(shape), "Tensor: \(values.count) values do not fill shape \(shape)")
        let b = Buffer(count: values.count, dtype: .float32)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { b.pointer(Float.self).update(from: base, count: values.count) }
        }
        self.init(shape: shape, buffer: b)
    }

    /// A Float64 tensor with the given elements in row-major order.
    public init(_ values: [Double], shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(shape)")
        precondition(values.count == Shapes.count(shape), "Tensor: \(values.count) values do not fill shape \(shape)")
        let b = Buffer(count: values.count, dtype: .float64)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { b.pointer(Double.self).update(from: base, count: values.count) }
        }
        self.init(shape: shape, buffer: b)
    }

    /// Elements given as `Double`, stored in `dtype`.
    public init(_ values: [Double], shape: [Int], dtype: DType) {
        switch dtype {
        case .float64: self.init(values, shape: shape)
        case .float32: self.init(values.map { Float($0) }, shape: shape)
        }
    }

    /// A rank-0 tensor.
    public init(scalar: Double, dtype: DType = .float32) {
        self.init([scalar], shape: [], dtype: dtype)
    }

    /// A tensor filled with one value.
    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32) -> Tensor {
        precondition(shape.allSatisfy { $0 >= 0 }, "full: negative dimension in shape \(shape)")
        let b = Buffer(count: Shapes.count(shape), dtype: dtype)
        switch dtype {
        case .float32: b.pointer(Float.self).update(repeating: Float(value), count: b.count)
        case .float64: b.pointer(Double.self).update(repeating: value, count: b.count)
        }
        return Tensor(shape: shape, buffer: b)
    }

    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        precondition(shape.allSatisfy { $0 >= 0 }, "zeros: negative dimension in shape \(shape)")
        return Tensor(shape: shape, buffer: .zeroed(count: Shapes.count(shape), dtype: dtype))
    }

    public static func ones(_ shape: [Int], dtype: DType = .float32) -> Tensor { full(shape, 1, dtype: dtype) }

    /// Zeros with this tensor's shape and dtype.
    public func zerosLike() -> Tensor { .zeros(shape, dtype: dtype) }
    /// Ones with this tensor's shape and dtype.
    public func onesLike() -> Tensor { .ones(shape, dtype: dtype) }

    /// `[0, 1, ..., n-1]`.
    public static func arange(_ n: Int, dtype: DType = .float32) -> Tensor {
        Tensor((0..<n).map(Double.init), shape: [n], dtype: dtype)
    }

    /// A one-hot encoding of class indices: shape `[labels.count, classes]`.
    public static func oneHot(_ labels: [Int], classes: Int, dtype: DType = .float32) -> Tensor {
        var v = [Double](repeating: 0, count: labels.count * classes)
        for (i, l) in labels.enumerated() {
            precondition(l >= 0 && l < classes, "oneHot: label \(l) is outside 0..<\(classes)")
            v[i * classes + l] = 1
        }
        return Tensor(v, shape: [labels.count, classes], dtype: dtype)
    }

    // MARK: Reading

    /// The elements as `Float`, row-major.
    public var scalars: [Float] {
        switch dtype {
        case .float32: return Array(UnsafeBufferPointer(start: buffer.pointer(Float.self), count: count))
        case .float64: return UnsafeBufferPointer(start: buffer.pointer(Double.self), count: count).map { Float($0) }
        }
    }

    /// The elements as `Double`, row-major.
    public var doubles: [Double] {
        switch dtype {
        case .float64: return Array(UnsafeBufferPointer(start: buffer.pointer(Double.self), count: count))
        case .float32: return UnsafeBufferPointer(start: buffer.pointer(Float.self), count: count).map { Double($0) }
        }
    }

    /// The single element of a one-element tensor.
    public var item: Double {
        precondition(count == 1, "item: tensor of shape \(shape) has \(count) elements, not 1")
        switch dtype {
        case .float32: return Double(buffer.pointer(Float.self)[0])
        case .float64: return buffer.pointer(Double.self)[0]
        }
    }

    /// Read-only access to the elements, for code outside the engine that needs raw speed.
    public func withUnsafeScalars<T: TensorScalar, R>(_: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(T.dtype == dtype, "withUnsafeScalars: tensor is \(dtype), asked for \(T.dtype)")
        return try body(UnsafeBufferPointer(start: buffer.pointer(T.self), count: count))
    }

    /// A new constant tensor built by mutating a copy of this one's elements in place
    /// (used by optimizers and defenses). The result does not require grad.
    public func updatingScalars<T: TensorScalar>(_: T.Type, _ body: (UnsafeMutableBufferPointer<T>) throws -> Void) rethrows -> Tensor {
        precondition(T.dtype == dtype, "updatingScalars: tensor is \(dtype), asked for \(T.dtype)")
        let b = buffer.copy()
        try body(UnsafeMutableBufferPointer(start: b.pointer(T.self), count: count))
        return Tensor(shape: shape, buffer: b)
    }

    /// Whether every element is finite (no NaN, no infinity).
    public var isFinite: Bool { Kernels.allFinite(buffer) }

    // MARK: Graph

    /// The graph node behind this tensor, as an opaque object: for identity and leak checks.
    public var graphNode: AnyObject? { node }

    /// The same values, cut off from the autodiff graph.
    public var detached: Tensor { Tensor(shape: shape, buffer: buffer) }

    /// The same values as a new leaf variable: gradients can be taken with respect to it.
    public func requiringGrad() -> Tensor {
        Tensor(shape: shape, buffer: buffer, node: Node(leafShape: shape))
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = doubles.prefix(8).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor(\(dtype), shape: \(shape), [\(shown)\(count > 8 ? ", ..." : "")])"
    }
}
