import Foundation

/// Readers for the CIFAR-10 / CIFAR-100 binary versions (and data in the same
/// layout, such as the `photos32` patches). Gzip-compressed files are accepted.
///
/// Each CIFAR-10 record is 1 label byte then 3072 pixel bytes (1024 red, 1024
/// green, 1024 blue, each plane row-major 32×32). CIFAR-100 records have two
/// label bytes (coarse, fine) before the pixels.
public enum CIFARReader {
    /// Which label of a CIFAR-100 record to use.
    public enum LabelKind: String, Sendable {
        /// The 20 super-classes (first label byte).
        case coarse
        /// The 100 classes (second label byte).
        case fine
    }

    /// Image side length of CIFAR records.
    public static let side = 32
    /// Pixel bytes per record (3 × 32 × 32).
    public static let pixelBytes = 3 * 32 * 32

    /// Reads CIFAR-10-layout files (1 label byte + 3072 pixel bytes per record).
    ///
    /// - Parameters:
    ///   - paths: the batch files, concatenated in order.
    ///   - classCount: labels must lie in `0..<classCount` (10 for CIFAR-10).
    /// - Throws: ``DataError/truncated(path:record:expectedBytes:actualBytes:)`` when
    ///   a file is not a whole number of records, ``DataError/labelOutOfRange(path:record:label:classCount:)``.
    public static func readCIFAR10(_ paths: [String], name: String = "cifar10", classCount: Int = 10,
                                   classNames: [String]? = nil, normalization: Normalization? = nil) throws -> ImageDataset {
        try read(paths, labelBytes: 1, labelIndex: 0, classCount: classCount, name: name,
                 classNames: classNames, normalization: normalization)
    }

    /// Reads CIFAR-100 binary files (coarse byte, fine byte, 3072 pixel bytes per record).
    public static func readCIFAR100(_ paths: [String], labels kind: LabelKind = .fine, name: String = "cifar100",
                                    classNames: [String]? = nil, normalization: Normalization? = nil) throws -> ImageDataset {
        try read(paths, labelBytes: 2, labelIndex: kind == .coarse ? 0 : 1, classCount: kind == .coarse ? 20 : 100,
                 name: name, classNames: classNames, normalization: normalization)
    }

    static func read(_ paths: [String], labelBytes: Int, labelIndex: Int, classCount: Int, name: String,
                     classNames: [String]?, normalization: Normalization?) throws -> ImageDataset {
        guard !paths.isEmpty else { throw DataError.invalidArgument("no CIFAR files given for \(name)") }
        let recordSize = labelBytes + pixelBytes
        var labels: [Int] = []
        var pixels: [UInt8] = []
        for path in paths {
            let bytes = try FileIO.readMaybeGzip(path)
            guard !bytes.isEmpty else {
                throw DataError.truncated(path: path, record: 0, expectedBytes: recordSize, actualBytes: 0)
            }
            let records = bytes.count / recordSize
            guard bytes.count % recordSize == 0 else {
                throw DataError.truncated(path: path, record: records, expectedBytes: (records + 1) * recordSize,
                                          actualBytes: bytes.count)
            }
            labels.reserveCapacity(labels.count + records)
            pixels.reserveCapacity(pixels.count + records * pixelBytes)
            for r in 0..<records {
                let start = r * recordSize
                let label = Int(bytes[start + labelIndex])
                guard label < classCount else {
                    throw DataError.labelOutOfRange(path: path, record: r, label: label, classCount: classCount)
                }
                labels.append(label)
                pixels.append(contentsOf: bytes[(start + labelBytes)..<(start + recordSize)])
            }
        }
        return try ImageDataset(name: name, images: FileIO.unitFloats(pixels), labels: labels, channels: 3,
                                height: side, width: side, classCount: classCount, classNames: classNames,
                                normalization: normalization)
    }

    /// Reads a class-name file (one name per line, blank lines ignored), such as
    /// `batches.meta.txt`, `fine_label_names.txt` or `classes.txt`.
    public static func readClassNames(_ path: String) throws -> [String] {
        let bytes = try FileIO.readMaybeGzip(path)
        let text = String(decoding: bytes, as: UTF8.self)
        return text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }

    /// Encodes one CIFAR record: label bytes followed by the planar pixels (used by
    /// tests and the sample extraction). `pixels` must hold 3072 bytes.
    public static func encodeRecord(labels: [UInt8], pixels: [UInt8]) -> [UInt8] {
        labels + pixels
    }
}
