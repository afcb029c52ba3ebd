import Foundation
import XCTest
@testable import OutpostSafetensors

/// Checking a file against the tensors a model expects.
final class ValidationTests: XCTestCase {
    /// The tensors of the PyTorch conv net, as recorded by the generator.
    private func convNetExpectation() throws -> [ExpectedTensor] {
        let expected = try Fixtures.expectedFile("convnet_f32.safetensors")
        return expected.order.compactMap { name in
            expected.tensors[name].map {
                ExpectedTensor(name, shape: $0.shape, kind: $0.dtype == "I64" ? .integer : .floatingPoint)
            }
        }
    }

    func testMatchingFileHasNoProblems() throws {
        let file = try SafetensorsFile.read(from: Fixtures.url("convnet_f32.safetensors"))
        let expected = try convNetExpectation()
        XCTAssertEqual(expected.count, 16)
        XCTAssertEqual(file.validate(against: expected), [])
        XCTAssertNoThrow(try file.requireConformance(to: expected))
    }

    func testIgnoringBatchNormCounters() throws {
        let file = try SafetensorsFile.read(from: Fixtures.url("convnet_f32.safetensors"))
        // A model without the counters, given as (name, shape) pairs.
        let pairs = try convNetExpectation()
            .filter { !$0.name.hasSuffix("num_batches_tracked") }
            .map { (name: $0.name, shape: $0.shape) }
        XCTAssertEqual(pairs.count, 14)
        XCTAssertEqual(file.validate(against: pairs, ignoring: [.batchNormCounters]), [])
        XCTAssertEqual(file.validate(against: pairs), [
            .unexpectedKey(key: "bn1.num_batches_tracked", shape: [], dtype: .i64),
            .unexpectedKey(key: "bn2.num_batches_tracked", shape: [], dtype: .i64),
        ])
        // Expecting the counters as floating point reports the dtype class.
        let asFloats = try convNetExpectation().map { ExpectedTensor($0.name, shape: $0.shape) }
        XCTAssertEqual(file.validate(against: asFloats), [
            .dtypeKindMismatch(key: "bn1.num_batches_tracked", expected: .floatingPoint, actual: .i64),
            .dtypeKindMismatch(key: "bn2.num_batches_tracked", expected: .floatingPoint, actual: .i64),
        ])
        // A nil kind accepts any dtype.
        let anyKind = try convNetExpectation().map { ExpectedTensor($0.name, shape: $0.shape, kind: nil) }
        XCTAssertEqual(file.validate(against: anyKind), [])
    }

    func testReportsAllProblemsAtOnce() throws {
        let url = try Fixtures.url("convnet_f32.safetensors")
        let file = try SafetensorsFile.read(from: url)
        var expected = try convNetExpectation().filter { $0.name != "fc.bias" }  // fc.bias becomes unexpected
        for index in expected.indices where expected[index].name == "conv1.weight" {
            expected[index].shape = [4, 3, 5, 5]  // wrong kernel size
        }
        for index in expected.indices where expected[index].name == "fc.weight" {
            expected[index].shape = [10, 64]
        }
        expected.append(ExpectedTensor("classifier.weight", shape: [10, 32]))  // missing
        expected.append(ExpectedTensor("conv1.bias", shape: [4], kind: .integer))  // listed twice: first wins

        let problems = file.validate(against: expected)
        XCTAssertEqual(problems, [
            .shapeMismatch(key: "conv1.weight", expected: [4, 3, 5, 5], actual: [4, 3, 3, 3]),
            .shapeMismatch(key: "fc.weight", expected: [10, 64], actual: [10, 32]),
            .missingKey(key: "classifier.weight", expectedShape: [10, 32]),
            .unexpectedKey(key: "fc.bias", shape: [10], dtype: .f32),
        ])
        XCTAssertEqual(problems[0].description, "shape mismatch for 'conv1.weight': expected [4, 3, 5, 5], found [4, 3, 3, 3]")
        XCTAssertEqual(problems[2].description, "missing key 'classifier.weight' (expected shape [10, 32])")
        XCTAssertEqual(problems[3].description, "unexpected key 'fc.bias' (shape [10], F32)")
        XCTAssertEqual(problems.map(\.key), ["conv1.weight", "fc.weight", "classifier.weight", "fc.bias"])

        assertThrows(.validationFailed(file: url.path, problems: problems)) {
            try file.requireConformance(to: expected)
        }
        let message = SafetensorsError.validationFailed(file: url.path, problems: problems).description
        for fragment in [url.path, "4 problems", "conv1.weight", "[4, 3, 5, 5]", "[4, 3, 3, 3]", "classifier.weight", "fc.bias"] {
            XCTAssertTrue(message.contains(fragment), "\(message) lacks \(fragment)")
        }

        // Ignoring by prefix removes problems in both directions.
        XCTAssertEqual(file.validate(against: expected, ignoring: [.prefix("fc."), .exact("classifier.weight")]), [
            .shapeMismatch(key: "conv1.weight", expected: [4, 3, 5, 5], actual: [4, 3, 3, 3]),
        ])
    }

    func testDtypeKindMismatchDescription() {
        let problem = ValidationProblem.dtypeKindMismatch(key: "w", expected: .floatingPoint, actual: .i32)
        XCTAssertEqual(problem.description, "dtype mismatch for 'w': expected floating point, found I32 (integer)")
    }

    func testKeyPatterns() {
        XCTAssertTrue(KeyPattern.batchNormCounters.matches("layer1.0.bn1.num_batches_tracked"))
        XCTAssertTrue(KeyPattern.batchNormCounters.matches("num_batches_tracked"))
        XCTAssertFalse(KeyPattern.batchNormCounters.matches("my_num_batches_tracked"))
        XCTAssertFalse(KeyPattern.batchNormCounters.matches("num_batches_tracked.weight"))
        XCTAssertTrue(KeyPattern.exact("a.b").matches("a.b"))
        XCTAssertFalse(KeyPattern.exact("a.b").matches("a.bc"))
        XCTAssertTrue(KeyPattern.prefix("encoder.").matches("encoder.layer.0"))
        XCTAssertFalse(KeyPattern.prefix("encoder.").matches("decoder.layer.0"))
    }

    func testDTypeProperties() {
        XCTAssertEqual(SafetensorsDType.allCases.count, 22)
        XCTAssertEqual(SafetensorsDType.f16.byteSize, 2)
        XCTAssertEqual(SafetensorsDType.c64.byteSize, 8)
        XCTAssertNil(SafetensorsDType.f4.byteSize)
        XCTAssertEqual(SafetensorsDType.f6E2M3.bitWidth, 6)
        XCTAssertEqual(SafetensorsDType.i64.kind, .integer)
        XCTAssertEqual(SafetensorsDType.bool.kind, .boolean)
        XCTAssertEqual(SafetensorsDType.f8E4M3.kind, .floatingPoint)
        XCTAssertFalse(SafetensorsDType.f8E4M3.isConvertibleToFloatingPoint)
        XCTAssertTrue(SafetensorsDType.bf16.isConvertibleToFloatingPoint)
        XCTAssertEqual(SafetensorsDType(rawValue: "F8_E5M2FNUZ"), .f8E5M2FNUZ)
        // Reference alignment order used by the writer.
        XCTAssertGreaterThan(SafetensorsDType.u64.alignmentRank, SafetensorsDType.i64.alignmentRank)
        XCTAssertGreaterThan(SafetensorsDType.i64.alignmentRank, SafetensorsDType.f64.alignmentRank)
        XCTAssertGreaterThan(SafetensorsDType.f64.alignmentRank, SafetensorsDType.c64.alignmentRank)
        XCTAssertGreaterThan(SafetensorsDType.c64.alignmentRank, SafetensorsDType.f32.alignmentRank)
        XCTAssertGreaterThan(SafetensorsDType.bf16.alignmentRank, SafetensorsDType.f16.alignmentRank)
        XCTAssertGreaterThan(SafetensorsDType.u8.alignmentRank, SafetensorsDType.bool.alignmentRank)
    }
}
