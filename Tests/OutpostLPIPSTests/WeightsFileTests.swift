import Foundation
import OutpostLPIPS
import OutpostMetrics
import OutpostSafetensors
import OutpostTensor
import XCTest

/// Configuration and the weights file: unavailable without one, and every malformed file
/// rejected with an error naming the file and the keys concerned.
final class WeightsFileTests: XCTestCase {
    /// Formula weights (see FixtureSupport) with edits, written to a temporary file.
    func writeFile(_ backbone: LPIPSBackbone = .alex, metadata: [String: String] = [:],
                   edit: (inout [(name: String, shape: [Int], values: [Float])]) -> Void = { _ in },
                   extra: (inout SafetensorsBuilder) throws -> Void = { _ in }) throws -> URL {
        var weights = Fixtures.formulaWeights(backbone)
        edit(&weights)
        var builder = SafetensorsBuilder(metadata: metadata)
        for w in weights { try builder.add(w.name, shape: w.shape, floats: w.values) }
        try extra(&builder)
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("weights.safetensors")
        try builder.write(to: url)
        return url
    }

    func expectError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line,
                     _ check: (LPIPSError, String) -> Void) {
        do {
            try body()
            XCTFail("no error was thrown", file: file, line: line)
        } catch let error as LPIPSError {
            check(error, error.description)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    // MARK: Not configured

    func testUnavailableWithoutAWeightsFile() {
        for backbone in LPIPSBackbone.allCases {
            for environment in [[:], [backbone.environmentVariable: ""]] {
                expectError({ _ = try LPIPS.configured(backbone, environment: environment) }) { error, text in
                    guard case .unavailable(backbone, _) = error else { return XCTFail("\(error)") }
                    XCTAssertTrue(text.hasPrefix("LPIPS (\(backbone.rawValue)) is unavailable: no weights file is configured"), text)
                    XCTAssertTrue(text.contains(backbone.environmentVariable), text)
                    XCTAssertTrue(text.contains("scripts/lpips/convert_weights.py --net \(backbone.rawValue)"), text)
                }
            }
        }
        // The variable of the other backbone does not count.
        expectError({ _ = try LPIPS.configured(.vgg16, environment: ["OUTPOST_LPIPS_ALEX_WEIGHTS": "/x.safetensors"]) }) { error, _ in
            guard case .unavailable(.vgg16, _) = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(LPIPSBackbone.alex.environmentVariable, "OUTPOST_LPIPS_ALEX_WEIGHTS")
        XCTAssertEqual(LPIPSBackbone.vgg16.environmentVariable, "OUTPOST_LPIPS_VGG_WEIGHTS")
    }

    func testConfiguredFromTheEnvironmentOrAnExplicitFile() throws {
        let url = try writeFile()
        let c = try Fixtures.backbone(.alex).cases[0]
        let (a, b) = try Fixtures.images(c)
        let fromEnvironment = try LPIPS.configured(.alex, environment: ["OUTPOST_LPIPS_ALEX_WEIGHTS": url.path])
        XCTAssertEqual(fromEnvironment.source, url.path)
        XCTAssertEqual(try fromEnvironment.distance(a, b), c.distance_f32, accuracy: 1e-4)
        // An explicit file is used even when the variable points elsewhere.
        let explicit = try LPIPS.configured(.alex, weightsFile: url, environment: ["OUTPOST_LPIPS_ALEX_WEIGHTS": "/nonexistent"],
                                            dtype: .float64)
        XCTAssertEqual(explicit.dtype, .float64)
        XCTAssertEqual(try explicit.distance(a, b), c.distance_f64, accuracy: 1e-9)
        // A variable naming a missing file is an error about that file, not "unavailable".
        expectError({ _ = try LPIPS.configured(.alex, environment: ["OUTPOST_LPIPS_ALEX_WEIGHTS": "/nonexistent/lpips.safetensors"]) }) { error, text in
            guard case .unreadableWeights(.alex, .unreadableFile) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(text.contains("/nonexistent/lpips.safetensors"), text)
        }
    }

    // MARK: Malformed files

    func testNotASafetensorsFile() throws {
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("garbage.safetensors")
        try Data("this is not a weights file".utf8).write(to: url)
        expectError({ _ = try LPIPS(backbone: .alex, weightsFile: url) }) { error, text in
            guard case .unreadableWeights(.alex, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(text.contains(url.path), text)
            XCTAssertTrue(text.contains("convert_weights.py --net alex"), text)
        }
    }

    func testMissingMisshapenAndUnexpectedKeysAreAllListed() throws {
        let url = try writeFile(edit: { weights in
            weights.removeAll { $0.name == "lin2.model.1.weight" }
            let i = weights.firstIndex { $0.name == "net.slice1.0.bias" }!
            weights[i] = (weights[i].name, [63], Array(weights[i].values.prefix(63)))
        }, extra: { try $0.add("lin5.model.1.weight", shape: [1, 8, 1, 1], floats: [Float](repeating: 0, count: 8)) })
        expectError({ _ = try LPIPS(backbone: .alex, weightsFile: url) }) { error, text in
            guard case let .unreadableWeights(.alex, .validationFailed(_, problems)) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(Set(problems.map(\.key)), ["lin2.model.1.weight", "net.slice1.0.bias", "lin5.model.1.weight"])
            XCTAssertTrue(text.contains("missing key 'lin2.model.1.weight' (expected shape [1, 384, 1, 1])"), text)
            XCTAssertTrue(text.contains("shape mismatch for 'net.slice1.0.bias': expected [64], found [63]"), text)
            XCTAssertTrue(text.contains("unexpected key 'lin5.model.1.weight'"), text)
        }
    }

    func testAFileOfTheOtherBackboneIsRejected() throws {
        let url = try writeFile(.alex)
        expectError({ _ = try LPIPS(backbone: .vgg16, weightsFile: url) }) { error, text in
            guard case let .unreadableWeights(.vgg16, .validationFailed(_, problems)) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(text.contains("missing key 'net.slice1.2.weight'"), text)
            XCTAssertTrue(text.contains("unexpected key 'net.slice2.3.weight'"), text)
            XCTAssertTrue(text.hasPrefix("LPIPS (vgg) weights"), text)
            XCTAssertGreaterThan(problems.count, 10)
        }
        // Metadata naming the other backbone is caught even when the keys happen to fit.
        let labelled = try writeFile(.alex, metadata: [LPIPSWeights.MetadataKey.net: "vgg"])
        expectError({ _ = try LPIPS(backbone: .alex, weightsFile: labelled) }) { error, text in
            guard case .invalidWeights(_, LPIPSWeights.MetadataKey.net, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(text.contains("'vgg' network, not 'alex'"), text)
        }
    }

    func testNonFiniteWeightsAreRejected() throws {
        let url = try writeFile(edit: { weights in
            let i = weights.firstIndex { $0.name == "net.slice3.6.weight" }!
            weights[i].values[17] = .nan
        })
        expectError({ _ = try LPIPS(backbone: .alex, weightsFile: url) }) { error, text in
            guard case .invalidWeights(url.path, "net.slice3.6.weight", _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(text.contains("element 17 is nan"), text)
        }
    }

    func testIntegerWeightsAreRejected() throws {
        let url = try writeFile(edit: { $0.removeAll { $0.name == "lin0.model.1.weight" } },
                                extra: { try $0.add("lin0.model.1.weight", shape: [1, 64, 1, 1], int32s: [Int32](repeating: 1, count: 64)) })
        expectError({ _ = try LPIPS(backbone: .alex, weightsFile: url) }) { _, text in
            XCTAssertTrue(text.contains("dtype mismatch for 'lin0.model.1.weight'"), text)
        }
    }

    func testScalingLayerBuffersMustHoldThePackageConstants() throws {
        let url = try writeFile(extra: {
            try $0.add("scaling_layer.shift", shape: [1, 3, 1, 1], floats: [-0.03, -0.088, -0.2])
            try $0.add("scaling_layer.scale", shape: [1, 3, 1, 1], floats: LPIPSWeights.scalingScale)
        })
        expectError({ _ = try LPIPS(backbone: .alex, weightsFile: url) }) { error, text in
            guard case .invalidWeights(_, "scaling_layer.shift", _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(text.contains("ScalingLayer constants are fixed"), text)
        }
        let misshapen = try writeFile(extra: { try $0.add("scaling_layer.scale", shape: [3], floats: LPIPSWeights.scalingScale) })
        expectError({ _ = try LPIPS(backbone: .alex, weightsFile: misshapen) }) { error, _ in
            guard case .invalidWeights(_, "scaling_layer.scale", _) = error else { return XCTFail("\(error)") }
        }
    }

    /// Half-precision files load; their values are the rounded ones.
    func testHalfPrecisionWeightsLoad() throws {
        let weights = Fixtures.formulaWeights(.alex)
        var f16 = SafetensorsBuilder(), rounded = SafetensorsBuilder()
        for w in weights {
            try f16.add(w.name, shape: w.shape, floats: w.values, as: .f16)
            try rounded.add(w.name, shape: w.shape,
                            floats: w.values.map { HalfPrecision.float(fromFloat16Bits: HalfPrecision.float16Bits(from: $0)) })
        }
        let dir = try Fixtures.temporaryDirectory(self)
        try f16.write(to: dir.appendingPathComponent("f16.safetensors"))
        try rounded.write(to: dir.appendingPathComponent("rounded.safetensors"))
        let c = try Fixtures.backbone(.alex).cases[1]
        let (a, b) = try Fixtures.images(c)
        let half = try LPIPS(backbone: .alex, weightsFile: dir.appendingPathComponent("f16.safetensors"))
        let reference = try LPIPS(backbone: .alex, weightsFile: dir.appendingPathComponent("rounded.safetensors"))
        XCTAssertEqual(try half.distance(a, b), try reference.distance(a, b))
        XCTAssertEqual(try half.distance(a, b), c.distance_f32, accuracy: 1e-2)
    }

    func testMinimumImageSides() {
        XCTAssertEqual(LPIPSBackbone.alex.minimumImageSide, 31)
        XCTAssertEqual(LPIPSBackbone.vgg16.minimumImageSide, 16)
        XCTAssertEqual(LPIPSBackbone.alex.featureChannels, [64, 192, 384, 256, 256])
        XCTAssertEqual(LPIPSBackbone.vgg16.featureChannels, [64, 128, 256, 512, 512])
    }
}
