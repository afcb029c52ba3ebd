import Foundation

/// Collects named tensors and metadata and produces a safetensors file.
///
/// ```swift
/// var builder = SafetensorsBuilder(metadata: ["format": "pt"])
/// try builder.add("fc.weight", shape: [10, 32], floats: weights)
/// try builder.add("fc.bias", shape: [10], floats: bias, as: .bf16)
/// try builder.write(to: url)
/// ```
///
/// The output is deterministic and matches the reference writer
/// (`safetensors.torch.save_file`) byte for byte whenever the metadata has at
/// most one key: tensors ordered by descending dtype alignment then by name
/// (UTF-8 byte order), compact JSON with `__metadata__` first, header padded
/// with spaces to a multiple of 8 bytes. (The reference writes several
/// metadata keys in hash order; here they are sorted.)
public struct SafetensorsBuilder: Sendable {
    /// The `__metadata__` map to write (omitted from the header when empty).
    public var metadata: [String: String]
    private var entries: [SafetensorsEntry] = []
    private var names = Set<String>()

    /// Creates an empty builder with the given metadata.
    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// The tensors added so far, in insertion order.
    public var tensors: [SafetensorsEntry] { entries }

    /// Adds a tensor from raw little-endian, row-major bytes.
    /// - Throws: ``SafetensorsError/invalidTensor(key:reason:)`` if the name is
    ///   `__metadata__` or already used, a dimension is negative, the size
    ///   overflows, or `rawData` is not exactly shape product × dtype size bytes.
    public mutating func add(_ name: String, dtype: SafetensorsDType, shape: [Int], rawData: Data) throws(SafetensorsError) {
        guard name != HeaderInterpreter.metadataKey else {
            throw .invalidTensor(key: name, reason: "the name \"__metadata__\" is reserved for metadata")
        }
        guard !names.contains(name) else {
            throw .invalidTensor(key: name, reason: "a tensor with this name was already added")
        }
        if let axis = shape.firstIndex(where: { $0 < 0 }) {
            throw .invalidTensor(key: name, reason: "dimension \(axis) of shape \(shape) is negative")
        }
        let sizes: (elements: Int, bytes: Int)
        do {
            sizes = try SafetensorsFile.checkedSizes(shape: shape, dtype: dtype, file: "<builder>", key: name)
        } catch {
            throw .invalidTensor(key: name, reason: "shape \(shape) of \(dtype) has no valid byte size")
        }
        guard rawData.count == sizes.bytes else {
            throw .invalidTensor(key: name,
                                 reason: "\(rawData.count) bytes given but shape \(shape) of \(dtype) needs \(sizes.bytes)")
        }
        let storage = Data(rawData)
        entries.append(SafetensorsEntry(name: name, dtype: dtype, shape: shape, elementCount: sizes.elements,
                                        origin: "<builder>", storage: storage, byteRange: storage.indices))
        names.insert(name)
    }

    /// Adds an entry (for instance one read from another file), keeping its dtype and bytes.
    /// - Throws: ``SafetensorsError/invalidTensor(key:reason:)`` if the name is taken or reserved.
    public mutating func add(_ entry: SafetensorsEntry) throws(SafetensorsError) {
        try add(entry.name, dtype: entry.dtype, shape: entry.shape, rawData: entry.data)
    }

    /// Checks that `count` values exactly fill `shape`.
    private func checkCount(_ name: String, shape: [Int], count: Int) throws(SafetensorsError) {
        if let axis = shape.firstIndex(where: { $0 < 0 }) {
            throw .invalidTensor(key: name, reason: "dimension \(axis) of shape \(shape) is negative")
        }
        var elements = 1
        for dimension in shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
            if overflow { throw .invalidTensor(key: name, reason: "shape \(shape) has more elements than fit in Int") }
            elements = product
        }
        guard elements == count else {
            throw .invalidTensor(key: name, reason: "\(count) values given but shape \(shape) holds \(elements)")
        }
    }

    private static func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> Data {
        var data = Data(count: values.count * MemoryLayout<T>.size)
        data.withUnsafeMutableBytes { raw in
            for (index, value) in values.enumerated() {
                raw.storeBytes(of: value.littleEndian, toByteOffset: index * MemoryLayout<T>.size, as: T.self)
            }
        }
        return data
    }

    /// Adds a tensor from `Float` values stored as `dtype`: `.f32` (exact),
    /// `.f64` (exact), `.f16` or `.bf16` (rounded to nearest, ties to even; see ``HalfPrecision``).
    /// - Throws: ``SafetensorsError/invalidTensor(key:reason:)`` if the value
    ///   count does not match the shape, `dtype` is not one of those four, or the name is taken.
    public mutating func add(_ name: String, shape: [Int], floats values: [Float],
                             as dtype: SafetensorsDType = .f32) throws(SafetensorsError) {
        try checkCount(name, shape: shape, count: values.count)
        let bytes: Data
        switch dtype {
        case .f32: bytes = Self.littleEndianBytes(values.map(\.bitPattern))
        case .f64: bytes = Self.littleEndianBytes(values.map { Double($0).bitPattern })
        case .f16: bytes = Self.littleEndianBytes(values.map(HalfPrecision.float16Bits(from:)))
        case .bf16: bytes = Self.littleEndianBytes(values.map(HalfPrecision.bfloat16Bits(from:)))
        default:
            throw .invalidTensor(key: name, reason: "Float values can be stored as F32, F64, F16 or BF16, not \(dtype)")
        }
        try add(name, dtype: dtype, shape: shape, rawData: bytes)
    }

    /// Adds a tensor from `Double` values stored as `.f64` (exact) or `.f32` (rounded to nearest).
    /// - Throws: ``SafetensorsError/invalidTensor(key:reason:)`` if the value
    ///   count does not match the shape, `dtype` is neither, or the name is taken.
    public mutating func add(_ name: String, shape: [Int], doubles values: [Double],
                             as dtype: SafetensorsDType = .f64) throws(SafetensorsError) {
        try checkCount(name, shape: shape, count: values.count)
        switch dtype {
        case .f64: try add(name, dtype: .f64, shape: shape, rawData: Self.littleEndianBytes(values.map(\.bitPattern)))
        case .f32:
            try add(name, dtype: .f32, shape: shape, rawData: Self.littleEndianBytes(values.map { Float($0).bitPattern }))
        default:
            throw .invalidTensor(key: name, reason: "Double values can be stored as F64 or F32, not \(dtype)")
        }
    }

    /// Adds an `I64` tensor (e.g. BatchNorm's `num_batches_tracked`).
    public mutating func add(_ name: String, shape: [Int], int64s values: [Int64]) throws(SafetensorsError) {
        try checkCount(name, shape: shape, count: values.count)
        try add(name, dtype: .i64, shape: shape, rawData: Self.littleEndianBytes(values))
    }

    /// Adds an `I32` tensor.
    public mutating func add(_ name: String, shape: [Int], int32s values: [Int32]) throws(SafetensorsError) {
        try checkCount(name, shape: shape, count: values.count)
        try add(name, dtype: .i32, shape: shape, rawData: Self.littleEndianBytes(values))
    }

    /// Adds a `U8` tensor.
    public mutating func add(_ name: String, shape: [Int], uint8s values: [UInt8]) throws(SafetensorsError) {
        try checkCount(name, shape: shape, count: values.count)
        try add(name, dtype: .u8, shape: shape, rawData: Data(values))
    }

    /// Adds a `BOOL` tensor (one byte per element, 0 or 1).
    public mutating func add(_ name: String, shape: [Int], bools values: [Bool]) throws(SafetensorsError) {
        try checkCount(name, shape: shape, count: values.count)
        try add(name, dtype: .bool, shape: shape, rawData: Data(values.map { $0 ? 1 : 0 }))
    }

    /// A ``SafetensorsFile`` with the tensors in serialization order; reading
    /// back ``serialized()`` gives an equal file.
    public func build() -> SafetensorsFile {
        SafetensorsFile(validatedEntries: SafetensorsSerializer.ordered(entries), metadata: metadata, source: "<builder>")
    }

    /// The file's bytes (see ``SafetensorsFile/serialized()``).
    public func serialized() -> Data {
        SafetensorsSerializer.serialize(entries, metadata: metadata)
    }

    /// Writes the file atomically to `url`.
    /// - Throws: ``SafetensorsError/writeFailed(file:reason:)``.
    public func write(to url: URL) throws(SafetensorsError) {
        try SafetensorsSerializer.write(serialized(), to: url)
    }
}

extension SafetensorsFile {
    /// The file's bytes in the reference layout: tensors ordered by descending
    /// dtype alignment then name, compact JSON header (metadata keys sorted)
    /// padded with spaces to a multiple of 8 bytes. The same contents always
    /// give the same bytes.
    public func serialized() -> Data {
        SafetensorsSerializer.serialize(entries, metadata: metadata)
    }

    /// Writes ``serialized()`` atomically to `url`.
    /// - Throws: ``SafetensorsError/writeFailed(file:reason:)``.
    public func write(to url: URL) throws(SafetensorsError) {
        try SafetensorsSerializer.write(serialized(), to: url)
    }
}

/// The byte layout shared by ``SafetensorsBuilder`` and ``SafetensorsFile``.
enum SafetensorsSerializer {
    /// Reference order: descending dtype alignment rank, then name by UTF-8 bytes.
    static func ordered(_ entries: [SafetensorsEntry]) -> [SafetensorsEntry] {
        entries.sorted { a, b in
            if a.dtype.alignmentRank != b.dtype.alignmentRank {
                return a.dtype.alignmentRank > b.dtype.alignmentRank
            }
            return a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
        }
    }

    static func serialize(_ unordered: [SafetensorsEntry], metadata: [String: String]) -> Data {
        let entries = ordered(unordered)
        var header: [UInt8] = [UInt8(ascii: "{")]
        var needsComma = false
        if !metadata.isEmpty {
            header.append(contentsOf: Array("\"__metadata__\":{".utf8))
            let keys = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (index, key) in keys.enumerated() {
                if index > 0 { header.append(UInt8(ascii: ",")) }
                JSONWriter.appendString(key, to: &header)
                header.append(UInt8(ascii: ":"))
                JSONWriter.appendString(metadata[key] ?? "", to: &header)
            }
            header.append(UInt8(ascii: "}"))
            needsComma = true
        }
        var offset = 0
        for entry in entries {
            if needsComma { header.append(UInt8(ascii: ",")) }
            needsComma = true
            JSONWriter.appendString(entry.name, to: &header)
            header.append(contentsOf: Array(":{\"dtype\":\"".utf8))
            header.append(contentsOf: Array(entry.dtype.rawValue.utf8))
            header.append(contentsOf: Array("\",\"shape\":[".utf8))
            for (axis, dimension) in entry.shape.enumerated() {
                if axis > 0 { header.append(UInt8(ascii: ",")) }
                JSONWriter.appendInt(dimension, to: &header)
            }
            header.append(contentsOf: Array("],\"data_offsets\":[".utf8))
            JSONWriter.appendInt(offset, to: &header)
            header.append(UInt8(ascii: ","))
            offset += entry.byteCount
            JSONWriter.appendInt(offset, to: &header)
            header.append(contentsOf: Array("]}".utf8))
        }
        header.append(UInt8(ascii: "}"))
        let padding = (8 - header.count % 8) % 8
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))

        var output = Data(capacity: 8 + header.count + offset)
        let length = UInt64(header.count)
        for shift in stride(from: 0, to: 64, by: 8) {
            output.append(UInt8(truncatingIfNeeded: length >> UInt64(shift)))
        }
        output.append(contentsOf: header)
        for entry in entries {
            entry.withUnsafeBytes { output.append(contentsOf: $0) }
        }
        return output
    }

    static func write(_ data: Data, to url: URL) throws(SafetensorsError) {
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw .writeFailed(file: url.isFileURL ? url.path : url.absoluteString, reason: error.localizedDescription)
        }
    }
}
