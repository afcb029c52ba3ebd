import Foundation
import XCTest
import OutpostData

/// Helpers shared by the OutpostData tests.
enum TestSupport {
    /// The repository root, found by walking up from this file to `Package.swift`.
    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
            url = url.deletingLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath
    }()

    /// `../shared/data` relative to the repository root.
    static let sharedDataPath: String = URL(fileURLWithPath: repositoryRoot)
        .appendingPathComponent("..").appendingPathComponent("shared").appendingPathComponent("data")
        .standardizedFileURL.path

    /// The shared data folder, or an `XCTSkip` when (and only when) it is absent.
    static func sharedData(_ subfolder: String? = nil) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: sharedDataPath, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw XCTSkip("real data folder \(sharedDataPath) is absent")
        }
        guard let subfolder else { return sharedDataPath }
        return (sharedDataPath as NSString).appendingPathComponent(subfolder)
    }

    /// A fresh temporary directory, removed by the test case's teardown.
    static func temporaryDirectory(_ testCase: XCTestCase) throws -> String {
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("outpost-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        testCase.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    static func write(_ bytes: [UInt8], _ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func read(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static func join(_ parts: String...) -> String {
        parts.dropFirst().reduce(parts[0]) { ($0 as NSString).appendingPathComponent($1) }
    }

    /// Asserts that `body` throws a `DataError` matching `matches`, and returns it.
    @discardableResult
    static func expectDataError(_ body: @autoclosure () throws -> Any, file: StaticString = #filePath, line: UInt = #line,
                                _ matches: (DataError) -> Bool) -> DataError? {
        do {
            _ = try body()
            XCTFail("expected a DataError, nothing was thrown", file: file, line: line)
            return nil
        } catch let error as DataError {
            XCTAssertTrue(matches(error), "unexpected error: \(error)", file: file, line: line)
            XCTAssertFalse(error.description.isEmpty, file: file, line: line)
            return error
        } catch {
            XCTFail("expected a DataError, got \(error)", file: file, line: line)
            return nil
        }
    }

    /// Deterministic pseudo-random bytes for fixtures.
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    /// IDX image file bytes (count × rows × columns).
    static func idxImages(_ pixels: [UInt8], count: Int, rows: Int, columns: Int) -> [UInt8] {
        IDXReader.encode(dimensions: [count, rows, columns], bytes: pixels)
    }

    /// IDX label file bytes.
    static func idxLabels(_ labels: [UInt8]) -> [UInt8] {
        IDXReader.encode(dimensions: [labels.count], bytes: labels)
    }
}

/// Real MNIST / Fashion-MNIST training sets are loaded once per test run.
final class SharedDataCache: @unchecked Sendable {
    static let shared = SharedDataCache()
    private let lock = NSLock()
    private var cache: [String: ImageDataset] = [:]

    func load(_ name: String, _ split: Split) throws -> ImageDataset {
        let key = "\(name)/\(split.rawValue)"
        lock.lock(); defer { lock.unlock() }
        if let hit = cache[key] { return hit }
        let dataset = try loadDataset(name, split: split, directory: TestSupport.sharedData(name))
        cache[key] = dataset
        return dataset
    }
}
