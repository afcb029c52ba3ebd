import OutpostConfig
import OutpostData
import OutpostThreatModel

/// Reads what the server is assumed to know (the `knowledge` section of an audit).
enum KnowledgeConfiguration {
    static let datasetNormalizations: [String: Normalization] = [
        "mnist": .mnist, "fashion-mnist": .fashionMNIST, "cifar10": .cifar10, "cifar100": .cifar100,
    ]

    static func read(_ s: ConfigSection, channels: Int) throws -> ServerKnowledge {
        let batch = try s.int("batch_size", default: 1, range: 1...100_000)
        let normalization = try readNormalization(s.section("normalization"), channels: channels)
        let k = ServerKnowledge(batchSize: batch,
                                learningRate: try s.optionalDouble("learning_rate", range: 1e-12...1e6),
                                localEpochs: try s.optionalInt("local_epochs", range: 1...100_000),
                                sampleCount: try s.optionalInt("sample_count", range: 1...100_000_000),
                                momentum: try s.optionalDouble("momentum", range: 0...0.999999),
                                weightDecay: try s.optionalDouble("weight_decay", range: 0...1),
                                labels: s.has("labels") ? try s.intList("labels") : nil,
                                normalization: normalization)
        try s.finish()
        return k
    }

    /// `dataset: cifar10`, or explicit `mean:` and `std:` lists, or nothing (pixels as is).
    static func readNormalization(_ s: ConfigSection, channels: Int) throws -> PixelNormalization {
        defer { _ = try? s.finish() }
        if let name = try s.optionalString("dataset") {
            guard let n = datasetNormalizations[name] else {
                throw ConfigError(path: "\(s.path).dataset", message: "no known normalization for '\(name)' (known: \(datasetNormalizations.keys.sorted().joined(separator: ", ")); give mean and std instead)")
            }
            guard n.mean.count == channels else {
                throw ConfigError(path: "\(s.path).dataset", message: "\(name) has \(n.mean.count) channels, the model \(channels)")
            }
            try s.finish()
            return PixelNormalization(mean: n.mean.map(Double.init), std: n.std.map(Double.init))
        }
        guard s.has("mean") || s.has("std") else {
            try s.finish()
            return .identity(channels: channels)
        }
        let mean = try doubles(s, "mean"), std = try doubles(s, "std")
        guard mean.count == channels, std.count == channels, std.allSatisfy({ $0 > 0 }) else {
            throw ConfigError(path: s.path, message: "mean and std need one value per channel (\(channels)), std > 0")
        }
        try s.finish()
        return PixelNormalization(mean: mean, std: std)
    }

    static func doubles(_ s: ConfigSection, _ key: String) throws -> [Double] {
        guard case .sequence(let items)? = s.raw(key) else { throw ConfigError(path: "\(s.path).\(key)", message: "expected a list of numbers") }
        return try items.enumerated().map { i, v in
            guard case .scalar(let t) = v, let d = Double(t) else { throw ConfigError(path: "\(s.path).\(key)[\(i)]", message: "expected a number") }
            return d
        }
    }
}
