/// An element type of a safetensors tensor, spelled as in the file header.
///
/// The cases are exactly the dtype strings that the reference implementation
/// (huggingface/safetensors 0.8) accepts; any other string in a header is
/// rejected with ``SafetensorsError/unknownDType(file:key:dtype:)``.
///
/// Every dtype can be read and written as raw bytes. Numeric conversion is
/// offered for the floating-point types `F16`, `BF16`, `F32`, `F64`
/// (to `Float`/`Double`) and for the integer and boolean types (see
/// ``SafetensorsValues``). The 8-bit, 6-bit and 4-bit float formats and `C64`
/// are carried as raw data only.
public enum SafetensorsDType: String, CaseIterable, Sendable, Hashable {
    /// Boolean, one byte per element (zero is false).
    case bool = "BOOL"
    /// 4-bit float (E2M1), two elements per byte; raw only.
    case f4 = "F4"
    /// 6-bit float (E2M3); raw only.
    case f6E2M3 = "F6_E2M3"
    /// 6-bit float (E3M2); raw only.
    case f6E3M2 = "F6_E3M2"
    /// Unsigned 8-bit integer.
    case u8 = "U8"
    /// Signed 8-bit integer.
    case i8 = "I8"
    /// 8-bit float (E5M2); raw only.
    case f8E5M2 = "F8_E5M2"
    /// 8-bit float (E4M3); raw only.
    case f8E4M3 = "F8_E4M3"
    /// 8-bit float (E8M0, exponent only); raw only.
    case f8E8M0 = "F8_E8M0"
    /// 8-bit float (E4M3, finite, unsigned zero); raw only.
    case f8E4M3FNUZ = "F8_E4M3FNUZ"
    /// 8-bit float (E5M2, finite, unsigned zero); raw only.
    case f8E5M2FNUZ = "F8_E5M2FNUZ"
    /// Signed 16-bit integer.
    case i16 = "I16"
    /// Unsigned 16-bit integer.
    case u16 = "U16"
    /// IEEE 754 half precision (binary16).
    case f16 = "F16"
    /// bfloat16: the upper 16 bits of an IEEE 754 single.
    case bf16 = "BF16"
    /// Signed 32-bit integer.
    case i32 = "I32"
    /// Unsigned 32-bit integer.
    case u32 = "U32"
    /// IEEE 754 single precision.
    case f32 = "F32"
    /// Complex number made of two IEEE 754 singles; raw only.
    case c64 = "C64"
    /// IEEE 754 double precision.
    case f64 = "F64"
    /// Signed 64-bit integer (PyTorch's `int64`, e.g. BatchNorm's `num_batches_tracked`).
    case i64 = "I64"
    /// Unsigned 64-bit integer.
    case u64 = "U64"

    /// The broad class of a dtype, used when checking a file against the
    /// tensors a model expects (a weight must be floating point, a counter an integer).
    public enum Kind: String, Sendable, Hashable, CustomStringConvertible {
        /// Any floating-point format (including the raw-only 4/6/8-bit floats).
        case floatingPoint
        /// Signed or unsigned integers.
        case integer
        /// `BOOL`.
        case boolean
        /// `C64`.
        case complex

        /// The kind's name, e.g. `floating point`.
        public var description: String {
            switch self {
            case .floatingPoint: return "floating point"
            case .integer: return "integer"
            case .boolean: return "boolean"
            case .complex: return "complex"
            }
        }
    }

    /// The size of one element in bits (4 for `F4`, 6 for the `F6` types).
    public var bitWidth: Int {
        switch self {
        case .f4: return 4
        case .f6E2M3, .f6E3M2: return 6
        case .bool, .u8, .i8, .f8E5M2, .f8E4M3, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ: return 8
        case .i16, .u16, .f16, .bf16: return 16
        case .i32, .u32, .f32: return 32
        case .c64, .f64, .i64, .u64: return 64
        }
    }

    /// The size of one element in bytes, or `nil` for the sub-byte types `F4`, `F6_E2M3`, `F6_E3M2`.
    public var byteSize: Int? {
        bitWidth % 8 == 0 ? bitWidth / 8 : nil
    }

    /// The dtype's class (floating point, integer, boolean or complex).
    public var kind: Kind {
        switch self {
        case .bool: return .boolean
        case .u8, .i8, .i16, .u16, .i32, .u32, .i64, .u64: return .integer
        case .c64: return .complex
        case .f4, .f6E2M3, .f6E3M2, .f8E5M2, .f8E4M3, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ,
             .f16, .bf16, .f32, .f64:
            return .floatingPoint
        }
    }

    /// Whether ``SafetensorsFile/floats(_:)`` and ``SafetensorsFile/doubles(_:)``
    /// can convert this dtype (`F16`, `BF16`, `F32`, `F64`).
    public var isConvertibleToFloatingPoint: Bool {
        switch self {
        case .f16, .bf16, .f32, .f64: return true
        default: return false
        }
    }

    /// The position of the dtype in the reference implementation's `Dtype`
    /// enumeration, which is in increasing alignment order. The reference writer
    /// stores tensors by descending rank, then by name; so does ``SafetensorsFile/serialized()``.
    var alignmentRank: Int {
        // `allCases` is declared in the reference order.
        Self.allCases.firstIndex(of: self) ?? 0
    }
}

extension SafetensorsDType: CustomStringConvertible {
    /// The dtype string as written in headers, e.g. `F32`.
    public var description: String { rawValue }
}
