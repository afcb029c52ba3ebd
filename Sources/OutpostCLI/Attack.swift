import ArgumentParser
import Foundation
import OutpostConfig
import OutpostExperiments

struct Attack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attack one captured gradient or model update.",
        discussion: """
        The configuration names the model (architecture and a safetensors state_dict), the captured
        tensors (safetensors with the model's parameter names, as PyTorch's named_parameters()), what
        the server is assumed to know, and the attack. Outputs: reconstructions.safetensors (pixels in
        [0, 1], N×C×H×W), grid.png, history.csv and summary.json in the output directory, plus
        results.sqlite (every trial as it finishes) and report.html.

        Examples:
          outpost attack audit.yml
          outpost attack audit.yml --set attack.name=dlg --set attack.trials=10
          outpost attack audit.yml --set attack.iterations=[100,300]   (a list runs a grid)
          outpost attack audit.yml --resume                            (after an interruption)
        """)

    @OptionGroup var options: ConfigOptions
    @OptionGroup var resume: ResumeOption
    @OptionGroup var common: CommonOptions

    func run() throws {
        try common.apply()
        try reportingErrors {
            let input = try options.input(seedKey: ["attack", "seed"])
            let points = try ConfigGrid.expand(input.document) { try CapturedUpdateAudit.read($0, relativeTo: input.directory) }
            guard let base = points.first?.configuration.outputDirectory else { return }
            let progress = common.quiet ? nil : ProgressPrinter(label: "attack")
            let (summaries, report) = try recordingRun(in: base, kind: "attack", configuration: input, label: options.label,
                                                       resume: resume.resume, quiet: common.quiet) { journal -> [AuditSummary] in
                try points.enumerated().map { i, point in
                    var audit = point.configuration
                    if points.count > 1 {
                        audit.outputDirectory = (base as NSString).appendingPathComponent("point-\(i)")
                        if !common.quiet { log("[\(i + 1)/\(points.count)] \(point.label)") }
                    }
                    return try audit.run(journal: journal, scenario: points.count > 1 ? point.label : nil, progress: progress?.callback)
                }
            }
            if common.json { try printJSON(summaries.count == 1 ? AnyEncodable(summaries[0]) : AnyEncodable(summaries)); return }
            for s in summaries { print(describe(s)) }
            print("report: \(report)")
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
