import Foundation
import OutpostData
import OutpostResults
import XCTest

/// A fresh temporary folder, removed at the end of the test.
func temporaryDirectory(_ test: XCTestCase, _ name: String = #function) throws -> String {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("outpost-results-\(safe)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// A deterministic generator (SplitMix64) for synthetic records.
struct Rng {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    /// Standard normal (Box–Muller).
    mutating func normal() -> Double {
        let u = max(uniform(), 1e-12), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}

/// Synthetic but realistic attack results built from real images: reconstructions are the
/// ground truth degraded by noise and blur whose strength depends on the defense, and the
/// metrics are computed from the pixels.
enum Synthetic {
    /// Real images from the package's samples.
    static func images(_ dataset: String, indices: [Int]) throws -> [PixelImage] {
        let data = try SampleData.load(dataset)
        let (c, h, w) = (data.channels, data.height, data.width)
        let size = c * h * w
        return try indices.map { i in
            try PixelImage(width: w, height: h, channels: c, pixels: Array(data.images[i * size..<(i + 1) * size]))
        }
    }

    /// `image` degraded: a box blur of radius `blur`, then a blend towards Gaussian noise.
    static func degrade(_ image: PixelImage, noise: Double, blur: Int, rng: inout Rng) throws -> PixelImage {
        let (w, h, c) = (image.width, image.height, image.channels)
        var out = [Float](repeating: 0, count: image.pixels.count)
        for ch in 0..<c {
            for y in 0..<h {
                for x in 0..<w {
                    var sum: Float = 0, n: Float = 0
                    for dy in -blur...blur {
                        for dx in -blur...blur {
                            let yy = y + dy, xx = x + dx
                            guard yy >= 0, yy < h, xx >= 0, xx < w else { continue }
                            sum += image.pixels[ch * w * h + yy * w + xx]
                            n += 1
                        }
                    }
                    let clean = Double(sum / n)
                    let v = (1 - noise) * clean + noise * (0.5 + 0.25 * rng.normal())
                    out[ch * w * h + y * w + x] = Float(min(max(v, 0), 1))
                }
            }
        }
        return try PixelImage(width: w, height: h, channels: c, pixels: out)
    }

    /// Mean MSE, PSNR (nil when infinite) and global SSIM over image pairs.
    static func metrics(_ truth: [PixelImage], _ recon: [PixelImage], lpips: Double?, labelAccuracy: Double?) -> LeakageMetrics {
        var mse = 0.0, ssim = 0.0
        for (a, b) in zip(truth, recon) {
            let n = Double(a.pixels.count)
            var e = 0.0, ma = 0.0, mb = 0.0
            for (p, q) in zip(a.pixels, b.pixels) {
                e += Double(p - q) * Double(p - q)
                ma += Double(p)
                mb += Double(q)
            }
            ma /= n
            mb /= n
            var va = 0.0, vb = 0.0, cov = 0.0
            for (p, q) in zip(a.pixels, b.pixels) {
                va += (Double(p) - ma) * (Double(p) - ma)
                vb += (Double(q) - mb) * (Double(q) - mb)
                cov += (Double(p) - ma) * (Double(q) - mb)
            }
            va /= n - 1
            vb /= n - 1
            cov /= n - 1
            let c1 = 0.0001, c2 = 0.0009
            ssim += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
            mse += e / n
        }
        mse /= Double(truth.count)
        ssim /= Double(truth.count)
        return LeakageMetrics(mse: mse, psnr: mse > 0 ? 10 * log10(1 / mse) : nil, ssim: ssim, lpips: lpips, labelAccuracy: labelAccuracy)
    }

    /// A gradient-matching loss history: exponential decay from `start` to about `end`, with
    /// noise; NaN from `divergeAt` on.
    static func history(iterations: Int, start: Double, end: Double, divergeAt: Int? = nil, rng: inout Rng) -> [(iteration: Int, loss: Double)] {
        (0..<iterations).map { i in
            if let d = divergeAt, i >= d { return (i, .nan) }
            let t = Double(i) / Double(max(iterations - 1, 1))
            let loss = start * pow(end / start, t) * exp(0.15 * rng.normal())
            return (i, loss)
        }
    }

    struct Defense {
        var name: String
        var noise: Double
        var blur: Int
        var defenseSeconds: Double
        var accuracyCap: Double
    }

    static let defenses = [
        Defense(name: "none", noise: 0.04, blur: 0, defenseSeconds: 0, accuracyCap: 0.86),
        Defense(name: "dp σ=0.01", noise: 0.35, blur: 1, defenseSeconds: 0.06, accuracyCap: 0.79),
        Defense(name: "pruning 70%", noise: 0.22, blur: 1, defenseSeconds: 0.11, accuracyCap: 0.83),
        Defense(name: "outpost", noise: 0.62, blur: 2, defenseSeconds: 0.08, accuracyCap: 0.84),
    ]

    /// Records a full run: federated rounds for every defense, attack cells for two attacks,
    /// four trials each with loss logs, and a few free-form values.
    @discardableResult
    static func recordFullRun(into store: ResultsStore, label: String = "CIFAR-like photos, LeNet, 4 defenses",
                              rounds: Int = 30, trials: Int = 4) throws -> RunRecord {
        var rng = Rng(state: 42)
        let yaml = """
        # outpost experiment
        data: {name: photos32, clients: 10, partition: dirichlet, alpha: 0.5}
        model: lenet
        federated: {rounds: \(rounds), local_epochs: 1, lr: 0.05}
        attack: {names: [dlg, inverting-gradients], restarts: \(trials), iterations: 1000}
        defenses: [none, {dp: {sigma: 0.01}}, {pruning: 0.7}, outpost]
        """
        let run = try store.beginRun(command: "outpost run experiment.yaml", configuration: yaml, label: label,
                                     machine: "bench-2 · Linux 6.1.0 · 2 CPUs · 24 GiB",
                                     startedAt: Date(timeIntervalSince1970: 1_790_000_000))
        let runId = run.id!
        for d in defenses {
            for r in 1...rounds {
                let acc = d.accuracyCap * (1 - exp(-Double(r) / 7)) + 0.01 * rng.normal()
                try store.recordRound(RoundRecord(
                    runId: runId, series: d.name, round: r, testAccuracy: acc,
                    testLoss: 2.3 * exp(-Double(r) / 9) + 0.35 + 2 * (0.86 - d.accuracyCap) + 0.02 * rng.uniform(), trainingSeconds: 0.8 + 0.05 * rng.uniform(),
                    defenseSeconds: d.defenseSeconds * (1 + 0.1 * rng.uniform()), aggregationSeconds: 0.02 + 0.005 * rng.uniform()))
            }
        }
        try store.setValue(1.83, forKey: "epsilon", run: runId, series: "dp σ=0.01")
        try store.setValue(1e-5, forKey: "delta", run: runId, series: "dp σ=0.01")
        try store.setValue(0.7, forKey: "pruning threshold (bisection)", run: runId, series: "pruning 70%")
        try store.setValue("FedAvg, 10 clients, batch 4", forKey: "setting", run: runId)

        let truth = try images("photos32", indices: [2, 13, 24, 45])
        let truthPNG = try ResultsImage.pngRow(truth)
        for (attackIndex, attack) in ["DLG", "Inverting Gradients"].enumerated() {
            for (defenseIndex, d) in defenses.enumerated() {
                let key = CellKey(scenario: "FedSGD · batch 4 · photos32", attack: attack, defense: d.name)
                let cell = try store.recordCell(CellRecord(runId: runId, key: key, groundTruthPNG: truthPNG))
                var results: [(index: Int, loss: Double?, metrics: LeakageMetrics)] = []
                for t in 0..<trials {
                    // Trials differ in quality; which one is best varies from cell to cell.
                    let rank = (t + defenseIndex + 2 * attackIndex) % trials
                    let strength = min(d.noise * (1 + 0.35 * Double(rank)) * (attackIndex == 0 ? 1 : 0.8), 0.95)
                    let recon = try truth.map { try degrade($0, noise: strength, blur: d.blur, rng: &rng) }
                    let lpips: Double? = attackIndex == 0 ? min(0.05 + 0.9 * strength, 0.95) : nil
                    let m = metrics(truth, recon, lpips: lpips, labelAccuracy: d.name == "outpost" ? 0.75 : 1)
                    let diverged = d.name == "dp σ=0.01" && t == trials - 1
                    let log = history(iterations: 1000, start: 40, end: 40 * pow(10, -1 - 3 * (1 - strength)),
                                      divergeAt: diverged ? 640 : nil, rng: &rng)
                    let final = log.last!.loss
                    try store.recordTrial(
                        TrialRecord(cellId: cell.id!, trialIndex: t, finalLoss: final, diverged: diverged, iterations: 1000,
                                    seconds: 11.5 + rng.uniform(), labels: [0, 1, 2, 4], metrics: m,
                                    reconstructionPNG: try ResultsImage.pngRow(recon)),
                        log: TrialLogRecord.summarizing(history: log))
                    results.append((t, final.isFinite ? final : nil, m))
                }
                let worst = results.max { $0.metrics.ssim < $1.metrics.ssim }!
                let pick = results.filter { $0.loss != nil }.min { $0.loss! < $1.loss! }!
                try store.recordCell(CellRecord(
                    runId: runId, key: key, trialCount: trials, divergedTrials: d.name == "dp σ=0.01" ? 1 : 0,
                    worstTrial: worst.index, worst: worst.metrics, attackerPickTrial: pick.index, attackerPick: pick.metrics,
                    inferredLabels: attackIndex == 0 ? [0, 1, 2, 4] : nil))
            }
        }
        try store.finishRun(runId, status: .done, endedAt: Date(timeIntervalSince1970: 1_790_000_000 + 4 * 3600 + 17 * 60))
        return try store.run(runId)!
    }
}
