import Foundation
import OutpostLPIPS
import OutpostMetrics
import OutpostSafetensors
import OutpostTensor
import XCTest

/// Fixtures/lpips_reference.json, written by scripts/fixtures/lpips/make_fixtures.py: the
/// `lpips` package's distances for formula weights and formula images (see the script's docstring).
struct ReferenceFile: Decodable {
    struct ImageSpec: Decodable {
        let base: Int
        let noise: Int?
        let amplitude: Double
    }

    struct Case: Decodable {
        let name: String
        let shape: [Int]
        let first: ImageSpec
        let second: ImageSpec
        let distance_f32: Double
        let distance_f64: Double
        let layers_f32: [Double]
        let layers_f64: [Double]
        let gradient_norm_f64: Double?
        let gradient_probe_f64: Double?
    }

    struct NamedShape: Decodable {
        let name: String
        let shape: [Int]
        init(from decoder: Decoder) throws {
            var c = try decoder.unkeyedContainer()
            name = try c.decode(String.self)
            shape = try c.decode([Int].self)
        }
    }

    struct Backbone: Decodable {
        let parameters: [NamedShape]
        let state_dict: [NamedShape]
        let scaling_layer: [String: [Double]]
        let cases: [Case]
    }

    let lpips_version: String
    let formula_check: [String: Double]
    let backbones: [String: Backbone]
}

enum Fixtures {
    struct Failure: Error, CustomStringConvertible { let description: String }

    static let reference: Result<ReferenceFile, Error> = Result {
        guard let url = Bundle.module.url(forResource: "lpips_reference", withExtension: "json", subdirectory: "Fixtures") else {
            throw Failure(description: "Fixtures/lpips_reference.json is missing from the test bundle")
        }
        return try JSONDecoder().decode(ReferenceFile.self, from: Data(contentsOf: url))
    }

    static func backbone(_ b: LPIPSBackbone) throws -> ReferenceFile.Backbone {
        guard let entry = try reference.get().backbones[b.rawValue] else {
            throw Failure(description: "the fixture has no backbone '\(b.rawValue)'")
        }
        return entry
    }

    /// An image from a fixture spec: `x[i] = (1 + h(base, i)) / 2`, then optionally
    /// `clip(x[i] + amplitude h(noise, i), 0, 1)`.
    static func image(_ spec: ReferenceFile.ImageSpec, shape: [Int]) throws -> Image {
        let n = shape.reduce(1, *)
        var x = (0..<n).map { (1 + LPIPS.formulaValue(stream: spec.base, index: $0)) / 2 }
        if let noise = spec.noise {
            x = (0..<n).map { min(max(x[$0] + spec.amplitude * LPIPS.formulaValue(stream: noise, index: $0), 0), 1) }
        }
        return try Image(channels: shape[0], height: shape[1], width: shape[2], pixels: x)
    }

    static func images(_ c: ReferenceFile.Case) throws -> (Image, Image) {
        (try image(c.first, shape: c.shape), try image(c.second, shape: c.shape))
    }

    /// The closed-form weights of the fixture, parameter k in `named_parameters()` order:
    /// convolution weight h(k, i)·sqrt(6 / fan_in), bias 0.01·h(k, i), linear layer (1 + h(k, i)) / 2;
    /// all rounded to Float.
    static func formulaWeights(_ backbone: LPIPSBackbone) -> [(name: String, shape: [Int], values: [Float])] {
        backbone.expectedTensors.enumerated().map { k, tensor in
            let n = tensor.shape.reduce(1, *)
            let values: [Float]
            if tensor.name.hasPrefix("lin") {
                values = (0..<n).map { Float((1 + LPIPS.formulaValue(stream: k, index: $0)) / 2) }
            } else if tensor.name.hasSuffix(".weight") {
                let bound = (6 / Double(n / tensor.shape[0])).squareRoot()
                values = (0..<n).map { Float(LPIPS.formulaValue(stream: k, index: $0) * bound) }
            } else {
                values = (0..<n).map { Float(0.01 * LPIPS.formulaValue(stream: k, index: $0)) }
            }
            return (tensor.name, tensor.shape, values)
        }
    }

    /// A builder holding the formula weights, optionally with the scaling-layer buffers.
    static func formulaBuilder(_ backbone: LPIPSBackbone, scalingLayer: Bool = false,
                               metadata: [String: String] = [:]) throws -> SafetensorsBuilder {
        var builder = SafetensorsBuilder(metadata: metadata)
        for w in formulaWeights(backbone) { try builder.add(w.name, shape: w.shape, floats: w.values) }
        if scalingLayer {
            try builder.add("scaling_layer.shift", shape: [1, 3, 1, 1], floats: LPIPSWeights.scalingShift)
            try builder.add("scaling_layer.scale", shape: [1, 3, 1, 1], floats: LPIPSWeights.scalingScale)
        }
        return builder
    }

    /// A fresh directory under the temporary directory, removed by the test case's teardown.
    static func temporaryDirectory(_ testCase: XCTestCase) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-lpips-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        testCase.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// The formula weights of each backbone written to a file (with the scaling-layer buffers,
    /// as `safetensors.torch.save_model` writes them) and read back through
    /// `LPIPSWeights.load(from:backbone:)`, once per backbone; the file is deleted after reading.
    /// Every reference test goes through this loading path.
    static func network(_ backbone: LPIPSBackbone, dtype: DType) throws -> LPIPS {
        LPIPS(weights: try cache.weights(backbone), dtype: dtype)
    }

    private static let cache = WeightsCache()

    private final class WeightsCache: @unchecked Sendable {
        private let lock = NSLock()
        private var loaded: [LPIPSBackbone: LPIPSWeights] = [:]

        func weights(_ backbone: LPIPSBackbone) throws -> LPIPSWeights {
            lock.lock()
            defer { lock.unlock() }
            if let w = loaded[backbone] { return w }
            let url = FileManager.default.temporaryDirectory
                .appendingPathComponent("outpost-lpips-\(backbone)-\(UUID().uuidString).safetensors")
            defer { try? FileManager.default.removeItem(at: url) }
            try formulaBuilder(backbone, scalingLayer: true).write(to: url)
            let w = try LPIPSWeights.load(from: url, backbone: backbone)
            loaded[backbone] = w
            return w
        }
    }
}
