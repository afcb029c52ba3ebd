import Foundation
import GRDB

/// Builds a self-contained HTML report from a results database: one file with the style sheet
/// inline, images embedded as base64 PNG `data:` URIs, charts as inline SVG, no scripts and
/// no external resources (a Content-Security-Policy in the page forbids them).
///
/// Per run it shows the run's metadata and configuration, its free-form values, accuracy per
/// round and time per round for each series, a privacy–utility scatter, Table III–style
/// leakage tables (rows scenario × attack, columns defenses) and ground-truth versus
/// reconstruction grids for every attack cell with its trials.
///
///     let store = try ResultsStore(directory: "out")
///     try ReportBuilder(store: store).write(to: "out/report.html")
///
/// The data is read in one read transaction, so a report built while a run writes shows a
/// consistent state of the database.
public struct ReportBuilder: Sendable {
    /// The database the report reads.
    public let store: ResultsStore
    /// The page title.
    public var title: String
    /// The runs to include, in this order; nil for every run, oldest first.
    public var runIDs: [Int64]?
    /// The time written in the page header; the time of building by default.
    public var generatedAt: Date?

    /// Creates a report builder over `store`.
    public init(store: ResultsStore, title: String = "Outpost results", runIDs: [Int64]? = nil) {
        self.store = store
        self.title = title
        self.runIDs = runIDs
    }

    /// The report as one HTML document.
    public func html() throws -> String {
        let runs = try snapshot()
        var body = ""
        if runs.isEmpty {
            body = "<p class=\"empty\">The results database holds no runs yet.</p>"
        } else {
            for run in runs { body += RunSection(data: run).html() }
        }
        let nav = runs.isEmpty ? "" : "<nav class=\"runs\">Runs: " + runs.map { r in
            "<a href=\"#run-\(r.run.id ?? 0)\">#\(r.run.id ?? 0) \(HTML.escape(r.run.label))</a>"
        }.joined() + "</nav>"
        let generated = Format.date(generatedAt ?? Date())
        return """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
        <title>\(HTML.escape(title))</title>
        <style>
        \(HTML.css)
        </style>
        </head>
        <body>
        <header class="page"><h1>\(HTML.escape(title))</h1><p>Generated \(HTML.escape(generated)) from \
        <code>\(HTML.escape((store.path as NSString).lastPathComponent))</code> · \(runs.count) run\(runs.count == 1 ? "" : "s")</p></header>
        \(nav)
        <main>
        \(body)
        </main>
        <footer>Outpost · gradient leakage in federated learning and what defenses cost</footer>
        </body>
        </html>

        """
    }

    /// Writes the report to `path` (parent folders are created).
    public func write(to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(html().utf8).write(to: url, options: .atomic)
    }

    /// Everything the report shows about one run.
    struct RunData {
        var run: RunRecord
        var rounds: [RoundRecord]
        var seriesOrder: [String]
        var cells: [CellRecord]
        var trials: [Int64: [TrialRecord]]
        var logs: [Int64: [Int: TrialLogRecord]]
        var values: [RunValueRecord]
    }

    /// Reads the runs in one read transaction.
    func snapshot() throws -> [RunData] {
        let ids = runIDs
        return try store.pool.read { db in
            var runs = try RunRecord.order(Column("id")).fetchAll(db)
            if let ids {
                let byID = Dictionary(runs.map { ($0.id ?? 0, $0) }, uniquingKeysWith: { a, _ in a })
                runs = ids.compactMap { byID[$0] }
            }
            return try runs.map { run in
                let id = run.id ?? 0
                let series = try String.fetchAll(db, sql: """
                    SELECT series FROM \(RoundRecord.databaseTableName) WHERE runId = ? GROUP BY series ORDER BY MIN(rowid)
                    """, arguments: [id])
                let rounds = try RoundRecord.filter(Column("runId") == id).order(Column("series"), Column("round")).fetchAll(db)
                let cells = try CellRecord.filter(Column("runId") == id).order(Column("id")).fetchAll(db)
                var trials: [Int64: [TrialRecord]] = [:]
                var logs: [Int64: [Int: TrialLogRecord]] = [:]
                for cell in cells {
                    guard let cellID = cell.id else { continue }
                    let list = try TrialRecord.filter(Column("cellId") == cellID).order(Column("trialIndex")).fetchAll(db)
                    trials[cellID] = list
                    var byIndex: [Int: TrialLogRecord] = [:]
                    for t in list {
                        if let tid = t.id, let log = try TrialLogRecord.fetchOne(db, key: tid) { byIndex[t.trialIndex] = log }
                    }
                    logs[cellID] = byIndex
                }
                let values = try RunValueRecord.filter(Column("runId") == id).order(Column("series"), Column("key")).fetchAll(db)
                return RunData(run: run, rounds: rounds, seriesOrder: series, cells: cells, trials: trials, logs: logs, values: values)
            }
        }
    }
}

/// Number and date formatting for the report.
enum Format {
    static func date(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss 'UTC'"
        return f.string(from: d)
    }

    static func duration(_ seconds: Double) -> String {
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        let s = Int(seconds.rounded())
        if s < 3600 { return "\(s / 60) min \(s % 60) s" }
        return "\(s / 3600) h \(s % 3600 / 60) min"
    }

    static func mse(_ v: Double) -> String {
        v != 0 && abs(v) < 1e-3 ? String(format: "%.2e", v) : String(format: "%.4f", v)
    }

    static func fixed(_ v: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", v) }

    static func percent(_ v: Double) -> String { String(format: "%.1f%%", v * 100) }

    /// A percentage without decimals when it is whole (label accuracy: 75%, 100%).
    static func shortPercent(_ v: Double) -> String {
        let p = v * 100
        return abs(p - p.rounded()) < 1e-9 ? String(format: "%.0f%%", p) : String(format: "%.1f%%", p)
    }

    static func psnr(_ v: Double?) -> String { v.map { String(format: "%.2f", $0) } ?? "∞" }

    /// A short MSE for the wide metrics table: three significant digits, `1.9e-4` style below 0.001.
    static func compactMSE(_ v: Double) -> String {
        guard v != 0, abs(v) < 1e-3 else { return String(format: "%.4f", v) }
        let e = Int(log10(abs(v)).rounded(.down))
        return String(format: "%.1f", v / pow(10, Double(e))) + "e\(e)"
    }

    /// A short PSNR for the wide metrics table (one decimal, ∞ for nil).
    static func compactPSNR(_ v: Double?) -> String { v.map { String(format: "%.1f", $0) } ?? "∞" }
}

/// The HTML of one run.
struct RunSection {
    let data: ReportBuilder.RunData
    let colors: [String: String]

    init(data: ReportBuilder.RunData) {
        self.data = data
        colors = Palette.assign(data.seriesOrder + data.cells.map(\.defense))
    }

    func color(_ name: String) -> String { colors[name] ?? Palette.colors[0] }

    func html() -> String {
        let run = data.run
        var s = "<section class=\"run\" id=\"run-\(run.id ?? 0)\">"
        s += "<h2>Run #\(run.id ?? 0) · \(HTML.escape(run.label))<span class=\"status \(run.status.rawValue)\">\(run.status.rawValue)</span></h2>"
        s += meta()
        if !data.values.isEmpty { s += values() }
        s += "<h3>Federated training</h3>" + training()
        s += "<h3>Privacy and utility</h3>" + privacyUtility()
        s += "<h3>Leakage</h3>" + leakageTables()
        s += "<h3>Reconstructions</h3>" + reconstructions()
        return s + "</section>\n"
    }

    // MARK: Metadata

    func meta() -> String {
        let run = data.run
        var s = "<dl class=\"meta\">"
        s += "<dt>Command</dt><dd><code>\(HTML.escape(run.command))</code></dd>"
        s += "<dt>Started</dt><dd>\(Format.date(run.startedAt))</dd>"
        if let end = run.endedAt {
            s += "<dt>Finished</dt><dd>\(Format.date(end)) (\(Format.duration(end.timeIntervalSince(run.startedAt))))</dd>"
        } else {
            s += "<dt>Finished</dt><dd>not finished: still running, or stopped before it could record its end</dd>"
        }
        s += "<dt>Machine</dt><dd>\(HTML.escape(run.machine))</dd>"
        s += "</dl>"
        let config = run.configuration.isEmpty ? "(empty)" : run.configuration
        s += "<details><summary>Configuration (YAML)</summary><pre class=\"config\">\(HTML.escape(config))</pre></details>"
        return s
    }

    func values() -> String {
        var s = "<h3>Results</h3><div class=\"table-wrap\"><table><thead><tr><th class=\"left\">Series</th><th class=\"left\">Key</th><th>Value</th></tr></thead><tbody>"
        for v in data.values {
            let shown: String
            if let n = v.number { shown = Chart.formatSignificant(n) } else if let d = v.doubleValue { shown = Chart.formatSignificant(d) } else { shown = v.text ?? "" }
            s += "<tr><td class=\"left\">\(v.series.isEmpty ? "<span class=\"missing\">run</span>" : HTML.escape(v.series))</td>"
            s += "<td class=\"left\">\(HTML.escape(v.key))</td><td>\(HTML.escape(shown))</td></tr>"
        }
        return s + "</tbody></table></div>"
    }

    // MARK: Federated rounds

    func rounds(of series: String) -> [RoundRecord] { data.rounds.filter { $0.series == series } }

    /// The last evaluated test accuracy of a series.
    func finalAccuracy(_ series: String) -> Double? {
        rounds(of: series).last { $0.testAccuracy != nil }?.testAccuracy
    }

    func training() -> String {
        let noRounds = "this run recorded no federated rounds"
        let accuracy = LineChart(
            title: "Test accuracy per round", xLabel: "round", yLabel: "test accuracy",
            series: data.seriesOrder.map { name in
                .init(name: name, color: color(name),
                      points: rounds(of: name).compactMap { r in r.testAccuracy.map { (Double(r.round), $0) } })
            },
            yFormat: .percent, integerX: true,
            emptyReason: data.rounds.isEmpty ? noRounds : "no round was evaluated on the test set")
        let means: [(training: Double, defense: Double, aggregation: Double)] = data.seriesOrder.map { name in
            let rs = rounds(of: name)
            let n = Double(max(rs.count, 1))
            return (rs.reduce(0) { $0 + $1.trainingSeconds } / n, rs.reduce(0) { $0 + $1.defenseSeconds } / n,
                    rs.reduce(0) { $0 + $1.aggregationSeconds } / n)
        }
        let time = StackedBarChart(
            title: "Mean wall-clock time per round", yLabel: "seconds per round", categories: data.seriesOrder,
            components: [
                .init(name: "training", color: "#4e79a7", values: means.map(\.training)),
                .init(name: "defense", color: "#e15759", values: means.map(\.defense)),
                .init(name: "aggregation", color: "#76b7b2", values: means.map(\.aggregation)),
            ],
            emptyReason: noRounds)
        var s = "<div class=\"charts\">" + accuracy.html() + time.html() + "</div>"
        if !data.seriesOrder.isEmpty {
            s += "<div class=\"table-wrap\"><table><thead><tr><th class=\"left\">Series</th><th>Rounds</th><th>Final accuracy</th><th>Final loss</th>"
            s += "<th>Training / round</th><th>Defense / round</th><th>Aggregation / round</th><th>Total / round</th></tr></thead><tbody>"
            for (name, m) in zip(data.seriesOrder, means) {
                let rs = rounds(of: name)
                let loss = rs.last { $0.testLoss != nil }?.testLoss
                s += "<tr><td class=\"left\">\(HTML.escape(name))</td><td>\(rs.count)</td>"
                s += "<td>\(finalAccuracy(name).map(Format.percent) ?? "—")</td><td>\(loss.map { Format.fixed($0, 4) } ?? "—")</td>"
                s += "<td>\(Chart.formatSeconds(m.training))</td><td>\(Chart.formatSeconds(m.defense))</td>"
                s += "<td>\(Chart.formatSeconds(m.aggregation))</td><td>\(Chart.formatSeconds(m.training + m.defense + m.aggregation))</td></tr>"
            }
            s += "</tbody></table></div>"
        }
        return s
    }

    // MARK: Privacy–utility

    func privacyUtility() -> String {
        var defenses: [String] = []
        for c in data.cells where !defenses.contains(c.defense) { defenses.append(c.defense) }
        let points: [ScatterChart.Point] = defenses.compactMap { d in
            let ssims = data.cells.filter { $0.defense == d }.compactMap { $0.worst?.ssim }
            guard let ssim = ssims.max(), let accuracy = finalAccuracy(d) else { return nil }
            return .init(label: d, color: color(d), x: ssim, y: accuracy)
        }
        let chart = ScatterChart(
            title: "Privacy–utility trade-off (one point per defense)",
            xLabel: "worst-case SSIM", yLabel: "final test accuracy", points: points,
            xFormat: .number, yFormat: .percent, cornerNote: "better: lower SSIM, higher accuracy",
            emptyReason: "needs a final test accuracy for a series and an attack cell with ground-truth metrics under the same defense name")
        guard !points.isEmpty else { return "<div class=\"charts\">" + chart.html() + "</div>" }
        return "<div class=\"charts\">" + chart.html() + "</div>"
            + "<p class=\"caption\">x: the highest SSIM of the worst-for-the-defender trial over the run's attack cells "
            + "with that defense (lower is more private); y: the last evaluated test accuracy of the series of the same name.</p>"
    }

    // MARK: Leakage tables

    /// Distinct values in order of first appearance.
    static func ordered<T: Hashable>(_ values: [T]) -> [T] {
        var seen = Set<T>(), out: [T] = []
        for v in values where seen.insert(v).inserted { out.append(v) }
        return out
    }

    struct RowKey: Hashable {
        var scenario: String
        var attack: String
    }

    func leakageTables() -> String {
        guard !data.cells.isEmpty else { return "<p class=\"no-data\">No data: this run recorded no attack cells.</p>" }
        var s = metricsTable(caption: "Worst case for the defender: the trial whose reconstruction is closest to the ground truth (best SSIM).",
                             metrics: { $0.worst })
        if data.cells.contains(where: { $0.attackerPick != nil }) {
            s += "<details><summary>The attacker's pick (the trial with the lowest matching loss, chosen without ground truth)</summary>"
            s += metricsTable(caption: "Metrics of the trial the attacker would pick.", metrics: { $0.attackerPick }) + "</details>"
        }
        return s
    }

    func metricsTable(caption: String, metrics: (CellRecord) -> LeakageMetrics?) -> String {
        let rows = Self.ordered(data.cells.map { RowKey(scenario: $0.scenario, attack: $0.attack) })
        let defenses = Self.ordered(data.cells.map(\.defense))
        var byKey: [CellKey: CellRecord] = [:]
        for c in data.cells { byKey[c.key] = c }
        let headers: [(label: String, help: String)] = [
            ("MSE ↑", "mean squared error: higher is better for the defender"),
            ("LPIPS ↑", "perceptual distance: higher is better for the defender"),
            ("SSIM ↓", "structural similarity: lower is better for the defender"),
            ("PSNR ↓", "peak signal-to-noise ratio in dB: lower is better for the defender"),
        ]
        var s = "<div class=\"table-wrap\"><table class=\"metrics\"><thead><tr><th class=\"left\" rowspan=\"2\">Scenario</th><th class=\"left\" rowspan=\"2\">Attack</th>"
        // Rows grouped by scenario (the scenario cell spans its attacks).
        let scenarios = Self.ordered(rows.map(\.scenario))
        let grouped = scenarios.flatMap { sc in rows.filter { $0.scenario == sc } }
        for d in defenses { s += "<th class=\"group first\" colspan=\"4\">\(HTML.escape(d))</th>" }
        s += "</tr><tr>"
        for _ in defenses {
            for (i, h) in headers.enumerated() {
                s += "<th\(i == 0 ? " class=\"first\"" : "") title=\"\(HTML.escape(h.help))\">\(HTML.escape(h.label))</th>"
            }
        }
        s += "</tr></thead><tbody>"
        for (n, row) in grouped.enumerated() {
            let ms: [LeakageMetrics?] = defenses.map { d in
                byKey[CellKey(scenario: row.scenario, attack: row.attack, defense: d)].flatMap(metrics)
            }
            let present = ms.compactMap { $0 }
            // The best value for the defender in the row, bold when at least two defenses compare.
            let compare = present.count >= 2
            let bestMSE = present.map(\.mse).max()
            let lpipsValues = present.compactMap(\.lpips)
            let bestLPIPS = lpipsValues.count >= 2 ? lpipsValues.max() : nil
            let bestSSIM = present.map(\.ssim).min()
            let bestPSNR = present.map { $0.psnr ?? .infinity }.min()
            s += "<tr>"
            if n == 0 || grouped[n - 1].scenario != row.scenario {
                let span = grouped.filter { $0.scenario == row.scenario }.count
                s += "<td class=\"left scenario\" rowspan=\"\(span)\">\(HTML.escape(row.scenario))</td>"
            }
            s += "<td class=\"left\">\(HTML.escape(row.attack))</td>"
            for m in ms {
                guard let m else {
                    s += "<td class=\"first na na-cell\" colspan=\"4\" title=\"no summary with ground truth for this cell\">—</td>"
                    continue
                }
                func cell(_ text: String, best: Bool, first: Bool = false, title: String? = nil) -> String {
                    var classes: [String] = []
                    if first { classes.append("first") }
                    if best && compare { classes.append("best") }
                    let cls = classes.isEmpty ? "" : " class=\"\(classes.joined(separator: " "))\""
                    return "<td\(cls)\(title.map { " title=\"\(HTML.escape($0))\"" } ?? "")>\(HTML.escape(text))</td>"
                }
                s += cell(Format.compactMSE(m.mse), best: m.mse == bestMSE, first: true, title: "MSE \(m.mse)")
                if let l = m.lpips {
                    s += cell(Format.fixed(l, 3), best: l == bestLPIPS)
                } else {
                    s += "<td class=\"na\" title=\"LPIPS unavailable\">n/a</td>"
                }
                s += cell(Format.fixed(m.ssim, 3), best: m.ssim == bestSSIM)
                s += cell(Format.compactPSNR(m.psnr), best: (m.psnr ?? .infinity) == bestPSNR,
                          title: m.psnr == nil ? "exact reconstruction (infinite PSNR)" : nil)
            }
            s += "</tr>"
        }
        s += "</tbody></table></div><p class=\"caption\">\(HTML.escape(caption)) ↑: higher is better for the defender; "
        s += "↓: lower is better for the defender. The best value for the defender in each row is bold.</p>"
        return s
    }

    // MARK: Reconstructions

    static func image(_ png: Data?, targetHeight: Int, cssClass: String, alt: String) -> String {
        guard let png, let size = ResultsImage.pngSize(png) else { return "<span class=\"missing\">no image recorded</span>" }
        let scale = max(1, Int((Double(targetHeight) / Double(max(size.height, 1))).rounded()))
        return "<img class=\"\(cssClass)\" src=\"\(ResultsImage.dataURI(png: png))\" width=\"\(size.width * scale)\" "
            + "height=\"\(size.height * scale)\" alt=\"\(HTML.escape(alt))\">"
    }

    /// Metrics in two short lines (escaped HTML, joined by a line break).
    static func metricsLines(_ m: LeakageMetrics?) -> String {
        guard let m else { return "no ground truth" }
        let first = ["SSIM \(Format.fixed(m.ssim, 3))", "MSE \(Format.mse(m.mse))"]
        var second = ["PSNR \(Format.psnr(m.psnr)) dB"]
        if let l = m.lpips { second.append("LPIPS \(Format.fixed(l, 3))") }
        if let a = m.labelAccuracy { second.append("labels \(Format.shortPercent(a))") }
        return HTML.escape(first.joined(separator: " · ")) + "<br>" + HTML.escape(second.joined(separator: " · "))
    }

    func reconstructions() -> String {
        guard !data.cells.isEmpty else { return "<p class=\"no-data\">No data: this run recorded no attack cells.</p>" }
        var s = ""
        let groups = Self.ordered(data.cells.map { RowKey(scenario: $0.scenario, attack: $0.attack) })
        for group in groups {
            let cells = data.cells.filter { $0.scenario == group.scenario && $0.attack == group.attack }
            s += "<div class=\"recon-group\"><h4>\(HTML.escape(group.scenario)) · \(HTML.escape(group.attack))</h4><div class=\"recon-layout\"><div class=\"table-wrap\"><table class=\"recon\"><tbody>"
            var shownTruth: Data?
            var lossSeries: [LineChart.Series] = []
            for cell in cells {
                if let truth = cell.groundTruthPNG, truth != shownTruth {
                    let owner = cells.count > 1 && shownTruth != nil ? "<span class=\"role\">for \(HTML.escape(cell.defense))</span>" : ""
                    s += "<tr><td class=\"row-label\"><b>ground truth</b>\(owner)</td>"
                    s += "<td class=\"left\">\(Self.image(truth, targetHeight: 84, cssClass: "pixels", alt: "ground truth"))</td></tr>"
                    shownTruth = truth
                }
                let trials = data.trials[cell.id ?? -1] ?? []
                let (shown, role) = Self.representative(cell, trials)
                var label = "<b>\(HTML.escape(cell.defense))</b>"
                if let shown {
                    label += "<span class=\"role\">\(HTML.escape(role)) · trial \(shown.trialIndex)</span>"
                } else {
                    label += "<span class=\"role\">no trials recorded</span>"
                }
                label += "<span class=\"row-metrics\">\(Self.metricsLines(cell.worst ?? shown?.metrics))</span>"
                s += "<tr><td class=\"row-label\">\(label)</td><td class=\"left\">"
                s += shown.map { Self.image($0.reconstructionPNG, targetHeight: 84, cssClass: "pixels",
                                            alt: "reconstruction under \(cell.defense), trial \($0.trialIndex)") }
                    ?? "<span class=\"missing\">no reconstruction recorded</span>"
                s += "</td></tr>"
                let pick = cell.attackerPickTrial ?? cell.worstTrial ?? shown?.trialIndex
                if let pick, let log = data.logs[cell.id ?? -1]?[pick] {
                    lossSeries.append(.init(name: cell.defense, color: color(cell.defense),
                                            points: zip(log.iterations, log.losses).compactMap { i, l in l.map { (Double(i), $0) } }))
                }
            }
            s += "</tbody></table></div>"
            s += LineChart(title: "Matching loss of the attacker's pick", xLabel: "iteration", yLabel: "gradient-matching loss",
                           series: lossSeries, integerX: true, logY: true,
                           emptyReason: "no loss log was recorded for these cells").html()
            s += "</div>"
            for cell in cells { s += cellDetails(cell) }
            s += "</div>"
        }
        return s
    }

    /// The trial shown for a cell and why: the worst for the defender, else the attacker's
    /// pick, else (a cell without summary yet) the trial with the best SSIM or the latest trial.
    static func representative(_ cell: CellRecord, _ trials: [TrialRecord]) -> (TrialRecord?, String) {
        if let t = trials.first(where: { $0.trialIndex == cell.worstTrial }) { return (t, "worst for defender") }
        if let t = trials.first(where: { $0.trialIndex == cell.attackerPickTrial }) { return (t, "attacker's pick") }
        if let t = trials.filter({ $0.metrics != nil }).max(by: { $0.metrics!.ssim < $1.metrics!.ssim }) {
            return (t, "best SSIM so far (no summary yet)")
        }
        if let t = trials.last { return (t, "latest (no summary yet)") }
        return (nil, "")
    }

    func cellDetails(_ cell: CellRecord) -> String {
        let trials = data.trials[cell.id ?? -1] ?? []
        let logs = data.logs[cell.id ?? -1] ?? [:]
        var summary = "\(cell.defense): \(trials.count) trial\(trials.count == 1 ? "" : "s")"
        if cell.divergedTrials > 0 { summary += ", \(cell.divergedTrials) diverged" }
        if let pick = cell.attackerPickTrial { summary += "; attacker's pick: trial \(pick)" }
        if let worst = cell.worstTrial { summary += "; worst for defender: trial \(worst)" }
        if let inferred = cell.inferredLabels { summary += "; inferred labels \(inferred.map(String.init).joined(separator: " "))" }
        var s = "<details class=\"cell-details\"><summary>\(HTML.escape(summary))</summary><div class=\"inner\">"
        guard !trials.isEmpty else { return s + "<p class=\"no-data\">No data: no trial of this cell was recorded.</p></div></details>" }
        s += "<div class=\"table-wrap\"><table><thead><tr><th>Trial</th><th>Final loss</th><th>Diverged</th><th>Iterations</th><th>Time</th>"
        s += "<th class=\"left\">Labels</th><th>MSE</th><th>PSNR</th><th>SSIM</th><th>LPIPS</th><th>Label acc.</th><th class=\"left\">Reconstruction</th></tr></thead><tbody>"
        for t in trials {
            let m = t.metrics
            s += "<tr><td>\(t.trialIndex)</td><td>\(t.finalLoss.map(Chart.formatSignificant) ?? "—")</td><td>\(t.diverged ? "yes" : "no")</td>"
            s += "<td>\(t.iterations)</td><td>\(Chart.formatSeconds(t.seconds))</td>"
            s += "<td class=\"left\">\(HTML.escape(t.labels.map(String.init).joined(separator: " ")))</td>"
            s += "<td>\(m.map { Format.mse($0.mse) } ?? "—")</td><td>\(m.map { Format.psnr($0.psnr) } ?? "—")</td>"
            s += "<td>\(m.map { Format.fixed($0.ssim, 3) } ?? "—")</td><td>\(m?.lpips.map { Format.fixed($0, 3) } ?? "—")</td>"
            s += "<td>\(m?.labelAccuracy.map(Format.percent) ?? "—")</td>"
            s += "<td class=\"left\">\(Self.image(t.reconstructionPNG, targetHeight: 40, cssClass: "thumb", alt: "trial \(t.trialIndex)"))</td></tr>"
        }
        s += "</tbody></table></div>"
        let series = trials.map { t in
            LineChart.Series(name: "trial \(t.trialIndex)", color: Palette.colors[t.trialIndex % Palette.colors.count],
                             points: logs[t.trialIndex].map { log in
                                 zip(log.iterations, log.losses).compactMap { i, l in l.map { (Double(i), $0) } }
                             } ?? [])
        }
        s += "<div class=\"charts\">" + LineChart(title: "Matching loss per trial", xLabel: "iteration", yLabel: "gradient-matching loss",
                                                   series: series, integerX: true, logY: true,
                                                   emptyReason: "no loss log was recorded for these trials").html() + "</div>"
        return s + "</div></details>"
    }
}
