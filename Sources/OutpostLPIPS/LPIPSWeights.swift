import Foundation
import OutpostSafetensors

/// The parameters of one LPIPS network, read and checked from a safetensors file.
///
/// The file holds the `state_dict` of `lpips.LPIPS(net=...)` as written by
/// `scripts/lpips/convert_weights.py` (see ``LPIPSBackbone/expectedTensors`` for every key and
/// shape). Any floating-point dtype is accepted (F32, F16, BF16, F64); values are kept as
/// `Float`. The optional metadata key `outpost.lpips.net` (`"alex"` or `"vgg"`), when present,
/// must name the backbone being loaded.
public struct LPIPSWeights: Sendable {
    /// Metadata keys the converter writes and the loader reads.
    public enum MetadataKey {
        /// The backbone, `"alex"` or `"vgg"`; checked against the requested backbone.
        public static let net = "outpost.lpips.net"
        /// The `lpips` package's float32 distance between the two probe images of
        /// ``LPIPS/probeImages()``; see ``LPIPS/checkEmbeddedReference(tolerance:)``.
        public static let probeDistance = "outpost.lpips.probe_distance"
    }

    /// The package's ScalingLayer shift, one per RGB channel (float32 values, as the package stores them).
    public static let scalingShift: [Float] = [-0.030, -0.088, -0.188]
    /// The package's ScalingLayer scale, one per RGB channel (float32 values, as the package stores them).
    public static let scalingScale: [Float] = [0.458, 0.448, 0.450]

    /// The backbone the weights belong to.
    public let backbone: LPIPSBackbone
    /// The path (or label) the weights were read from, for messages.
    public let source: String
    /// The file's `__metadata__` map.
    public let metadata: [String: String]

    /// Convolution weights and biases keyed by their index in torchvision's `features`.
    let convolutions: [Int: (weight: [Float], bias: [Float])]
    /// The five calibration layers' weights (C values each).
    let linears: [[Float]]

    /// Reads and checks the weights file at `url`.
    /// - Throws: ``LPIPSError/unreadableWeights(backbone:underlying:)`` when the file cannot be
    ///   read, is malformed, or lacks, adds or misshapes tensors (all listed);
    ///   ``LPIPSError/invalidWeights(file:key:reason:)`` for unusable values or metadata.
    public static func load(from url: URL, backbone: LPIPSBackbone) throws(LPIPSError) -> LPIPSWeights {
        let file: SafetensorsFile
        do {
            file = try SafetensorsFile.read(from: url)
        } catch {
            throw .unreadableWeights(backbone: backbone, underlying: error)
        }
        return try LPIPSWeights(file: file, backbone: backbone)
    }

    /// Checks and converts a parsed safetensors file.
    /// - Throws: as ``load(from:backbone:)``.
    public init(file: SafetensorsFile, backbone: LPIPSBackbone) throws(LPIPSError) {
        let scalingKeys = ["scaling_layer.shift", "scaling_layer.scale"]
        do {
            try file.requireConformance(to: backbone.expectedTensors, ignoring: scalingKeys.map { .exact($0) })
        } catch {
            throw .unreadableWeights(backbone: backbone, underlying: error)
        }
        if let net = file.metadata[MetadataKey.net], net != backbone.rawValue {
            throw .invalidWeights(file: file.source, key: MetadataKey.net,
                                  reason: "the file's metadata says it holds the '\(net)' network, not '\(backbone.rawValue)'")
        }
        func values(_ key: String) throws(LPIPSError) -> [Float] {
            let v: [Float]
            do {
                v = try file.floats(key)
            } catch {
                throw .unreadableWeights(backbone: backbone, underlying: error)
            }
            if let i = v.firstIndex(where: { !$0.isFinite }) {
                throw .invalidWeights(file: file.source, key: key, reason: "element \(i) is \(v[i]), not finite")
            }
            return v
        }
        for (key, constants) in zip(scalingKeys, [Self.scalingShift, Self.scalingScale]) {
            guard let entry = file[key] else { continue }
            guard entry.shape == [1, 3, 1, 1], entry.dtype.kind == .floatingPoint else {
                throw .invalidWeights(file: file.source, key: key,
                                      reason: "expected a floating-point tensor of shape [1, 3, 1, 1], found \(entry.dtype) \(entry.shape)")
            }
            let found = try values(key)
            guard found == constants else {
                throw .invalidWeights(file: file.source, key: key,
                                      reason: "the ScalingLayer constants are fixed at \(constants), found \(found)")
            }
        }
        var convolutions: [Int: (weight: [Float], bias: [Float])] = [:]
        for (s, slice) in backbone.slices.enumerated() {
            for layer in slice {
                guard case let .conv(index, _, _, _, _, _) = layer else { continue }
                convolutions[index] = (try values(LPIPSBackbone.convKey(slice: s + 1, index: index, "weight")),
                                       try values(LPIPSBackbone.convKey(slice: s + 1, index: index, "bias")))
            }
        }
        var linears: [[Float]] = []
        for l in backbone.featureChannels.indices {
            linears.append(try values(LPIPSBackbone.linearKey(l)))
        }
        self.backbone = backbone
        self.source = file.source
        self.metadata = file.metadata
        self.convolutions = convolutions
        self.linears = linears
    }
}
