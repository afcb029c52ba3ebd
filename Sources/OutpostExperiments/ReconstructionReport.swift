import Foundation
import OutpostAttacks
import OutpostData
import OutpostMetrics
import OutpostSafetensors
import OutpostTensor

/// Metrics of one trial against the ground truth (Hungarian pairing by MSE).
public struct TrialMetrics: Codable, Sendable, Equatable {
    public let mse: Double
    /// PSNR in dB; nil when infinite (an exact reconstruction).
    public let psnr: Double?
    public let ssim: Double
    public let brightnessAdjustedSSIM: Double
    /// Reconstruction index paired with each ground-truth image.
    public let pairing: [Int]
}

/// One trial in the summary.
public struct TrialSummary: Codable, Sendable {
    public let index: Int
    public let finalLoss: Double?
    public let diverged: Bool
    public let iterations: Int
    public let seconds: Double
    public let labels: [Int]
    public let metrics: TrialMetrics?
}

/// What an attack run wrote, for the terminal, JSON output and reports.
public struct AuditSummary: Codable, Sendable {
    public let attack: String
    public let outputDirectory: String
    public let trials: [TrialSummary]
    /// The trial with the lowest matching loss (what an attacker picks without ground truth).
    public let attackerChoice: Int?
    /// The trial with the best SSIM against the ground truth: the worst case for the
    /// defender, which the OUTPOST paper reports. Nil without ground truth.
    public let worstForDefender: Int?
    public let divergedTrials: Int
    public let inferredLabels: [Int]?
    public let files: [String]
}

enum ReconstructionReport {
    /// Writes reconstructions.safetensors, grid.png, history.csv and summary.json.
    static func write(_ outcome: AttackOutcome, truth: Tensor?, to directory: String) throws -> AuditSummary {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let metrics = try outcome.trials.map { trial in try truth.map { try score(trial.pixels, against: $0) } }
        let choice = outcome.attackerChoice?.index
        let worst = truth == nil ? nil : zip(outcome.trials, metrics).max { ($0.1?.ssim ?? -1) < ($1.1?.ssim ?? -1) }?.0.index

        var builder = SafetensorsBuilder(metadata: ["attack": outcome.attack, "pixels": "N×C×H×W in [0, 1]"])
        if let c = outcome.trials.first(where: { $0.index == choice }) ?? outcome.trials.first {
            try builder.add("reconstructions", shape: c.pixels.shape, floats: c.pixels.scalars)
        }
        for t in outcome.trials { try builder.add("trial_\(t.index)", shape: t.pixels.shape, floats: t.pixels.scalars) }
        let tensorsPath = (directory as NSString).appendingPathComponent("reconstructions.safetensors")
        try builder.write(to: URL(fileURLWithPath: tensorsPath))

        var csv = "trial,iteration,loss\n"
        for t in outcome.trials { for h in t.history { csv += "\(t.index),\(h.iteration),\(h.loss)\n" } }
        let historyPath = (directory as NSString).appendingPathComponent("history.csv")
        try csv.write(toFile: historyPath, atomically: true, encoding: .utf8)

        let gridPath = (directory as NSString).appendingPathComponent("grid.png")
        try grid(outcome, truth: truth, choice: choice, worst: worst).writePNG(to: gridPath)

        let summary = AuditSummary(
            attack: outcome.attack, outputDirectory: directory,
            trials: zip(outcome.trials, metrics).map { t, m in
                TrialSummary(index: t.index, finalLoss: t.finalLoss.isFinite ? t.finalLoss : nil, diverged: t.diverged,
                             iterations: t.iterations, seconds: t.seconds, labels: t.labels, metrics: m)
            },
            attackerChoice: choice, worstForDefender: worst, divergedTrials: outcome.divergedCount,
            inferredLabels: outcome.inferredLabels, files: [tensorsPath, gridPath, historyPath])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let summaryPath = (directory as NSString).appendingPathComponent("summary.json")
        try encoder.encode(summary).write(to: URL(fileURLWithPath: summaryPath))
        return summary
    }

    static func images(_ t: Tensor) throws -> [Image] {
        try (0..<t.shape[0]).map { try Image(channels: t.shape[1], height: t.shape[2], width: t.shape[3], pixels: t[$0].doubles, outOfRange: .clamp) }
    }

    static func score(_ reconstruction: Tensor, against truth: Tensor) throws -> TrialMetrics {
        let report = try LeakageReport(truths: images(truth), reconstructions: images(reconstruction), pairing: .optimal(.mse))
        return TrialMetrics(mse: report.meanMSE, psnr: report.meanPSNR.isFinite ? report.meanPSNR : nil, ssim: report.meanSSIM,
                            brightnessAdjustedSSIM: report.meanBrightnessAdjustedSSIM,
                            pairing: report.pairs.sorted { $0.truthIndex < $1.truthIndex }.map(\.reconstructionIndex))
    }

    static func pixelImages(_ t: Tensor) throws -> [PixelImage] {
        try (0..<t.shape[0]).map { try PixelImage(width: t.shape[3], height: t.shape[2], channels: t.shape[1], pixels: t[$0].scalars) }
    }

    static func grid(_ outcome: AttackOutcome, truth: Tensor?, choice: Int?, worst: Int?) throws -> ImageGrid {
        let size = outcome.trials.first?.pixels.shape[2] ?? 32
        var g = ImageGrid(scale: max(1, 96 / max(size, 1)), margin: 4)
        if let truth { g.addRow(try pixelImages(truth), title: "ground truth") }
        if let c = outcome.trials.first(where: { $0.index == choice }) {
            g.addRow(try pixelImages(c.pixels), labels: c.labels.map { "label \($0)" }, title: "attacker's pick (trial \(c.index))")
        }
        if let w = worst, w != choice, let t = outcome.trials.first(where: { $0.index == w }) {
            g.addRow(try pixelImages(t.pixels), title: "best by ground truth (trial \(t.index))")
        }
        if choice == nil, let first = outcome.trials.first {
            g.addRow(try pixelImages(first.pixels), title: "all trials diverged: last finite iterate")
        }
        return g
    }
}
