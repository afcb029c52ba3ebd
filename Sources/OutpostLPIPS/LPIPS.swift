import Foundation
import OutpostMetrics
import OutpostSafetensors
import OutpostTensor

/// The Learned Perceptual Image Patch Similarity of Zhang et al. (CVPR 2018), version 0.1, as
/// the `lpips` Python package (0.1.4) computes it, on Outpost's tensor engine.
///
/// For images x₀, x₁ with pixels in [0, 1]:
///
/// 1. scale to [-1, 1]: `2x - 1` (the package's `normalize=True`);
/// 2. ScalingLayer: `(x - shift) / scale` per channel, shift = (-0.030, -0.088, -0.188),
///    scale = (0.458, 0.448, 0.450) (as float32);
/// 3. the backbone's five slice outputs y⁽ˡ⁾ (AlexNet relu1...relu5, VGG-16 relu1_2, relu2_2,
///    relu3_3, relu4_3, relu5_3; see ``LPIPSBackbone``);
/// 4. unit-normalize over channels: `y / (sqrt(Σ_c y²) + 1e-10)`;
/// 5. per layer, the squared difference weighted by the 1×1 calibration layer `lin{l}` (no
///    bias): `Σ_c w_c (ŷ₀ - ŷ₁)²`, averaged over the spatial positions;
/// 6. the sum over the five layers.
///
/// A grayscale (1-channel) image is replicated to three channels before step 1, as
/// `x.repeat(1, 3, 1, 1)` would do in PyTorch; both images of a pair must have the same shape.
///
/// The network runs in `float32` (default; within 1e-4 of the package) or `float64`.
/// LPIPS is only computed from real weights: without a weights file the metric is
/// unavailable (``configured(_:weightsFile:environment:dtype:)`` throws
/// ``LPIPSError/unavailable(backbone:reason:)``), never approximated.
///
/// ```swift
/// let lpips = try LPIPS(backbone: .alex, weightsFile: URL(fileURLWithPath: "lpips_alex.safetensors"))
/// let d = try lpips.distance(truth, reconstruction)
/// let pairing = try Pairing.optimal(truths: truths, reconstructions: recons, cost: lpips.pairingCost)
/// ```
public struct LPIPS: Sendable {
    /// The pixel range of tensors given to ``distance(_:_:inputRange:)-(Tensor,Tensor,_)``.
    public enum InputRange: Sendable, Equatable {
        /// Pixels in [0, 1], scaled by `2x - 1` first (the package's `normalize=True`; what
        /// ``Image`` holds).
        case unit
        /// Pixels already in [-1, 1] (the package's default, `normalize=False`).
        case signed
    }

    /// The backbone of the network.
    public let backbone: LPIPSBackbone
    /// The dtype the network computes in.
    public let dtype: DType
    /// Where the weights came from (the file path), for reports.
    public let source: String
    /// The weights file's `__metadata__`.
    public let metadata: [String: String]

    private let convolutions: [Int: (weight: Tensor, bias: Tensor)]
    /// For each convolution with kernel 2·padding + 1, its central tap as a Cout×Cin matrix:
    /// on a 1×1 input every other tap meets only zero padding, so the convolution is this
    /// matrix product (one GEMM for the whole batch instead of one per image).
    private let centerTaps: [Int: Tensor]
    private let linears: [Tensor]
    private let shift: Tensor
    private let scale: Tensor

    /// An LPIPS network with the given weights.
    /// - Parameters:
    ///   - weights: weights checked by ``LPIPSWeights``.
    ///   - dtype: `.float32` (default) or `.float64` for the computation.
    public init(weights: LPIPSWeights, dtype: DType = .float32) {
        func tensor(_ values: [Float], _ shape: [Int]) -> Tensor {
            switch dtype {
            case .float32: return Tensor(values, shape: shape)
            case .float64: return Tensor(values.map(Double.init), shape: shape)
            }
        }
        var convolutions: [Int: (weight: Tensor, bias: Tensor)] = [:]
        var centerTaps: [Int: Tensor] = [:]
        for slice in weights.backbone.slices {
            for layer in slice {
                guard case let .conv(index, cin, cout, kernel, _, padding) = layer, let p = weights.convolutions[index] else { continue }
                convolutions[index] = (tensor(p.weight, [cout, cin, kernel, kernel]), tensor(p.bias, [cout]))
                if kernel == 2 * padding + 1 {
                    let center = padding * kernel + padding
                    let tap = (0..<(cout * cin)).map { p.weight[$0 * kernel * kernel + center] }
                    centerTaps[index] = tensor(tap, [cout, cin])
                }
            }
        }
        self.backbone = weights.backbone
        self.dtype = dtype
        self.source = weights.source
        self.metadata = weights.metadata
        self.convolutions = convolutions
        self.centerTaps = centerTaps
        self.linears = zip(weights.linears, weights.backbone.featureChannels).map { tensor($0, [1, $1, 1, 1]) }
        self.shift = tensor(LPIPSWeights.scalingShift, [1, 3, 1, 1])
        self.scale = tensor(LPIPSWeights.scalingScale, [1, 3, 1, 1])
    }

    /// An LPIPS network with weights read from a safetensors file.
    /// - Throws: the errors of ``LPIPSWeights/load(from:backbone:)``.
    public init(backbone: LPIPSBackbone, weightsFile: URL, dtype: DType = .float32) throws(LPIPSError) {
        self.init(weights: try LPIPSWeights.load(from: weightsFile, backbone: backbone), dtype: dtype)
    }

    /// The configured LPIPS network: weights from `weightsFile` when given, otherwise from the
    /// path in the environment variable ``LPIPSBackbone/environmentVariable``
    /// (`OUTPOST_LPIPS_ALEX_WEIGHTS` / `OUTPOST_LPIPS_VGG_WEIGHTS`).
    /// - Parameter environment: the variables to read (the process environment by default).
    /// - Throws: ``LPIPSError/unavailable(backbone:reason:)`` when neither names a file (an empty
    ///   variable counts as unset), else the errors of ``LPIPSWeights/load(from:backbone:)``.
    public static func configured(
        _ backbone: LPIPSBackbone, weightsFile: URL? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment, dtype: DType = .float32
    ) throws(LPIPSError) -> LPIPS {
        if let weightsFile { return try LPIPS(backbone: backbone, weightsFile: weightsFile, dtype: dtype) }
        guard let path = environment[backbone.environmentVariable], !path.isEmpty else {
            throw .unavailable(backbone: backbone,
                               reason: "no weights file is configured (no file was given and \(backbone.environmentVariable) is not set)")
        }
        return try LPIPS(backbone: backbone, weightsFile: URL(fileURLWithPath: path), dtype: dtype)
    }

    // MARK: Images

    /// The LPIPS distance between two images of one shape (1 or 3 channels, pixels in [0, 1]).
    /// Symmetric; 0 for identical images.
    /// - Throws: ``LPIPSError`` for mismatched shapes, unsupported channel counts or images
    ///   smaller than ``LPIPSBackbone/minimumImageSide``.
    public func distance(_ a: Image, _ b: Image) throws(LPIPSError) -> Double {
        try distances([a], [b])[0]
    }

    /// The LPIPS distance of each pair `(a[i], b[i])`, computed as one batch.
    /// - Throws: ``LPIPSError`` for empty or unequal batches, mixed shapes, unsupported channel
    ///   counts or images that are too small.
    public func distances(_ a: [Image], _ b: [Image]) throws(LPIPSError) -> [Double] {
        guard a.count == b.count else { throw .countMismatch(first: a.count, second: b.count) }
        let x = try batchTensor(a), y = try batchTensor(b)
        try requireSameShape(x.shape, y.shape)
        return withoutGrad { distanceUnchecked(x, y, inputRange: .unit).doubles }
    }

    /// The five per-layer terms of the distance between two images (their sum is
    /// ``distance(_:_:)-(Image,Image)``), shallowest layer first.
    /// - Throws: as ``distance(_:_:)-(Image,Image)``.
    public func layerDistances(_ a: Image, _ b: Image) throws(LPIPSError) -> [Double] {
        let x = try batchTensor([a]), y = try batchTensor([b])
        try requireSameShape(x.shape, y.shape)
        return withoutGrad { layerTermsUnchecked(x, y, inputRange: .unit).map(\.item) }
    }

    /// The matrix `m[t][r]` = LPIPS distance of `truths[t]` and `reconstructions[r]`; each
    /// image goes through the network once. Pass it to `Pairing.optimal(costs:)`.
    /// - Throws: ``LPIPSError`` for empty batches, mixed shapes, unsupported channel counts or
    ///   images that are too small.
    public func distanceMatrix(truths: [Image], reconstructions: [Image]) throws(LPIPSError) -> [[Double]] {
        let x = try batchTensor(truths), y = try batchTensor(reconstructions)
        try requireSameShape(Array(x.shape.dropFirst()), Array(y.shape.dropFirst()))
        return withoutGrad {
            let chunk = 16
            func features(_ t: Tensor) -> [[Tensor]] {
                var perImage: [[Tensor]] = []
                for start in stride(from: 0, to: t.shape[0], by: chunk) {
                    let part = t.slice(axis: 0, start..<min(start + chunk, t.shape[0]))
                    let f = normalizedFeatures(prepare(part, inputRange: .unit))
                    for i in 0..<part.shape[0] { perImage.append(f.map { $0.slice(axis: 0, i..<(i + 1)) }) }
                }
                return perImage
            }
            let ft = features(x), fr = features(y)
            return ft.map { a in fr.map { b in combine(a, b).item } }
        }
    }

    /// LPIPS as a cost for `Pairing.optimal(truths:reconstructions:cost:)`: a
    /// `PairingCost.custom` named `"LPIPS (alex)"` or `"LPIPS (vgg)"`, lower meaning closer.
    /// (For many images, ``distanceMatrix(truths:reconstructions:)`` with
    /// `Pairing.optimal(costs:)` runs each image through the network only once.)
    public var pairingCost: PairingCost {
        let lpips = self
        return .custom(name: "LPIPS (\(backbone))") { truth, reconstruction in
            try lpips.distance(truth, reconstruction)
        }
    }

    // MARK: Tensors

    /// The LPIPS distances between two N×C×H×W batches (C = 1 or 3), pair by pair: a tensor of
    /// shape [N]. Inputs are cast to ``dtype``. Differentiable with respect to both inputs when
    /// grad mode is on (the weights are constants), so it can serve as a loss. The gradient is
    /// PyTorch's, including its NaN where a feature vector is exactly zero (the derivative of
    /// the channel norm's square root at 0).
    /// - Parameter inputRange: `.unit` for pixels in [0, 1] (default), `.signed` for [-1, 1].
    /// - Throws: ``LPIPSError`` for mismatched shapes, a rank other than 4, unsupported channel
    ///   counts or images that are too small.
    public func distance(_ x: Tensor, _ y: Tensor, inputRange: InputRange = .unit) throws(LPIPSError) -> Tensor {
        try requireSameShape(x.shape, y.shape)
        try checkShape(x.shape)
        return distanceUnchecked(x, y, inputRange: inputRange)
    }

    /// The five per-layer terms (each of shape [N]) of ``distance(_:_:inputRange:)-(Tensor,Tensor,_)``.
    /// - Throws: as ``distance(_:_:inputRange:)-(Tensor,Tensor,_)``.
    public func layerDistances(_ x: Tensor, _ y: Tensor, inputRange: InputRange = .unit) throws(LPIPSError) -> [Tensor] {
        try requireSameShape(x.shape, y.shape)
        try checkShape(x.shape)
        return layerTermsUnchecked(x, y, inputRange: inputRange)
    }

    // MARK: Network

    private func distanceUnchecked(_ x: Tensor, _ y: Tensor, inputRange: InputRange) -> Tensor {
        let terms = layerTermsUnchecked(x, y, inputRange: inputRange)
        var total = terms[0]
        for term in terms.dropFirst() { total = total + term }
        return total
    }

    /// Runs both batches through the network in one pass and returns the per-layer terms.
    private func layerTermsUnchecked(_ x: Tensor, _ y: Tensor, inputRange: InputRange) -> [Tensor] {
        let n = x.shape[0]
        let both = prepare(Tensor.concat([x.cast(to: dtype), y.cast(to: dtype)], axis: 0), inputRange: inputRange)
        let features = normalizedFeatures(both)
        return layerTerms(features.map { $0.slice(axis: 0, 0..<n) }, features.map { $0.slice(axis: 0, n..<(2 * n)) })
    }

    /// Per-layer terms of two lists of normalized features, each of shape [N].
    private func layerTerms(_ a: [Tensor], _ b: [Tensor]) -> [Tensor] {
        zip(zip(a, b), linears).map { pair, linear in
            let weighted = (pair.0 - pair.1).squared().conv2d(linear)
            return weighted.mean(axes: [2, 3]).reshaped([weighted.shape[0]])
        }
    }

    /// The distance of one pair of normalized feature lists (batch 1 each), as a one-element tensor.
    private func combine(_ a: [Tensor], _ b: [Tensor]) -> Tensor {
        let terms = layerTerms(a, b)
        var total = terms[0]
        for term in terms.dropFirst() { total = total + term }
        return total
    }

    /// Grayscale to RGB, the [0, 1] → [-1, 1] scaling, and the ScalingLayer.
    private func prepare(_ x: Tensor, inputRange: InputRange) -> Tensor {
        var h = x.cast(to: dtype)
        if h.shape[1] == 1 { h = h.expanded(to: [h.shape[0], 3, h.shape[2], h.shape[3]]) }
        if inputRange == .unit { h = h * 2 - 1 }
        return (h - shift) / scale
    }

    /// The five slice outputs, each unit-normalized over channels.
    private func normalizedFeatures(_ input: Tensor) -> [Tensor] {
        var h = input
        var outputs: [Tensor] = []
        for slice in backbone.slices {
            for layer in slice {
                switch layer {
                case let .conv(index, _, cout, _, stride, padding):
                    let p = convolutions[index]!
                    if h.shape[2] == 1, h.shape[3] == 1, let tap = centerTaps[index] {
                        let n = h.shape[0]
                        let y = Tensor.matmul(h.reshaped([n, h.shape[1]]), tap, transposeA: false, transposeB: true)
                        h = (y + p.bias).reshaped([n, cout, 1, 1])
                    } else {
                        h = h.conv2d(p.weight, bias: p.bias, stride: stride, padding: padding)
                    }
                case .relu:
                    h = h.relu()
                case let .maxPool(_, kernel, stride):
                    h = h.maxPool2d(kernel: kernel, stride: stride)
                }
            }
            let norm = h.squared().sum(axis: 1, keepDims: true).sqrt()
            outputs.append(h / (norm + 1e-10))
        }
        return outputs
    }

    // MARK: Validation

    /// The images as one N×C×H×W tensor in ``dtype``, after checking them.
    private func batchTensor(_ images: [Image]) throws(LPIPSError) -> Tensor {
        guard let first = images.first else { throw .emptyBatch }
        for image in images.dropFirst() where !image.hasSameShape(as: first) {
            throw .shapeMismatch(first: first.shapeDescription, second: image.shapeDescription)
        }
        let shape = [images.count, first.channels, first.height, first.width]
        try checkShape(shape)
        var pixels: [Double] = []
        pixels.reserveCapacity(images.count * first.pixels.count)
        for image in images { pixels.append(contentsOf: image.pixels) }
        return Tensor(pixels, shape: shape, dtype: dtype)
    }

    private func checkShape(_ shape: [Int]) throws(LPIPSError) {
        guard shape.count == 4 else {
            throw .shapeMismatch(first: "N x C x H x W", second: shape.map(String.init).joined(separator: "x"))
        }
        guard shape[0] >= 1 else { throw .emptyBatch }
        guard shape[1] == 1 || shape[1] == 3 else { throw .unsupportedChannels(shape[1]) }
        let minimum = backbone.minimumImageSide
        guard shape[2] >= minimum, shape[3] >= minimum else {
            throw .imageTooSmall(backbone: backbone, height: shape[2], width: shape[3], minimumSide: minimum)
        }
    }

    private func requireSameShape(_ a: [Int], _ b: [Int]) throws(LPIPSError) {
        guard a == b else {
            throw .shapeMismatch(first: a.map(String.init).joined(separator: "x"), second: b.map(String.init).joined(separator: "x"))
        }
    }
}
