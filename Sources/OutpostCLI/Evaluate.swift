import ArgumentParser
import Foundation
import OutpostAttacks
import OutpostConfig
import OutpostData
import OutpostExperiments
import OutpostMetrics
import OutpostTensor

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
