import Foundation
import OutpostConfig
import OutpostData
import OutpostDefenses
import OutpostFederated
import OutpostAttacks
import OutpostNN
import OutpostResults
import OutpostTensor

/// Federated training only, once per defense, for utility and overhead (the OUTPOST paper's
/// Fig. 3): accuracy per round, wall-clock time per round split into training, defense and
/// aggregation, and each defense's accuracy loss and time overhead against no defense.
/// What `outpost train` runs, and, with ``attacks``, `outpost run`: the same training with
/// attacks on the updates captured at chosen rounds. Each series checkpoints every round and
/// resumes.
public struct FederatedTraining: Sendable {
    public var dataset: String
    public var dataDirectory: String?
    public var model: ModelConfiguration
    public var federation: FederatedConfiguration
    public var defenses: [DefenseConfiguration]
    /// Attacks on captured exchanges (`outpost run`); nil for training only.
    public var attacks: FederatedAttacks?
    public var outputDirectory: String

    /// Reads an `outpost train` configuration, or with `attacks` an `outpost run` one (which
    /// adds the `attacks` section).
    public static func read(_ root: ConfigSection, relativeTo base: URL?, attacks readAttacks: Bool = false) throws -> FederatedTraining {
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
        var attacks: FederatedAttacks?
        if readAttacks {
            attacks = try FederatedAttacks.read(root.section("attacks"), rounds: rounds, clientsPerRound: perRound)
        } else if root.has("attacks") {
            throw ConfigError(path: "attacks", message: "`outpost train` trains only; attacks at chosen rounds run with `outpost run`")
        }
        let o = try root.section("output")
        let out = resolve(try o.string("directory", default: readAttacks ? "outpost-run" : "outpost-train"), relativeTo: base)
        try o.finish()
        try root.finish()
        let config = FederatedConfiguration(clientCount: clients, clientsPerRound: perRound, rounds: rounds, seed: seed, partition: partition,
                                            algorithm: algorithm, local: local, aggregation: aggregation, serverLearningRate: serverLR,
                                            evaluation: EvaluationConfiguration(every: every, sampleLimit: testSamples),
                                            threatModel: attacks?.threatModel ?? .serverConfigured, captures: attacks?.captures ?? [])
        do { try config.validate() } catch { throw ConfigError(path: "federation", message: "\(error)") }
        return FederatedTraining(dataset: dataset, dataDirectory: dir, model: model, federation: config,
                                 defenses: defenses.isEmpty ? [.none] : defenses, attacks: attacks, outputDirectory: out)
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
        /// The attack cells on this series' captured exchanges (`outpost run`).
        public let attacks: [FederatedAttacks.CellSummary]?
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

    /// Trains once per defense; returns the series and writes history CSVs and fig3.md. With
    /// a journal every round and attack trial is recorded as it finishes; `resume` continues
    /// each series from its checkpoint.
    public func run(journal: RunJournal? = nil, resume: Bool = true, progress: ((String) -> Void)? = nil,
                    attackProgress: ((AttackProgress) -> Void)? = nil) throws -> [Series] {
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
                                                   checkpointDirectory: dir, resume: resume)
            let attackDirectory = dir.appendingPathComponent("attacks").path
            if let attacks {
                simulator.captureHandler = { exchange in
                    _ = try attacks.attack(exchange, network: network, defense: defense.name,
                                                directory: attackDirectory, journal: journal,
                                                progress: progress, attackProgress: attackProgress)
                }
            }
            // Rounds a resumed simulator restored from its checkpoint, recorded again in case
            // the run was killed between the checkpoint and the database.
            if let journal { for r in simulator.history.rounds { try journal.record(r, series: defense.name) } }
            let firstRound = simulator.completedRounds, seriesStart = ContinuousClock.now
            while simulator.completedRounds < federation.rounds {
                let r = try simulator.runRound().report
                try journal?.record(r, series: defense.name)
                let elapsed = ContinuousClock.now - seriesStart
                let perRound = (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18) / Double(r.round - firstRound)
                progress?(String(format: "%@ round %d/%d: accuracy %@, %.2f s, series ETA %.0f s", defense.name, r.round, federation.rounds,
                                 r.evaluation.map { String(format: "%.4f", $0.accuracy) } ?? "-", r.timing.total,
                                 perRound * Double(federation.rounds - r.round)))
            }
            let history = simulator.history
            if let journal, let final = history.rounds.last(where: { $0.evaluation != nil })?.evaluation {
                try journal.store.setValue(final.accuracy, forKey: "final accuracy", run: journal.runId, series: defense.name)
            }
            try history.csv().write(to: dir.appendingPathComponent("history.csv"), atomically: true, encoding: .utf8)
            let rounds = history.rounds
            func mean(_ f: (RoundReport) -> Double) -> Double { rounds.isEmpty ? 0 : rounds.map(f).reduce(0, +) / Double(rounds.count) }
            series.append(Series(defense: defense.name, finalAccuracy: rounds.last(where: { $0.evaluation != nil })?.evaluation?.accuracy,
                                 accuracy: rounds.map { $0.evaluation?.accuracy }, secondsPerRound: mean { $0.timing.total },
                                 trainingSecondsPerRound: mean { $0.timing.training }, defenseSecondsPerRound: mean { $0.timing.defense },
                                 aggregationSecondsPerRound: mean { $0.timing.aggregation }, attacks: try attacks?.summaries(directory: attackDirectory, configuration: federation)))
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
        let attacked = series.filter { !($0.attacks ?? []).isEmpty }
        if !attacked.isEmpty {
            md += "\n| defense | round | client | samples | attack | SSIM (worst for the defender) | MSE | PSNR | diverged |\n"
            md += "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n"
            for s in attacked {
                for c in s.attacks ?? [] {
                    let m = c.worstForDefender
                    md += "| \(s.defense) | \(c.round) | \(c.clientID) | \(c.samples) | \(c.attack) | "
                        + (m.map { String(format: "%.4f | %.5f | %@", $0.ssim, $0.mse, $0.psnr.map { String(format: "%.2f dB", $0) } ?? "inf") } ?? "— | — | —")
                        + " | \(c.diverged)/\(c.trials) |\n"
                }
            }
        }
        return md
    }
}

private func zip(_ a: Double?, _ b: Double?) -> (Double, Double)? {
    guard let a, let b else { return nil }
    return (a, b)
}
