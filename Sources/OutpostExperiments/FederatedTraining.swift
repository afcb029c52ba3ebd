import Foundation
import OutpostConfig
import OutpostData
import OutpostDefenses
import OutpostFederated
import OutpostNN
import OutpostTensor

/// Federated training only, once per defense, for utility and overhead (the OUTPOST paper's
/// Fig. 3): accuracy per round, wall-clock time per round split into training, defense and
/// aggregation, and each defense's accuracy loss and time overhead against no defense.
/// What `outpost train` runs. Each series checkpoints every round and resumes.
public struct FederatedTraining: Sendable {
    public var dataset: String
    public var dataDirectory: String?
    public var model: ModelConfiguration
    public var federation: FederatedConfiguration
    public var defenses: [DefenseConfiguration]
    public var outputDirectory: String

    public static func read(_ root: ConfigSection, relativeTo base: URL?) throws -> FederatedTraining {
        let seed = UInt64(try root.int("seed", default: 0, range: 0...Int.max))
        let d = try root.section("data")
        let dataset = try d.choice("dataset", among: ["fashion-mnist", "mnist", "photos32", "cifar10", "kmnist", "lfw-subset"], default: "fashion-mnist")
        let dir = try d.optionalString("directory").map { resolve($0, relativeTo: base) }
        try d.finish()
        let model = try ModelConfiguration.read(root.section("model"), relativeTo: base)
        let f = try root.section("federation")
        let clients = try f.int("clients", default: 100, range: 1...1_000_000)
        let perRound = try f.int("clients_per_round", default: 10, range: 1...1_000_000)
        let rounds = try f.int("rounds", default: 30, range: 1...1_000_000)
        let algorithm = TrainingAlgorithm(rawValue: try f.choice("algorithm", among: ["fedavg", "fedsgd"], default: "fedavg")) ?? .fedAvg
        let p = try f.section("partition")
        let partition: PartitionScheme
        switch try p.choice("scheme", among: ["iid", "dirichlet", "shards", "fixed"], default: "iid") {
        case "dirichlet": partition = .dirichlet(alpha: try p.double("alpha", default: 0.5, exclusiveMinimum: 0), samplesPerClient: try p.optionalInt("samples_per_client", range: 1...100_000_000))
        case "shards": partition = .shards(perClient: try p.int("shards_per_client", default: 2, range: 1...10_000))
        case "fixed": partition = .fixedSize(samplesPerClient: try p.int("samples_per_client", range: 1...100_000_000))
        default: partition = .iid
        }
        try p.finish()
        let aggregation: AggregationRule
        switch try f.choice("aggregation", among: ["weighted_mean", "mean", "median", "trimmed_mean"], default: "weighted_mean") {
        case "mean": aggregation = .mean
        case "median": aggregation = .median
        case "trimmed_mean": aggregation = .trimmedMean(fraction: try f.double("trim_fraction", default: 0.1, range: 0...0.49))
        default: aggregation = .weightedMean
        }
        let serverLR = try f.double("server_learning_rate", default: 1, exclusiveMinimum: 0)
        let every = try f.int("evaluate_every", default: 1, range: 1...1_000_000)
        let testSamples = try f.optionalInt("test_samples", range: 1...100_000_000)
        try f.finish()
        let t = try root.section("training")
        let local = LocalTrainingConfiguration(
            epochs: try t.int("epochs", default: 1, range: 1...10_000), batchSize: try t.int("batch_size", default: 32, range: 1...100_000),
            learningRate: try t.double("learning_rate", default: 0.01, exclusiveMinimum: 0), momentum: try t.double("momentum", default: 0, range: 0...0.999999),
            nesterov: try t.bool("nesterov", default: false), weightDecay: try t.double("weight_decay", default: 0, range: 0...1),
            shuffle: try t.bool("shuffle", default: true))
        try t.finish()
        let defenses = try root.sections("defenses").map { try LeakageEvaluation.defense(from: $0) }
        let o = try root.section("output")
        let out = resolve(try o.string("directory", default: "outpost-train"), relativeTo: base)
        try o.finish()
        try root.finish()
        let config = FederatedConfiguration(clientCount: clients, clientsPerRound: perRound, rounds: rounds, seed: seed, partition: partition,
                                            algorithm: algorithm, local: local, aggregation: aggregation, serverLearningRate: serverLR,
                                            evaluation: EvaluationConfiguration(every: every, sampleLimit: testSamples))
        do { try config.validate() } catch { throw ConfigError(path: "federation", message: "\(error)") }
        return FederatedTraining(dataset: dataset, dataDirectory: dir, model: model, federation: config,
                                 defenses: defenses.isEmpty ? [.none] : defenses, outputDirectory: out)
    }

    /// One defense's run.
    public struct Series: Codable, Sendable {
        public let defense: String
        public let finalAccuracy: Double?
        public let accuracy: [Double?]
        public let secondsPerRound: Double
        public let trainingSecondsPerRound: Double
        public let defenseSecondsPerRound: Double
        public let aggregationSecondsPerRound: Double
    }

    /// The data set's split. A data set without a test split (photos32, lfw-subset) and the
    /// shipped sample are split 80/20 at random (a fixed permutation) so accuracy is never
    /// measured on training images; these files are sorted by class, so a contiguous cut
    /// would test mostly on classes never trained on.
    func load(_ split: Split) throws -> ImageDataset {
        let whole: ImageDataset
        if let dataDirectory {
            if try DatasetCatalogue.descriptor(named: dataset).hasTestSplit { return try loadDataset(dataset, split: split, directory: dataDirectory) }
            whole = try loadDataset(dataset, split: .train, directory: dataDirectory)
        } else {
            whole = try SampleData.load(dataset)
        }
        var rng = SeededGenerator(seed: 0x686F_6C64_6F75_74)
        let order = rng.permutation(whole.count)
        let cut = whole.count * 4 / 5
        return try whole.subset((split == .train ? Array(order[..<cut]) : Array(order[cut...])).sorted())
    }

    /// Trains once per defense; returns the series and writes history CSVs and fig3.md.
    public func run(progress: ((String) -> Void)? = nil) throws -> [Series] {
        try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        let train = try load(.train), test = try load(.test)
        let network = model.network()
        guard network.inputShape == [train.channels, train.height, train.width] else {
            throw ConfigError(path: "model", message: "the model takes \(network.inputShape), \(dataset) images are \([train.channels, train.height, train.width])")
        }
        var series: [Series] = []
        for defense in defenses {
            let dir = URL(fileURLWithPath: outputDirectory).appendingPathComponent(defense.name)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let resources = DefenseResources(clientsPerRound: federation.clientsPerRound)
            let simulator = try FederatedSimulator(configuration: federation, network: network, trainingData: train, testData: test,
                                                   initialState: try model.state(for: network),
                                                   stepDefense: try defense.makeStepDefense(resources: resources),
                                                   updateDefense: try defense.makeUpdateDefense(),
                                                   aggregateDefense: try defense.makeAggregateDefense(resources: resources),
                                                   checkpointDirectory: dir, resume: true)
            let result = try simulator.run { r in
                progress?(String(format: "%@ round %d: accuracy %@, %.2f s", defense.name, r.round,
                                 r.evaluation.map { String(format: "%.4f", $0.accuracy) } ?? "-", r.timing.total))
            }
            try result.history.csv().write(to: dir.appendingPathComponent("history.csv"), atomically: true, encoding: .utf8)
            let rounds = result.history.rounds
            func mean(_ f: (RoundReport) -> Double) -> Double { rounds.isEmpty ? 0 : rounds.map(f).reduce(0, +) / Double(rounds.count) }
            series.append(Series(defense: defense.name, finalAccuracy: rounds.last(where: { $0.evaluation != nil })?.evaluation?.accuracy,
                                 accuracy: rounds.map { $0.evaluation?.accuracy }, secondsPerRound: mean { $0.timing.total },
                                 trainingSecondsPerRound: mean { $0.timing.training }, defenseSecondsPerRound: mean { $0.timing.defense },
                                 aggregationSecondsPerRound: mean { $0.timing.aggregation }))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(series).write(to: URL(fileURLWithPath: outputDirectory).appendingPathComponent("series.json"))
        try table(series).write(toFile: (outputDirectory as NSString).appendingPathComponent("fig3.md"), atomically: true, encoding: .utf8)
        return series
    }

    /// Final accuracy and time per round of each defense, and both relative to `none`.
    public func table(_ series: [Series]) -> String {
        let base = series.first { $0.defense == "none" }
        var md = "| defense | final accuracy | accuracy loss vs none | s/round | training | defense | aggregation | time overhead vs none |\n"
        md += "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        for s in series {
            let acc = s.finalAccuracy.map { String(format: "%.4f", $0) } ?? "—"
            let loss = zip(base?.finalAccuracy, s.finalAccuracy).map { String(format: "%+.2f pt", ($0 - $1) * 100) } ?? "—"
            let overhead = base.map { String(format: "%+.1f%%", ($0.secondsPerRound > 0 ? s.secondsPerRound / $0.secondsPerRound - 1 : 0) * 100) } ?? "—"
            md += String(format: "| %@ | %@ | %@ | %.3f | %.3f | %.3f | %.3f | %@ |\n", s.defense, acc, loss, s.secondsPerRound,
                         s.trainingSecondsPerRound, s.defenseSecondsPerRound, s.aggregationSecondsPerRound, overhead)
        }
        return md
    }
}

private func zip(_ a: Double?, _ b: Double?) -> (Double, Double)? {
    guard let a, let b else { return nil }
    return (a, b)
}
