import Foundation
import XCTest
@testable import OutpostSafetensors

/// Files written by PyTorch through `safetensors.torch.save_file` load with
/// every value exactly as Python computed it.
final class PyTorchFixtureTests: XCTestCase {
    /// Checks every tensor of a fixture against expected.json, bit for bit.
    private func checkAllValues(of fileName: String) throws -> SafetensorsFile {
        let expected = try Fixtures.expectedFile(fileName)
        let file = try SafetensorsFile.read(from: Fixtures.url(fileName))
        XCTAssertEqual(file.metadata, expected.metadata)
        XCTAssertEqual(file.names, expected.order, "entries must be in data-offset order")
        XCTAssertEqual(Set(file.names), Set(expected.tensors.keys))
        for (name, tensor) in expected.tensors {
            let entry = try file.entry(name)
            XCTAssertEqual(entry.dtype.rawValue, tensor.dtype, name)
            XCTAssertEqual(entry.shape, tensor.shape, name)
            XCTAssertEqual(entry.elementCount, tensor.shape.reduce(1, *), name)
            XCTAssertEqual(entry.origin, try Fixtures.url(fileName).path)
            if entry.dtype.isConvertibleToFloatingPoint {
                let f32 = try XCTUnwrap(tensor.f32Bits, name)
                XCTAssertEqual(try file.floats(name).map(\.bitPattern), f32, "\(name) as Float")
                let f64 = try XCTUnwrap(tensor.f64Bits, name)
                XCTAssertEqual(try file.doubles(name).map(\.bitPattern), f64, "\(name) as Double")
                if let raw = tensor.rawBits {
                    let stored = entry.data.withUnsafeBytes { bytes in
                        (0..<entry.elementCount).map {
                            UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))
                        }
                    }
                    XCTAssertEqual(stored, raw, "\(name) raw 16-bit patterns")
                }
                XCTAssertThrowsError(try file.integers(name))
            } else if let ints = tensor.ints {
                XCTAssertEqual(try file.integers(name), ints, name)
                XCTAssertThrowsError(try file.floats(name), name) { error in
                    XCTAssertEqual(error as? SafetensorsError,
                                   .unsupportedConversion(file: entry.origin, key: name, dtype: entry.dtype,
                                                          requested: "Float"))
                }
            }
        }
        return file
    }

    func testConvNetStateDictLoadsExactly() throws {
        let file = try checkAllValues(of: "convnet_f32.safetensors")
        XCTAssertEqual(file.entries.count, 16)
        XCTAssertEqual(try file.entry("conv1.weight").shape, [4, 3, 3, 3])
        XCTAssertEqual(try file.entry("fc.weight").shape, [10, 32])
        // BatchNorm's counter is a 0-d int64 tensor: three training steps were taken.
        let counter = try file.entry("bn1.num_batches_tracked")
        XCTAssertEqual(counter.dtype, .i64)
        XCTAssertEqual(counter.shape, [])
        XCTAssertEqual(try counter.values(), .int64([3]))
        XCTAssertEqual(try file.values("bn2.num_batches_tracked"), .int64([3]))
        // Running variance moved away from its initial 1 during training.
        XCTAssertFalse(try file.floats("bn1.running_var").allSatisfy { $0 == 1 })
    }

    func testMixedDtypesLoadExactly() throws {
        let file = try checkAllValues(of: "mixed_dtypes.safetensors")
        XCTAssertEqual(file.metadata["quote\"and\\slash"], "line\nbreak, tab\t, snowman \u{2603}")

        // Half-precision edge cases decoded from their bit patterns.
        let f16 = try file.floats("weights.f16")
        XCTAssertEqual(f16[0].bitPattern, 0)  // +0
        XCTAssertEqual(f16[1].bitPattern, 0x8000_0000)  // -0
        XCTAssertEqual(f16[2], 0x1p-24)  // smallest subnormal
        XCTAssertEqual(f16[3], -0x1p-24)
        XCTAssertEqual(f16[4], 1023 * 0x1p-24)  // largest subnormal
        XCTAssertEqual(f16[6], 0x1p-14)  // smallest normal
        XCTAssertEqual(f16[10], 65504)
        XCTAssertEqual(f16[12], .infinity)
        XCTAssertEqual(f16[13], -.infinity)
        XCTAssertTrue(f16[14].isNaN && f16[15].isNaN && f16[16].isNaN)
        XCTAssertEqual(f16[15].sign, .minus)

        let bf16 = try file.floats("weights.bf16")
        XCTAssertEqual(try file.entry("weights.bf16").shape, [2, 8])
        XCTAssertEqual(bf16[5], 1)
        XCTAssertEqual(bf16[10], .infinity)
        XCTAssertTrue(bf16[12].isNaN)

        // F64 → Float rounds to nearest (a float32 tie goes to even; an overflow to infinity).
        let f64AsFloat = try file.floats("weights.f64")
        XCTAssertEqual(f64AsFloat[11], .infinity)
        XCTAssertEqual(f64AsFloat[12], 1)
        XCTAssertEqual(try file.doubles("weights.f64")[12], 1.0000000596046448)

        // Typed integer access.
        XCTAssertEqual(try file.values("counts.i64"), .int64([0, 1, -1, (1 << 62) + 1, .min, .max]))
        XCTAssertEqual(try file.values("counts.i32"), .int32([0, -1, .max, .min, 7, 42]))
        XCTAssertEqual(try file.values("counts.i16"), .int16([-32768, 32767, 5]))
        XCTAssertEqual(try file.values("counts.i8"), .int8([-128, 127, 0, -3]))
        XCTAssertEqual(try file.values("pixels.u8"), .uint8(Array(stride(from: 0, through: 255, by: 17))))
        XCTAssertEqual(try file.values("mask.bool"), .bool([true, false, false, true, true]))

        // Scalar and empty tensors.
        XCTAssertEqual(try file.entry("scalar.f32").shape, [])
        XCTAssertEqual(try file.floats("scalar.f32"), [-7.25])
        XCTAssertEqual(try file.entry("empty.f32").shape, [0, 3])
        XCTAssertEqual(try file.floats("empty.f32"), [])
        XCTAssertEqual(try file.entry("empty.f32").byteCount, 0)

        // C64 is carried as raw bytes only: two little-endian floats per element.
        let complex = try file.entry("phase.c64")
        XCTAssertEqual(complex.dtype.kind, .complex)
        XCTAssertEqual(complex.byteCount, 16)
        let parts = complex.data.withUnsafeBytes { bytes in
            (0..<4).map { Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        XCTAssertEqual(parts, [1, 2, -0.5, -0.25])
        XCTAssertThrowsError(try complex.values())
        XCTAssertThrowsError(try complex.doubles())
    }

    func testWriterReferenceFileLoadsExactly() throws {
        _ = try checkAllValues(of: "writer_reference.safetensors")
    }

    func testReadingInMemoryEqualsReadingMapped() throws {
        let url = try Fixtures.url("convnet_f32.safetensors")
        let mapped = try SafetensorsFile.read(from: url)
        let inMemory = try SafetensorsFile(data: Data(contentsOf: url), source: "convnet")
        XCTAssertEqual(mapped, inMemory)
        XCTAssertEqual(inMemory.source, "convnet")
        // A Data slice whose indices do not start at 0 reads the same.
        var padded = Data(repeating: 0xAB, count: 13)
        padded.append(try Data(contentsOf: url))
        let slice = padded[13...]
        XCTAssertEqual(slice.startIndex, 13)
        let fromSlice = try SafetensorsFile(data: slice)
        XCTAssertEqual(fromSlice, mapped)
        XCTAssertEqual(try fromSlice.floats("fc.weight"), try mapped.floats("fc.weight"))
        XCTAssertEqual(try fromSlice.entry("fc.bias").data, try mapped.entry("fc.bias").data)
    }

    func testLookupErrorsNameFileAndKey() throws {
        let url = try Fixtures.url("convnet_f32.safetensors")
        let file = try SafetensorsFile.read(from: url)
        XCTAssertNil(file["nope"])
        XCTAssertFalse(file.contains("nope"))
        XCTAssertTrue(file.contains("fc.bias"))
        assertThrows(.tensorNotFound(file: url.path, key: "nope")) { try file.floats("nope") }
        let error = thrownError { try file.integers("fc.bias") }
        let text = try XCTUnwrap(error).description
        XCTAssertTrue(text.contains(url.path) && text.contains("fc.bias") && text.contains("F32"), text)
    }
}
