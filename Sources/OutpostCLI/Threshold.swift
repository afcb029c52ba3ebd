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

    @OptionGroup var options: ConfigOptions
    @OptionGroup var common: CommonOptions

    func run() throws {
        try common.apply()
        try reportingErrors {
            let input = try options.input()
            let search = try ThresholdSearch.read(input.section(), relativeTo: input.directory)
            let (report, html) = try recordingRun(in: search.outputDirectory, kind: "threshold", configuration: input, label: options.label,
                                                  resume: false, quiet: common.quiet) { journal -> ThresholdSearch.Report in
                let report = try search.run { line in if !common.quiet { log(line) } }
                for s in report.searches {
                    if let t = s.threshold { try journal.store.setValue(t, forKey: "threshold (\(s.parameter))", run: journal.runId, series: s.defense) }
                    try journal.store.setValue("\(s.status)", forKey: "outcome", run: journal.runId, series: s.defense)
                    try journal.store.setValue(Double(s.probes.count), forKey: "probes", run: journal.runId, series: s.defense)
                }
                return report
            }
            if common.json { try printJSON(report); return }
            print(search.table(report))
            print("written to \(search.outputDirectory)\nreport: \(html)")
        }
    }
}
