import Foundation

/// The element type of a tensor. Computation runs in `float32`; `float64` exists so that
/// gradients can be checked against finite differences without rounding noise.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32
    case float64

    /// Bytes per element.
    public var size: Int { self == .float32 ? 4 : 8 }
    public var description: String { rawValue }
}

/// The scalar types the CPU backend computes in. Kernels are generic over this protocol and
/// specialized for `Float` and `Double`.
public protocol TensorScalar: BinaryFloatingPoint, Sendable {
    static var dtype: DType { get }
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func erf(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
    static func log1p(_ x: Self) -> Self
}

extension Float: TensorScalar {
    public static var dtype: DType { .float32 }
    @inline(__always) public static func exp(_ x: Float) -> Float { Foundation.exp(x) }
    @inline(__always) public static func log(_ x: Float) -> Float { Foundation.log(x) }
    @inline(__always) public static func tanh(_ x: Float) -> Float { Foundation.tanh(x) }
    @inline(__always) public static func erf(_ x: Float) -> Float { Foundation.erf(x) }
    @inline(__always) public static func pow(_ x: Float, _ y: Float) -> Float { Foundation.pow(x, y) }
    @inline(__always) public static func log1p(_ x: Float) -> Float { Foundation.log1p(x) }
}

extension Double: TensorScalar {
    public static var dtype: DType { .float64 }
    @inline(__always) public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) public static func log(_ x: Double) -> Double { Foundation.log(x) }
    @inline(__always) public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    @inline(__always) public static func erf(_ x: Double) -> Double { Foundation.erf(x) }
    @inline(__always) public static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
    @inline(__always) public static func log1p(_ x: Double) -> Double { Foundation.log1p(x) }
}
