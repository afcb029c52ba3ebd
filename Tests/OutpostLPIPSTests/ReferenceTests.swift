import Foundation
import OutpostLPIPS
import OutpostMetrics
import OutpostTensor
import XCTest

/// OutpostLPIPS against the `lpips` Python package (Fixtures/lpips_reference.json): the same
/// closed-form weights and images on both sides, the weights going through a safetensors file.
///
/// - float32: the distance within 1e-4 of the package's float32 distance (the requirement),
///   and of its float64 distance.
/// - float64: distance and per-layer terms within 1e-9 (relative) of the package's float64
///   run: the definition is reproduced exactly, not approximately.
/// - The float64 gradient with respect to an image matches PyTorch's autograd (norm and a
///   projection, 1e-7 relative).
final class ReferenceTests: XCTestCase {
    func testFormulaMatchesTheGenerator() throws {
        let check = try Fixtures.reference.get().formula_check
        XCTAssertEqual(check["h(0,0)"], LPIPS.formulaValue(stream: 0, index: 0))
        XCTAssertEqual(check["h(7,12345)"], LPIPS.formulaValue(stream: 7, index: 12345))
        XCTAssertEqual(check["h(1000,5)"], LPIPS.formulaValue(stream: 1000, index: 5))
    }

    /// The key names and shapes are the `lpips.LPIPS` module's own (named_parameters, in order),
    /// and the only other state_dict entries are the scaling-layer buffers and the `lins.*`
    /// aliases that `safetensors.torch.save_model` drops.
    func testKeyNamesAreThePackageStateDict() throws {
        for backbone in LPIPSBackbone.allCases {
            let reference = try Fixtures.backbone(backbone)
            let expected = backbone.expectedTensors
            XCTAssertEqual(expected.map(\.name), reference.parameters.map(\.name), "\(backbone)")
            XCTAssertEqual(expected.map(\.shape), reference.parameters.map(\.shape), "\(backbone)")
            let others = Set(reference.state_dict.map(\.name)).subtracting(expected.map(\.name))
            let aliases = (0..<5).map { "lins.\($0).model.1.weight" }
            XCTAssertEqual(others, Set(["scaling_layer.shift", "scaling_layer.scale"] + aliases), "\(backbone)")
            XCTAssertEqual(reference.scaling_layer["shift"], LPIPSWeights.scalingShift.map(Double.init))
            XCTAssertEqual(reference.scaling_layer["scale"], LPIPSWeights.scalingScale.map(Double.init))
            XCTAssertEqual(expected.count, backbone == .alex ? 15 : 31)
        }
    }

    func testAlexNetMatchesThePackage() throws { try checkCases(.alex) }

    func testVGG16MatchesThePackage() throws { try checkCases(.vgg16) }

    func checkCases(_ backbone: LPIPSBackbone, file: StaticString = #filePath, line: UInt = #line) throws {
        let reference = try Fixtures.backbone(backbone)
        XCTAssertEqual(reference.cases.count, 6)
        let single = try Fixtures.network(backbone, dtype: .float32)
        let double = try Fixtures.network(backbone, dtype: .float64)
        var worst32 = 0.0
        for c in reference.cases {
            let (a, b) = try Fixtures.images(c)
            let d32 = try single.distance(a, b)
            let d64 = try double.distance(a, b)
            let layers64 = try double.layerDistances(a, b)
            worst32 = max(worst32, abs(d32 - c.distance_f32))
            XCTAssertLessThanOrEqual(abs(d32 - c.distance_f32), 1e-4, "\(backbone) \(c.name): float32 \(d32) vs package \(c.distance_f32)", file: file, line: line)
            XCTAssertLessThanOrEqual(abs(d32 - c.distance_f64), 1e-4, "\(backbone) \(c.name): float32 \(d32) vs package float64 \(c.distance_f64)", file: file, line: line)
            XCTAssertLessThanOrEqual(abs(d64 - c.distance_f64), 1e-9 * max(abs(c.distance_f64), 1e-3),
                                     "\(backbone) \(c.name): float64 \(d64) vs package \(c.distance_f64)", file: file, line: line)
            XCTAssertEqual(layers64.count, 5)
            for (l, (ours, theirs)) in zip(layers64, c.layers_f64).enumerated() {
                XCTAssertLessThanOrEqual(abs(ours - theirs), 1e-9 * max(abs(theirs), 1e-3),
                                         "\(backbone) \(c.name) layer \(l): \(ours) vs \(theirs)", file: file, line: line)
            }
            let layers32 = try single.layerDistances(a, b)
            for (l, (ours, theirs)) in zip(layers32, c.layers_f32).enumerated() {
                XCTAssertLessThanOrEqual(abs(ours - theirs), 1e-5, "\(backbone) \(c.name) float32 layer \(l)", file: file, line: line)
            }
            if a == b {
                // The two images run as rows of one batched convolution GEMM, whose blocking can
                // round a row differently by its position: zero up to rounding, not bit for bit.
                XCTAssertEqual(d32, 0, accuracy: 1e-10, "\(backbone) \(c.name): identical images", file: file, line: line)
                XCTAssertEqual(d64, 0, accuracy: 1e-20, "\(backbone) \(c.name): identical images", file: file, line: line)
            } else {
                XCTAssertGreaterThan(c.distance_f64, 1e-3, "the fixture pair \(c.name) should differ", file: file, line: line)
            }
        }
        print("LPIPS \(backbone): largest float32 difference from the package \(worst32)")
    }

    /// Grayscale input is the RGB image with the plane repeated three times.
    func testGrayscaleIsReplicatedToRGB() throws {
        let reference = try Fixtures.backbone(.alex)
        guard let c = reference.cases.first(where: { $0.shape[0] == 1 }) else { return XCTFail("no grayscale case") }
        let (a, b) = try Fixtures.images(c)
        func rgb(_ x: Image) throws -> Image {
            try Image(channels: 3, height: x.height, width: x.width, pixels: x.pixels + x.pixels + x.pixels)
        }
        let lpips = try Fixtures.network(.alex, dtype: .float64)
        XCTAssertEqual(try lpips.distance(a, b), try lpips.distance(rgb(a), rgb(b)))
    }

    /// A batch gives each pair's own distance; the distance is symmetric.
    func testBatchesAndSymmetry() throws {
        let reference = try Fixtures.backbone(.alex)
        let cases = reference.cases.filter { $0.shape == [3, 32, 32] }
        XCTAssertEqual(cases.count, 2)
        let pairs = try cases.map { try Fixtures.images($0) }
        let lpips = try Fixtures.network(.alex, dtype: .float64)
        let batch = try lpips.distances(pairs.map(\.0), pairs.map(\.1))
        for (i, c) in cases.enumerated() {
            XCTAssertEqual(batch[i], c.distance_f64, accuracy: 1e-9 * max(c.distance_f64, 1e-3))
            XCTAssertEqual(try lpips.distance(pairs[i].1, pairs[i].0), try lpips.distance(pairs[i].0, pairs[i].1))
        }
    }

    /// The tensor entry point is differentiable and its gradient is PyTorch's.
    func testGradientMatchesAutograd() throws {
        for backbone in LPIPSBackbone.allCases {
            let lpips = try Fixtures.network(backbone, dtype: .float64)
            for c in try Fixtures.backbone(backbone).cases {
                guard let norm = c.gradient_norm_f64, let probe = c.gradient_probe_f64 else { continue }
                let (a, b) = try Fixtures.images(c)
                let x = Tensor(a.pixels, shape: [1] + c.shape).requiringGrad()
                let y = Tensor(b.pixels, shape: [1] + c.shape)
                let d = try lpips.distance(x, y)
                XCTAssertEqual(d.shape, [1])
                XCTAssertEqual(d.item, c.distance_f64, accuracy: 1e-9 * c.distance_f64)
                let g = grad(of: d.sum(), wrt: [x])[0].doubles
                let ourNorm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
                let ourProbe = g.enumerated().reduce(0) { $0 + $1.element * cos(0.3 * Double($1.offset)) }
                XCTAssertEqual(ourNorm, norm, accuracy: 1e-7 * norm, "\(backbone) \(c.name)")
                XCTAssertEqual(ourProbe, probe, accuracy: 1e-7 * norm * Double(g.count).squareRoot(), "\(backbone) \(c.name)")
            }
        }
    }

    /// The [-1, 1] entry point (the package's default) agrees with the [0, 1] one.
    func testSignedInputRange() throws {
        let c = try Fixtures.backbone(.alex).cases[0]
        let (a, b) = try Fixtures.images(c)
        let lpips = try Fixtures.network(.alex, dtype: .float64)
        let x = Tensor(a.pixels.map { 2 * $0 - 1 }, shape: [1] + c.shape)
        let y = Tensor(b.pixels.map { 2 * $0 - 1 }, shape: [1] + c.shape)
        XCTAssertEqual(try lpips.distance(x, y, inputRange: .signed).item, c.distance_f64, accuracy: 1e-9 * c.distance_f64)
        // Float32 tensors are cast to the network's dtype.
        let x32 = Tensor(a.pixels.map(Float.init), shape: [1] + c.shape)
        let y32 = Tensor(b.pixels.map(Float.init), shape: [1] + c.shape)
        XCTAssertEqual(try lpips.distance(x32, y32).item, c.distance_f64, accuracy: 1e-6)
    }

    /// The probe pair of the converter is the fixture's "probe" case, and a file carrying the
    /// package's probe distance passes the embedded check; a wrong value fails it. (AlexNet
    /// only: a VGG-16 file is 59 MB; the probe case of VGG-16 is checked with the others.)
    func testEmbeddedReferenceCheck() throws {
        for backbone in [LPIPSBackbone.alex] {
            guard let c = try Fixtures.backbone(backbone).cases.first(where: { $0.name == "probe" }) else {
                return XCTFail("no probe case")
            }
            let (a, b) = try Fixtures.images(c)
            let probe = LPIPS.probeImages()
            XCTAssertEqual(probe.first, a)
            XCTAssertEqual(probe.second, b)
            XCTAssertEqual(probe.first.shapeDescription, "3x64x64")

            let dir = try Fixtures.temporaryDirectory(self)
            let good = dir.appendingPathComponent("good.safetensors"), bad = dir.appendingPathComponent("bad.safetensors")
            try Fixtures.formulaBuilder(backbone, metadata: [LPIPSWeights.MetadataKey.net: backbone.rawValue,
                                                             LPIPSWeights.MetadataKey.probeDistance: "\(c.distance_f32)"]).write(to: good)
            let passed = try XCTUnwrap(try LPIPS(backbone: backbone, weightsFile: good).checkEmbeddedReference())
            XCTAssertTrue(passed.passed, passed.description)
            XCTAssertEqual(passed.expected, c.distance_f32)
            try Fixtures.formulaBuilder(backbone, metadata: [LPIPSWeights.MetadataKey.probeDistance: "\(c.distance_f32 + 1e-3)"]).write(to: bad)
            let failed = try XCTUnwrap(try LPIPS(backbone: backbone, weightsFile: bad).checkEmbeddedReference())
            XCTAssertFalse(failed.passed)
            XCTAssertTrue(failed.description.contains("FAILED"), failed.description)
            try Fixtures.formulaBuilder(backbone, metadata: [LPIPSWeights.MetadataKey.probeDistance: "n/a"]).write(to: bad)
            XCTAssertThrowsError(try LPIPS(backbone: backbone, weightsFile: bad).checkEmbeddedReference()) { error in
                XCTAssertTrue("\(error)".contains(LPIPSWeights.MetadataKey.probeDistance), "\(error)")
            }
            try FileManager.default.removeItem(at: good)
            try FileManager.default.removeItem(at: bad)
        }
        // No reference in the metadata: nothing to check.
        XCTAssertNil(try Fixtures.network(.alex, dtype: .float32).checkEmbeddedReference())
    }
}
