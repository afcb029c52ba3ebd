import Foundation
import XCTest
@testable import OutpostSafetensors

/// Access to the committed fixtures written by scripts/fixtures/safetensors/make_fixtures.py.
enum Fixtures {
    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    static func url(_ name: String) throws -> URL {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures") else {
            throw Missing(description: "fixture \(name) is not in the test bundle")
        }
        return url
    }

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: url(name))
    }

    /// The decoded expected.json.
    static func expected() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: data("expected.json"))
        guard let dictionary = object as? [String: Any] else {
            throw Missing(description: "expected.json is not an object")
        }
        return dictionary
    }

    /// The record of one fixture file in expected.json.
    static func expectedFile(_ name: String) throws -> ExpectedFile {
        guard let files = try expected()["files"] as? [String: Any], let file = files[name] as? [String: Any] else {
            throw Missing(description: "expected.json has no record for \(name)")
        }
        return try ExpectedFile(file)
    }
}

/// What Python recorded about one file.
struct ExpectedFile {
    struct Tensor {
        var name: String
        var dtype: String
        var shape: [Int]
        var f32Bits: [UInt32]?
        var f64Bits: [UInt64]?
        var rawBits: [UInt16]?
        var ints: [Int64]?
    }

    var metadata: [String: String]
    var order: [String]
    var tensors: [String: Tensor]

    init(_ record: [String: Any]) throws {
        func fail(_ what: String) -> Fixtures.Missing { Fixtures.Missing(description: "expected.json: \(what)") }
        guard let metadata = record["metadata"] as? [String: String],
              let order = record["order"] as? [String],
              let tensors = record["tensors"] as? [String: [String: Any]]
        else { throw fail("malformed file record") }
        self.metadata = metadata
        self.order = order
        var parsed: [String: Tensor] = [:]
        for (name, info) in tensors {
            guard let dtype = info["dtype"] as? String, let shape = info["shape"] as? [Int] else {
                throw fail("malformed tensor \(name)")
            }
            var tensor = Tensor(name: name, dtype: dtype, shape: shape)
            if let bits = info["f32_bits"] as? [NSNumber] { tensor.f32Bits = bits.map { $0.uint32Value } }
            if let bits = info["f64_bits"] as? [String] {
                tensor.f64Bits = try bits.map {
                    guard let value = UInt64($0, radix: 16) else { throw fail("bad f64 bits \($0)") }
                    return value
                }
            }
            if let bits = info["raw_bits"] as? [NSNumber] { tensor.rawBits = bits.map { $0.uint16Value } }
            if let ints = info["ints"] as? [String] {
                tensor.ints = try ints.map {
                    guard let value = Int64($0) else { throw fail("bad integer \($0)") }
                    return value
                }
            }
            parsed[name] = tensor
        }
        self.tensors = parsed
    }
}

/// Builds a safetensors byte string from a header text and data bytes.
func makeFile(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> Data {
    makeFile(headerBytes: Array(header.utf8), data: data, declaredLength: declaredLength)
}

/// Builds a safetensors byte string from raw header bytes and data bytes.
func makeFile(headerBytes: [UInt8], data: [UInt8] = [], declaredLength: UInt64? = nil) -> Data {
    let length = declaredLength ?? UInt64(headerBytes.count)
    var bytes: [UInt8] = (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) }
    bytes += headerBytes
    bytes += data
    return Data(bytes)
}

/// Asserts that `body` throws exactly `expected`.
func assertThrows<T>(_ expected: SafetensorsError, file: StaticString = #filePath, line: UInt = #line,
                     _ body: () throws -> T) {
    do {
        _ = try body()
        XCTFail("expected \(expected), but nothing was thrown", file: file, line: line)
    } catch let error as SafetensorsError {
        XCTAssertEqual(error, expected, file: file, line: line)
    } catch {
        XCTFail("expected \(expected), got the foreign error \(error)", file: file, line: line)
    }
}

/// The thrown ``SafetensorsError``, or nil (with a failure) if nothing or something else was thrown.
func thrownError<T>(file: StaticString = #filePath, line: UInt = #line,
                    _ body: () throws -> T) -> SafetensorsError? {
    do {
        _ = try body()
        XCTFail("expected an error, but nothing was thrown", file: file, line: line)
    } catch let error as SafetensorsError {
        return error
    } catch {
        XCTFail("expected a SafetensorsError, got \(error)", file: file, line: line)
    }
    return nil
}
