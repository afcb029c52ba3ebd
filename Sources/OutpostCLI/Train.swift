import ArgumentParser
import Foundation
import OutpostAttacks
import OutpostConfig
import OutpostData
import OutpostExperiments
import OutpostMetrics
import OutpostTensor

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
