import OutpostTensor

/// The residual blocks of torchvision's ResNet, with its key names.
struct BasicBlock: Layer {
    static let expansion = 1
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d
    let downsample: Sequential?

    init(_ b: ModelBuilder, _ p: String, inPlanes: Int, planes: Int, stride: Int) {
        conv1 = Conv2d(b, "\(p).conv1", inPlanes, planes, kernel: 3, stride: stride, padding: 1, bias: false)
        bn1 = BatchNorm2d(b, "\(p).bn1", planes)
        conv2 = Conv2d(b, "\(p).conv2", planes, planes, kernel: 3, padding: 1, bias: false)
        bn2 = BatchNorm2d(b, "\(p).bn2", planes)
        downsample = shortcut(b, p, inPlanes: inPlanes, outPlanes: planes, stride: stride)
    }

    func callAsFunction(_ x: Tensor, _ ctx: inout ForwardContext) -> Tensor {
        var h = bn1(conv1(x, &ctx), &ctx).relu()
        h = bn2(conv2(h, &ctx), &ctx)
        return (h + (downsample?(x, &ctx) ?? x)).relu()
    }

    func isPerSample(training: Bool) -> Bool {
        bn1.isPerSample(training: training) && bn2.isPerSample(training: training) && downsample?.isPerSample(training: training) != false
    }
}

struct Bottleneck: Layer {
    static let expansion = 4
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d, conv3: Conv2d, bn3: BatchNorm2d
    let downsample: Sequential?

    init(_ b: ModelBuilder, _ p: String, inPlanes: Int, planes: Int, stride: Int) {
        conv1 = Conv2d(b, "\(p).conv1", inPlanes, planes, kernel: 1, bias: false)
        bn1 = BatchNorm2d(b, "\(p).bn1", planes)
        conv2 = Conv2d(b, "\(p).conv2", planes, planes, kernel: 3, stride: stride, padding: 1, bias: false)
        bn2 = BatchNorm2d(b, "\(p).bn2", planes)
        conv3 = Conv2d(b, "\(p).conv3", planes, planes * Self.expansion, kernel: 1, bias: false)
        bn3 = BatchNorm2d(b, "\(p).bn3", planes * Self.expansion)
        downsample = shortcut(b, p, inPlanes: inPlanes, outPlanes: planes * Self.expansion, stride: stride)
    }

    func callAsFunction(_ x: Tensor, _ ctx: inout ForwardContext) -> Tensor {
        var h = bn1(conv1(x, &ctx), &ctx).relu()
        h = bn2(conv2(h, &ctx), &ctx).relu()
        h = bn3(conv3(h, &ctx), &ctx)
        return (h + (downsample?(x, &ctx) ?? x)).relu()
    }

    func isPerSample(training: Bool) -> Bool {
        [bn1, bn2, bn3].allSatisfy { $0.isPerSample(training: training) } && downsample?.isPerSample(training: training) != false
    }
}

/// A 1×1 convolution and batch norm (`downsample.0`, `downsample.1`) where the block changes
/// resolution or width.
private func shortcut(_ b: ModelBuilder, _ p: String, inPlanes: Int, outPlanes: Int, stride: Int) -> Sequential? {
    guard stride != 1 || inPlanes != outPlanes else { return nil }
    return Sequential([Conv2d(b, "\(p).downsample.0", inPlanes, outPlanes, kernel: 1, stride: stride, bias: false),
                       BatchNorm2d(b, "\(p).downsample.1", outPlanes)])
}

extension Network {
    /// Depth variants of the CIFAR ResNets.
    public enum ResNetDepth: String, Sendable, CaseIterable {
        case resnet18, resnet34, resnet50, resnet20, resnet32
    }

    /// CIFAR ResNets: a 3×3 stride-1 stem without max pooling, torchvision's BasicBlock
    /// (ResNet-18/34) or Bottleneck (ResNet-50, stride on the 3×3 convolution) stages of
    /// widths 64–512, or He et al.'s three-stage ResNet-20/32 of widths 16–64 (with 1×1
    /// projection shortcuts where shapes change); global average pooling and a linear head.
    ///
    /// `state_dict` keys follow torchvision: `conv1.weight`, `bn1.*`,
    /// `layer1.0.conv1.weight`, `layer1.0.bn1.*`, `layer1.0.conv2.weight`, ...,
    /// `layer2.0.downsample.0.weight`, `layer2.0.downsample.1.*`, ..., `fc.weight`, `fc.bias`.
    public static func resnet(_ depth: ResNetDepth, channels: Int = 3, imageSize: Int = 32, classes: Int = 10) -> Network {
        let b = ModelBuilder()
        let (counts, widths, bottleneck): ([Int], [Int], Bool)
        switch depth {
        case .resnet18: (counts, widths, bottleneck) = ([2, 2, 2, 2], [64, 128, 256, 512], false)
        case .resnet34: (counts, widths, bottleneck) = ([3, 4, 6, 3], [64, 128, 256, 512], false)
        case .resnet50: (counts, widths, bottleneck) = ([3, 4, 6, 3], [64, 128, 256, 512], true)
        case .resnet20: (counts, widths, bottleneck) = ([3, 3, 3], [16, 32, 64], false)
        case .resnet32: (counts, widths, bottleneck) = ([5, 5, 5], [16, 32, 64], false)
        }
        var layers: [any Layer] = [Conv2d(b, "conv1", channels, widths[0], kernel: 3, padding: 1, bias: false),
                                   BatchNorm2d(b, "bn1", widths[0]), Activation.relu]
        var inPlanes = widths[0]
        for (stage, (count, planes)) in zip(counts, widths).enumerated() {
            for i in 0..<count {
                let stride = i == 0 && stage > 0 ? 2 : 1
                let prefix = "layer\(stage + 1).\(i)"
                if bottleneck {
                    layers.append(Bottleneck(b, prefix, inPlanes: inPlanes, planes: planes, stride: stride))
                    inPlanes = planes * Bottleneck.expansion
                } else {
                    layers.append(BasicBlock(b, prefix, inPlanes: inPlanes, planes: planes, stride: stride))
                    inPlanes = planes * BasicBlock.expansion
                }
            }
        }
        layers += [AdaptiveAvgPool2d(1, 1), Flatten()]
        let head = Linear(b, "fc", inPlanes, classes)
        return Network(architecture: depth.rawValue, inputShape: [channels, imageSize, imageSize], classCount: classes,
                       builder: b, body: Sequential(layers), head: head)
    }
}
