import Foundation

/// The contents of an IDX file (the MNIST family's format): big-endian header
/// `00 00 <type> <rank>`, `rank` 32-bit dimensions, then the data.
public struct IDXArray: Sendable, Equatable {
    /// Dimensions, outermost first (for images `[count, rows, columns]`).
    public let dimensions: [Int]
    /// The unsigned-byte payload (type code 0x08), row-major.
    public let bytes: [UInt8]
}

/// Readers for IDX files (MNIST, Fashion-MNIST, KMNIST, EMNIST, the LFW subset).
/// Gzip-compressed files are inflated transparently (detected by magic number).
public enum IDXReader {
    /// Parses IDX bytes holding unsigned bytes (type 0x08) of the given rank.
    ///
    /// - Throws: ``DataError/badMagic(path:expected:found:)`` for a wrong magic
    ///   number, type or rank; ``DataError/truncated(path:record:expectedBytes:actualBytes:)``
    ///   when the data stops early (the record is the first incomplete one);
    ///   ``DataError/trailingData(path:expectedBytes:actualBytes:)`` when it goes on.
    public static func parse(_ bytes: [UInt8], expectedRank: Int, path: String) throws -> IDXArray {
        guard bytes.count >= 4 else {
            throw DataError.truncated(path: path, record: nil, expectedBytes: 4, actualBytes: bytes.count)
        }
        let expectedMagic = String(format: "00 00 08 %02x", expectedRank)
        guard bytes[0] == 0, bytes[1] == 0, bytes[2] == 0x08, Int(bytes[3]) == expectedRank else {
            throw DataError.badMagic(path: path, expected: expectedMagic + " (unsigned bytes, rank \(expectedRank))",
                                     found: Compression.hexPrefix(bytes, 4))
        }
        let headerSize = 4 + 4 * expectedRank
        guard bytes.count >= headerSize else {
            throw DataError.truncated(path: path, record: nil, expectedBytes: headerSize, actualBytes: bytes.count)
        }
        var dimensions: [Int] = []
        for d in 0..<expectedRank {
            let o = 4 + 4 * d
            dimensions.append(Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3]))
        }
        var payload = 1
        for d in dimensions {
            let (product, overflow) = payload.multipliedReportingOverflow(by: d)
            guard !overflow, product <= Int(Int32.max) * 16 else {
                throw DataError.invalidFormat(path: path, record: nil, reason: "dimensions \(dimensions) are implausibly large")
            }
            payload = product
        }
        let expected = headerSize + payload
        if bytes.count < expected {
            let recordSize = dimensions.dropFirst().reduce(1, *)
            let complete = recordSize > 0 ? (bytes.count - headerSize) / recordSize : 0
            throw DataError.truncated(path: path, record: complete, expectedBytes: expected, actualBytes: bytes.count)
        }
        if bytes.count > expected {
            throw DataError.trailingData(path: path, expectedBytes: expected, actualBytes: bytes.count)
        }
        return IDXArray(dimensions: dimensions, bytes: Array(bytes[headerSize...]))
    }

    /// Reads an image file (rank 3: count × rows × columns).
    ///
    /// - Parameter transposed: set for EMNIST, whose images are stored
    ///   transposed (column-major); they are transposed back on read.
    /// - Returns: the image count, rows, columns and pixels (count × rows × columns).
    public static func readImages(_ path: String, transposed: Bool = false) throws -> (count: Int, rows: Int, columns: Int, pixels: [UInt8]) {
        let array = try parse(FileIO.readMaybeGzip(path), expectedRank: 3, path: path)
        let count = array.dimensions[0], rows = array.dimensions[1], columns = array.dimensions[2]
        guard rows > 0, columns > 0 else {
            throw DataError.invalidFormat(path: path, record: nil, reason: "image size \(rows)×\(columns) is empty")
        }
        guard transposed else { return (count, rows, columns, array.bytes) }
        // Stored pixel (r, c) of a transposed file is image pixel (c, r): the
        // stored rows × columns block is the image's columns × rows.
        var pixels = [UInt8](repeating: 0, count: array.bytes.count)
        let size = rows * columns
        array.bytes.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { target in
                for n in 0..<count {
                    let base = n * size
                    for r in 0..<rows {
                        for c in 0..<columns {
                            target[base + c * rows + r] = source[base + r * columns + c]
                        }
                    }
                }
            }
        }
        return (count, columns, rows, pixels)
    }

    /// Reads a label file (rank 1).
    public static func readLabels(_ path: String) throws -> [UInt8] {
        try parse(FileIO.readMaybeGzip(path), expectedRank: 1, path: path).bytes
    }

    /// Reads a pair of IDX image and label files into a data set.
    ///
    /// - Parameters:
    ///   - classCount: labels must lie in `0..<classCount`.
    ///   - transposed: EMNIST layout (see ``readImages(_:transposed:)``).
    ///   - normalization: known statistics, or `nil` to compute them from the images.
    /// - Throws: ``DataError/countMismatch(path:expected:found:)`` when the files
    ///   disagree on the number of records, ``DataError/labelOutOfRange(path:record:label:classCount:)``
    ///   for a bad label, and the errors of ``parse(_:expectedRank:path:)``.
    public static func load(images imagesPath: String, labels labelsPath: String, name: String, classCount: Int,
                            classNames: [String]? = nil, transposed: Bool = false,
                            normalization: Normalization? = nil) throws -> ImageDataset {
        let labelBytes = try readLabels(labelsPath)
        let images = try readImages(imagesPath, transposed: transposed)
        guard labelBytes.count == images.count else {
            throw DataError.countMismatch(path: labelsPath, expected: images.count, found: labelBytes.count)
        }
        if let bad = labelBytes.firstIndex(where: { Int($0) >= classCount }) {
            throw DataError.labelOutOfRange(path: labelsPath, record: bad, label: Int(labelBytes[bad]), classCount: classCount)
        }
        return try ImageDataset(name: name, images: FileIO.unitFloats(images.pixels), labels: labelBytes.map { Int($0) },
                                channels: 1, height: images.rows, width: images.columns, classCount: classCount,
                                classNames: classNames, normalization: normalization)
    }

    /// Encodes unsigned bytes as an IDX file (used by tests and the sample extraction).
    public static func encode(dimensions: [Int], bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0, 0, 0x08, UInt8(truncatingIfNeeded: dimensions.count)]
        for d in dimensions {
            let v = UInt32(truncatingIfNeeded: d)
            out += [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
        }
        return out + bytes
    }
}
