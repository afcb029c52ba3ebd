import ArgumentParser
import Foundation
import OutpostAttacks
import OutpostConfig
import OutpostData
import OutpostExperiments
import OutpostMetrics
import OutpostTensor

/// Progress on the terminal: a rewritten line on a TTY, a line every 10% otherwise.
final class ProgressPrinter: @unchecked Sendable {
    let label: String
    let tty = isatty(STDERR_FILENO) != 0
    let start = Date()
    var lastDecile = -1

    init(label: String) { self.label = label }

    var callback: (AttackProgress) -> Void {
        { [self] p in
            let fraction = Double(p.iteration) / Double(max(p.iterations, 1))
            let elapsed = Date().timeIntervalSince(start)
            let eta = fraction > 0 ? elapsed / fraction * (1 - fraction) : 0
            let etaText = fraction >= 0.02 ? String(format: "  ETA %.0fs", eta) : ""
            let text = String(format: "%@ trial %d/%d  %3.0f%%  loss %.3e%@", label, p.trial + 1, p.trials, fraction * 100, p.loss, etaText)
            if tty {
                FileHandle.standardError.write(Data("\r\(text)\u{1B}[K".utf8))
                if p.iteration == p.iterations { FileHandle.standardError.write(Data("\n".utf8)) }
            } else if Int(fraction * 10) > lastDecile {
                lastDecile = Int(fraction * 10)
                FileHandle.standardError.write(Data("\(text)\n".utf8))
            }
            if p.iteration == p.iterations { lastDecile = -1 }
        }
    }
}
