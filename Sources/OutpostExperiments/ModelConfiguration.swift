import Foundation
import OutpostConfig
import OutpostNN
import OutpostTensor

/// A model as a configuration file names it.
public struct ModelConfiguration: Sendable, Equatable {
    public static let architectures = ["lenet", "mlp", "convnet", "resnet18", "resnet34", "resnet50", "resnet20", "resnet32", "mobilenet_v2"]
    public static let initializations = ["pytorch", "dlg", "xavier_uniform", "xavier_normal", "kaiming_normal"]

    public var architecture: String
    public var channels: Int
    public var imageSize: Int
    public var classes: Int
    /// ConvNet width.
    public var width: Int
    /// MLP hidden sizes.
    public var hidden: [Int]
    public var initialization: String
    public var initializationSeed: UInt64
    /// A safetensors `state_dict` to load instead of initializing.
    public var weights: String?

    public init(architecture: String = "lenet", channels: Int = 3, imageSize: Int = 32, classes: Int = 10, width: Int = 64,
                hidden: [Int] = [256], initialization: String = "pytorch", initializationSeed: UInt64 = 0, weights: String? = nil) {
        self.architecture = architecture
        self.channels = channels
        self.imageSize = imageSize
        self.classes = classes
        self.width = width
        self.hidden = hidden
        self.initialization = initialization
        self.initializationSeed = initializationSeed
        self.weights = weights
    }

    /// Reads the `model` section.
    public static func read(_ s: ConfigSection, relativeTo base: URL?) throws -> ModelConfiguration {
        var m = ModelConfiguration()
        m.architecture = try s.choice("architecture", among: architectures, default: "lenet")
        m.channels = try s.int("channels", default: 3, range: 1...64)
        m.imageSize = try s.int("image_size", default: 32, range: 4...1024)
        m.classes = try s.int("classes", default: 10, range: 2...100_000)
        m.width = try s.int("width", default: 64, range: 1...4096)
        m.hidden = try s.intList("hidden", default: [256])
        m.initialization = try s.choice("initialization", among: initializations, default: "pytorch")
        m.initializationSeed = UInt64(try s.int("init_seed", default: 0, range: 0...Int.max))
        m.weights = try s.optionalString("weights").map { resolve($0, relativeTo: base) }
        try s.finish()
        // The ConvNet's two 3×3 max pools each divide the side by 3 (floor), so a side under 9
        // leaves no pixel for the second.
        if m.architecture == "convnet" && m.imageSize < 9 {
            throw ConfigError(path: ConfigPathText.join(s.path, "image_size"), message: "the ConvNet needs images of at least 9×9 pixels")
        }
        if m.architecture == "mobilenet_v2" || m.architecture.hasPrefix("resnet"), m.imageSize < 8 {
            throw ConfigError(path: ConfigPathText.join(s.path, "image_size"), message: "\(m.architecture) needs images of at least 8×8 pixels")
        }
        return m
    }

    /// The network this configuration describes.
    public func network() -> Network {
        switch architecture {
        case "mlp": return .mlp(inputShape: [channels, imageSize, imageSize], hidden: hidden, classes: classes)
        case "convnet": return .convNet(width: width, channels: channels, imageSize: imageSize, classes: classes)
        case "mobilenet_v2": return .mobileNetV2(channels: channels, imageSize: imageSize, classes: classes)
        case let name where name.hasPrefix("resnet"):
            return .resnet(Network.ResNetDepth(rawValue: name) ?? .resnet18, channels: channels, imageSize: imageSize, classes: classes)
        default: return .lenet(channels: channels, imageSize: imageSize, classes: classes)
        }
    }

    public var initializationScheme: Initialization {
        switch initialization {
        case "dlg": return .dlg
        case "xavier_uniform": return .xavierUniform
        case "xavier_normal": return .xavierNormal
        case "kaiming_normal": return .kaimingNormal(fanOut: true)
        default: return .pytorchDefault
        }
    }

    /// The weights: loaded from `weights` when given, else initialized.
    public func state(for network: Network) throws -> ModelState {
        if let weights { return try network.loadState(from: URL(fileURLWithPath: weights), requireBuffers: false) }
        return network.initialState(initializationScheme, seed: initializationSeed)
    }
}

/// A path from a configuration file, relative to the file's folder unless absolute.
func resolve(_ path: String, relativeTo base: URL?) -> String {
    if path.hasPrefix("/") || base == nil { return path }
    return base!.appendingPathComponent(path).standardizedFileURL.path
}

enum ConfigPathText {
    static func join(_ a: String, _ b: String) -> String { a.isEmpty ? b : "\(a).\(b)" }
}
