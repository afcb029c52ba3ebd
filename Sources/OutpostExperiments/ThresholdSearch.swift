import Foundation
import OutpostAttacks
import OutpostConfig
import OutpostData
import OutpostDefenses
import OutpostNN
import OutpostTensor
import OutpostThreatModel

/// Kim & Park's minimum-threshold experiment ("Random Gradient Masking as a Defensive
/// Measure to Deep Leakage in Federated Learning"): for each of masking, clipping, pruning
/// and noising, the weakest setting of its one parameter at which an attack (iDLG in the
/// paper) no longer reconstructs the client's images. What `outpost threshold` runs.
///
/// A setting **defeats** the attack when, on every target (an independent client batch),
/// the attack's best trial by ground truth (the worst case for the defender, over T
/// trials) scores below `threshold` on the chosen SSIM. The parameter is found by
/// ``Bisection``, which assumes monotonicity (see there). The client computes a FedSGD
/// gradient on its batch with the defense applied (``DefendedPayload``); the attack sees
/// only that payload. Every probe reuses the same defense random numbers and attack
/// restarts, so probes differ only in the parameter value.
public struct ThresholdSearch: Sendable {
    /// Which similarity decides "defeated".
    public enum Metric: String, Sendable, Codable, CaseIterable {
        /// SSIM of the reconstruction as it is.
        case ssim
        /// SSIM after the best brightness adjustment of the reconstruction, as Kim & Park
        /// score leakage (a dim but faithful reconstruction still counts as leaked).
        case brightnessAdjustedSSIM = "brightness_adjusted_ssim"

        func value(_ m: TrialMetrics) -> Double {
            switch self {
            case .ssim: return m.ssim
            case .brightnessAdjustedSSIM: return m.brightnessAdjustedSSIM
            }
        }
    }

    /// One defense whose parameter is searched: masking's probability, clipping's bound
    /// (smaller is stronger), pruning's percent, noising's σ.
    public struct Sweep: Sendable, Equatable {
        /// The defenses a search can sweep.
        public static let defenses = ["masking", "clipping", "pruning", "noising"]

        /// The defense with its other parameters (scope, batch-norm handling); the swept
        /// parameter's value in it is ignored.
        public let base: DefenseConfiguration
        public var bisection: Bisection

        /// A sweep of `base`'s parameter over [`low`, `high`] (in parameter units; the
        /// strength order is the defense's own).
        public init(base: DefenseConfiguration, low: Double, high: Double, scale: Bisection.Scale, tolerance: Double, maxSteps: Int) throws {
            guard Self.defenses.contains(base.name) else {
                throw ConfigError(path: "defense", message: "'\(base.name)' has no swept parameter; a threshold search takes \(Self.defenses.joined(separator: ", "))")
            }
            guard low < high else { throw ConfigError(path: "high", message: "must be greater than low (\(low)), got \(high)") }
            self.base = base
            let larger = Self.strongerWhenLarger(base)
            bisection = Bisection(weakest: larger ? low : high, strongest: larger ? high : low, scale: scale, tolerance: tolerance, maxSteps: maxSteps)
            try bisection.validate()
            // Both ends must be valid settings of the defense (e.g. a clipping bound > 0).
            for (key, v) in [("low", low), ("high", high)] {
                do { try defense(at: v).validate() } catch { throw ConfigError(path: key, message: "\(error)") }
            }
        }

        static func strongerWhenLarger(_ d: DefenseConfiguration) -> Bool {
            if case .clipping = d { return false }
            return true
        }

        /// Whether larger parameter values are stronger (false only for clipping).
        public var strongerWhenLarger: Bool { Self.strongerWhenLarger(base) }

        /// The swept parameter's key in a defense section.
        public var parameter: String {
            switch base {
            case .masking: return "probability"
            case .clipping: return "bound"
            case .pruning: return "percent"
            default: return "sigma"
            }
        }

        /// The defense at parameter `value`.
        public func defense(at value: Double) -> DefenseConfiguration {
            switch base {
            case .masking(var c): c.probability = value; return .masking(c)
            case .clipping(var c): c.bound = value; return .clipping(c)
            case .pruning(var c): c.percent = value; return .pruning(c)
            case .noising(var c): c.sigma = value; return .noising(c)
            default: return base
            }
        }

        /// Default range, scale and tolerance of each defense's parameter.
        static func defaults(_ name: String) -> (low: Double, high: Double, scale: Bisection.Scale, tolerance: Double) {
            switch name {
            case "masking": return (0, 1, .linear, 0.01)
            case "clipping": return (0.001, 1000, .log, 0.1)
            case "pruning": return (0, 100, .linear, 1)
            default: return (0.00001, 1, .log, 0.1)
            }
        }
    }

    public var dataset: String
    /// Where the real data sets are; nil uses the sample shipped with Outpost.
    public var dataDirectory: String?
    public var split: Split
    /// Independent client batches attacked at every probe; all must be defeated.
    public var targets: Int
    /// Images in each client's batch (one gradient).
    public var batchSize: Int
    /// The model; nil is the DLG LeNet (uniform(−0.5, 0.5) weights) sized to the data, with
    /// max(10, classes) outputs.
    public var model: ModelConfiguration?
    public var attack: AttackConfiguration
    public var metric: Metric
    /// A probe defeats the attack when its worst-for-the-defender score is below this.
    public var threshold: Double
    public var sweeps: [Sweep]
    public var seed: UInt64
    public var outputDirectory: String

    public init(dataset: String, dataDirectory: String? = nil, split: Split = .train, targets: Int = 1, batchSize: Int = 1,
                model: ModelConfiguration? = nil, attack: AttackConfiguration, metric: Metric = .brightnessAdjustedSSIM,
                threshold: Double = 0.5, sweeps: [Sweep], seed: UInt64 = 0, outputDirectory: String) {
        self.dataset = dataset
        self.dataDirectory = dataDirectory
        self.split = split
        self.targets = targets
        self.batchSize = batchSize
        self.model = model
        self.attack = attack
        self.metric = metric
        self.threshold = threshold
        self.sweeps = sweeps
        self.seed = seed
        self.outputDirectory = outputDirectory
    }

    public static let datasets = ["mnist", "fashion-mnist", "photos32", "lfw-subset", "cifar10", "kmnist"]
    static let searchKeys = ["defense", "low", "high", "scale", "tolerance", "max_steps"]

    /// Reads an `outpost threshold` configuration; relative paths are relative to the file.
    public static func read(_ root: ConfigSection, relativeTo base: URL?) throws -> ThresholdSearch {
        let seed = UInt64(try root.int("seed", default: 0, range: 0...Int.max))
        let d = try root.section("data")
        let dataset = try d.choice("dataset", among: datasets)
        let dir = try d.optionalString("directory").map { resolve($0, relativeTo: base) }
        let split = Split(rawValue: try d.choice("split", among: ["train", "test"], default: "train")) ?? .train
        let targets = try d.int("targets", default: 1, range: 1...10_000)
        let batch = try d.int("batch_size", default: 1, range: 1...1024)
        try d.finish()
        if dir == nil, !SampleData.names.contains(dataset) {
            throw ConfigError(path: "data.directory", message: "\(dataset) is not shipped with Outpost (samples: \(SampleData.names.joined(separator: ", "))); give the folder holding it")
        }
        let model = root.has("model") ? try ModelConfiguration.read(root.section("model"), relativeTo: base) : nil
        let a = try root.section("attack")
        guard a.has("name") else {
            throw ConfigError(path: "attack.name", message: "is required (one of \(AttackConfiguration.names.joined(separator: ", ")); the masking paper uses idlg)")
        }
        let attack = try AttackConfiguration.read(a)
        let c = try root.section("criterion")
        let metric = Metric(rawValue: try c.choice("metric", among: Metric.allCases.map(\.rawValue), default: Metric.brightnessAdjustedSSIM.rawValue)) ?? .ssim
        let threshold = try c.double("threshold", default: 0.5, range: -1...1)
        try c.finish()
        let s = try root.section("search")
        let maxSteps = try s.int("max_steps", default: 8, range: 0...60)
        try s.finish()
        let sweeps = try root.sections("defenses").map { try sweep(from: $0, maxSteps: maxSteps) }
        for (i, sweep) in sweeps.enumerated() where sweeps[..<i].contains(where: { $0.base.name == sweep.base.name }) {
            throw ConfigError(path: "defenses[\(i)].defense", message: "\(sweep.base.name) is searched twice; each defense may appear once (its outputs are named after it)")
        }
        guard !sweeps.isEmpty else {
            throw ConfigError(path: "defenses", message: "needs at least one defense to search (\(Sweep.defenses.joined(separator: ", ")))")
        }
        let o = try root.section("output")
        let out = resolve(try o.string("directory", default: "outpost-threshold"), relativeTo: base)
        try o.finish()
        try root.finish()
        return ThresholdSearch(dataset: dataset, dataDirectory: dir, split: split, targets: targets, batchSize: batch, model: model,
                               attack: attack, metric: metric, threshold: threshold, sweeps: sweeps, seed: seed, outputDirectory: out)
    }

    /// One `defenses` entry: `defense`, the search keys (`low`, `high`, `scale`,
    /// `tolerance`, `max_steps`) and the defense's other parameters.
    static func sweep(from s: ConfigSection, maxSteps defaultSteps: Int) throws -> Sweep {
        let name = try s.choice("defense", among: Sweep.defenses)
        let d = Sweep.defaults(name)
        let low = try s.double("low", default: d.low)
        let high = try s.double("high", default: d.high)
        let scale = Bisection.Scale(rawValue: try s.choice("scale", among: Bisection.Scale.allCases.map(\.rawValue), default: d.scale.rawValue)) ?? .linear
        let tolerance = try s.double("tolerance", default: d.tolerance, exclusiveMinimum: 0)
        let steps = try s.int("max_steps", default: defaultSteps, range: 0...60)
        let base: DefenseConfiguration
        switch name {
        case "masking":
            let handling = try s.choice("norm_handling", among: RandomMasking.NormHandling.allCases.map(\.rawValue), default: RandomMasking.NormHandling.exempt.rawValue)
            base = .masking(.init(normHandling: RandomMasking.NormHandling(rawValue: handling) ?? .exempt,
                                  normProbability: try s.double("norm_probability", default: 0.5, range: 0...1)))
        case "clipping", "pruning":
            let scope = GradientScope(rawValue: try s.choice("scope", among: GradientScope.allCases.map(\.rawValue), default: GradientScope.global.rawValue)) ?? .global
            base = name == "clipping" ? .clipping(.init(scope: scope)) : .pruning(.init(scope: scope))
        default:
            base = .noising(.init())
        }
        let swept = ["masking": "probability", "clipping": "bound", "pruning": "percent", "noising": "sigma"][name] ?? ""
        if s.contains(swept) {
            throw ConfigError(path: ConfigPathText.join(s.path, swept), message: "is what the search finds; give its range with low and high instead")
        }
        try s.finish()
        do {
            return try Sweep(base: base, low: low, high: high, scale: scale, tolerance: tolerance, maxSteps: steps)
        } catch let e as ConfigError {
            throw ConfigError(path: ConfigPathText.join(s.path, e.path), message: e.message, suggestion: e.suggestion)
        }
    }

    // MARK: - Results

    /// One client batch attacked at every probe.
    public struct Target: Codable, Sendable {
        /// Indices of its images in the data set.
        public let indices: [Int]
        public let labels: [Int]
        /// L2 norm of the undefended gradient (the scale for clipping bounds).
        public let gradientNorm: Double
    }

    /// One target's attack at one probe.
    public struct TargetOutcome: Codable, Sendable {
        public let target: Int
        /// Every trial's metrics against the ground truth (SSIM, MSE, PSNR, brightness-adjusted SSIM).
        public let trials: [TrialMetrics?]
        public let diverged: [Bool]
        /// The trial with the best score: the worst case for the defender.
        public let worstTrial: Int?
        /// Its score on the criterion's metric.
        public let worst: Double
        /// Where its reconstructions, grid and summary were written.
        public let directory: String
    }

    /// One parameter value tried.
    public struct Probe: Codable, Sendable {
        /// Order in which it was probed (0 = weakest end, 1 = strongest end, then midpoints).
        public let order: Int
        public let value: Double
        public let defense: DefenseConfiguration
        public let defeated: Bool
        /// The largest worst-for-the-defender score over the targets.
        public let worst: Double
        public let targets: [TargetOutcome]
        public let seconds: Double
    }

    /// One defense's search.
    public struct SearchResult: Codable, Sendable {
        public let defense: String
        public let parameter: String
        public let strongerWhenLarger: Bool
        public let weakest: Double
        public let strongest: Double
        public let scale: Bisection.Scale
        public let tolerance: Double
        public let maxSteps: Int
        public let status: Bisection.Status
        /// The weakest probed value that defeated the attack (nil: never defeated in the range).
        public let threshold: Double?
        /// The strongest probed value that leaked (nil: defeated already at the weakest end).
        public let strongestUndefeated: Double?
        public let converged: Bool
        /// The defense at the threshold, as a configuration (e.g. for `outpost train`).
        public let thresholdDefense: DefenseConfiguration?
        /// Every probe, in the order probed.
        public let probes: [Probe]
        /// The grid of reconstructions at each probe.
        public let grid: String
    }

    /// Everything a run produced: what results.json holds.
    public struct Report: Codable, Sendable {
        public let dataset: String
        public let attack: String
        public let attackTrials: Int
        public let attackIterations: Int?
        public let metric: Metric
        public let threshold: Double
        public let seed: UInt64
        public let targets: [Target]
        public let searches: [SearchResult]
    }

    // MARK: - Running

    struct Client {
        let pixels: Tensor
        let labels: [Int]
        let indices: [Int]
    }

    func loadData() throws -> ImageDataset {
        if let dataDirectory { return try loadDataset(dataset, split: split, directory: dataDirectory) }
        return try SampleData.load(dataset)
    }

    /// Runs every search; writes results.json, thresholds.md, defenses.json (the defenses
    /// at their thresholds), a grid per defense and a summary grid.
    public func run(progress: ((String) -> Void)? = nil) throws -> Report {
        try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        let data = try loadData()
        // Ten outputs at least, like the DLG LeNet (and `outpost evaluate`): with LFW's two
        // classes the gradient at the DLG initialization is ~100 times smaller and iDLG fails
        // even without a defense.
        let network = model?.network() ?? .lenet(channels: data.channels, imageSize: data.height, classes: max(10, data.classCount))
        guard network.inputShape == data.imageShape else {
            throw ConfigError(path: "model", message: "the model takes \(network.inputShape), \(dataset) images are \(data.imageShape)")
        }
        let state = try model?.state(for: network) ?? network.initialState(.dlg, seed: seed)
        guard targets * batchSize <= data.count else {
            throw ConfigError(path: "data.targets", message: "\(targets) targets × \(batchSize) images need \(targets * batchSize) images, \(dataset) has \(data.count)")
        }
        // Distinct images, drawn reproducibly.
        var rng = RandomGenerator(seed: seed).derived(0x7468)
        var indices: [Int] = []
        while indices.count < targets * batchSize {
            let i = Int(rng.next() % UInt64(data.count))
            if !indices.contains(i) { indices.append(i) }
        }
        let size = data.sampleSize
        let clients = (0..<targets).map { t -> Client in
            let mine = Array(indices[(t * batchSize)..<((t + 1) * batchSize)])
            var values: [Float] = []
            for i in mine { values += data.images[(i * size)..<((i + 1) * size)] }
            return Client(pixels: Tensor(values, shape: [batchSize] + data.imageShape), labels: mine.map { data.labels[$0] }, indices: mine)
        }
        let knowledge = ServerKnowledge(batchSize: batchSize, sampleCount: batchSize, normalization: .identity(channels: data.channels))
        let targetInfo = try clients.enumerated().map { t, c in
            let clear = try DefendedPayload.gradient(network: network, state: state, images: c.pixels, labels: c.labels, defense: .none, seed: payloadSeed(t))
            return Target(indices: c.indices, labels: c.labels, gradientNorm: GradientOps.globalNorm(clear.tensors))
        }

        var searches: [SearchResult] = []
        var images: [String: [[PixelImage]]] = [:]
        for sweep in sweeps {
            let name = sweep.base.name
            var probes: [Probe] = []
            var pictures: [[PixelImage]] = []
            let result = try sweep.bisection.run { value in
                let (probe, best) = try self.probe(sweep, value: value, order: probes.count, clients: clients, network: network, state: state,
                                                   knowledge: knowledge)
                probes.append(probe)
                pictures.append(best)
                progress?(String(format: "%@ %@ = %@: %@ (worst %@ %.4f, %.1f s)", name, sweep.parameter, Self.format(value),
                                 probe.defeated ? "defeated" : "leaks", metric.rawValue, probe.worst, probe.seconds))
                return probe.defeated
            }
            let gridPath = (outputDirectory as NSString).appendingPathComponent("\(name)-grid.png")
            images[name] = pictures
            try probeGrid(sweep, probes: probes, images: pictures, clients: clients).writePNG(to: gridPath)
            searches.append(SearchResult(defense: name, parameter: sweep.parameter, strongerWhenLarger: sweep.strongerWhenLarger,
                                         weakest: sweep.bisection.weakest, strongest: sweep.bisection.strongest, scale: sweep.bisection.scale,
                                         tolerance: sweep.bisection.tolerance, maxSteps: sweep.bisection.maxSteps, status: result.status,
                                         threshold: result.threshold, strongestUndefeated: result.strongestUndefeated, converged: result.converged,
                                         thresholdDefense: result.threshold.map { sweep.defense(at: $0) }, probes: probes, grid: gridPath))
        }
        var iterations: Int?
        var trials = 1
        if case .optimization(let a) = attack.plan { iterations = a.iterations; trials = a.trials }
        let report = Report(dataset: data.name, attack: attack.name, attackTrials: trials, attackIterations: iterations, metric: metric,
                            threshold: threshold, seed: seed, targets: targetInfo, searches: searches)
        try write(report, images: images, clients: clients)
        return report
    }

    func payloadSeed(_ target: Int) -> UInt64 { seed &+ 17 &+ UInt64(target) }

    func probe(_ sweep: Sweep, value: Double, order: Int, clients: [Client], network: Network, state: ModelState,
               knowledge: ServerKnowledge) throws -> (Probe, [PixelImage]) {
        let clock = ContinuousClock.now
        let defense = sweep.defense(at: value)
        try defense.validate()
        var outcomes: [TargetOutcome] = []
        var best: [PixelImage] = []
        for (t, c) in clients.enumerated() {
            // The same seed at every probe: masking draws the same uniforms (a larger
            // probability masks a superset) and noising the same normals (scaled by σ).
            let payload = try DefendedPayload.gradient(network: network, state: state, images: c.pixels, labels: c.labels,
                                                       defense: defense, seed: payloadSeed(t))
            let target = try AttackTarget(network: network, globalState: state, payload: payload, knowledge: knowledge)
            let outcome = try attack.plan.run(on: target, seed: attack.seed)
            let dir = (outputDirectory as NSString).appendingPathComponent(String(format: "%@/probe-%02d/target-%d", sweep.base.name, order, t))
            let summary = try ReconstructionReport.write(outcome, truth: c.pixels, to: dir)
            let scores = summary.trials.map { $0.metrics.map(metric.value) ?? -1 }
            let top = scores.indices.max { scores[$0] < scores[$1] }
            outcomes.append(TargetOutcome(target: t, trials: summary.trials.map(\.metrics), diverged: summary.trials.map(\.diverged),
                                          worstTrial: top.map { summary.trials[$0].index }, worst: top.map { scores[$0] } ?? -1, directory: dir))
            best += try ReconstructionReport.pixelImages(outcome.trials[top ?? 0].pixels)
        }
        let worst = outcomes.map(\.worst).max() ?? -1
        let elapsed = ContinuousClock.now - clock
        let probe = Probe(order: order, value: value, defense: defense, defeated: worst < threshold, worst: worst, targets: outcomes,
                          seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        return (probe, best)
    }

    func scoreLabels(_ p: Probe) -> [String] {
        p.targets.flatMap { o in Array(repeating: String(format: "%.3f", o.worst), count: batchSize) }
    }

    /// Ground truth, then one row per probe from weakest to strongest: each target's best
    /// reconstruction, labelled with its score.
    func probeGrid(_ sweep: Sweep, probes: [Probe], images: [[PixelImage]], clients: [Client]) throws -> ImageGrid {
        let truth = try clients.flatMap { try ReconstructionReport.pixelImages($0.pixels) }
        var g = ImageGrid(scale: max(1, 64 / max(clients[0].pixels.shape[2], 1)), margin: 4)
        g.addRow(truth, labels: clients.flatMap { $0.labels.map { "label \($0)" } }, title: "ground truth")
        let ordered = probes.sorted { sweep.strongerWhenLarger ? $0.value < $1.value : $0.value > $1.value }
        for p in ordered {
            g.addRow(images[p.order], labels: scoreLabels(p),
                     title: "\(sweep.parameter) \(Self.format(p.value)): \(p.defeated ? "defeated" : "leaks")")
        }
        return g
    }

    /// Ground truth, then per defense the reconstruction at the strongest setting that
    /// leaked and at the threshold.
    func summaryGrid(_ report: Report, images: [String: [[PixelImage]]], clients: [Client]) throws -> ImageGrid? {
        var g = ImageGrid(scale: max(1, 64 / max(clients[0].pixels.shape[2], 1)), margin: 4)
        g.addRow(try clients.flatMap { try ReconstructionReport.pixelImages($0.pixels) }, title: "ground truth")
        for s in report.searches {
            for (value, what) in [(s.strongestUndefeated, "leaks"), (s.threshold, "defeated")] {
                guard let value, let p = s.probes.first(where: { $0.value == value }), let pictures = images[s.defense]?[p.order] else { continue }
                g.addRow(pictures, labels: scoreLabels(p),
                         title: "\(s.defense) \(s.parameter) \(Self.format(value)): \(what)")
            }
        }
        return g.rows.count > 1 ? g : nil
    }

    func write(_ report: Report, images: [String: [[PixelImage]]], clients: [Client]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let out = URL(fileURLWithPath: outputDirectory)
        try encoder.encode(report).write(to: out.appendingPathComponent("results.json"))
        let compact = JSONEncoder()
        compact.outputFormatting = [.sortedKeys]
        let found = report.searches.compactMap(\.thresholdDefense)
        try (String(decoding: try compact.encode(found), as: UTF8.self) + "\n").write(to: out.appendingPathComponent("defenses.json"), atomically: true, encoding: .utf8)
        try table(report).write(to: out.appendingPathComponent("thresholds.md"), atomically: true, encoding: .utf8)
        try summaryGrid(report, images: images, clients: clients)?.writePNG(to: out.appendingPathComponent("grid.png").path)
    }

    static func format(_ v: Double) -> String {
        if v == 0 { return "0" }
        let a = abs(v)
        if a >= 0.01 && a < 10000 { return String(format: "%.4g", v) }
        return String(format: "%.3e", v)
    }

    /// The thresholds table, then each defense's probes.
    public func table(_ report: Report) -> String {
        var md = "Minimum threshold per defense against \(report.attack) on \(report.dataset): the weakest probed setting at which, "
        md += "on every one of \(report.targets.count) target(s), the best of \(report.attackTrials) trial(s) scores \(report.metric.rawValue) < \(Self.format(report.threshold)).\n\n"
        md += "| defense | parameter | stronger when | range (weakest → strongest) | threshold | strongest that leaked | probes | status |\n"
        md += "| --- | --- | --- | --- | ---: | ---: | ---: | --- |\n"
        for s in report.searches {
            let status = s.status == .found && !s.converged ? "found (step limit before tolerance)" : s.status.rawValue
            md += "| \(s.defense) | \(s.parameter) | \(s.strongerWhenLarger ? "larger" : "smaller") | \(Self.format(s.weakest)) → \(Self.format(s.strongest)) "
            md += "| \(s.threshold.map(Self.format) ?? "—") | \(s.strongestUndefeated.map(Self.format) ?? "—") | \(s.probes.count) | \(status) |\n"
        }
        for s in report.searches {
            md += "\n### \(s.defense): probes in order\n\n| # | \(s.parameter) | defeated | worst \(report.metric.rawValue) | per target and trial: SSIM / MSE / PSNR |\n"
            md += "| ---: | ---: | --- | ---: | --- |\n"
            for p in s.probes {
                let detail = p.targets.map { o in
                    "t\(o.target): " + o.trials.map { m in
                        m.map { String(format: "%.3f / %.4f / %@", $0.ssim, $0.mse, $0.psnr.map { String(format: "%.1f", $0) } ?? "inf") } ?? "—"
                    }.joined(separator: ", ")
                }.joined(separator: "; ")
                md += "| \(p.order) | \(Self.format(p.value)) | \(p.defeated ? "yes" : "no") | \(String(format: "%.4f", p.worst)) | \(detail) |\n"
            }
        }
        return md
    }
}
