extension LeakageReport {
    /// A plain-text table of the report, one row per pair and a final row of means, e.g.
    ///
    ///     truth  recon        MSE  PSNR dB    SSIM  SSIM adj.  adjustment
    ///         0      2   0.002326    26.33  0.9310     0.9310  x1.00 +0.00
    ///      mean          0.002326    26.33  0.9310     0.9310
    ///
    /// preceded by a line naming the pairing and followed by the unpaired indices, if any.
    /// PSNR of an exact reconstruction prints as `inf`.
    ///
    /// - Parameter digits: decimals of MSE (PSNR uses 2; SSIM values use `digits`).
    public func formattedTable(digits: Int = 4) -> String {
        let d = max(1, digits)
        let header = ["truth", "recon", "MSE", "PSNR dB", "SSIM", "SSIM adj.", "adjustment"]
        var rows: [[String]] = pairs.map { p in
            ["\(p.truthIndex)", "\(p.reconstructionIndex)", formatFixed(p.mse, digits: d + 2),
             formatFixed(p.psnr, digits: 2), formatFixed(p.ssim, digits: d),
             formatFixed(p.brightnessAdjustedSSIM, digits: d), p.brightnessAdjustment.description]
        }
        rows.append(["mean", "", formatFixed(meanMSE, digits: d + 2), formatFixed(meanPSNR, digits: 2),
                     formatFixed(meanSSIM, digits: d), formatFixed(meanBrightnessAdjustedSSIM, digits: d), ""])
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            let padded = cells.enumerated().map { column, cell -> String in
                let fill = String(repeating: " ", count: widths[column] - cell.count)
                return column == cells.count - 1 ? cell + fill : fill + cell  // last column left-aligned
            }
            var text = padded.joined(separator: "  ")
            while text.hasSuffix(" ") { text.removeLast() }
            return text
        }
        var lines = ["\(pairs.count) pair\(pairs.count == 1 ? "" : "s"), pairing \(pairingDescription), "
                     + "SSIM window \(ssimWindowSize)"]
        lines += all.map(line)
        if !unpairedTruths.isEmpty {
            lines.append("unpaired truths: " + unpairedTruths.map(String.init).joined(separator: ", "))
        }
        if !unpairedReconstructions.isEmpty {
            lines.append("unpaired reconstructions: " + unpairedReconstructions.map(String.init).joined(separator: ", "))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
