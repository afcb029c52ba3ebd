import Foundation

/// Small file helpers shared by the readers.
enum FileIO {
    /// Reads a whole regular file.
    static func read(_ path: String) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw DataError.fileNotFound(path: path)
        }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
            return [UInt8](data)
        } catch {
            throw DataError.readFailed(path: path, reason: error.localizedDescription)
        }
    }

    /// Reads a file and inflates it when it is gzip data (detected by magic number).
    static func readMaybeGzip(_ path: String) throws -> [UInt8] {
        try Compression.decompressIfGzip(read(path), path: path)
    }

    /// Writes bytes atomically, creating parent directories.
    static func write(_ bytes: [UInt8], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url, options: .atomic)
        } catch {
            throw DataError.writeFailed(path: path, reason: error.localizedDescription)
        }
    }

    static func isFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Finds `name` in `directory` (or in one of `subdirectories`), also accepting the
    /// name with `.gz` added or removed, so both the official `.gz` files and their
    /// decompressed copies are found.
    static func locate(_ name: String, in directory: String, subdirectories: [String] = []) -> String? {
        var candidates = [name]
        if name.hasSuffix(".gz") { candidates.append(String(name.dropLast(3))) } else { candidates.append(name + ".gz") }
        for folder in [directory] + subdirectories.map({ (directory as NSString).appendingPathComponent($0) }) {
            for candidate in candidates {
                let path = (folder as NSString).appendingPathComponent(candidate)
                if isFile(path) { return path }
            }
        }
        return nil
    }

    /// Like ``locate(_:in:subdirectories:)`` but throws ``DataError/fileNotFound(path:)``.
    static func require(_ name: String, in directory: String, subdirectories: [String] = []) throws -> String {
        guard let path = locate(name, in: directory, subdirectories: subdirectories) else {
            throw DataError.fileNotFound(path: (directory as NSString).appendingPathComponent(name))
        }
        return path
    }

    /// Converts 8-bit pixels to floats in [0, 1].
    static func unitFloats(_ bytes: [UInt8]) -> [Float] {
        [Float](unsafeUninitializedCapacity: bytes.count) { buffer, initialized in
            bytes.withUnsafeBufferPointer { source in
                guard let src = source.baseAddress, let dst = buffer.baseAddress else { return }
                let table = (0..<256).map { Float($0) / 255 }
                table.withUnsafeBufferPointer { lookup in
                    guard let lut = lookup.baseAddress else { return }
                    for i in 0..<source.count { dst[i] = lut[Int(src[i])] }
                }
            }
            initialized = bytes.count
        }
    }

    /// Converts floats in [0, 1] to 8-bit pixels (clamped, rounded; NaN becomes 0).
    static func bytes(fromUnit values: [Float]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: values.count) { buffer, initialized in
            values.withUnsafeBufferPointer { source in
                guard let src = source.baseAddress, let dst = buffer.baseAddress else { return }
                for i in 0..<source.count {
                    let v = src[i]
                    let clamped = v.isNaN ? 0 : min(max(v, 0), 1)
                    dst[i] = UInt8((clamped * 255).rounded())
                }
            }
            initialized = values.count
        }
    }
}
