import ArgumentParser
import Foundation
import OutpostConfig
import OutpostExperiments

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A short real audit on the sample data shipped with Outpost, written up as an HTML report.",
        discussion: """
        FedAvg on Fashion-MNIST (40 clients of 4 images, 30 rounds) once without a defense and once per
        defense (OUTPOST, gradient compression, DP noise); in rounds 1 and 20 the server attacks the first
        sampled client's update with DLG (iDLG, labels known) and Inverting Gradients. Needs no data set and no network: about two
        minutes on two cores. The configuration is examples/demo/demo.yml; `outpost run` runs it too.

        Examples:
          outpost demo
          outpost demo --output /tmp/demo --threads 2
        """)

    @Option(name: .long, help: "The output folder.")
    var output: String = "outpost-demo"
    @Option(name: .customLong("set"), help: "Override a key of the demo's configuration: key.path=value (repeatable).")
    var overrides: [String] = []
    @OptionGroup var resume: ResumeOption
    @OptionGroup var common: CommonOptions

    func run() throws {
        try common.apply()
        try reportingErrors {
            let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            var input = try ConfigInput(yaml: DemoPreset.yaml, source: "demo.yml", overrides: overrides, base: cwd)
            input.document = try input.document.setting(["output", "directory"], to: .scalar(output))
            let training = try FederatedTraining.read(input.section(), relativeTo: cwd, attacks: true)
            let progress = common.quiet ? nil : ProgressPrinter(label: "attack")
            let start = Date()
            let (series, report) = try recordingRun(in: training.outputDirectory, kind: "demo", configuration: input, label: "demo",
                                                    resume: resume.resume, quiet: common.quiet) { journal in
                try training.run(journal: journal, resume: resume.resume, progress: { line in if !common.quiet { log(line) } },
                                 attackProgress: progress?.callback)
            }
            if common.json { try printJSON(series); return }
            print(training.table(series))
            print(String(format: "Finished in %.0f s. Open the report in a browser:\n  %@", Date().timeIntervalSince(start), report))
        }
    }
}
