import Foundation

/// A safetensors file: ordered tensor entries and string metadata.
///
/// The format (huggingface/safetensors) is an 8-byte little-endian `u64`
/// header length `N`, then `N` bytes of UTF-8 JSON mapping each tensor name to
/// `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the
/// data buffer after the header) plus an optional `"__metadata__"` object of
/// strings, then the data buffer (little-endian, row-major).
///
/// Reading validates everything the reference implementation does, and more:
/// header length within 100 MB and within the file, UTF-8, strict JSON, unique
/// keys, known dtypes, non-negative shapes without overflow, offsets that are
/// ordered, contiguous, non-overlapping, sized shape × dtype and covering the
/// whole buffer. Any violation throws a ``SafetensorsError``; malformed input
/// never traps.
///
/// ```swift
/// let file = try SafetensorsFile.read(from: url)
/// let weight = try file.floats("conv1.weight")
/// ```
public struct SafetensorsFile: Sendable {
    /// The largest header the reader accepts, as in the reference implementation (100 MB).
    public static let maximumHeaderLength = 100_000_000

    /// The tensors in data-buffer order (for files written by the reference
    /// implementation or by ``serialized()``: by descending dtype alignment, then name).
    public private(set) var entries: [SafetensorsEntry]
    /// The free-form `__metadata__` map (empty when the header has none).
    public var metadata: [String: String]
    /// The path or label used in error messages.
    public let source: String

    private var indexByName: [String: Int]

    /// Reads and validates the file at `url`, memory-mapping it so large
    /// files are not copied; tensor bytes are only touched when converted.
    /// - Throws: ``SafetensorsError/unreadableFile(file:reason:)`` if it cannot
    ///   be read, or any validation error of ``init(data:source:)``.
    public static func read(from url: URL) throws(SafetensorsError) -> SafetensorsFile {
        let path = url.isFileURL ? url.path : url.absoluteString
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw .unreadableFile(file: path, reason: error.localizedDescription)
        }
        return try SafetensorsFile(data: data, source: path)
    }

    /// Parses and validates a complete safetensors file held in memory.
    /// - Parameters:
    ///   - data: the whole file. It is kept (not copied) and shared by the entries.
    ///   - source: a label for error messages, e.g. the file name.
    /// - Throws: a ``SafetensorsError`` describing the first problem found.
    public init(data: Data, source: String = "<memory>") throws(SafetensorsError) {
        let file = source
        let total = data.count
        guard total >= 8 else { throw .fileTooSmall(file: file, byteCount: total) }
        let base = data.startIndex
        var declared: UInt64 = 0
        for index in 0..<8 {
            declared |= UInt64(data[base + index]) << (8 * UInt64(index))
        }
        guard declared <= UInt64(Self.maximumHeaderLength) else {
            throw .headerTooLarge(file: file, declaredLength: declared, limit: Self.maximumHeaderLength)
        }
        let headerLength = Int(declared)
        guard headerLength <= total - 8 else {
            throw .headerBeyondEndOfFile(file: file, declaredLength: declared, availableBytes: total - 8)
        }
        let headerBytes = [UInt8](data[(base + 8)..<(base + 8 + headerLength)])
        guard String(validating: headerBytes, as: UTF8.self) != nil else {
            throw .headerNotUTF8(file: file)
        }
        let json: JSONValue
        do {
            json = try JSONReader.parse(headerBytes)
        } catch {
            throw .invalidJSON(file: file, byteOffset: error.offset, reason: error.message)
        }
        let header = try HeaderInterpreter.interpret(json, file: file)

        // Validate the layout in data order, as the reference implementation does.
        let bufferStart = base + 8 + headerLength
        let bufferSize = total - 8 - headerLength
        let ordered = header.tensors.enumerated().sorted { a, b in
            let (x, y) = (a.element, b.element)
            if x.begin != y.begin { return x.begin < y.begin }
            if x.end != y.end { return x.end < y.end }
            return a.offset < b.offset
        }.map(\.element)
        var expectedBegin = 0
        var previousName: String?
        var entries: [SafetensorsEntry] = []
        entries.reserveCapacity(ordered.count)
        for tensor in ordered {
            guard tensor.end >= tensor.begin else {
                throw .offsetsReversed(file: file, key: tensor.name, begin: tensor.begin, end: tensor.end)
            }
            if tensor.begin < expectedBegin, let previousName {
                throw .overlappingOffsets(file: file, key: tensor.name, begin: tensor.begin,
                                          previousKey: previousName, previousEnd: expectedBegin)
            }
            if tensor.begin != expectedBegin {
                throw .gapBeforeTensor(file: file, key: tensor.name, begin: tensor.begin, expectedBegin: expectedBegin)
            }
            let (elementCount, byteCount) = try Self.checkedSizes(
                shape: tensor.shape, dtype: tensor.dtype, file: file, key: tensor.name)
            let actual = tensor.end - tensor.begin
            guard actual == byteCount else {
                throw .sizeMismatch(file: file, key: tensor.name, dtype: tensor.dtype, shape: tensor.shape,
                                    expectedByteCount: byteCount, actualByteCount: actual)
            }
            guard tensor.end <= bufferSize else {
                throw .offsetsBeyondBuffer(file: file, key: tensor.name, end: tensor.end, bufferSize: bufferSize)
            }
            entries.append(SafetensorsEntry(
                name: tensor.name, dtype: tensor.dtype, shape: tensor.shape, elementCount: elementCount,
                origin: file, storage: data,
                byteRange: (bufferStart + tensor.begin)..<(bufferStart + tensor.end)))
            expectedBegin = tensor.end
            previousName = tensor.name
        }
        guard expectedBegin == bufferSize else {
            throw .bufferNotCovered(file: file, coveredBytes: expectedBegin, bufferSize: bufferSize)
        }
        self.entries = entries
        self.metadata = header.metadata
        self.source = file
        self.indexByName = Self.index(entries)
    }

    /// Creates a file from entries (kept in the given order) and metadata.
    /// ``SafetensorsBuilder`` is the usual way to make one.
    init(validatedEntries entries: [SafetensorsEntry], metadata: [String: String], source: String) {
        self.entries = entries
        self.metadata = metadata
        self.source = source
        self.indexByName = Self.index(entries)
    }

    private static func index(_ entries: [SafetensorsEntry]) -> [String: Int] {
        var index: [String: Int] = [:]
        for (position, entry) in entries.enumerated() { index[entry.name] = position }
        return index
    }

    /// Element count and byte count of a tensor, with overflow checks in the
    /// same order as the reference implementation (product left to right, then × bit width).
    static func checkedSizes(shape: [Int], dtype: SafetensorsDType, file: String, key: String)
        throws(SafetensorsError) -> (elements: Int, bytes: Int)
    {
        var elements = 1
        for dimension in shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
            if overflow { throw .shapeOverflow(file: file, key: key, shape: shape, dtype: dtype) }
            elements = product
        }
        let (bits, overflow) = elements.multipliedReportingOverflow(by: dtype.bitWidth)
        if overflow { throw .shapeOverflow(file: file, key: key, shape: shape, dtype: dtype) }
        guard bits % 8 == 0 else {
            throw .invalidShape(file: file, key: key,
                                reason: "\(elements) elements of \(dtype) (\(dtype.bitWidth) bits each) do not fill whole bytes")
        }
        return (elements, bits / 8)
    }

    /// The tensor names in entry order.
    public var names: [String] { entries.map(\.name) }

    /// Whether a tensor called `name` exists.
    public func contains(_ name: String) -> Bool { indexByName[name] != nil }

    /// The entry called `name`, or `nil`.
    public subscript(name: String) -> SafetensorsEntry? {
        indexByName[name].map { entries[$0] }
    }

    /// The entry called `name`.
    /// - Throws: ``SafetensorsError/tensorNotFound(file:key:)``.
    public func entry(_ name: String) throws(SafetensorsError) -> SafetensorsEntry {
        guard let index = indexByName[name] else { throw .tensorNotFound(file: source, key: name) }
        return entries[index]
    }

    /// The elements of tensor `name` as `Float` (see ``SafetensorsEntry/floats()``).
    /// - Throws: ``SafetensorsError/tensorNotFound(file:key:)`` or
    ///   ``SafetensorsError/unsupportedConversion(file:key:dtype:requested:)``.
    public func floats(_ name: String) throws(SafetensorsError) -> [Float] {
        try entry(name).floats()
    }

    /// The elements of tensor `name` as `Double` (see ``SafetensorsEntry/doubles()``).
    /// - Throws: ``SafetensorsError/tensorNotFound(file:key:)`` or
    ///   ``SafetensorsError/unsupportedConversion(file:key:dtype:requested:)``.
    public func doubles(_ name: String) throws(SafetensorsError) -> [Double] {
        try entry(name).doubles()
    }

    /// The elements of integer or `BOOL` tensor `name` as `Int64` (see ``SafetensorsEntry/integers()``).
    public func integers(_ name: String) throws(SafetensorsError) -> [Int64] {
        try entry(name).integers()
    }

    /// The elements of tensor `name`, typed by dtype (see ``SafetensorsEntry/values()``).
    public func values(_ name: String) throws(SafetensorsError) -> SafetensorsValues {
        try entry(name).values()
    }
}

extension SafetensorsFile: Equatable {
    /// Files are equal when their entries (in order) and metadata are equal; the source label is ignored.
    public static func == (lhs: SafetensorsFile, rhs: SafetensorsFile) -> Bool {
        lhs.entries == rhs.entries && lhs.metadata == rhs.metadata
    }
}

/// Turns the parsed header JSON into tensor descriptions, checking types.
enum HeaderInterpreter {
    struct TensorHeader {
        var name: String
        var dtype: SafetensorsDType
        var shape: [Int]
        var begin: Int
        var end: Int
    }

    struct Header {
        var metadata: [String: String]
        var tensors: [TensorHeader]
    }

    static let metadataKey = "__metadata__"

    static func interpret(_ json: JSONValue, file: String) throws(SafetensorsError) -> Header {
        guard case let .object(members) = json else {
            throw .invalidHeader(file: file, key: nil, reason: "the header must be a JSON object, found \(json.typeName)")
        }
        var seen = Set<String>()
        var metadata: [String: String] = [:]
        var tensors: [TensorHeader] = []
        tensors.reserveCapacity(members.count)
        for member in members {
            let (key, value) = (member.key, member.value)
            guard seen.insert(key).inserted else { throw .duplicateKey(file: file, key: key) }
            if key == metadataKey {
                metadata = try interpretMetadata(value, file: file)
            } else {
                tensors.append(try interpretTensor(key, value, file: file))
            }
        }
        return Header(metadata: metadata, tensors: tensors)
    }

    private static func interpretMetadata(_ value: JSONValue, file: String) throws(SafetensorsError) -> [String: String] {
        switch value {
        case .null:
            return [:]
        case let .object(members):
            var metadata: [String: String] = [:]
            for member in members {
                let (key, item) = (member.key, member.value)
                guard case let .string(text) = item else {
                    throw .invalidHeader(file: file, key: metadataKey,
                                         reason: "metadata value for \"\(key)\" must be a string, found \(item.typeName)")
                }
                guard metadata.updateValue(text, forKey: key) == nil else {
                    throw .invalidHeader(file: file, key: metadataKey, reason: "metadata key \"\(key)\" appears more than once")
                }
            }
            return metadata
        default:
            throw .invalidHeader(file: file, key: metadataKey,
                                 reason: "must be an object of strings, found \(value.typeName)")
        }
    }

    private static func interpretTensor(_ name: String, _ value: JSONValue, file: String)
        throws(SafetensorsError) -> TensorHeader
    {
        guard case let .object(members) = value else {
            throw .invalidHeader(file: file, key: name, reason: "tensor entry must be an object, found \(value.typeName)")
        }
        var fields: [String: JSONValue] = [:]
        for member in members {
            let (field, item) = (member.key, member.value)
            // Unknown fields are ignored, as by the reference implementation; repeated ones are not.
            guard fields.updateValue(item, forKey: field) == nil else {
                throw .invalidHeader(file: file, key: name, reason: "field \"\(field)\" appears more than once")
            }
        }
        guard let dtypeValue = fields["dtype"] else {
            throw .invalidHeader(file: file, key: name, reason: "missing field \"dtype\"")
        }
        guard case let .string(dtypeString) = dtypeValue else {
            throw .invalidHeader(file: file, key: name, reason: "\"dtype\" must be a string, found \(dtypeValue.typeName)")
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeString) else {
            throw .unknownDType(file: file, key: name, dtype: dtypeString)
        }
        guard let shapeValue = fields["shape"] else {
            throw .invalidHeader(file: file, key: name, reason: "missing field \"shape\"")
        }
        guard case let .array(shapeItems) = shapeValue else {
            throw .invalidHeader(file: file, key: name, reason: "\"shape\" must be an array, found \(shapeValue.typeName)")
        }
        var shape: [Int] = []
        shape.reserveCapacity(shapeItems.count)
        for (axis, item) in shapeItems.enumerated() {
            guard case let .number(literal) = item else {
                throw .invalidShape(file: file, key: name, reason: "dimension \(axis) is a \(item.typeName), not an integer")
            }
            switch nonNegativeInt(fromJSONNumber: literal) {
            case let .success(dimension): shape.append(dimension)
            case .failure(.negative):
                throw .invalidShape(file: file, key: name, reason: "dimension \(axis) is negative (\(literal))")
            case .failure(.notAnInteger):
                throw .invalidShape(file: file, key: name, reason: "dimension \(axis) is not an integer (\(literal))")
            case .failure(.tooLarge):
                throw .invalidShape(file: file, key: name, reason: "dimension \(axis) (\(literal)) does not fit in Int")
            }
        }
        guard let offsetsValue = fields["data_offsets"] else {
            throw .invalidHeader(file: file, key: name, reason: "missing field \"data_offsets\"")
        }
        guard case let .array(offsetItems) = offsetsValue, offsetItems.count == 2 else {
            throw .invalidHeader(file: file, key: name, reason: "\"data_offsets\" must be an array of two integers [begin, end]")
        }
        var offsets: [Int] = []
        for item in offsetItems {
            guard case let .number(literal) = item else {
                throw .invalidHeader(file: file, key: name, reason: "\"data_offsets\" must hold integers, found \(item.typeName)")
            }
            switch nonNegativeInt(fromJSONNumber: literal) {
            case let .success(offset): offsets.append(offset)
            case .failure(.negative):
                throw .invalidHeader(file: file, key: name, reason: "data offset \(literal) is negative")
            case .failure(.notAnInteger):
                throw .invalidHeader(file: file, key: name, reason: "data offset \(literal) is not an integer")
            case .failure(.tooLarge):
                throw .invalidHeader(file: file, key: name, reason: "data offset \(literal) does not fit in Int")
            }
        }
        return TensorHeader(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
    }
}
