import CZlib
import Foundation

/// Gzip and raw-deflate decompression through zlib.
///
/// Readers call ``Compression/decompressIfGzip(_:path:)`` on every file they
/// load, so `.gz` files and their decompressed twins are read the same way
/// regardless of the file name.
public enum Compression {
    /// Whether `bytes` starts with the gzip magic number `1f 8b`.
    public static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    /// Returns `bytes` inflated if it is gzip data (detected by magic number), or
    /// `bytes` unchanged otherwise. Concatenated gzip members are all inflated.
    ///
    /// - Throws: ``DataError/corruptCompressedData(path:reason:)`` for a corrupt or
    ///   truncated stream.
    public static func decompressIfGzip(_ bytes: [UInt8], path: String) throws -> [UInt8] {
        guard isGzip(bytes) else { return bytes }
        return try gunzip(bytes, path: path)
    }

    /// Inflates gzip data (all members). `path` is used in error messages.
    public static func gunzip(_ bytes: [UInt8], path: String) throws -> [UInt8] {
        guard isGzip(bytes) else {
            throw DataError.badMagic(path: path, expected: "gzip 1f 8b", found: hexPrefix(bytes, 2))
        }
        // ISIZE (the last four bytes) is the uncompressed size modulo 2^32: a good
        // first guess for the output buffer when it is plausible.
        var hint = bytes.count * 4
        if bytes.count >= 18 {
            let n = bytes.count
            let isize = Int(bytes[n - 4]) | Int(bytes[n - 3]) << 8 | Int(bytes[n - 2]) << 16 | Int(bytes[n - 1]) << 24
            if isize >= bytes.count / 2 && isize <= bytes.count * 1100 { hint = isize }
        }
        var output: [UInt8] = []
        output.reserveCapacity(hint)
        let inflater = try Inflater(format: .gzip, path: path)
        try bytes.withUnsafeBufferPointer { input in
            try inflater.feed(UnsafeRawBufferPointer(input)) { chunk in output.append(contentsOf: chunk) }
        }
        try inflater.finish()
        return output
    }

    /// Compresses `bytes` into a single gzip member (used for writing fixtures and samples).
    public static func gzip(_ bytes: [UInt8], level: Int32 = 9) throws -> [UInt8] {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { deflateEnd(stream); stream.deinitialize(count: 1); stream.deallocate() }
        // windowBits 15 + 16 selects the gzip wrapper.
        let status = deflateInit2_(stream, level, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY,
                                   zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            throw DataError.invalidArgument("deflateInit2 failed with status \(status)")
        }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(stream, uLong(bytes.count))) + 64)
        let produced: Int = try bytes.withUnsafeBufferPointer { input in
            try output.withUnsafeMutableBufferPointer { out in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.pointee.avail_in = uInt(input.count)
                stream.pointee.next_out = out.baseAddress
                stream.pointee.avail_out = uInt(out.count)
                let result = deflate(stream, Z_FINISH)
                guard result == Z_STREAM_END else {
                    throw DataError.invalidArgument("deflate failed with status \(result)")
                }
                return out.count - Int(stream.pointee.avail_out)
            }
        }
        output.removeSubrange(produced...)
        return output
    }

    static func hexPrefix(_ bytes: [UInt8], _ count: Int) -> String {
        let shown = bytes.prefix(count).map { String(format: "%02x", $0) }.joined(separator: " ")
        return shown.isEmpty ? "(empty)" : shown
    }
}

/// A streaming zlib inflater: feed compressed chunks, receive decompressed chunks.
///
/// Used for whole-buffer gunzip and for streaming extraction of `.tar.gz` and
/// zip archives without holding the whole archive in memory.
final class Inflater {
    enum Format {
        /// gzip wrapper; concatenated members are accepted.
        case gzip
        /// Raw deflate (zip entries).
        case raw
    }

    private let stream: UnsafeMutablePointer<z_stream>
    private let format: Format
    private let path: String
    private var outputBuffer: [UInt8]
    private(set) var finished = false
    private var needsReset = false

    init(format: Format, path: String) throws {
        self.format = format
        self.path = path
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        outputBuffer = [UInt8](repeating: 0, count: 1 << 18)
        let bits: Int32 = format == .gzip ? 31 : -15
        let status = inflateInit2_(stream, bits, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw DataError.corruptCompressedData(path: path, reason: "inflateInit2 failed with status \(status)")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Feeds compressed bytes; `sink` receives every decompressed chunk.
    func feed(_ input: UnsafeRawBufferPointer, sink: (UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        guard input.count > 0 else { return }
        var offset = 0
        while offset < input.count {
            if finished {
                // Data after the end of the stream: for gzip this may be another member.
                let rest = input.count - offset
                guard format == .gzip, rest > 0 else {
                    throw DataError.corruptCompressedData(path: path, reason: "data after end of deflate stream")
                }
                if needsReset {
                    let first = input[offset]
                    // Some writers pad gzip files with zero bytes: accept trailing zeros.
                    if first == 0 && input[offset...].allSatisfy({ $0 == 0 }) { return }
                    guard inflateReset(stream) == Z_OK else {
                        throw DataError.corruptCompressedData(path: path, reason: "inflateReset failed")
                    }
                    needsReset = false
                    finished = false
                }
            }
            let consumed = try step(input: input, offset: offset, sink: sink)
            if consumed == 0 && !finished {
                throw DataError.corruptCompressedData(path: path, reason: "inflate made no progress")
            }
            offset += consumed
        }
    }

    private func step(input: UnsafeRawBufferPointer, offset: Int,
                      sink: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Int {
        guard let base = input.baseAddress else { return input.count - offset }
        let available = input.count - offset
        let chunk = min(available, Int(UInt32.max / 2))
        stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self) + offset)
        stream.pointee.avail_in = uInt(chunk)
        var status: Int32 = Z_OK
        repeat {
            let produced: Int = outputBuffer.withUnsafeMutableBufferPointer { out in
                stream.pointee.next_out = out.baseAddress
                stream.pointee.avail_out = uInt(out.count)
                status = inflate(stream, Z_NO_FLUSH)
                return out.count - Int(stream.pointee.avail_out)
            }
            switch status {
            case Z_OK, Z_STREAM_END, Z_BUF_ERROR:
                break
            case Z_NEED_DICT:
                throw DataError.corruptCompressedData(path: path, reason: "stream needs a preset dictionary")
            default:
                throw DataError.corruptCompressedData(path: path, reason: zlibMessage(status))
            }
            if produced > 0 {
                try outputBuffer.withUnsafeBufferPointer { out in
                    try sink(UnsafeBufferPointer(rebasing: out[0..<produced]))
                }
            }
            if status == Z_STREAM_END {
                finished = true
                needsReset = true
                break
            }
            if status == Z_BUF_ERROR && produced == 0 { break }
        } while stream.pointee.avail_in > 0 || stream.pointee.avail_out == 0
        return chunk - Int(stream.pointee.avail_in)
    }

    /// Checks that the stream ended properly (all input formed complete members).
    func finish() throws {
        guard finished else {
            throw DataError.corruptCompressedData(path: path, reason: "unexpected end of compressed stream (truncated file)")
        }
    }

    private func zlibMessage(_ status: Int32) -> String {
        if let message = stream.pointee.msg { return String(cString: message) }
        return "zlib status \(status)"
    }
}
