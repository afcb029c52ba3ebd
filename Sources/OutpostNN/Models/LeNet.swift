import OutpostTensor

extension Network {
    /// The LeNet of DLG (Zhu et al. 2019): three 5×5 convolutions with 12 channels, padding 2,
    /// strides 2, 2, 1, a sigmoid after each, then one linear layer.
    ///
    /// `state_dict` keys: `body.0.weight` (12×C×5×5), `body.0.bias`, `body.2.weight`
    /// (12×12×5×5), `body.2.bias`, `body.4.weight`, `body.4.bias`, `fc.0.weight`
    /// (classes×768 for 32×32 inputs, classes×588 for 28×28), `fc.0.bias`.
    public static func lenet(channels: Int = 3, imageSize: Int = 32, classes: Int = 10,
                             activation: Activation = .sigmoid) -> Network {
        let b = ModelBuilder()
        let side = ((imageSize + 1) / 2 + 1) / 2
        let body = Sequential([
            Conv2d(b, "body.0", channels, 12, kernel: 5, stride: 2, padding: 2), activation,
            Conv2d(b, "body.2", 12, 12, kernel: 5, stride: 2, padding: 2), activation,
            Conv2d(b, "body.4", 12, 12, kernel: 5, stride: 1, padding: 2), activation,
            Flatten(),
        ])
        let head = Linear(b, "fc.0", 12 * side * side, classes)
        return Network(architecture: "lenet", inputShape: [channels, imageSize, imageSize], classCount: classes,
                       builder: b, body: body, head: head)
    }

    /// A multilayer perceptron on flattened images: `hidden` sizes with `activation` between.
    ///
    /// `state_dict` keys: `layers.0.weight`, `layers.0.bias`, `layers.2.*`, ... (the
    /// activations occupy the odd indices, as in an `nn.Sequential`), the last one the head.
    public static func mlp(inputShape: [Int], hidden: [Int] = [256], classes: Int = 10, activation: Activation = .relu) -> Network {
        let b = ModelBuilder()
        var layers: [any Layer] = [Flatten()]
        var width = inputShape.reduce(1, *)
        for (i, h) in hidden.enumerated() {
            layers.append(Linear(b, "layers.\(2 * i)", width, h))
            layers.append(activation)
            width = h
        }
        let head = Linear(b, "layers.\(2 * hidden.count)", width, classes)
        return Network(architecture: "mlp", inputShape: inputShape, classCount: classes, builder: b, body: Sequential(layers), head: head)
    }

    /// The ConvNet of Inverting Gradients (Geiping et al. 2020): eight conv-BN-ReLU blocks of
    /// widths w, 2w, 2w, 4w, 4w, 4w, 4w, 4w, 3×3 max pools after the sixth and eighth, then
    /// a linear layer on 36w features (32×32 inputs).
    ///
    /// `state_dict` keys: `model.conv0.weight`, `model.conv0.bias`, `model.bn0.weight`,
    /// `model.bn0.bias`, `model.bn0.running_mean`, ... through `model.conv7`/`model.bn7`, then
    /// `model.linear.weight` and `model.linear.bias`.
    public static func convNet(width: Int = 64, channels: Int = 3, imageSize: Int = 32, classes: Int = 10) -> Network {
        let b = ModelBuilder()
        let widths = [width, 2 * width, 2 * width, 4 * width, 4 * width, 4 * width, 4 * width, 4 * width]
        var layers: [any Layer] = []
        var inChannels = channels
        for (i, w) in widths.enumerated() {
            layers.append(Conv2d(b, "model.conv\(i)", inChannels, w, kernel: 3, padding: 1))
            layers.append(BatchNorm2d(b, "model.bn\(i)", w))
            layers.append(Activation.relu)
            if i == 5 || i == 7 { layers.append(MaxPool2d(kernel: 3)) }
            inChannels = w
        }
        layers.append(Flatten())
        let side = imageSize / 3 / 3
        let head = Linear(b, "model.linear", 4 * width * side * side, classes)
        return Network(architecture: "convnet", inputShape: [channels, imageSize, imageSize], classCount: classes,
                       builder: b, body: Sequential(layers), head: head)
    }
}
