import Foundation
import XCTest
@testable import OutpostSafetensors

/// Malformed input throws the right ``SafetensorsError``, never traps.
final class MalformedFileTests: XCTestCase {
    private let f = "<memory>"
    private let one = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
    private let four: [UInt8] = [0, 0, 128, 63]

    func testEmptyAndTooShortFiles() {
        assertThrows(.fileTooSmall(file: f, byteCount: 0)) { try SafetensorsFile(data: Data()) }
        assertThrows(.fileTooSmall(file: f, byteCount: 7)) { try SafetensorsFile(data: Data([8, 0, 0, 0, 0, 0, 0])) }
    }

    func testEmptyFileOnDiskAndMissingFile() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("outpost-safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let empty = directory.appendingPathComponent("empty.safetensors")
        XCTAssertTrue(FileManager.default.createFile(atPath: empty.path, contents: Data()))
        assertThrows(.fileTooSmall(file: empty.path, byteCount: 0)) { try SafetensorsFile.read(from: empty) }

        let missing = directory.appendingPathComponent("missing.safetensors")
        let error = thrownError { try SafetensorsFile.read(from: missing) }
        guard case let .unreadableFile(file, _)? = error else {
            return XCTFail("expected unreadableFile, got \(String(describing: error))")
        }
        XCTAssertEqual(file, missing.path)
    }

    func testHeaderLengthTooLarge() {
        assertThrows(.headerTooLarge(file: f, declaredLength: .max, limit: 100_000_000)) {
            try SafetensorsFile(data: makeFile(header: one, data: four, declaredLength: .max))
        }
        assertThrows(.headerTooLarge(file: f, declaredLength: 100_000_001, limit: 100_000_000)) {
            try SafetensorsFile(data: makeFile(header: "{}", declaredLength: 100_000_001))
        }
    }

    func testHeaderLengthBeyondFile() {
        assertThrows(.headerBeyondEndOfFile(file: f, declaredLength: 1000, availableBytes: 2)) {
            try SafetensorsFile(data: makeFile(header: "{}", declaredLength: 1000))
        }
        // Exactly one byte too long.
        let header = one
        assertThrows(.headerBeyondEndOfFile(file: f, declaredLength: UInt64(header.utf8.count + 5), availableBytes: header.utf8.count + 4)) {
            try SafetensorsFile(data: makeFile(header: header, data: four, declaredLength: UInt64(header.utf8.count + 5)))
        }
    }

    func testHeaderNotUTF8() {
        assertThrows(.headerNotUTF8(file: f)) {
            try SafetensorsFile(data: makeFile(headerBytes: [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x7B, 0x7D, 0x7D]))
        }
    }

    func testInvalidJSON() {
        let cases: [(String, Int)] = [
            (#"{"a":"#, 5),                  // truncated
            (#"{"a":{},}"#, 8),              // trailing comma
            ("{}x", 2),                      // trailing garbage
            ("{}\u{0}", 2),                  // NUL padding instead of spaces
            ("", 0),                         // empty header
            ("        ", 8),                 // only padding
            (#"{'a':1}"#, 1),                // single quotes
            (#"{"a":01}"#, 6),               // leading zero
            (#"{"a":"\ud800"}"#, 12),        // lone surrogate
            ("{\"a\":\"x\ny\"}", 7),         // raw control character in a string
            (#"{"a":tru}"#, 8),              // bad literal
            (#"{"a":1.}"#, 7),               // bad number
        ]
        for (header, offset) in cases {
            let error = thrownError { try SafetensorsFile(data: makeFile(header: header)) }
            guard case let .invalidJSON(file, byteOffset, reason)? = error else {
                XCTFail("\(header.debugDescription): expected invalidJSON, got \(String(describing: error))")
                continue
            }
            XCTAssertEqual(file, f)
            XCTAssertEqual(byteOffset, offset, "\(header.debugDescription): \(reason)")
        }
    }

    func testDeepNestingIsRejectedNotACrash() {
        let depth = 100_000
        let header = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        let error = thrownError { try SafetensorsFile(data: makeFile(header: header)) }
        guard case let .invalidJSON(_, _, reason)? = error else {
            return XCTFail("expected invalidJSON, got \(String(describing: error))")
        }
        XCTAssertTrue(reason.contains("nesting"), reason)
    }

    func testHeaderThatIsNotAnObject() {
        assertThrows(.invalidHeader(file: f, key: nil, reason: "the header must be a JSON object, found array")) {
            try SafetensorsFile(data: makeFile(header: "[]"))
        }
        assertThrows(.invalidHeader(file: f, key: "a", reason: "tensor entry must be an object, found number")) {
            try SafetensorsFile(data: makeFile(header: #"{"a":3}"#))
        }
    }

    func testMissingAndMistypedFields() {
        assertThrows(.invalidHeader(file: f, key: "a", reason: "missing field \"shape\"")) {
            try SafetensorsFile(data: makeFile(header: #"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#, data: four))
        }
        assertThrows(.invalidHeader(file: f, key: "a", reason: "missing field \"dtype\"")) {
            try SafetensorsFile(data: makeFile(header: #"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, data: four))
        }
        assertThrows(.invalidHeader(file: f, key: "a", reason: "missing field \"data_offsets\"")) {
            try SafetensorsFile(data: makeFile(header: #"{"a":{"dtype":"F32","shape":[1]}}"#, data: four))
        }
        assertThrows(.invalidHeader(file: f, key: "a", reason: "\"data_offsets\" must be an array of two integers [begin, end]")) {
            try SafetensorsFile(data: makeFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}"#, data: four))
        }
        assertThrows(.invalidHeader(file: f, key: "a", reason: "data offset -4 is negative")) {
            try SafetensorsFile(data: makeFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, data: four))
        }
        assertThrows(.invalidHeader(file: f, key: "a", reason: "data offset 99999999999999999999 does not fit in Int")) {
            try SafetensorsFile(data: makeFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,99999999999999999999]}}"#, data: four))
        }
        assertThrows(.invalidHeader(file: f, key: "a", reason: "\"dtype\" must be a string, found number")) {
            try SafetensorsFile(data: makeFile(header: #"{"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}"#, data: four))
        }
        assertThrows(.invalidHeader(file: f, key: "a", reason: "field \"shape\" appears more than once")) {
            try SafetensorsFile(data: makeFile(header: #"{"a":{"dtype":"F32","shape":[1],"shape":[1],"data_offsets":[0,4]}}"#, data: four))
        }
        assertThrows(.invalidHeader(file: f, key: "__metadata__", reason: "metadata value for \"n\" must be a string, found number")) {
            try SafetensorsFile(data: makeFile(header: #"{"__metadata__":{"n":1}}"#))
        }
        assertThrows(.invalidHeader(file: f, key: "__metadata__", reason: "must be an object of strings, found array")) {
            try SafetensorsFile(data: makeFile(header: #"{"__metadata__":[]}"#))
        }
    }

    func testUnknownDType() {
        for dtype in ["f32", "F128", "FLOAT", ""] {
            let header = #"{"a":{"dtype":"\#(dtype)","shape":[1],"data_offsets":[0,4]}}"#
            assertThrows(.unknownDType(file: f, key: "a", dtype: dtype)) {
                try SafetensorsFile(data: makeFile(header: header, data: four))
            }
        }
    }

    func testDuplicateNames() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        assertThrows(.duplicateKey(file: f, key: "a")) {
            try SafetensorsFile(data: makeFile(header: header, data: four + four))
        }
        // The same name spelled with an escape is still the same name.
        let escaped = #"{"ab":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a\u0062":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        assertThrows(.duplicateKey(file: f, key: "ab")) {
            try SafetensorsFile(data: makeFile(header: escaped, data: four + four))
        }
        assertThrows(.duplicateKey(file: f, key: "__metadata__")) {
            try SafetensorsFile(data: makeFile(header: #"{"__metadata__":{},"__metadata__":{}}"#))
        }
        assertThrows(.invalidHeader(file: f, key: "__metadata__", reason: "metadata key \"k\" appears more than once")) {
            try SafetensorsFile(data: makeFile(header: #"{"__metadata__":{"k":"1","k":"2"}}"#))
        }
    }

    func testInvalidShapes() {
        func header(_ shape: String, _ dtype: String = "F32") -> String {
            #"{"a":{"dtype":"\#(dtype)","shape":\#(shape),"data_offsets":[0,4]}}"#
        }
        assertThrows(.invalidShape(file: f, key: "a", reason: "dimension 0 is negative (-1)")) {
            try SafetensorsFile(data: makeFile(header: header("[-1]"), data: four))
        }
        assertThrows(.invalidShape(file: f, key: "a", reason: "dimension 1 is not an integer (1.0)")) {
            try SafetensorsFile(data: makeFile(header: header("[1,1.0]"), data: four))
        }
        assertThrows(.invalidShape(file: f, key: "a", reason: "dimension 0 is not an integer (1e0)")) {
            try SafetensorsFile(data: makeFile(header: header("[1e0]"), data: four))
        }
        assertThrows(.invalidShape(file: f, key: "a", reason: "dimension 0 (18446744073709551616) does not fit in Int")) {
            try SafetensorsFile(data: makeFile(header: header("[18446744073709551616]"), data: four))
        }
        assertThrows(.invalidShape(file: f, key: "a", reason: "dimension 0 is a string, not an integer")) {
            try SafetensorsFile(data: makeFile(header: header(#"["1"]"#), data: four))
        }
        assertThrows(.invalidHeader(file: f, key: "a", reason: "\"shape\" must be an array, found number")) {
            try SafetensorsFile(data: makeFile(header: header("1"), data: four))
        }
        // Sub-byte elements must fill whole bytes.
        assertThrows(.invalidShape(file: f, key: "a", reason: "3 elements of F4 (4 bits each) do not fill whole bytes")) {
            try SafetensorsFile(data: makeFile(header: header("[3]", "F4"), data: four))
        }
    }

    func testShapesThatOverflowInt() {
        let cases: [([Int], String, SafetensorsDType)] = [
            ([1 << 32, 1 << 32], "[4294967296,4294967296]", .f32),        // element count overflows
            ([1 << 61], "[2305843009213693952]", .f32),                     // elements fit, bits do not
            ([Int.max, 2, 0], "[9223372036854775807,2,0]", .u8),          // overflow before the zero
            ([1 << 40, 1 << 30], "[1099511627776,1073741824]", .bool),
        ]
        for (shape, text, dtype) in cases {
            let header = #"{"a":{"dtype":"\#(dtype)","shape":\#(text),"data_offsets":[0,4]}}"#
            assertThrows(.shapeOverflow(file: f, key: "a", shape: shape, dtype: dtype)) {
                try SafetensorsFile(data: makeFile(header: header, data: four))
            }
        }
        // A zero dimension first keeps the count at zero: a valid empty tensor.
        let zero = #"{"a":{"dtype":"F32","shape":[0,9223372036854775807],"data_offsets":[0,0]}}"#
        XCTAssertEqual(try SafetensorsFile(data: makeFile(header: zero)).entry("a").elementCount, 0)
    }

    func testSizeNotMatchingShape() {
        assertThrows(.sizeMismatch(file: f, key: "a", dtype: .f32, shape: [2], expectedByteCount: 8, actualByteCount: 4)) {
            try SafetensorsFile(data: makeFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: four))
        }
        assertThrows(.sizeMismatch(file: f, key: "a", dtype: .f16, shape: [1], expectedByteCount: 2, actualByteCount: 4)) {
            try SafetensorsFile(data: makeFile(header: #"{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,4]}}"#, data: four))
        }
    }

    func testOffsetsNotContiguous() {
        // Gap at the start.
        assertThrows(.gapBeforeTensor(file: f, key: "a", begin: 4, expectedBegin: 0)) {
            try SafetensorsFile(data: makeFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: four + four))
        }
        // Gap between two tensors.
        let gap = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        assertThrows(.gapBeforeTensor(file: f, key: "b", begin: 8, expectedBegin: 4)) {
            try SafetensorsFile(data: makeFile(header: gap, data: four + four + four))
        }
        // Overlap (header order does not matter: offsets are checked in data order).
        let overlap = #"{"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        assertThrows(.overlappingOffsets(file: f, key: "b", begin: 4, previousKey: "a", previousEnd: 8)) {
            try SafetensorsFile(data: makeFile(header: overlap, data: four + four + four))
        }
        // Two tensors sharing the same bytes.
        let shared = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        assertThrows(.overlappingOffsets(file: f, key: "b", begin: 0, previousKey: "a", previousEnd: 4)) {
            try SafetensorsFile(data: makeFile(header: shared, data: four))
        }
        // End before begin.
        assertThrows(.offsetsReversed(file: f, key: "a", begin: 4, end: 0)) {
            try SafetensorsFile(data: makeFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, data: four))
        }
    }

    func testOffsetsBeyondBufferAndUncoveredBuffer() {
        // The header claims more data than the file has (truncated file or lying header).
        assertThrows(.offsetsBeyondBuffer(file: f, key: "a", end: 8, bufferSize: 4)) {
            try SafetensorsFile(data: makeFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: four))
        }
        assertThrows(.offsetsBeyondBuffer(file: f, key: "a", end: 4, bufferSize: 0)) {
            try SafetensorsFile(data: makeFile(header: one))
        }
        // Trailing bytes not covered by any tensor.
        assertThrows(.bufferNotCovered(file: f, coveredBytes: 4, bufferSize: 5)) {
            try SafetensorsFile(data: makeFile(header: one, data: four + [9]))
        }
        assertThrows(.bufferNotCovered(file: f, coveredBytes: 0, bufferSize: 3)) {
            try SafetensorsFile(data: makeFile(header: "{}", data: [1, 2, 3]))
        }
    }

    /// Every proper prefix of a valid file is rejected with an error.
    func testEveryTruncationThrows() throws {
        let data = try Fixtures.data("writer_reference.safetensors")
        XCTAssertNoThrow(try SafetensorsFile(data: data))
        var unexpected: [Int] = []
        for length in 0..<data.count {
            do {
                _ = try SafetensorsFile(data: data.prefix(length))
                unexpected.append(length)
            } catch {
                // Expected: any SafetensorsError.
            }
        }
        XCTAssertEqual(unexpected, [], "prefixes accepted as valid files")
    }

    /// Random corruption of the header either throws or yields a consistent file.
    func testCorruptedHeadersNeverTrap() throws {
        let original = [UInt8](try Fixtures.data("mixed_dtypes.safetensors"))
        let headerLength = original.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let replacements = Array("{}[]\",:0123456789-.eE \\u\u{0}x".utf8) + [0xFF, 0xC3]
        var state: UInt64 = 42
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var accepted = 0
        for _ in 0..<1500 {
            var bytes = original
            for _ in 0..<(1 + next() % 3) {
                bytes[8 + next() % headerLength] = replacements[next() % replacements.count]
            }
            if let file = try? SafetensorsFile(data: Data(bytes)) {
                accepted += 1
                // Whatever was accepted must describe the buffer exactly.
                XCTAssertEqual(file.entries.reduce(0) { $0 + $1.byteCount }, bytes.count - 8 - headerLength)
            }
        }
        // Most single-byte edits of JSON break it; a few (e.g. in metadata text) do not.
        XCTAssertLessThan(accepted, 1500)
    }

    /// Inputs the reference implementation accepts are accepted too.
    func testLenientCasesAcceptedLikeTheReference() throws {
        // Leading whitespace, other JSON whitespace as padding, unknown fields, null metadata.
        let lenient = " \n{\"__metadata__\":null,\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":{\"x\":[1]}}}\t\r\n "
        let file = try SafetensorsFile(data: makeFile(header: lenient, data: four))
        XCTAssertEqual(try file.floats("a"), [1])
        XCTAssertEqual(file.metadata, [:])
        // Zero-sized tensors may share an offset; order follows the header for ties.
        let zeros = #"{"z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"y":{"dtype":"I64","shape":[2,0],"data_offsets":[0,0]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        let file2 = try SafetensorsFile(data: makeFile(header: zeros, data: four))
        XCTAssertEqual(file2.names, ["z", "y", "a"])
        // Escapes in names decode.
        let escaped = #"{"\u00e9\ud83d\ude00\/\n":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}"#
        let file3 = try SafetensorsFile(data: makeFile(header: escaped, data: [7]))
        XCTAssertEqual(file3.names, ["é😀/\n"])
        XCTAssertEqual(try file3.integers("é😀/\n"), [7])
    }

    func testErrorDescriptionsNameFileKeyAndExpectation() {
        let cases: [(SafetensorsError, [String])] = [
            (.sizeMismatch(file: "m.safetensors", key: "fc.weight", dtype: .f32, shape: [10, 32],
                           expectedByteCount: 1280, actualByteCount: 1276),
             ["m.safetensors", "fc.weight", "[10, 32]", "1280", "1276"]),
            (.unknownDType(file: "m.safetensors", key: "w", dtype: "F128"), ["m.safetensors", "'w'", "F128", "BF16"]),
            (.gapBeforeTensor(file: "m", key: "b", begin: 8, expectedBegin: 4), ["m:", "'b'", "8", "4", "contiguous"]),
            (.headerTooLarge(file: "m", declaredLength: 1 << 40, limit: 100_000_000), ["m:", "1099511627776", "100000000"]),
            (.duplicateKey(file: "m", key: "a"), ["m:", "'a'", "unique"]),
        ]
        for (error, fragments) in cases {
            for fragment in fragments {
                XCTAssertTrue(error.description.contains(fragment), "\(error.description) lacks \(fragment)")
            }
            XCTAssertEqual(error.localizedDescription, error.description)
        }
    }
}
