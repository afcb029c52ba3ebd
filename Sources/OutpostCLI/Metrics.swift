import ArgumentParser
import Foundation
import OutpostAttacks
import OutpostConfig
import OutpostData
import OutpostExperiments
import OutpostMetrics
import OutpostTensor

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
