import Foundation
import XCTest
import OutpostData

final class DownloadTests: XCTestCase {
    private var server: LocalHTTPServer?
    private var directory = ""

    override func setUpWithError() throws {
        directory = try TestSupport.temporaryDirectory(self)
        server = try LocalHTTPServer()
    }

    override func tearDown() {
        server?.stop()
        server = nil
    }

    private func startedServer() throws -> LocalHTTPServer {
        guard let server else {
            struct ServerDidNotStart: Error, CustomStringConvertible { let description = "the local HTTP server on 127.0.0.1 failed to start" }
            throw ServerDidNotStart()
        }
        return server
    }

    private func md5(_ bytes: [UInt8]) -> String {
        var digest = Digest(.md5)
        digest.update(bytes)
        return digest.hexDigest()
    }

    func testDigestKnownVectors() throws {
        func hex(_ algorithm: Digest.Algorithm, _ text: String) -> String {
            var digest = Digest(algorithm)
            digest.update(Array(text.utf8))
            return digest.hexDigest()
        }
        XCTAssertEqual(hex(.md5, ""), "d41d8cd98f00b204e9800998ecf8427e")
        XCTAssertEqual(hex(.md5, "abc"), "900150983cd24fb0d6963f7d28e17f72")
        XCTAssertEqual(hex(.md5, "The quick brown fox jumps over the lazy dog"), "9e107d9d372bb6826bd81d3542a419d6")
        XCTAssertEqual(hex(.sha256, ""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hex(.sha256, "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex(.sha256, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // One million 'a', fed in uneven pieces to exercise block buffering.
        var md5 = Digest(.md5), sha = Digest(.sha256)
        let piece = [UInt8](repeating: UInt8(ascii: "a"), count: 999)
        var fed = 0
        while fed < 1_000_000 {
            let n = min(piece.count - fed % 7, 1_000_000 - fed)
            md5.update(piece.prefix(n))
            sha.update(piece.prefix(n))
            fed += n
        }
        XCTAssertEqual(md5.hexDigest(), "7707d6ae4e027c70eea2a935c2296f21")
        XCTAssertEqual(sha.hexDigest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testDigestOfARealFileMatchesPython() throws {
        // python3 -c "import hashlib; print(hashlib.md5(open(p,'rb').read()).hexdigest())"
        let path = TestSupport.join(try TestSupport.sharedData("mnist"), "t10k-labels-idx1-ubyte.gz")
        XCTAssertEqual(try Digest.hexDigest(ofFile: path, algorithm: .md5), "bad2870d560cabe2e598aa3132b19b9d")
        XCTAssertNoThrow(try Digest.verify(file: path, against: .md5("BAD2870D560CABE2E598AA3132B19B9D")))
        TestSupport.expectDataError(try Digest.verify(file: path, against: .sha256(String(repeating: "0", count: 64)))) {
            if case .checksumMismatch(path, "sha256", _, _) = $0 { return true } else { return false }
        }
    }

    func testPlainDownloadWithChecksum() throws {
        let server = try startedServer()
        let payload = TestSupport.bytes(300_000, seed: 1)
        server.serve("/data/file.bin", payload)
        let file = RemoteFile(name: "file.bin", urls: [server.url("/data/file.bin")], checksum: .md5(md5(payload)))
        let path = try Downloader(timeout: 10).fetch(file, into: directory)
        XCTAssertEqual(path, TestSupport.join(directory, "file.bin"))
        XCTAssertEqual(try TestSupport.read(path), payload)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".part"))
        XCTAssertEqual(server.requests, [.init(path: "/data/file.bin", range: nil)])
        // Present and verified: no second request.
        _ = try Downloader(timeout: 10).fetch(file, into: directory)
        XCTAssertEqual(server.requests.count, 1)
    }

    func testInterruptedDownloadResumesWithARangeRequest() throws {
        let server = try startedServer()
        let payload = TestSupport.bytes(200_000, seed: 2)
        server.serve("/big.bin", payload, behaviour: .init(ignoreRange: false, cutAfter: 70_000, cutOnce: true))
        let file = RemoteFile(name: "big.bin", urls: [server.url("/big.bin")], checksum: .sha256(sha256(payload)))
        let downloader = Downloader(timeout: 10)
        TestSupport.expectDataError(try downloader.fetch(file, into: directory)) {
            if case .downloadFailed = $0 { return true } else { return false }
        }
        let part = TestSupport.join(directory, "big.bin.part")
        let partial = try TestSupport.read(part)
        XCTAssertEqual(partial.count, 70_000)
        XCTAssertEqual(partial, Array(payload.prefix(70_000)))
        XCTAssertFalse(FileManager.default.fileExists(atPath: TestSupport.join(directory, "big.bin")))

        let path = try downloader.fetch(file, into: directory)
        XCTAssertEqual(try TestSupport.read(path), payload)
        XCTAssertFalse(FileManager.default.fileExists(atPath: part))
        XCTAssertEqual(server.requests.map(\.range), [nil, "bytes=70000-"])
    }

    func testServerIgnoringTheRangeRestartsFromScratch() throws {
        let server = try startedServer()
        let payload = TestSupport.bytes(50_000, seed: 3)
        server.serve("/x.bin", payload, behaviour: .init(ignoreRange: true))
        // A stale partial file from an earlier attempt.
        try TestSupport.write(Array(payload.prefix(1234)), TestSupport.join(directory, "x.bin.part"))
        let file = RemoteFile(name: "x.bin", urls: [server.url("/x.bin")], checksum: .md5(md5(payload)))
        let path = try Downloader(timeout: 10).fetch(file, into: directory)
        XCTAssertEqual(try TestSupport.read(path), payload)
        XCTAssertEqual(server.requests.map(\.range), ["bytes=1234-"])
    }

    func testPartFileLongerThanTheRemoteFileRestarts() throws {
        let server = try startedServer()
        let payload = TestSupport.bytes(1000, seed: 4)
        server.serve("/small.bin", payload)
        try TestSupport.write(TestSupport.bytes(5000, seed: 5), TestSupport.join(directory, "small.bin.part"))
        let file = RemoteFile(name: "small.bin", urls: [server.url("/small.bin")], checksum: .md5(md5(payload)))
        let path = try Downloader(timeout: 10).fetch(file, into: directory)
        XCTAssertEqual(try TestSupport.read(path), payload)
        XCTAssertEqual(server.requests.map(\.range), ["bytes=5000-", nil])
    }

    func testChecksumMismatchDeletesThePartialFile() throws {
        let server = try startedServer()
        let payload = TestSupport.bytes(10_000, seed: 6)
        server.serve("/wrong.bin", payload)
        let expected = String(repeating: "ab", count: 16)
        let file = RemoteFile(name: "wrong.bin", urls: [server.url("/wrong.bin")], checksum: .md5(expected))
        let error = TestSupport.expectDataError(try Downloader(timeout: 10).fetch(file, into: self.directory)) {
            if case let .checksumMismatch(path, "md5", expectedValue, actual) = $0 {
                return path.hasSuffix("wrong.bin") && expectedValue == expected && actual == self.md5(payload)
            }
            return false
        }
        XCTAssertTrue(error?.description.contains("checksum mismatch") ?? false)
        XCTAssertFalse(FileManager.default.fileExists(atPath: TestSupport.join(directory, "wrong.bin")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: TestSupport.join(directory, "wrong.bin.part")))
    }

    func testMirrorsAreTriedInOrderAndHTTPErrorsReported() throws {
        let server = try startedServer()
        let payload = TestSupport.bytes(4096, seed: 7)
        server.serve("/mirror2/f.bin", payload)
        let file = RemoteFile(name: "f.bin", urls: [server.url("/mirror1/f.bin"), server.url("/mirror2/f.bin")],
                              checksum: .md5(md5(payload)))
        let path = try Downloader(timeout: 10).fetch(file, into: directory)
        XCTAssertEqual(try TestSupport.read(path), payload)
        XCTAssertEqual(server.requests.map(\.path), ["/mirror1/f.bin", "/mirror2/f.bin"])
        let missing = RemoteFile(name: "g.bin", urls: [server.url("/nowhere")], checksum: nil)
        TestSupport.expectDataError(try Downloader(timeout: 10).fetch(missing, into: self.directory)) {
            if case let .downloadFailed(_, reason) = $0 { return reason.contains("404") } else { return false }
        }
    }

    func testFileURLsIncludingResume() throws {
        let payload = TestSupport.bytes(100_000, seed: 8)
        let source = TestSupport.join(directory, "source", "payload.bin")
        try TestSupport.write(payload, source)
        let target = TestSupport.join(directory, "target")
        try TestSupport.write(Array(payload.prefix(40_000)), TestSupport.join(target, "payload.bin.part"))
        let file = RemoteFile(name: "payload.bin", urls: [URL(fileURLWithPath: source)], checksum: .sha256(sha256(payload)))
        let path = try Downloader().fetch(file, into: target)
        XCTAssertEqual(try TestSupport.read(path), payload)
        let absent = RemoteFile(name: "none.bin", urls: [URL(fileURLWithPath: TestSupport.join(directory, "absent"))], checksum: nil)
        TestSupport.expectDataError(try Downloader().fetch(absent, into: target)) {
            if case .downloadFailed = $0 { return true } else { return false }
        }
    }

    func testExtractingTarGzAndZipWrittenByPython() throws {
        let tarPath = TestSupport.join(directory, "archive.tar.gz")
        try TestSupport.write(Fixtures.tarGz, tarPath)
        let written = try ArchiveExtractor.extractTarGz(tarPath, into: TestSupport.join(directory, "t"))
        XCTAssertEqual(written.map { ($0 as NSString).lastPathComponent }, ["readme.html", "batches.meta.txt", "data.bin"])
        let folder = TestSupport.join(directory, "t", "cifar-10-batches-bin")
        XCTAssertEqual(try CIFARReader.readClassNames(TestSupport.join(folder, "batches.meta.txt")), ["airplane", "automobile"])
        XCTAssertEqual(try TestSupport.read(TestSupport.join(folder, "data.bin")), (0..<768).map { UInt8($0 % 256) })
        let some = try ArchiveExtractor.extractTarGz(tarPath, into: TestSupport.join(directory, "t2"), members: ["cifar-10-batches-bin/data"])
        XCTAssertEqual(some.count, 1)

        let zipPath = TestSupport.join(directory, "gzip.zip")
        try TestSupport.write(Fixtures.zip, zipPath)
        let extracted = try ArchiveExtractor.extractZip(zipPath, into: TestSupport.join(directory, "z"), members: ["gzip/"])
        XCTAssertEqual(extracted.count, 2)
        XCTAssertEqual(try TestSupport.read(TestSupport.join(directory, "z", "gzip", "stored.bin")), (0..<100).map { UInt8($0) })
        let names = try DatasetCatalogue.readEMNISTMapping(TestSupport.join(directory, "z", "gzip", "emnist-digits-mapping.txt"),
                                                           classCount: 10)
        XCTAssertEqual(names, (0...9).map(String.init))
        XCTAssertFalse(FileManager.default.fileExists(atPath: TestSupport.join(directory, "z", "other", "skip.txt")))
    }

    private func sha256(_ bytes: [UInt8]) -> String {
        var digest = Digest(.sha256)
        digest.update(bytes)
        return digest.hexDigest()
    }
}
