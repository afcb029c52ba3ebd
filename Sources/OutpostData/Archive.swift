import CZlib
import Foundation

/// Extraction of the archives data sets are distributed in: `.tar.gz` (CIFAR)
/// and `.zip` (EMNIST's `gzip.zip`). Both are streamed from disk, so large
/// archives are never held in memory.
///
/// Only regular files are extracted; member paths that are absolute or contain
/// `..` are rejected.
public enum ArchiveExtractor {
    /// Extracts a gzip-compressed tar archive into `directory`.
    ///
    /// - Parameter members: path prefixes to extract; empty extracts every regular file.
    /// - Returns: the paths written.
    /// - Throws: ``DataError/corruptCompressedData(path:reason:)``, ``DataError/invalidFormat(path:record:reason:)``
    ///   for a malformed tar header (the record is the member index), ``DataError/truncated(path:record:expectedBytes:actualBytes:)``.
    @discardableResult
    public static func extractTarGz(_ archive: String, into directory: String, members: [String] = []) throws -> [String] {
        guard let input = FileHandle(forReadingAtPath: archive) else { throw DataError.fileNotFound(path: archive) }
        defer { try? input.close() }
        let inflater = try Inflater(format: .gzip, path: archive)
        var parser = TarParser(archive: archive, directory: directory, members: members)
        while true {
            let chunk: Data
            do {
                chunk = try input.read(upToCount: 1 << 20) ?? Data()
            } catch {
                throw DataError.readFailed(path: archive, reason: error.localizedDescription)
            }
            if chunk.isEmpty { break }
            try chunk.withUnsafeBytes { raw in
                try inflater.feed(raw) { try parser.consume($0) }
            }
        }
        try inflater.finish()
        try parser.finish()
        return parser.written
    }

    /// Extracts a zip archive (stored or deflated entries, no ZIP64) into `directory`,
    /// checking each entry's CRC-32 and size.
    ///
    /// - Parameter members: path prefixes to extract; empty extracts every file.
    /// - Returns: the paths written.
    @discardableResult
    public static func extractZip(_ archive: String, into directory: String, members: [String] = []) throws -> [String] {
        guard let handle = FileHandle(forReadingAtPath: archive) else { throw DataError.fileNotFound(path: archive) }
        defer { try? handle.close() }
        let size: UInt64
        do { size = try handle.seekToEnd() } catch {
            throw DataError.readFailed(path: archive, reason: error.localizedDescription)
        }
        func read(at offset: UInt64, count: Int) throws -> [UInt8] {
            do {
                try handle.seek(toOffset: offset)
                let data = try handle.read(upToCount: count) ?? Data()
                guard data.count == count else {
                    throw DataError.truncated(path: archive, record: nil, expectedBytes: Int(offset) + count,
                                              actualBytes: Int(offset) + data.count)
                }
                return [UInt8](data)
            } catch let error as DataError {
                throw error
            } catch {
                throw DataError.readFailed(path: archive, reason: error.localizedDescription)
            }
        }
        func u16(_ b: [UInt8], _ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
        func u32(_ b: [UInt8], _ o: Int) -> Int { u16(b, o) | u16(b, o + 2) << 16 }

        // End of central directory: the last 22 bytes plus at most 64 KiB of comment.
        let tailSize = Int(min(size, 22 + 65_535))
        guard tailSize >= 22 else {
            throw DataError.truncated(path: archive, record: nil, expectedBytes: 22, actualBytes: Int(size))
        }
        let tail = try read(at: size - UInt64(tailSize), count: tailSize)
        var eocd: Int?
        var position = tail.count - 22
        while position >= 0 {
            if tail[position] == 0x50, tail[position + 1] == 0x4b, tail[position + 2] == 5, tail[position + 3] == 6 {
                eocd = position
                break
            }
            position -= 1
        }
        guard let end = eocd else {
            throw DataError.badMagic(path: archive, expected: "zip end-of-central-directory record 50 4b 05 06", found: "none")
        }
        let entryCount = u16(tail, end + 10)
        let directorySize = u32(tail, end + 12)
        let directoryOffset = u32(tail, end + 16)
        guard entryCount != 0xFFFF, directoryOffset != 0xFFFF_FFFF else {
            throw DataError.invalidFormat(path: archive, record: nil, reason: "ZIP64 archives are not supported")
        }
        guard UInt64(directoryOffset) + UInt64(directorySize) <= size else {
            throw DataError.truncated(path: archive, record: nil, expectedBytes: directoryOffset + directorySize, actualBytes: Int(size))
        }
        let central = try read(at: UInt64(directoryOffset), count: directorySize)
        var cursor = 0
        var written: [String] = []
        for index in 0..<entryCount {
            guard cursor + 46 <= central.count, u32(central, cursor) == 0x0201_4b50 else {
                throw DataError.invalidFormat(path: archive, record: index, reason: "bad central directory entry")
            }
            let method = u16(central, cursor + 10)
            let crc = UInt32(u32(central, cursor + 16))
            let compressedSize = u32(central, cursor + 20)
            let uncompressedSize = u32(central, cursor + 24)
            let nameLength = u16(central, cursor + 28)
            let extraLength = u16(central, cursor + 30)
            let commentLength = u16(central, cursor + 32)
            let localOffset = u32(central, cursor + 42)
            guard cursor + 46 + nameLength <= central.count else {
                throw DataError.invalidFormat(path: archive, record: index, reason: "entry name runs past the central directory")
            }
            let name = String(decoding: central[(cursor + 46)..<(cursor + 46 + nameLength)], as: UTF8.self)
            cursor += 46 + nameLength + extraLength + commentLength
            if name.hasSuffix("/") { continue }
            guard members.isEmpty || members.contains(where: { name.hasPrefix($0) }) else { continue }
            guard compressedSize != 0xFFFF_FFFF, uncompressedSize != 0xFFFF_FFFF else {
                throw DataError.invalidFormat(path: archive, record: index, reason: "ZIP64 entry '\(name)' is not supported")
            }
            guard method == 0 || method == 8 else {
                throw DataError.invalidFormat(path: archive, record: index, reason: "entry '\(name)' uses unsupported compression method \(method)")
            }
            let target = try safeDestination(for: name, in: directory, archive: archive, index: index)
            let local = try read(at: UInt64(localOffset), count: 30)
            guard u32(local, 0) == 0x0403_4b50 else {
                throw DataError.badMagic(path: archive, expected: "local file header 50 4b 03 04 for '\(name)'",
                                         found: Compression.hexPrefix(local, 4))
            }
            let dataOffset = UInt64(localOffset) + 30 + UInt64(u16(local, 26)) + UInt64(u16(local, 28))
            guard dataOffset + UInt64(compressedSize) <= size else {
                throw DataError.truncated(path: archive, record: index, expectedBytes: Int(dataOffset) + compressedSize,
                                          actualBytes: Int(size))
            }
            let writer = try OutputFile(path: target)
            var checksum: uLong = crc32(0, nil, 0)
            var produced = 0
            let sink: (UnsafeBufferPointer<UInt8>) throws -> Void = { chunk in
                checksum = crc32(checksum, chunk.baseAddress, uInt(chunk.count))
                produced += chunk.count
                try writer.write(chunk)
            }
            let inflater = method == 8 ? try Inflater(format: .raw, path: archive + ":" + name) : nil
            var remaining = compressedSize
            var offset = dataOffset
            while remaining > 0 {
                let count = min(remaining, 1 << 20)
                let block = try read(at: offset, count: count)
                try block.withUnsafeBufferPointer { buffer in
                    if let inflater {
                        try inflater.feed(UnsafeRawBufferPointer(buffer), sink: sink)
                    } else {
                        try sink(buffer)
                    }
                }
                remaining -= count
                offset += UInt64(count)
            }
            try inflater?.finish()
            try writer.close()
            guard produced == uncompressedSize else {
                try? FileManager.default.removeItem(atPath: target)
                throw DataError.sizeMismatch(path: archive, record: index, expected: "\(uncompressedSize) bytes for '\(name)'",
                                             found: "\(produced) bytes")
            }
            guard UInt32(truncatingIfNeeded: checksum) == crc else {
                try? FileManager.default.removeItem(atPath: target)
                throw DataError.checksumMismatch(path: archive + ":" + name, algorithm: "crc32",
                                                 expected: String(format: "%08x", crc),
                                                 actual: String(format: "%08x", UInt32(truncatingIfNeeded: checksum)))
            }
            written.append(target)
        }
        return written
    }

    /// Resolves a member name inside `directory`, rejecting absolute paths and `..`.
    static func safeDestination(for name: String, in directory: String, archive: String, index: Int) throws -> String {
        let parts = name.split(separator: "/", omittingEmptySubsequences: true)
        guard !name.hasPrefix("/"), !parts.isEmpty, !parts.contains(where: { $0 == ".." }) else {
            throw DataError.invalidFormat(path: archive, record: index, reason: "unsafe member path '\(name)'")
        }
        return parts.reduce(directory) { ($0 as NSString).appendingPathComponent(String($1)) }
    }
}

/// A file being written in chunks (created with its parent folders).
final class OutputFile {
    let path: String
    private let handle: FileHandle

    init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw DataError.writeFailed(path: path, reason: error.localizedDescription)
        }
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw DataError.writeFailed(path: path, reason: "cannot create file")
        }
        self.handle = handle
    }

    func write(_ bytes: UnsafeBufferPointer<UInt8>) throws {
        guard bytes.count > 0 else { return }
        do { try handle.write(contentsOf: Data(buffer: bytes)) } catch {
            throw DataError.writeFailed(path: path, reason: error.localizedDescription)
        }
    }

    func close() throws {
        do { try handle.close() } catch {
            throw DataError.writeFailed(path: path, reason: error.localizedDescription)
        }
    }
}

/// Incremental ustar parser fed with decompressed bytes.
struct TarParser {
    let archive: String
    let directory: String
    let members: [String]
    private(set) var written: [String] = []
    private var header: [UInt8] = []
    private var remaining = 0       // data bytes left in the current member
    private var padding = 0         // zero padding after the member data
    private var output: OutputFile?
    private var ended = false
    private var memberIndex = 0
    private var longName: String?
    private var collectingLongName: [UInt8]?

    init(archive: String, directory: String, members: [String]) {
        self.archive = archive
        self.directory = directory
        self.members = members
        header.reserveCapacity(512)
    }

    mutating func consume(_ chunk: UnsafeBufferPointer<UInt8>) throws {
        var offset = 0
        while offset < chunk.count {
            if ended { return }  // zero blocks / padding after the end marker
            if remaining > 0 {
                let take = min(remaining, chunk.count - offset)
                let piece = UnsafeBufferPointer(rebasing: chunk[offset..<(offset + take)])
                if let output { try output.write(piece) }
                if collectingLongName != nil { collectingLongName?.append(contentsOf: piece) }
                remaining -= take
                offset += take
                if remaining == 0 { try endMember() }
                continue
            }
            if padding > 0 {
                let take = min(padding, chunk.count - offset)
                padding -= take
                offset += take
                continue
            }
            let take = min(512 - header.count, chunk.count - offset)
            header.append(contentsOf: chunk[offset..<(offset + take)])
            offset += take
            if header.count == 512 {
                try startMember()
                header.removeAll(keepingCapacity: true)
            }
        }
    }

    private mutating func startMember() throws {
        if header.allSatisfy({ $0 == 0 }) {
            ended = true
            return
        }
        let index = memberIndex
        memberIndex += 1
        // Header checksum: sum of all bytes with the checksum field read as spaces.
        var sum = 0
        for (i, byte) in header.enumerated() { sum += (148..<156).contains(i) ? 32 : Int(byte) }
        guard let stored = octal(header[148..<156]), stored == sum else {
            throw DataError.invalidFormat(path: archive, record: index, reason: "tar header checksum mismatch")
        }
        guard let size = octal(header[124..<136]), size >= 0 else {
            throw DataError.invalidFormat(path: archive, record: index, reason: "bad size field in tar header")
        }
        let type = header[156]
        var name = field(header[0..<100])
        if header[257..<262].elementsEqual("ustar".utf8) {
            let prefix = field(header[345..<500])
            if !prefix.isEmpty { name = prefix + "/" + name }
        }
        if let long = longName {
            name = long
            longName = nil
        }
        remaining = size
        padding = (512 - size % 512) % 512
        switch type {
        case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
            let wanted = members.isEmpty || members.contains { name.hasPrefix($0) }
            if wanted {
                let path = try ArchiveExtractor.safeDestination(for: name, in: directory, archive: archive, index: index)
                output = try OutputFile(path: path)
                written.append(path)
            }
        case UInt8(ascii: "L"):
            collectingLongName = []   // GNU long name for the next member
        default:
            break                      // directories, links, pax headers: skipped
        }
        if remaining == 0 { try endMember() }
    }

    private mutating func endMember() throws {
        if let output {
            try output.close()
            self.output = nil
        }
        if let bytes = collectingLongName {
            longName = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            collectingLongName = nil
        }
    }

    func finish() throws {
        guard remaining == 0, header.isEmpty else {
            throw DataError.invalidFormat(path: archive, record: max(memberIndex - 1, 0),
                                          reason: "archive ends inside a member (\(remaining) data bytes and \(header.count) header bytes pending)")
        }
    }

    private func field(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    private func octal(_ bytes: ArraySlice<UInt8>) -> Int? {
        let text = field(bytes).trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
        guard !text.isEmpty else { return 0 }
        return Int(text, radix: 8)
    }
}
