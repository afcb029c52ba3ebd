import ArgumentParser
import Foundation
import OutpostAttacks
import OutpostConfig
import OutpostData
import OutpostExperiments
import OutpostMetrics
import OutpostTensor

@main
struct Outpost: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outpost",
        abstract: "How much of a client's data can a federated-learning server reconstruct, and what does each defense cost?",
        discussion: """
        Examples:
          outpost attack examples/attack/captured-gradient.yml
          outpost evaluate examples/evaluate/table3.yml
          outpost train examples/train/fig3.yml
          outpost metrics truth.png reconstruction.png
          outpost data list
        """,
        subcommands: [Attack.self, Evaluate.self, Train.self, Metrics.self, DataCommand.self])
}

/// Options every command shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Threads for the engine (default: all cores).")
    var threads: Int?
    @Flag(name: .long, help: "Print only errors and the final result.")
    var quiet = false
    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false

    func apply() throws {
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            Engine.threads = threads
        }
    }
}

/// Prints configuration and input problems as one clear message and exits with status 2,
/// instead of a stack trace.
func reportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ValidationError { throw e } catch let e as ExitCode { throw e } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(2)
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

struct Attack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attack one captured gradient or model update.",
        discussion: """
        The configuration names the model (architecture and a safetensors state_dict), the captured
        tensors (safetensors with the model's parameter names, as PyTorch's named_parameters()), what
        the server is assumed to know, and the attack. Outputs: reconstructions.safetensors (pixels in
        [0, 1], N×C×H×W), grid.png, history.csv and summary.json in the output directory.

        Examples:
          outpost attack audit.yml
          outpost attack audit.yml --set attack.name=dlg --set attack.trials=10
          outpost attack audit.yml --set attack.iterations=[100,300]   (a list runs a grid)
        """)

    @Argument(help: "The audit configuration (YAML).")
    var config: String
    @Option(name: .customLong("set"), help: "Override a configuration key: key.path=value (repeatable).")
    var overrides: [String] = []
    @Option(name: .long, help: "Seed of the attack's dummy data (overrides attack.seed).")
    var seed: Int?
    @OptionGroup var common: CommonOptions

    func run() throws {
        try common.apply()
        try reportingErrors {
            let url = URL(fileURLWithPath: config)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else {
                throw ConfigError(path: "", message: "cannot read configuration file \(config)")
            }
            var doc = try ConfigValue.parse(yaml: text, source: config).applying(overrides: overrides)
            if let seed { doc = try doc.setting(["attack", "seed"], to: .scalar(String(seed))) }
            let points = try ConfigGrid.expand(doc) { try CapturedUpdateAudit.read($0, relativeTo: url.deletingLastPathComponent()) }
            var summaries: [AuditSummary] = []
            for (i, point) in points.enumerated() {
                var audit = point.configuration
                if points.count > 1 { audit.outputDirectory = (audit.outputDirectory as NSString).appendingPathComponent("point-\(i)") }
                if !common.quiet && points.count > 1 { FileHandle.standardError.write(Data("[\(i + 1)/\(points.count)] \(point.label)\n".utf8)) }
                let progress = common.quiet ? nil : ProgressPrinter(label: "attack").callback
                let summary = try audit.run(progress: progress)
                summaries.append(summary)
                if !common.json { print(describe(summary)) }
            }
            if common.json { try printJSON(summaries.count == 1 ? AnyEncodable(summaries[0]) : AnyEncodable(summaries)) }
        }
    }

    func describe(_ s: AuditSummary) -> String {
        var lines = ["\(s.attack): \(s.trials.count) trial(s), \(s.divergedTrials) diverged"]
        if let l = s.inferredLabels { lines.append("inferred labels: \(l)") }
        for t in s.trials {
            var line = "  trial \(t.index): loss \(t.finalLoss.map { String(format: "%.3e", $0) } ?? "diverged"), \(t.iterations) iterations, \(String(format: "%.1f", t.seconds)) s"
            if let m = t.metrics {
                line += String(format: ", SSIM %.4f, MSE %.5f, PSNR %@", m.ssim, m.mse, m.psnr.map { String(format: "%.2f dB", $0) } ?? "inf")
            }
            if t.index == s.attackerChoice { line += "  ← attacker's pick" }
            if t.index == s.worstForDefender { line += "  ← worst for the defender" }
            lines.append(line)
        }
        lines.append("written to \(s.outputDirectory)")
        return lines.joined(separator: "\n")
    }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A grid of attacks × defenses × scenarios, like the OUTPOST paper's Table III.",
        discussion: """
        Scenarios (DLG LeNet, uniform(-0.5, 0.5) weights): 1 one 1×28×28 image; 2 two images, one local step
        each (the update is attacked by unrolling the steps); 3 one 3×32×32 image; 4 sixteen 3×32×32 images in
        one batch. Each cell reports the trial worst for the defender. Writes table.md, results.json and a
        folder per cell with its reconstructions and grid.

        Examples:
          outpost evaluate examples/evaluate/table3.yml
          outpost evaluate examples/evaluate/table3.yml --set trials=10 --set data.directory=../shared/data
        """)

    @Argument(help: "The evaluation configuration (YAML).")
    var config: String
    @Option(name: .customLong("set"), help: "Override a configuration key: key.path=value (repeatable).")
    var overrides: [String] = []
    @OptionGroup var common: CommonOptions

    func run() throws {
        try common.apply()
        try reportingErrors {
            let url = URL(fileURLWithPath: config)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else {
                throw ConfigError(path: "", message: "cannot read configuration file \(config)")
            }
            let doc = try ConfigValue.parse(yaml: text, source: config).applying(overrides: overrides)
            let evaluation = try LeakageEvaluation.read(ConfigSection(doc), relativeTo: url.deletingLastPathComponent())
            let cells = try evaluation.run { line in if !common.quiet { FileHandle.standardError.write(Data("\(line)\n".utf8)) } }
            if common.json { try printJSON(cells); return }
            print(evaluation.table(cells))
            print("written to \(evaluation.outputDirectory)")
        }
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Federated training only, once per defense: accuracy per round and time per round (the OUTPOST paper's Fig. 3).",
        discussion: """
        Writes, per defense, history.csv (accuracy, loss and time per round) and a checkpoint every round: run
        the same command again to resume a killed run where it stopped. fig3.md compares each defense's final
        accuracy and time per round with no defense.

        Examples:
          outpost train examples/train/fig3.yml
          outpost train examples/train/fig3.yml --set federation.rounds=5 --set data.directory=../shared/data
        """)

    @Argument(help: "The training configuration (YAML).")
    var config: String
    @Option(name: .customLong("set"), help: "Override a configuration key: key.path=value (repeatable).")
    var overrides: [String] = []
    @Option(name: .long, help: "Seed (overrides the configuration's seed).")
    var seed: Int?
    @OptionGroup var common: CommonOptions

    func run() throws {
        try common.apply()
        try reportingErrors {
            let url = URL(fileURLWithPath: config)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else {
                throw ConfigError(path: "", message: "cannot read configuration file \(config)")
            }
            var doc = try ConfigValue.parse(yaml: text, source: config).applying(overrides: overrides)
            if let seed { doc = try doc.setting(["seed"], to: .scalar(String(seed))) }
            let training = try FederatedTraining.read(ConfigSection(doc), relativeTo: url.deletingLastPathComponent())
            let series = try training.run { line in if !common.quiet { FileHandle.standardError.write(Data("\(line)\n".utf8)) } }
            if common.json { try printJSON(series); return }
            print(training.table(series))
            print("written to \(training.outputDirectory)")
        }
    }
}

struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: Encoder) throws { try value.encode(to: encoder) }
}

/// Progress on the terminal: a rewritten line on a TTY, a line every 10% otherwise.
final class ProgressPrinter: @unchecked Sendable {
    let label: String
    let tty = isatty(STDERR_FILENO) != 0
    let start = Date()
    var lastDecile = -1

    init(label: String) { self.label = label }

    var callback: (AttackProgress) -> Void {
        { [self] p in
            let fraction = Double(p.iteration) / Double(max(p.iterations, 1))
            let elapsed = Date().timeIntervalSince(start)
            let eta = fraction > 0 ? elapsed / fraction * (1 - fraction) : 0
            let text = String(format: "%@ trial %d/%d  %3.0f%%  loss %.3e  ETA %.0fs", label, p.trial + 1, p.trials, fraction * 100, p.loss, eta)
            if tty {
                FileHandle.standardError.write(Data("\r\(text)\u{1B}[K".utf8))
                if p.iteration == p.iterations { FileHandle.standardError.write(Data("\n".utf8)) }
            } else if Int(fraction * 10) > lastDecile {
                lastDecile = Int(fraction * 10)
                FileHandle.standardError.write(Data("\(text)\n".utf8))
            }
            if p.iteration == p.iterations { lastDecile = -1 }
        }
    }
}

struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare images: MSE, PSNR, SSIM and brightness-adjusted SSIM on pixels in [0, 1].",
        discussion: """
        SSIM follows Wang et al. 2004 (11×11 Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03, data range 1),
        as scikit-image computes it. Give pairs: truth then reconstruction.

        Examples:
          outpost metrics truth.png reconstruction.png
          outpost metrics a.png b.png c.png d.png --json
        """)

    @Argument(help: "Image files (PNG or JPEG), in pairs: truth, reconstruction, truth, reconstruction, ...")
    var images: [String]
    @OptionGroup var common: CommonOptions

    struct Row: Encodable { let truth: String; let reconstruction: String; let mse: Double; let psnr: Double?; let ssim: Double; let brightnessAdjustedSSIM: Double }

    func run() throws {
        try common.apply()
        guard images.count >= 2, images.count % 2 == 0 else { throw ValidationError("give image files in pairs (truth, reconstruction)") }
        try reportingErrors {
            var rows: [Row] = []
            for i in stride(from: 0, to: images.count, by: 2) {
                let a = try ImageCodec.read(images[i]), b = try ImageCodec.read(images[i + 1])
                let channels = max(a.channels, b.channels)
                let ta = try a.converted(toChannels: channels), tb = try b.converted(toChannels: channels)
                let ia = try Image(channels: channels, height: ta.height, width: ta.width, pixels: ta.pixels)
                let ib = try Image(channels: channels, height: tb.height, width: tb.width, pixels: tb.pixels)
                let mse = try ImageMetrics.mse(ia, ib)
                let psnr = ImageMetrics.psnr(mse: mse)
                rows.append(Row(truth: images[i], reconstruction: images[i + 1], mse: mse, psnr: psnr.isFinite ? psnr : nil,
                                ssim: try ImageMetrics.ssim(ia, ib), brightnessAdjustedSSIM: try ImageMetrics.brightnessAdjustedSSIM(ia, ib).ssim))
            }
            if common.json { try printJSON(rows); return }
            print("truth | reconstruction | MSE | PSNR (dB) | SSIM | SSIM (brightness-adjusted)")
            for r in rows {
                print("\(r.truth) | \(r.reconstruction) | \(String(format: "%.6f", r.mse)) | \(r.psnr.map { String(format: "%.2f", $0) } ?? "inf") | \(String(format: "%.4f", r.ssim)) | \(String(format: "%.4f", r.brightnessAdjustedSSIM))")
            }
        }
    }
}

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "List, inspect and download data sets.",
        subcommands: [List.self, Inspect.self, Download.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The data sets Outpost reads.")
        func run() throws {
            for name in DatasetCatalogue.names { print(name) }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Counts, image shape and label histogram of a data set.",
            discussion: "Example: outpost data inspect fashion-mnist --dir ../shared/data --split test")
        @Argument(help: "Data set name (see `outpost data list`).")
        var name: String
        @Option(help: "The folder holding the data set (or its parent).")
        var dir: String
        @Option(help: "train or test.")
        var split: String = "train"
        @OptionGroup var common: CommonOptions

        struct Info: Encodable { let name: String; let count: Int; let shape: [Int]; let classes: Int; let histogram: [Int] }

        func run() throws {
            guard let s = Split(rawValue: split) else { throw ValidationError("--split must be train or test") }
            try reportingErrors {
                let ds = try loadDataset(name, split: s, directory: dir)
                let info = Info(name: ds.name, count: ds.count, shape: [ds.channels, ds.height, ds.width], classes: ds.classCount, histogram: ds.labelHistogram())
                if common.json { try printJSON(info); return }
                print("\(info.name) (\(split)): \(info.count) images of \(info.shape.map(String.init).joined(separator: "×")), \(info.classes) classes")
                for (label, count) in info.histogram.enumerated() { print("  \(ds.className(of: label)): \(count)") }
            }
        }
    }

    struct Download: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a data set from its official source, verifying checksums; interrupted downloads resume.",
            discussion: "Example: outpost data download mnist --dir data")
        @Argument(help: "Data set name.")
        var name: String
        @Option(help: "Destination folder.")
        var dir: String = "data"

        func run() throws {
            try reportingErrors {
                let downloader = Downloader(timeout: 60) { FileHandle.standardError.write(Data("\($0)\n".utf8)) }
                for path in try downloader.download(dataset: name, into: dir) { print(path) }
            }
        }
    }
}
