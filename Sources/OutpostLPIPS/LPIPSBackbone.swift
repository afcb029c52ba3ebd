import OutpostSafetensors

/// The feature network under LPIPS: torchvision's AlexNet or VGG-16 `features`, cut into the
/// five slices of the `lpips` package (`lpips/pretrained_networks.py`).
///
/// | backbone | slice outputs (channels) | layers |
/// | --- | --- | --- |
/// | `.alex` | relu1 (64), relu2 (192), relu3 (384), relu4 (256), relu5 (256) | `features[0..<12]` |
/// | `.vgg16` | relu1_2 (64), relu2_2 (128), relu3_3 (256), relu4_3 (512), relu5_3 (512) | `features[0..<30]` |
///
/// Max pooling is 3×3 stride 2 in AlexNet and 2×2 stride 2 in VGG-16, without padding and
/// with floor rounding, as in torchvision; so each backbone has a smallest image side it can
/// measure (``minimumImageSide``).
public enum LPIPSBackbone: String, CaseIterable, Sendable, CustomStringConvertible {
    /// AlexNet (`lpips.LPIPS(net='alex')`, the package's default and the paper's recommended metric).
    case alex
    /// VGG-16 (`lpips.LPIPS(net='vgg')`).
    case vgg16 = "vgg"

    /// `"alex"` or `"vgg"`, the `net` argument of `lpips.LPIPS`.
    public var description: String { rawValue }

    /// The channel count of each of the five slice outputs (`self.chns` in the package).
    public var featureChannels: [Int] {
        switch self {
        case .alex: return [64, 192, 384, 256, 256]
        case .vgg16: return [64, 128, 256, 512, 512]
        }
    }

    /// The smallest height and width an image may have: below it a pooling window of the
    /// backbone no longer fits (31 for AlexNet, 16 for VGG-16). The `lpips` package fails on
    /// such images too.
    public var minimumImageSide: Int {
        var side = 1
        while outputSide(side) == nil { side += 1 }
        return side
    }

    /// The environment variable ``LPIPS/configured(_:weightsFile:environment:dtype:)`` reads
    /// the weights file's path from: `OUTPOST_LPIPS_ALEX_WEIGHTS` or `OUTPOST_LPIPS_VGG_WEIGHTS`.
    public var environmentVariable: String { "OUTPOST_LPIPS_\(rawValue.uppercased())_WEIGHTS" }

    /// Every tensor a weights file for this backbone must hold, with its shape, in the order of
    /// the `lpips.LPIPS` module's `named_parameters()`:
    ///
    /// - `net.slice{s}.{i}.weight` (Cout×Cin×k×k) and `net.slice{s}.{i}.bias` (Cout) for each
    ///   convolution, where `s` is the slice (1...5) and `i` the layer's index in torchvision's
    ///   `features`;
    /// - `lin{l}.model.1.weight` (1×C×1×1) for the five calibration layers, `l` in 0...4.
    ///
    /// The optional buffers `scaling_layer.shift` and `scaling_layer.scale` (1×3×1×1) are not
    /// listed: a file may hold them, and then they must equal the package's constants.
    public var expectedTensors: [ExpectedTensor] {
        var tensors: [ExpectedTensor] = []
        for (s, slice) in slices.enumerated() {
            for layer in slice {
                guard case let .conv(index, cin, cout, kernel, _, _) = layer else { continue }
                tensors.append(ExpectedTensor(Self.convKey(slice: s + 1, index: index, "weight"), shape: [cout, cin, kernel, kernel]))
                tensors.append(ExpectedTensor(Self.convKey(slice: s + 1, index: index, "bias"), shape: [cout]))
            }
        }
        for (l, channels) in featureChannels.enumerated() {
            tensors.append(ExpectedTensor(Self.linearKey(l), shape: [1, channels, 1, 1]))
        }
        return tensors
    }

    // MARK: Architecture

    /// One layer of torchvision's `features`, identified by its index there.
    enum Layer: Equatable {
        case conv(index: Int, inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int)
        case relu(index: Int)
        case maxPool(index: Int, kernel: Int, stride: Int)
    }

    /// The five slices, each a list of layers in order.
    var slices: [[Layer]] {
        switch self {
        case .alex:
            return [
                [.conv(index: 0, inChannels: 3, outChannels: 64, kernel: 11, stride: 4, padding: 2), .relu(index: 1)],
                [.maxPool(index: 2, kernel: 3, stride: 2),
                 .conv(index: 3, inChannels: 64, outChannels: 192, kernel: 5, stride: 1, padding: 2), .relu(index: 4)],
                [.maxPool(index: 5, kernel: 3, stride: 2),
                 .conv(index: 6, inChannels: 192, outChannels: 384, kernel: 3, stride: 1, padding: 1), .relu(index: 7)],
                [.conv(index: 8, inChannels: 384, outChannels: 256, kernel: 3, stride: 1, padding: 1), .relu(index: 9)],
                [.conv(index: 10, inChannels: 256, outChannels: 256, kernel: 3, stride: 1, padding: 1), .relu(index: 11)],
            ]
        case .vgg16:
            // torchvision's configuration "D": 64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512;
            // every slice after the first begins with the preceding max pooling.
            let blocks = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]
            var index = 0
            var inChannels = 3
            var result: [[Layer]] = []
            for (b, (channels, convs)) in blocks.enumerated() {
                var slice: [Layer] = []
                if b > 0 {
                    slice.append(.maxPool(index: index, kernel: 2, stride: 2))
                    index += 1
                }
                for _ in 0..<convs {
                    slice.append(.conv(index: index, inChannels: inChannels, outChannels: channels, kernel: 3, stride: 1, padding: 1))
                    slice.append(.relu(index: index + 1))
                    index += 2
                    inChannels = channels
                }
                result.append(slice)
            }
            return result
        }
    }

    /// The side of the last slice's output for an input side, or nil when some window does
    /// not fit (PyTorch's rule: a window must fit inside the padded input).
    func outputSide(_ side: Int) -> Int? {
        var s = side
        for slice in slices {
            for layer in slice {
                switch layer {
                case let .conv(_, _, _, kernel, stride, padding):
                    guard s + 2 * padding >= kernel else { return nil }
                    s = (s + 2 * padding - kernel) / stride + 1
                case let .maxPool(_, kernel, stride):
                    guard s >= kernel else { return nil }
                    s = (s - kernel) / stride + 1
                case .relu:
                    break
                }
            }
        }
        return s
    }

    static func convKey(slice: Int, index: Int, _ parameter: String) -> String {
        "net.slice\(slice).\(index).\(parameter)"
    }

    static func linearKey(_ layer: Int) -> String { "lin\(layer).model.1.weight" }
}
