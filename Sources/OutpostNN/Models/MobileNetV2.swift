import OutpostTensor

/// torchvision's InvertedResidual block: optional 1×1 expansion, 3×3 depthwise, 1×1 linear
/// projection, with a residual connection when shapes allow.
struct InvertedResidual: Layer {
    let layers: Sequential
    let residual: Bool

    init(_ b: ModelBuilder, _ p: String, input: Int, output: Int, stride: Int, expandRatio: Int) {
        let hidden = input * expandRatio
        var l: [any Layer] = []
        var index = 0
        if expandRatio != 1 {
            l += convBNReLU6(b, "\(p).conv.0", input, hidden, kernel: 1, stride: 1, groups: 1)
            index = 1
        }
        l += convBNReLU6(b, "\(p).conv.\(index)", hidden, hidden, kernel: 3, stride: stride, groups: hidden)
        l.append(Conv2d(b, "\(p).conv.\(index + 1)", hidden, output, kernel: 1, bias: false))
        l.append(BatchNorm2d(b, "\(p).conv.\(index + 2)", output))
        layers = Sequential(l)
        residual = stride == 1 && input == output
    }

    func callAsFunction(_ x: Tensor, _ ctx: inout ForwardContext) -> Tensor {
        let y = layers(x, &ctx)
        return residual ? x + y : y
    }

    func isPerSample(training: Bool) -> Bool { layers.isPerSample(training: training) }
}

/// Convolution (`.0`), batch norm (`.1`) and ReLU6, as torchvision's Conv2dNormActivation.
private func convBNReLU6(_ b: ModelBuilder, _ p: String, _ input: Int, _ output: Int, kernel: Int, stride: Int, groups: Int) -> [any Layer] {
    [Conv2d(b, "\(p).0", input, output, kernel: kernel, stride: stride, padding: (kernel - 1) / 2, groups: groups, bias: false),
     BatchNorm2d(b, "\(p).1", output), Activation.relu6]
}

extension Network {
    /// MobileNetV2 (width 1.0) for 32×32 inputs: torchvision's layout and key names, with the
    /// stem and the second stage at stride 1 instead of 2 (the usual CIFAR adaptation, so
    /// the last feature map is 4×4), global average pooling, dropout 0.2, linear head.
    ///
    /// `state_dict` keys: `features.0.0.weight`, `features.0.1.*`, `features.1.conv.0.0.weight`,
    /// ..., `features.18.0.weight`, `features.18.1.*`, `classifier.1.weight`, `classifier.1.bias`.
    public static func mobileNetV2(channels: Int = 3, imageSize: Int = 32, classes: Int = 10) -> Network {
        let b = ModelBuilder()
        var layers: [any Layer] = convBNReLU6(b, "features.0", channels, 32, kernel: 3, stride: 1, groups: 1)
        let settings = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
        var input = 32, index = 1
        for (t, c, n, s) in settings {
            for i in 0..<n {
                layers.append(InvertedResidual(b, "features.\(index)", input: input, output: c, stride: i == 0 ? s : 1, expandRatio: t))
                input = c
                index += 1
            }
        }
        layers += convBNReLU6(b, "features.\(index)", input, 1280, kernel: 1, stride: 1, groups: 1)
        layers += [AdaptiveAvgPool2d(1, 1), Flatten(), Dropout(0.2)]
        let head = Linear(b, "classifier.1", 1280, classes)
        return Network(architecture: "mobilenet_v2", inputShape: [channels, imageSize, imageSize], classCount: classes,
                       builder: b, body: Sequential(layers), head: head)
    }
}
