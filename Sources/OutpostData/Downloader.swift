import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Fetches data set files from their official URLs.
///
/// Each file is written to `<name>.part` while it downloads and renamed when it
/// is complete and its checksum matches. An interrupted download leaves the
/// `.part` file; the next call resumes it with an HTTP `Range` request (a server
/// that ignores the range is handled by starting over). A checksum mismatch
/// deletes the `.part` file, so the next attempt starts from scratch. Mirrors are
/// tried in order. `http`, `https` and `file` URLs are supported.
///
/// Archives (CIFAR `.tar.gz`, EMNIST `gzip.zip`) are unpacked after download by
/// ``download(dataset:into:)``.
public final class Downloader: Sendable {
    /// Timeout for each request (seconds without progress).
    public let timeout: TimeInterval
    private let log: (@Sendable (String) -> Void)?

    /// Creates a downloader.
    /// - Parameters:
    ///   - timeout: request timeout in seconds.
    ///   - log: receives one line per notable event (start, resume, skip, verify).
    public init(timeout: TimeInterval = 60, log: (@Sendable (String) -> Void)? = nil) {
        self.timeout = timeout
        self.log = log
    }

    /// Downloads every file of the named catalogue data set into `directory`
    /// (created if needed) and unpacks archives. Existing files whose checksum
    /// matches are not downloaded again.
    ///
    /// - Returns: the paths of the downloaded (and extracted) files.
    /// - Throws: ``DataError/invalidArgument(_:)`` for a local-only data set, and
    ///   the errors of ``fetch(_:into:)``.
    @discardableResult
    public func download(dataset name: String, into directory: String) throws -> [String] {
        let entry = try DatasetCatalogue.descriptor(named: name)
        guard !entry.downloads.isEmpty else {
            throw DataError.invalidArgument("data set '\(entry.name)' has no download source; copy its files into \(directory)")
        }
        var paths: [String] = []
        for file in entry.downloads {
            let path = try fetch(file, into: directory)
            paths.append(path)
            switch entry.archive {
            case .tarGz?:
                log?("extracting \(path)")
                paths += try ArchiveExtractor.extractTarGz(path, into: directory, members: entry.archiveMembers)
            case .zip?:
                log?("extracting \(path)")
                paths += try ArchiveExtractor.extractZip(path, into: directory, members: entry.archiveMembers)
            case nil:
                break
            }
        }
        return paths
    }

    /// Downloads one file into `directory`, trying each mirror until one succeeds.
    ///
    /// - Returns: the path of the complete, verified file.
    /// - Throws: ``DataError/downloadFailed(url:reason:)`` (with the partial data
    ///   kept for resuming) or ``DataError/checksumMismatch(path:algorithm:expected:actual:)``
    ///   from the last mirror tried.
    @discardableResult
    public func fetch(_ file: RemoteFile, into directory: String) throws -> String {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw DataError.writeFailed(path: directory, reason: error.localizedDescription)
        }
        let destination = (directory as NSString).appendingPathComponent(file.name)
        if FileIO.isFile(destination) {
            if let checksum = file.checksum {
                do {
                    try Digest.verify(file: destination, against: checksum)
                    log?("\(file.name): present, \(checksum.algorithm) verified")
                    return destination
                } catch DataError.checksumMismatch {
                    log?("\(file.name): present but checksum differs, downloading again")
                    try? FileManager.default.removeItem(atPath: destination)
                }
            } else {
                log?("\(file.name): present (no published checksum to verify)")
                return destination
            }
        }
        guard !file.urls.isEmpty else { throw DataError.invalidArgument("no URL for \(file.name)") }
        var lastError: Error = DataError.downloadFailed(url: file.name, reason: "no mirror tried")
        for url in file.urls {
            do {
                try transfer(url, to: destination, checksum: file.checksum)
                return destination
            } catch {
                log?("\(url.absoluteString): \(error)")
                lastError = error
            }
        }
        throw lastError
    }

    private func transfer(_ url: URL, to destination: String, checksum: Checksum?) throws {
        let part = destination + ".part"
        let existing = (try? FileManager.default.attributesOfItem(atPath: part)[.size] as? NSNumber)?.int64Value ?? 0
        if url.isFileURL {
            try copyLocal(url, to: part, offset: existing)
        } else {
            try httpDownload(url, to: part, offset: existing)
        }
        if let checksum {
            do {
                try Digest.verify(file: part, against: checksum)
            } catch let DataError.checksumMismatch(_, algorithm, expected, actual) {
                try? FileManager.default.removeItem(atPath: part)
                throw DataError.checksumMismatch(path: destination, algorithm: algorithm, expected: expected, actual: actual)
            }
        }
        do {
            if FileManager.default.fileExists(atPath: destination) { try FileManager.default.removeItem(atPath: destination) }
            try FileManager.default.moveItem(atPath: part, toPath: destination)
        } catch {
            throw DataError.writeFailed(path: destination, reason: error.localizedDescription)
        }
        log?("\(destination): complete" + (checksum.map { ", \($0.algorithm) verified" } ?? ""))
    }

    private func copyLocal(_ url: URL, to part: String, offset: Int64) throws {
        let source = url.path
        guard let input = FileHandle(forReadingAtPath: source) else {
            throw DataError.downloadFailed(url: url.absoluteString, reason: "file not found")
        }
        defer { try? input.close() }
        do {
            let size = try input.seekToEnd()
            var start = UInt64(max(offset, 0))
            if start > size { start = 0 }
            if start > 0 { log?("\(url.lastPathComponent): resuming at byte \(start)") }
            let writer = try PartFile(path: part, truncate: start == 0)
            defer { writer.close() }
            try input.seek(toOffset: start)
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                try writer.append(chunk)
            }
        } catch let error as DataError {
            throw error
        } catch {
            throw DataError.downloadFailed(url: url.absoluteString, reason: error.localizedDescription)
        }
    }

    private func httpDownload(_ url: URL, to part: String, offset: Int64, allowRestart: Bool = true) throws {
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        if offset > 0 {
            request.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range")
            log?("\(url.lastPathComponent): resuming at byte \(offset)")
        } else {
            log?("\(url.lastPathComponent): downloading \(url.absoluteString)")
        }
        let delegate = StreamingDelegate(partPath: part, offset: offset)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        let session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: nil)
        let task = session.dataTask(with: request)
        task.resume()
        delegate.wait()
        session.finishTasksAndInvalidate()
        let outcome = delegate.outcome()
        if outcome.status == 416 && offset > 0 && allowRestart {
            // The server cannot serve the requested range (e.g. the file changed): start over.
            log?("\(url.lastPathComponent): range not satisfiable, restarting")
            try? FileManager.default.removeItem(atPath: part)
            return try httpDownload(url, to: part, offset: 0, allowRestart: false)
        }
        if let failure = outcome.failure {
            throw DataError.downloadFailed(url: url.absoluteString, reason: failure)
        }
        if let expected = outcome.expectedLength, expected >= 0, outcome.received != expected {
            throw DataError.downloadFailed(url: url.absoluteString,
                                           reason: "received \(outcome.received) of \(expected) bytes; partial data kept in \(part)")
        }
    }
}

/// The `.part` file a download appends to.
final class PartFile: @unchecked Sendable {
    private let handle: FileHandle
    let path: String

    init(path: String, truncate: Bool) throws {
        self.path = path
        if truncate || !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw DataError.writeFailed(path: path, reason: "cannot create file")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw DataError.writeFailed(path: path, reason: "cannot open file for writing")
        }
        self.handle = handle
        do { _ = try handle.seekToEnd() } catch {
            throw DataError.writeFailed(path: path, reason: error.localizedDescription)
        }
    }

    func append(_ data: Data) throws {
        do { try handle.write(contentsOf: data) } catch {
            throw DataError.writeFailed(path: path, reason: error.localizedDescription)
        }
    }

    func close() {
        try? handle.synchronize()
        try? handle.close()
    }
}

/// URLSession delegate that streams the body into the `.part` file as it arrives,
/// so an interrupted transfer keeps what was received.
final class StreamingDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    struct Outcome {
        var status: Int?
        var failure: String?
        var expectedLength: Int64?
        var received: Int64
    }

    private let lock = NSLock()
    private let finished = DispatchSemaphore(value: 0)
    private let partPath: String
    private let offset: Int64
    private var file: PartFile?
    private var state = Outcome(status: nil, failure: nil, expectedLength: nil, received: 0)

    init(partPath: String, offset: Int64) {
        self.partPath = partPath
        self.offset = offset
    }

    func wait() { finished.wait() }

    func outcome() -> Outcome {
        lock.lock(); defer { lock.unlock() }
        return state
    }

    private func fail(_ message: String) {
        lock.lock(); defer { lock.unlock() }
        if state.failure == nil { state.failure = message }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        guard let http = response as? HTTPURLResponse else {
            fail("not an HTTP response")
            completionHandler(.cancel)
            return
        }
        lock.lock()
        state.status = http.statusCode
        lock.unlock()
        var truncate: Bool
        switch http.statusCode {
        case 206 where offset > 0:
            // Content-Range: bytes <start>-<end>/<total> must start where the part file ends.
            let range = http.value(forHTTPHeaderField: "Content-Range") ?? ""
            let start = range.split(whereSeparator: { $0 == " " || $0 == "-" }).dropFirst().first.flatMap { Int64($0) }
            guard start == offset else {
                fail("server answered range \(range.isEmpty ? "(none)" : range) for a request from byte \(offset)")
                completionHandler(.cancel)
                return
            }
            truncate = false
        case 200:
            truncate = true   // the server ignored the range (or none was sent): start over
        default:
            fail("HTTP status \(http.statusCode)")
            completionHandler(.cancel)
            return
        }
        do {
            let opened = try PartFile(path: partPath, truncate: truncate)
            lock.lock()
            file = opened
            state.expectedLength = http.expectedContentLength >= 0 ? http.expectedContentLength : nil
            lock.unlock()
            completionHandler(.allow)
        } catch {
            fail("\(error)")
            completionHandler(.cancel)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        lock.lock(); defer { lock.unlock() }
        guard let file, state.failure == nil else { return }
        do {
            try file.append(data)
            state.received += Int64(data.count)
        } catch {
            state.failure = "\(error)"
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        lock.lock()
        file?.close()
        file = nil
        if let error, state.failure == nil {
            state.failure = "\(error.localizedDescription) after \(state.received) bytes"
        }
        lock.unlock()
        finished.signal()
    }
}
