import ArgumentParser
import Foundation
import OutpostConfig
import OutpostExperiments

struct Threshold: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The weakest setting of each defense that defeats an attack (the masking paper's threshold search).",
        discussion: """
        For each defense (masking: probability; clipping: bound, smaller is stronger; pruning: percent;
        noising: sigma) the parameter is bisected between the ends of its range. A setting defeats the
        attack when on every target the best of the attack's trials by ground truth scores below
        criterion.threshold (brightness-adjusted SSIM by default). The search assumes that every setting
        stronger than a defeating one also defeats the attack. Writes thresholds.md, results.json (every
        probe with per-trial SSIM, MSE and PSNR), defenses.json (the defenses at their thresholds, usable
        as `outpost train --set defenses=...`), a grid per defense of the reconstructions at each probe
        (DEFENSE-grid.png), a summary grid.png, and each probe's reconstructions.

        Examples:
          outpost threshold examples/threshold/mnist-idlg.yml
          outpost threshold examples/threshold/mnist-idlg.yml --set attack.trials=4 --set criterion.threshold=0.3
          outpost threshold examples/papers/masking/threshold-mnist.yml --threads 1 --json
        """)

    @Argument(help: "The threshold-search configuration (YAML).")
    var config: String
    @Option(name: .customLong("set"), help: "Override a configuration key: key.path=value (repeatable).")
    var overrides: [String] = []
    @Option(name: .long, help: "Seed of the data, model and defenses (overrides the configuration's seed).")
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
            let search = try ThresholdSearch.read(ConfigSection(doc), relativeTo: url.deletingLastPathComponent())
            let report = try search.run { line in if !common.quiet { FileHandle.standardError.write(Data("\(line)\n".utf8)) } }
            if common.json { try printJSON(report); return }
            print(search.table(report))
            print("written to \(search.outputDirectory)")
        }
    }
}
