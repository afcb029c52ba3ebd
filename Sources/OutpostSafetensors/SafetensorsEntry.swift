import Foundation

/// The decoded elements of a tensor, typed by what its dtype can hold.
///
/// `F16`, `BF16` and `F32` tensors decode to ``float32(_:)`` (exactly),
/// `F64` to ``float64(_:)``, and each integer dtype and `BOOL` to its own case.
/// (Equality compares elements with `==`, so arrays holding NaN are never equal.)
public enum SafetensorsValues: Equatable, Sendable {
    /// Elements of an `F16`, `BF16` or `F32` tensor.
    case float32([Float])
    /// Elements of an `F64` tensor.
    case float64([Double])
    /// Elements of an `I8` tensor.
    case int8([Int8])
    /// Elements of an `I16` tensor.
    case int16([Int16])
    /// Elements of an `I32` tensor.
    case int32([Int32])
    /// Elements of an `I64` tensor.
    case int64([Int64])
    /// Elements of a `U8` tensor.
    case uint8([UInt8])
    /// Elements of a `U16` tensor.
    case uint16([UInt16])
    /// Elements of a `U32` tensor.
    case uint32([UInt32])
    /// Elements of a `U64` tensor.
    case uint64([UInt64])
    /// Elements of a `BOOL` tensor (any non-zero byte is `true`).
    case bool([Bool])

    /// The number of elements.
    public var count: Int {
        switch self {
        case let .float32(v): return v.count
        case let .float64(v): return v.count
        case let .int8(v): return v.count
        case let .int16(v): return v.count
        case let .int32(v): return v.count
        case let .int64(v): return v.count
        case let .uint8(v): return v.count
        case let .uint16(v): return v.count
        case let .uint32(v): return v.count
        case let .uint64(v): return v.count
        case let .bool(v): return v.count
        }
    }
}

/// One named tensor of a safetensors file: its dtype, shape and raw
/// little-endian, row-major bytes.
///
/// Entries read from a file share the file's (possibly memory-mapped) buffer;
/// nothing is copied until ``data`` or a conversion is asked for.
public struct SafetensorsEntry: Sendable {
    /// The tensor's key in the header, e.g. `conv1.weight`.
    public let name: String
    /// The element type.
    public let dtype: SafetensorsDType
    /// The dimensions, outermost first; `[]` is a scalar.
    public let shape: [Int]
    /// The number of elements (product of ``shape``; 1 for a scalar).
    public let elementCount: Int
    /// The file (or source label) the entry came from, used in error messages.
    public let origin: String

    /// The buffer holding the bytes and the absolute index range within it.
    let storage: Data
    let byteRange: Range<Int>

    init(name: String, dtype: SafetensorsDType, shape: [Int], elementCount: Int,
         origin: String, storage: Data, byteRange: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.elementCount = elementCount
        self.origin = origin
        self.storage = storage
        self.byteRange = byteRange
    }

    /// The number of data bytes.
    public var byteCount: Int { byteRange.count }

    /// A copy of the tensor's raw bytes (little-endian, row-major), indexed from 0.
    public var data: Data { Data(storage[byteRange]) }

    /// Calls `body` with the tensor's raw bytes without copying them. The
    /// pointer has no particular alignment and must not escape `body`.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        let start = byteRange.lowerBound - storage.startIndex
        let count = byteRange.count
        return try storage.withUnsafeBytes { whole in
            try body(UnsafeRawBufferPointer(rebasing: whole[start..<(start + count)]))
        }
    }

    /// Reads the elements as little-endian fixed-width integers.
    private func loadIntegers<T: FixedWidthInteger>(_: T.Type) -> [T] {
        let size = MemoryLayout<T>.size
        let count = byteCount / size
        return withUnsafeBytes { raw in
            [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                #if _endian(little)
                // The file is little-endian like the host: one copy, no alignment needed.
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<(count * size)]))
                #else
                for index in 0..<count {
                    buffer[index] = T(littleEndian: raw.loadUnaligned(fromByteOffset: index * size, as: T.self))
                }
                #endif
                initialized = count
            }
        }
    }

    /// Reads the elements as little-endian floating-point values of the host's layout.
    private func loadFloatingPoint<T: BinaryFloatingPoint, Bits: FixedWidthInteger>(
        _: T.Type, bits _: Bits.Type, _ make: (Bits) -> T
    ) -> [T] {
        #if _endian(little)
        let count = byteCount / MemoryLayout<T>.size
        return withUnsafeBytes { raw in
            [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<(count * MemoryLayout<T>.size)]))
                initialized = count
            }
        }
        #else
        return loadIntegers(Bits.self).map(make)
        #endif
    }

    /// Converts 16-bit little-endian elements to `Float` in one pass.
    private func loadHalves(_ convert: (UInt16) -> Float) -> [Float] {
        let count = byteCount / 2
        return withUnsafeBytes { raw in
            [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                for index in 0..<count {
                    buffer[index] = convert(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)))
                }
                initialized = count
            }
        }
    }

    /// The elements as `Float`. `F16` and `BF16` convert exactly, `F32` is
    /// returned as stored and `F64` is rounded to nearest `Float`.
    /// - Throws: ``SafetensorsError/unsupportedConversion(file:key:dtype:requested:)`` for other dtypes.
    public func floats() throws(SafetensorsError) -> [Float] {
        switch dtype {
        case .f32:
            return loadFloatingPoint(Float.self, bits: UInt32.self, Float.init(bitPattern:))
        case .f16:
            return loadHalves(HalfPrecision.float(fromFloat16Bits:))
        case .bf16:
            return loadHalves(HalfPrecision.float(fromBFloat16Bits:))
        case .f64:
            return loadFloatingPoint(Double.self, bits: UInt64.self, Double.init(bitPattern:)).map { Float($0) }
        default:
            throw .unsupportedConversion(file: origin, key: name, dtype: dtype, requested: "Float")
        }
    }

    /// The elements as `Double`; exact for `F16`, `BF16`, `F32` and `F64`.
    /// - Throws: ``SafetensorsError/unsupportedConversion(file:key:dtype:requested:)`` for other dtypes.
    public func doubles() throws(SafetensorsError) -> [Double] {
        switch dtype {
        case .f64:
            return loadFloatingPoint(Double.self, bits: UInt64.self, Double.init(bitPattern:))
        case .f32, .f16, .bf16:
            return try floats().map { Double($0) }
        default:
            throw .unsupportedConversion(file: origin, key: name, dtype: dtype, requested: "Double")
        }
    }

    /// The elements of an integer or `BOOL` tensor as `Int64` (`true` is 1).
    /// - Throws: ``SafetensorsError/unsupportedConversion(file:key:dtype:requested:)``
    ///   for floating-point and complex dtypes, and
    ///   ``SafetensorsError/valueOutOfRange(file:key:reason:)`` for a `U64` element above `Int64.max`.
    public func integers() throws(SafetensorsError) -> [Int64] {
        switch try values() {
        case let .int8(v): return v.map { Int64($0) }
        case let .int16(v): return v.map { Int64($0) }
        case let .int32(v): return v.map { Int64($0) }
        case let .int64(v): return v
        case let .uint8(v): return v.map { Int64($0) }
        case let .uint16(v): return v.map { Int64($0) }
        case let .uint32(v): return v.map { Int64($0) }
        case let .uint64(v):
            var result: [Int64] = []
            result.reserveCapacity(v.count)
            for (index, element) in v.enumerated() {
                guard let converted = Int64(exactly: element) else {
                    throw .valueOutOfRange(file: origin, key: name,
                                           reason: "U64 element \(index) = \(element) does not fit in Int64")
                }
                result.append(converted)
            }
            return result
        case let .bool(v): return v.map { $0 ? 1 : 0 }
        case .float32, .float64:
            throw .unsupportedConversion(file: origin, key: name, dtype: dtype, requested: "Int64")
        }
    }

    /// The elements decoded according to the dtype (see ``SafetensorsValues``).
    /// - Throws: ``SafetensorsError/unsupportedConversion(file:key:dtype:requested:)``
    ///   for the raw-only dtypes (4/6/8-bit floats, `C64`).
    public func values() throws(SafetensorsError) -> SafetensorsValues {
        switch dtype {
        case .f32, .f16, .bf16: return .float32(try floats())
        case .f64: return .float64(try doubles())
        case .i8: return .int8(loadIntegers(Int8.self))
        case .i16: return .int16(loadIntegers(Int16.self))
        case .i32: return .int32(loadIntegers(Int32.self))
        case .i64: return .int64(loadIntegers(Int64.self))
        case .u8: return .uint8(loadIntegers(UInt8.self))
        case .u16: return .uint16(loadIntegers(UInt16.self))
        case .u32: return .uint32(loadIntegers(UInt32.self))
        case .u64: return .uint64(loadIntegers(UInt64.self))
        case .bool: return .bool(loadIntegers(UInt8.self).map { $0 != 0 })
        case .f4, .f6E2M3, .f6E3M2, .f8E5M2, .f8E4M3, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ, .c64:
            throw .unsupportedConversion(file: origin, key: name, dtype: dtype, requested: "numeric values")
        }
    }
}

extension SafetensorsEntry: Equatable {
    /// Entries are equal when name, dtype, shape and bytes are equal (the origin is ignored).
    public static func == (lhs: SafetensorsEntry, rhs: SafetensorsEntry) -> Bool {
        lhs.name == rhs.name && lhs.dtype == rhs.dtype && lhs.shape == rhs.shape
            && lhs.storage[lhs.byteRange].elementsEqual(rhs.storage[rhs.byteRange])
    }
}
