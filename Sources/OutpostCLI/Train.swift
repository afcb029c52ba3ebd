import ArgumentParser
import Foundation
import OutpostConfig
import OutpostExperiments

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Federated training only, once per defense: accuracy per round and time per round (the OUTPOST paper's Fig. 3).",
        discussion: """
        Writes, per defense, history.csv (accuracy, loss and time per round) and a checkpoint every round;
        fig3.md compares each defense's final accuracy and time per round with no defense; results.sqlite
        holds every round as it finishes and report.html draws the curves. A killed run continues from its
        last checkpoint with --resume.

        Examples:
          outpost train examples/train/fig3.yml
          outpost train examples/train/fig3.yml --set federation.rounds=5 --set data.directory=../shared/data
          outpost train examples/train/fig3.yml --resume
        """)

    @OptionGroup var options: ConfigOptions
    @OptionGroup var resume: ResumeOption
    @OptionGroup var common: CommonOptions

    func run() throws {
        try common.apply()
        try reportingErrors {
            try runFederated(options, kind: "train", attacks: false, resume: resume.resume, common: common)
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A federated run with attacks: FedAvg once per defense, attacking the updates captured at chosen rounds.",
        discussion: """
        The configuration is `outpost train`'s with an `attacks` section: the rounds to capture, the positions
        among each round's sampled clients, what the server knows (threat_model: server_configured, full,
        payload_only, or {known: [...]}) and the attack methods. The attacks see only what the server observed;
        the client's real data is used only to score them. Each series writes its rounds and checkpoints, each
        attack a folder with reconstructions, grid and summary; results.sqlite and report.html cover everything.

        Examples:
          outpost run examples/run/fedavg-attacks.yml
          outpost run examples/run/fedavg-attacks.yml --set attacks.rounds=[1,5] --set data.directory=../shared/data
          outpost run examples/run/fedavg-attacks.yml --resume
        """)

    @OptionGroup var options: ConfigOptions
    @OptionGroup var resume: ResumeOption
    @OptionGroup var common: CommonOptions

    func run() throws {
        try common.apply()
        try reportingErrors {
            try runFederated(options, kind: "run", attacks: true, resume: resume.resume, common: common)
        }
    }
}

/// `outpost train` and `outpost run`: the same federated training, the latter with attacks.
func runFederated(_ options: ConfigOptions, kind: String, attacks: Bool, resume: Bool, common: CommonOptions) throws {
    let input = try options.input()
    let training = try FederatedTraining.read(input.section(), relativeTo: input.directory, attacks: attacks)
    let progress = common.quiet ? nil : ProgressPrinter(label: "attack")
    let (series, report) = try recordingRun(in: training.outputDirectory, kind: kind, configuration: input,
                                            label: options.label, resume: resume, quiet: common.quiet) { journal in
        try training.run(journal: journal, resume: resume, progress: { line in if !common.quiet { log(line) } },
                         attackProgress: progress?.callback)
    }
    if common.json { try printJSON(series); return }
    print(training.table(series))
    print("written to \(training.outputDirectory)\nreport: \(report)")
}
