import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A tiny HTTP/1.1 file server on 127.0.0.1 for the download tests, written with
/// plain sockets. It serves in-memory files, honours `Range: bytes=N-` (unless
/// told to ignore it), can cut a response short to simulate a dropped connection,
/// and records every request.
final class LocalHTTPServer: @unchecked Sendable {
    struct Request: Equatable {
        let path: String
        let range: String?
    }

    /// Per-path behaviour.
    struct Behaviour {
        /// Answer 200 with the whole file even when a range is requested.
        var ignoreRange = false
        /// Send only this many body bytes (announcing the full length), then close.
        var cutAfter: Int?
        /// Only cut the first response for this path.
        var cutOnce = true
    }

    private let socketFD: Int32
    let port: UInt16
    private let lock = NSLock()
    private var files: [String: [UInt8]] = [:]
    private var behaviours: [String: Behaviour] = [:]
    private var log: [Request] = []
    private var stopped = false
    private let finished = DispatchSemaphore(value: 0)

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        socketFD = fd
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    func serve(_ path: String, _ bytes: [UInt8], behaviour: Behaviour = Behaviour()) {
        lock.lock(); defer { lock.unlock() }
        files[path] = bytes
        behaviours[path] = behaviour
    }

    func url(_ path: String) -> URL {
        URL(string: "http://127.0.0.1:\(port)\(path)") ?? URL(fileURLWithPath: "/")
    }

    var requests: [Request] {
        lock.lock(); defer { lock.unlock() }
        return log
    }

    func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
        shutdown(socketFD, Int32(SHUT_RDWR))
        close(socketFD)
        _ = finished.wait(timeout: .now() + 5)
    }

    private func acceptLoop() {
        while true {
            let client = accept(socketFD, nil, nil)
            if client < 0 {
                lock.lock()
                let done = stopped
                lock.unlock()
                if done { break }
                continue
            }
            handle(client)
            close(client)
        }
        finished.signal()
    }

    private func handle(_ client: Int32) {
        // Read the request head (GET has no body).
        var head: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !head.suffix(4).elementsEqual([13, 10, 13, 10]) && head.count < 65_536 {
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return }
            head += buffer[0..<n]
        }
        let text = String(decoding: head, as: UTF8.self)
        let lines = text.components(separatedBy: "\r\n")
        let requestLine = lines.first?.split(separator: " ") ?? []
        guard requestLine.count >= 2 else { return }
        let path = String(requestLine[1])
        let range = lines.dropFirst().first { $0.lowercased().hasPrefix("range:") }
            .map { String($0.dropFirst(6)).trimmingCharacters(in: .whitespaces) }
        lock.lock()
        log.append(Request(path: path, range: range))
        let file = files[path]
        var behaviour = behaviours[path] ?? Behaviour()
        if behaviour.cutAfter != nil && behaviour.cutOnce {
            behaviours[path]?.cutAfter = nil
        }
        lock.unlock()

        guard let body = file else {
            send(client, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", [])
            return
        }
        var start = 0
        if let range, !behaviour.ignoreRange, range.hasPrefix("bytes="), range.hasSuffix("-"),
           let from = Int(range.dropFirst(6).dropLast()) {
            guard from < body.count else {
                send(client, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */\(body.count)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", [])
                return
            }
            start = from
        }
        let payload = Array(body[start...])
        var header: String
        if start > 0 {
            header = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes \(start)-\(body.count - 1)/\(body.count)\r\n"
        } else {
            header = "HTTP/1.1 200 OK\r\n"
        }
        header += "Content-Type: application/octet-stream\r\nContent-Length: \(payload.count)\r\nConnection: close\r\n\r\n"
        if let cut = behaviour.cutAfter {
            behaviour.cutAfter = nil
            send(client, header, Array(payload.prefix(cut)))
        } else {
            send(client, header, payload)
        }
    }

    private func send(_ client: Int32, _ header: String, _ body: [UInt8]) {
        let bytes = Array(header.utf8) + body
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { raw in
                Glibc.send(client, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
            }
            if n <= 0 { return }
            offset += n
        }
        shutdown(client, Int32(SHUT_WR))
    }
}
