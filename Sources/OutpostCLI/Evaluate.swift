import ArgumentParser
import Foundation
import OutpostConfig
import OutpostExperiments

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A grid of attacks × defenses × scenarios, like the OUTPOST paper's Table III.",
        discussion: """
        Scenarios (DLG LeNet, uniform(-0.5, 0.5) weights): 1 one 1×28×28 image; 2 two images, one local step
        each (the update is attacked by unrolling the steps); 3 one 3×32×32 image; 4 sixteen 3×32×32 images in
        one batch. Each cell reports the trial worst for the defender. Writes table.md, results.json, a folder
        per cell with its reconstructions and grid, results.sqlite (every trial, as it finishes) and report.html.

        Examples:
          outpost evaluate examples/evaluate/table3.yml
          outpost evaluate examples/evaluate/table3.yml --set trials=10 --set data.directory=../shared/data
          outpost evaluate examples/evaluate/table3.yml --resume      (after an interruption)
        """)

    @OptionGroup var options: ConfigOptions
    @OptionGroup var resume: ResumeOption
    @OptionGroup var common: CommonOptions

    func run() throws {
        try common.apply()
        try reportingErrors {
            let input = try options.input()
            let evaluation = try LeakageEvaluation.read(input.section(), relativeTo: input.directory)
            let progress = common.quiet ? nil : ProgressPrinter(label: "attack")
            let (cells, report) = try recordingRun(in: evaluation.outputDirectory, kind: "evaluate", configuration: input,
                                                   label: options.label, resume: resume.resume, quiet: common.quiet) { journal in
                try evaluation.run(journal: journal, progress: { line in if !common.quiet { log(line) } }, attackProgress: progress?.callback)
            }
            if common.json { try printJSON(cells); return }
            print(evaluation.table(cells))
            print("written to \(evaluation.outputDirectory)\nreport: \(report)")
        }
    }
}
