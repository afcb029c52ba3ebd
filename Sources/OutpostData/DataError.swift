/// OutpostData: data set readers, federated partitions and image input/output.
///
/// Every reader validates what it reads and reports problems as a ``DataError``;
/// nothing in this module traps on the content of a file.

/// An error raised while reading, decoding, writing or downloading data.
///
/// Each case carries the file (or URL) concerned and, where it applies, the index
/// of the record that was being read and what was expected, so `description`
/// reads as a complete diagnostic.
public enum DataError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file does not exist (or is not a regular file).
    case fileNotFound(path: String)
    /// The file exists but could not be read or listed.
    case readFailed(path: String, reason: String)
    /// The file ends before the data it announces. `record` is the index of the
    /// first incomplete record when known.
    case truncated(path: String, record: Int?, expectedBytes: Int, actualBytes: Int)
    /// The file carries more bytes than its header announces.
    case trailingData(path: String, expectedBytes: Int, actualBytes: Int)
    /// The file does not start with the expected magic number or signature.
    case badMagic(path: String, expected: String, found: String)
    /// A label is outside `0..<classCount`.
    case labelOutOfRange(path: String, record: Int, label: Int, classCount: Int)
    /// An image does not have the expected size or layout.
    case sizeMismatch(path: String, record: Int?, expected: String, found: String)
    /// Two files that must describe the same records disagree on their count.
    case countMismatch(path: String, expected: Int, found: Int)
    /// A gzip / deflate stream is corrupt or incomplete.
    case corruptCompressedData(path: String, reason: String)
    /// A PNG or JPEG could not be decoded.
    case imageDecodeFailed(path: String, reason: String)
    /// A PNG could not be encoded or written.
    case imageEncodeFailed(path: String, reason: String)
    /// The file is structurally invalid in a way not covered by the other cases.
    case invalidFormat(path: String, record: Int?, reason: String)
    /// A data set name not in the catalogue.
    case unknownDataset(name: String, known: [String])
    /// The data set has no such split (for example `lfw-subset` has no test split).
    case splitUnavailable(dataset: String, split: String)
    /// A caller-supplied argument is invalid (an index out of range, an empty selection...).
    case invalidArgument(String)
    /// A downloaded or cached file does not have the expected checksum.
    case checksumMismatch(path: String, algorithm: String, expected: String, actual: String)
    /// A download failed (network error, HTTP status, incomplete body).
    case downloadFailed(url: String, reason: String)
    /// A file could not be written.
    case writeFailed(path: String, reason: String)

    /// A one-line, human-readable diagnostic naming the file and the problem.
    public var description: String {
        switch self {
        case let .fileNotFound(path):
            return "\(path): file not found"
        case let .readFailed(path, reason):
            return "\(path): cannot read: \(reason)"
        case let .truncated(path, record, expected, actual):
            let at = record.map { " (record \($0) is incomplete)" } ?? ""
            return "\(path): truncated: expected \(expected) bytes, found \(actual)\(at)"
        case let .trailingData(path, expected, actual):
            return "\(path): unexpected trailing data: expected \(expected) bytes, found \(actual)"
        case let .badMagic(path, expected, found):
            return "\(path): wrong magic number: expected \(expected), found \(found)"
        case let .labelOutOfRange(path, record, label, classCount):
            return "\(path): record \(record): label \(label) is outside 0..<\(classCount)"
        case let .sizeMismatch(path, record, expected, found):
            let at = record.map { " record \($0):" } ?? ""
            return "\(path):\(at) wrong size: expected \(expected), found \(found)"
        case let .countMismatch(path, expected, found):
            return "\(path): expected \(expected) records, found \(found)"
        case let .corruptCompressedData(path, reason):
            return "\(path): corrupt compressed data: \(reason)"
        case let .imageDecodeFailed(path, reason):
            return "\(path): cannot decode image: \(reason)"
        case let .imageEncodeFailed(path, reason):
            return "\(path): cannot encode image: \(reason)"
        case let .invalidFormat(path, record, reason):
            let at = record.map { " record \($0):" } ?? ""
            return "\(path):\(at) invalid format: \(reason)"
        case let .unknownDataset(name, known):
            return "unknown data set '\(name)'; known: \(known.joined(separator: ", "))"
        case let .splitUnavailable(dataset, split):
            return "data set '\(dataset)' has no '\(split)' split"
        case let .invalidArgument(message):
            return "invalid argument: \(message)"
        case let .checksumMismatch(path, algorithm, expected, actual):
            return "\(path): \(algorithm) checksum mismatch: expected \(expected), got \(actual)"
        case let .downloadFailed(url, reason):
            return "download of \(url) failed: \(reason)"
        case let .writeFailed(path, reason):
            return "\(path): cannot write: \(reason)"
        }
    }
}
