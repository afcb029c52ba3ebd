import Foundation
import XCTest
@testable import OutpostSafetensors

final class WriterTests: XCTestCase {
    /// The Swift writer's bytes equal those of `safetensors.torch.save_file`
    /// for the same tensors; F16/BF16 are converted from the same Float
    /// values in Swift and by torch. Since the reference file is also read back
    /// by `safe_open` in the generator, Python reads exactly what Swift writes.
    func testBytesIdenticalToPythonSaveFile() throws {
        let reference = try Fixtures.data("writer_reference.safetensors")
        let expected = try Fixtures.expectedFile("writer_reference.safetensors")
        let sourceBits = try XCTUnwrap(Fixtures.expected()["writer_reference_source_f32_bits"] as? [NSNumber])
        let source = sourceBits.map { Float(bitPattern: $0.uint32Value) }

        func floats(_ name: String) throws -> [Float] {
            try XCTUnwrap(expected.tensors[name]?.f32Bits).map { Float(bitPattern: $0) }
        }
        func doubles(_ name: String) throws -> [Double] {
            try XCTUnwrap(expected.tensors[name]?.f64Bits).map { Double(bitPattern: $0) }
        }
        // Added in an order unrelated to the file's, to exercise the ordering rule.
        var builder = SafetensorsBuilder(metadata: ["format": "pt"])
        XCTAssertEqual(source.count, 25)
        try builder.add("half.values", shape: [25], floats: source, as: .f16)
        try builder.add("bhalf.values", shape: [5, 5], floats: source, as: .bf16)
        try builder.add("layer.weight", shape: [3, 5], floats: floats("layer.weight"))
        try builder.add("a.9", shape: [1], floats: [3])
        try builder.add("stats.f64", shape: [2, 3], doubles: doubles("stats.f64"))
        try builder.add("bn.num_batches_tracked", shape: [], int64s: [3])
        try builder.add("layer.bias", shape: [3], floats: floats("layer.bias"))
        try builder.add("flags.bool", shape: [2], bools: [false, true])
        try builder.add("labels.i32", shape: [3], int32s: [3, 1, 4])
        try builder.add("bytes.u8", shape: [3], uint8s: [0, 255, 128])
        try builder.add("a.10", shape: [1], floats: [2])
        try builder.add("empty", shape: [2, 0], floats: [])
        try builder.add("Zcase", shape: [], floats: [1.5])

        let written = builder.serialized()
        XCTAssertEqual(written.count, reference.count)
        XCTAssertEqual(written, reference, "Swift bytes differ from safetensors.torch.save_file")
        XCTAssertEqual(builder.build().serialized(), reference)
        XCTAssertEqual(builder.build().names, expected.order)
        XCTAssertEqual(try SafetensorsFile(data: reference).serialized(), reference)
    }

    /// Published vectors from the reference implementation's own unit tests.
    func testReferenceImplementationVectors() throws {
        var builder = SafetensorsBuilder()
        try builder.add("attn.0", shape: [1, 2, 3], floats: [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(Array(builder.serialized()), [
            64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
            116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
            58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
            101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
            0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
        ])
        XCTAssertEqual(Array(SafetensorsBuilder().serialized()), [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32])
        XCTAssertEqual(Array(SafetensorsBuilder(metadata: ["framework": "pt"]).serialized()), [
            40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
            95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
            116, 34, 125, 125, 32, 32, 32, 32, 32,
        ])
        let empty = try SafetensorsFile(data: SafetensorsBuilder().serialized())
        XCTAssertTrue(empty.entries.isEmpty)
        XCTAssertTrue(empty.metadata.isEmpty)
    }

    /// Every dtype survives Swift → bytes → Swift unchanged, and re-serializing is idempotent.
    func testRoundTripAllDtypes() throws {
        var builder = SafetensorsBuilder(metadata: ["b": "2", "a": "1", "ünï": "cödé", "ctl": "\u{1}\u{7f}\"\\/"])
        try builder.add("f32", shape: [2, 2], floats: [1, -2, .infinity, -0.0])
        try builder.add("f32.as.f64", shape: [2], floats: [0.1, -3], as: .f64)
        try builder.add("f16", shape: [3], floats: [0.5, -65504, 0x1p-24], as: .f16)
        try builder.add("bf16", shape: [3], floats: [0.5, -3.0e38, 0x1p-133], as: .bf16)
        try builder.add("f64", shape: [2], doubles: [.pi, -.greatestFiniteMagnitude])
        try builder.add("f64.as.f32", shape: [1], doubles: [1.0 / 3.0], as: .f32)
        try builder.add("i64", shape: [2], int64s: [.min, .max])
        try builder.add("i32", shape: [1, 1, 1], int32s: [-5])
        try builder.add("u8", shape: [2], uint8s: [0, 255])
        try builder.add("bool", shape: [3], bools: [true, false, true])
        try builder.add("u16", dtype: .u16, shape: [2], rawData: Data([0x01, 0x02, 0xFF, 0xFF]))
        try builder.add("u32", dtype: .u32, shape: [1], rawData: Data([0x01, 0x00, 0x00, 0x80]))
        try builder.add("u64", dtype: .u64, shape: [1], rawData: Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]))
        try builder.add("u64.big", dtype: .u64, shape: [1], rawData: Data(repeating: 0xFF, count: 8))
        try builder.add("i16", dtype: .i16, shape: [1], rawData: Data([0x00, 0x80]))
        try builder.add("i8", dtype: .i8, shape: [2], rawData: Data([0x80, 0x7F]))
        try builder.add("f8", dtype: .f8E4M3, shape: [2], rawData: Data([0x38, 0xB8]))
        try builder.add("f4", dtype: .f4, shape: [2, 2], rawData: Data([0x12, 0x34]))
        try builder.add("c64", dtype: .c64, shape: [1], rawData: Data(count: 8))
        try builder.add("scalar", shape: [], floats: [42])
        try builder.add("zero", shape: [0], int64s: [])

        let bytes = builder.serialized()
        let file = try SafetensorsFile(data: bytes)
        XCTAssertEqual(file, builder.build())
        XCTAssertEqual(file.metadata, builder.metadata)
        XCTAssertEqual(file.serialized(), bytes)
        XCTAssertEqual(Set(file.names), Set(builder.tensors.map(\.name)))

        XCTAssertEqual(try file.floats("f32").map(\.bitPattern), [Float(1), -2, .infinity, -0.0].map(\.bitPattern))
        XCTAssertEqual(try file.doubles("f32.as.f64"), [Double(Float(0.1)), -3])
        XCTAssertEqual(try file.floats("f16"), [0.5, -65504, 0x1p-24])
        XCTAssertEqual(try file.floats("bf16"), [0.5, HalfPrecision.float(fromBFloat16Bits: HalfPrecision.bfloat16Bits(from: -3.0e38)), 0x1p-133])
        XCTAssertEqual(try file.doubles("f64"), [.pi, -.greatestFiniteMagnitude])
        XCTAssertEqual(try file.floats("f64.as.f32"), [Float(1.0 / 3.0)])
        XCTAssertEqual(try file.values("i64"), .int64([.min, .max]))
        XCTAssertEqual(try file.values("i32"), .int32([-5]))
        XCTAssertEqual(try file.values("u8"), .uint8([0, 255]))
        XCTAssertEqual(try file.values("bool"), .bool([true, false, true]))
        XCTAssertEqual(try file.values("u16"), .uint16([0x0201, 0xFFFF]))
        XCTAssertEqual(try file.values("u32"), .uint32([0x8000_0001]))
        XCTAssertEqual(try file.integers("u64"), [Int64.max])
        XCTAssertEqual(try file.values("u64.big"), .uint64([.max]))
        assertThrows(.valueOutOfRange(file: "<memory>", key: "u64.big",
                                      reason: "U64 element 0 = 18446744073709551615 does not fit in Int64")) {
            try file.integers("u64.big")
        }
        XCTAssertEqual(try file.values("i16"), .int16([.min]))
        XCTAssertEqual(try file.integers("i8"), [-128, 127])
        XCTAssertEqual(try file.integers("bool"), [1, 0, 1])
        XCTAssertEqual(try file.entry("f4").data, Data([0x12, 0x34]))
        XCTAssertEqual(try file.entry("f8").data, Data([0x38, 0xB8]))
        XCTAssertThrowsError(try file.floats("f8"))
        XCTAssertEqual(try file.floats("scalar"), [42])
        XCTAssertEqual(try file.integers("zero"), [])

        // The header is padded with spaces to a multiple of 8 bytes, so data is aligned.
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(headerLength % 8, 0)
        // The metadata keys are sorted by UTF-8 bytes; control characters escaped as serde_json does.
        let header = String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix(#"{"__metadata__":{"a":"1","b":"2","ctl":"\u0001"# + "\u{7f}" + #"\"\\/","ünï":"cödé"},"#), header)
    }

    /// Output does not depend on the order tensors are added in.
    func testDeterministicRegardlessOfInsertionOrder() throws {
        let tensors: [(String, [Int], [Float], SafetensorsDType)] = [
            ("b", [2], [1, 2], .f32), ("a", [1], [3], .f16), ("c", [1], [4], .f64), ("a2", [1], [5], .f32),
            ("é", [1], [6], .f32), ("Z", [1], [7], .bf16),
        ]
        var forward = SafetensorsBuilder(metadata: ["x": "1", "y": "2", "w": "0"])
        for (name, shape, values, dtype) in tensors { try forward.add(name, shape: shape, floats: values, as: dtype) }
        var backward = SafetensorsBuilder(metadata: ["w": "0", "y": "2", "x": "1"])
        for (name, shape, values, dtype) in tensors.reversed() { try backward.add(name, shape: shape, floats: values, as: dtype) }
        XCTAssertEqual(forward.serialized(), backward.serialized())
        // Descending dtype alignment (F64, F32, BF16, F16), then UTF-8 name order.
        XCTAssertEqual(forward.build().names, ["c", "a2", "b", "é", "Z", "a"])
    }

    func testWriteToURLAndReadBack() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("outpost-safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        var builder = SafetensorsBuilder(metadata: ["k": "v"])
        try builder.add("w", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        let url = directory.appendingPathComponent("model.safetensors")
        try builder.write(to: url)
        let read = try SafetensorsFile.read(from: url)
        XCTAssertEqual(read, builder.build())
        XCTAssertEqual(read.source, url.path)
        XCTAssertEqual(try read.floats("w"), [1, 2, 3, 4, 5, 6])

        // Modify and write back through SafetensorsFile.
        var copy = read
        copy.metadata["step"] = "2"
        let url2 = directory.appendingPathComponent("copy.safetensors")
        try copy.write(to: url2)
        XCTAssertEqual(try SafetensorsFile.read(from: url2).metadata, ["k": "v", "step": "2"])

        let missingDirectory = directory.appendingPathComponent("no/such/dir/x.safetensors")
        let error = thrownError { try builder.write(to: missingDirectory) }
        guard case let .writeFailed(file, _)? = error else { return XCTFail("expected writeFailed, got \(String(describing: error))") }
        XCTAssertEqual(file, missingDirectory.path)
    }

    func testBuilderRejectsInconsistentTensors() throws {
        var builder = SafetensorsBuilder()
        assertThrows(.invalidTensor(key: "w", reason: "5 values given but shape [2, 3] holds 6")) {
            try builder.add("w", shape: [2, 3], floats: [1, 2, 3, 4, 5])
        }
        assertThrows(.invalidTensor(key: "w", reason: "dimension 1 of shape [2, -3] is negative")) {
            try builder.add("w", shape: [2, -3], floats: [])
        }
        assertThrows(.invalidTensor(key: "w", reason: "shape [4294967296, 4294967296] has more elements than fit in Int")) {
            try builder.add("w", shape: [1 << 32, 1 << 32], floats: [])
        }
        assertThrows(.invalidTensor(key: "w", reason: "Float values can be stored as F32, F64, F16 or BF16, not I64")) {
            try builder.add("w", shape: [1], floats: [1], as: .i64)
        }
        assertThrows(.invalidTensor(key: "w", reason: "Double values can be stored as F64 or F32, not F16")) {
            try builder.add("w", shape: [1], doubles: [1], as: .f16)
        }
        assertThrows(.invalidTensor(key: "__metadata__", reason: "the name \"__metadata__\" is reserved for metadata")) {
            try builder.add("__metadata__", shape: [1], floats: [1])
        }
        assertThrows(.invalidTensor(key: "r", reason: "3 bytes given but shape [1] of F32 needs 4")) {
            try builder.add("r", dtype: .f32, shape: [1], rawData: Data([1, 2, 3]))
        }
        assertThrows(.invalidTensor(key: "f4", reason: "shape [3] of F4 has no valid byte size")) {
            try builder.add("f4", dtype: .f4, shape: [3], rawData: Data([1, 2]))
        }
        try builder.add("w", shape: [1], floats: [1])
        assertThrows(.invalidTensor(key: "w", reason: "a tensor with this name was already added")) {
            try builder.add("w", shape: [1], int64s: [1])
        }
        XCTAssertEqual(builder.tensors.map(\.name), ["w"])
    }

    /// Entries of a read file can be copied into a new file unchanged.
    func testCopyingEntriesBetweenFiles() throws {
        let source = try SafetensorsFile.read(from: Fixtures.url("mixed_dtypes.safetensors"))
        var builder = SafetensorsBuilder(metadata: source.metadata)
        for entry in source.entries.reversed() { try builder.add(entry) }
        let copy = try SafetensorsFile(data: builder.serialized())
        XCTAssertEqual(copy, source)
    }
}

/// A file written by the Swift writer is committed as a fixture and read by
/// Python's `safe_open` in scripts/fixtures/safetensors/check_swift_written.py
/// (which holds the same values). This test keeps the committed bytes equal
/// to what the writer produces today. Set OUTPOST_REGENERATE_SWIFT_FIXTURE=1
/// to rewrite the fixture after an intended format change, then rerun the Python check.
final class SwiftWrittenFixtureTests: XCTestCase {
    static func swiftWrittenFile() throws -> SafetensorsBuilder {
        var builder = SafetensorsBuilder(metadata: [
            "format": "pt", "producer": "OutpostSafetensors", "zeta": "last",
            "unicode ☃": "line\nbreak \"quoted\" \\ tab\t ctl\u{1}",
        ])
        try builder.add("conv.weight", shape: [2, 1, 2, 2], floats: [0.5, -1.25, 3, 1e-8, -0.0, 65504, 1.0 / 3.0, .infinity])
        try builder.add("conv.bias", shape: [2], floats: [0.1, -0.2])
        try builder.add("stats.f64", shape: [3], doubles: [.pi, -1e300, .leastNonzeroMagnitude])
        try builder.add("half", shape: [5], floats: [1, -2.5, 0x1p-24, 70000, 1.0 / 3.0], as: .f16)
        try builder.add("bhalf", shape: [5], floats: [1, -2.5, 0x1p-133, 3.0e38, 1.0 / 3.0], as: .bf16)
        try builder.add("bn.num_batches_tracked", shape: [], int64s: [12345])
        try builder.add("ids.i64", shape: [3], int64s: [.min, -1, .max])
        try builder.add("ids.i32", shape: [2], int32s: [.min, .max])
        try builder.add("i16", dtype: .i16, shape: [2], rawData: Data([0x00, 0x80, 0xFF, 0x7F]))
        try builder.add("i8", dtype: .i8, shape: [2], rawData: Data([0x80, 0x7F]))
        try builder.add("pixels", shape: [2, 2], uint8s: [0, 1, 254, 255])
        try builder.add("mask", shape: [3], bools: [true, false, true])
        try builder.add("empty", shape: [0, 4], floats: [])
        return builder
    }

    func testSwiftWrittenFixtureMatchesCommittedBytes() throws {
        let bytes = try Self.swiftWrittenFile().serialized()
        if ProcessInfo.processInfo.environment["OUTPOST_REGENERATE_SWIFT_FIXTURE"] != nil {
            let target = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("Fixtures/swift_written.safetensors")
            try bytes.write(to: target)
            throw XCTSkip("rewrote \(target.path); run check_swift_written.py")
        }
        XCTAssertEqual(bytes, try Fixtures.data("swift_written.safetensors"))
    }
}
