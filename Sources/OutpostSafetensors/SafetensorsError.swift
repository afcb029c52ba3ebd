import Foundation

/// Everything that can go wrong reading, converting, writing or validating a
/// safetensors file.
///
/// Every case names the file (`file`: the path given to
/// ``SafetensorsFile/read(from:)``, or the `source` label given to
/// ``SafetensorsFile/init(data:source:)``) and, where one is involved, the
/// tensor key; ``description`` turns it into a sentence that also says what was expected.
public enum SafetensorsError: Error, Equatable, Sendable {
    /// The file could not be opened or read.
    case unreadableFile(file: String, reason: String)
    /// The file is shorter than the 8-byte header length (an empty file included).
    case fileTooSmall(file: String, byteCount: Int)
    /// The declared header length exceeds the 100 MB limit of the format.
    case headerTooLarge(file: String, declaredLength: UInt64, limit: Int)
    /// The declared header length runs past the end of the file.
    case headerBeyondEndOfFile(file: String, declaredLength: UInt64, availableBytes: Int)
    /// The header bytes are not valid UTF-8.
    case headerNotUTF8(file: String)
    /// The header is not valid JSON; `byteOffset` counts from the first header byte.
    case invalidJSON(file: String, byteOffset: Int, reason: String)
    /// The header is valid JSON but not a valid safetensors header (wrong types,
    /// missing fields, metadata values that are not strings, ...). `key` is the
    /// tensor (or `__metadata__`) concerned, if any.
    case invalidHeader(file: String, key: String?, reason: String)
    /// A tensor's `dtype` string is not one of the format's dtypes.
    case unknownDType(file: String, key: String, dtype: String)
    /// The same tensor name (or `__metadata__`) appears twice in the header.
    case duplicateKey(file: String, key: String)
    /// A shape entry is negative, fractional or does not fit in `Int`.
    case invalidShape(file: String, key: String, reason: String)
    /// The shape's element count (or its size in bytes) overflows `Int`.
    case shapeOverflow(file: String, key: String, shape: [Int], dtype: SafetensorsDType)
    /// A `data_offsets` pair has its end before its begin.
    case offsetsReversed(file: String, key: String, begin: Int, end: Int)
    /// A tensor's data starts inside the data of the tensor before it.
    case overlappingOffsets(file: String, key: String, begin: Int, previousKey: String, previousEnd: Int)
    /// A tensor's data does not start where the previous tensor's data ends (bytes left unused).
    case gapBeforeTensor(file: String, key: String, begin: Int, expectedBegin: Int)
    /// The byte count `end - begin` differs from shape product × dtype size.
    case sizeMismatch(file: String, key: String, dtype: SafetensorsDType, shape: [Int],
                      expectedByteCount: Int, actualByteCount: Int)
    /// A tensor's data runs past the end of the file.
    case offsetsBeyondBuffer(file: String, key: String, end: Int, bufferSize: Int)
    /// The tensors do not cover the data buffer to its end (trailing bytes).
    case bufferNotCovered(file: String, coveredBytes: Int, bufferSize: Int)
    /// No tensor of that name is in the file.
    case tensorNotFound(file: String, key: String)
    /// The tensor's dtype cannot be converted to what was asked for (e.g. floats from `I64`).
    case unsupportedConversion(file: String, key: String, dtype: SafetensorsDType, requested: String)
    /// A value does not fit the requested type (a `U64` element above `Int64.max`).
    case valueOutOfRange(file: String, key: String, reason: String)
    /// A tensor handed to ``SafetensorsBuilder`` is inconsistent (value count, shape, name).
    case invalidTensor(key: String, reason: String)
    /// ``SafetensorsFile/requireConformance(to:ignoring:)`` found problems; all are listed.
    case validationFailed(file: String, problems: [ValidationProblem])
    /// Writing the file failed.
    case writeFailed(file: String, reason: String)
}

extension SafetensorsError: CustomStringConvertible, LocalizedError {
    /// A readable sentence naming the file, the key and what was expected.
    public var description: String {
        switch self {
        case let .unreadableFile(file, reason):
            return "\(file): cannot read the file (\(reason))"
        case let .fileTooSmall(file, byteCount):
            return "\(file): file is \(byteCount) bytes long; a safetensors file needs at least the 8-byte header length"
        case let .headerTooLarge(file, declaredLength, limit):
            return "\(file): header length \(declaredLength) exceeds the limit of \(limit) bytes"
        case let .headerBeyondEndOfFile(file, declaredLength, availableBytes):
            return "\(file): header length \(declaredLength) runs past the end of the file (only \(availableBytes) bytes follow the length field)"
        case let .headerNotUTF8(file):
            return "\(file): header is not valid UTF-8"
        case let .invalidJSON(file, byteOffset, reason):
            return "\(file): header is not valid JSON at byte \(byteOffset) of the header: \(reason)"
        case let .invalidHeader(file, key, reason):
            if let key { return "\(file): invalid header entry '\(key)': \(reason)" }
            return "\(file): invalid header: \(reason)"
        case let .unknownDType(file, key, dtype):
            return "\(file): tensor '\(key)' has unknown dtype \"\(dtype)\"; expected one of \(SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", "))"
        case let .duplicateKey(file, key):
            return "\(file): key '\(key)' appears more than once in the header; keys must be unique"
        case let .invalidShape(file, key, reason):
            return "\(file): tensor '\(key)' has an invalid shape: \(reason)"
        case let .shapeOverflow(file, key, shape, dtype):
            return "\(file): tensor '\(key)' with shape \(shape) and dtype \(dtype) has more bytes than fit in Int"
        case let .offsetsReversed(file, key, begin, end):
            return "\(file): tensor '\(key)' has data_offsets [\(begin), \(end)]; the end must not precede the begin"
        case let .overlappingOffsets(file, key, begin, previousKey, previousEnd):
            return "\(file): tensor '\(key)' starts at byte \(begin), inside tensor '\(previousKey)' which ends at byte \(previousEnd); offsets must not overlap"
        case let .gapBeforeTensor(file, key, begin, expectedBegin):
            return "\(file): tensor '\(key)' starts at byte \(begin) but was expected to start at byte \(expectedBegin); offsets must be contiguous"
        case let .sizeMismatch(file, key, dtype, shape, expectedByteCount, actualByteCount):
            return "\(file): tensor '\(key)' occupies \(actualByteCount) bytes but shape \(shape) of \(dtype) needs \(expectedByteCount) bytes"
        case let .offsetsBeyondBuffer(file, key, end, bufferSize):
            return "\(file): tensor '\(key)' ends at byte \(end) but the data buffer has only \(bufferSize) bytes (file truncated or header lies)"
        case let .bufferNotCovered(file, coveredBytes, bufferSize):
            return "\(file): tensors cover \(coveredBytes) bytes but the data buffer has \(bufferSize) bytes; the offsets must cover the whole buffer"
        case let .tensorNotFound(file, key):
            return "\(file): no tensor named '\(key)'"
        case let .unsupportedConversion(file, key, dtype, requested):
            return "\(file): tensor '\(key)' has dtype \(dtype), which cannot be read as \(requested)"
        case let .valueOutOfRange(file, key, reason):
            return "\(file): tensor '\(key)': \(reason)"
        case let .invalidTensor(key, reason):
            return "tensor '\(key)': \(reason)"
        case let .validationFailed(file, problems):
            let lines = problems.map { "  - \($0)" }.joined(separator: "\n")
            return "\(file): does not match the expected tensors (\(problems.count) problem\(problems.count == 1 ? "" : "s")):\n\(lines)"
        case let .writeFailed(file, reason):
            return "\(file): cannot write the file (\(reason))"
        }
    }

    /// The same text as ``description``, for `localizedDescription`.
    public var errorDescription: String? { description }
}
