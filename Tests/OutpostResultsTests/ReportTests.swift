import Foundation
import OutpostData
@testable import OutpostResults
import XCTest

final class ReportTests: XCTestCase {
    /// The `<svg class="chart">...</svg>` elements of a page.
    func charts(_ html: String) -> [String] {
        html.components(separatedBy: "<svg class=\"chart\"").dropFirst().map { $0.components(separatedBy: "</svg>")[0] }
    }

    /// The data URIs of a page's images, decoded.
    func embeddedImages(_ html: String) throws -> [PixelImage] {
        try html.components(separatedBy: "src=\"data:image/png;base64,").dropFirst().map { chunk in
            let base64 = String(chunk.prefix { $0 != "\"" })
            return try ImageCodec.decode([UInt8](try XCTUnwrap(Data(base64Encoded: base64))))
        }
    }

    func testFullReportHasTablesChartsAndImages() throws {
        let dir = try temporaryDirectory(self)
        let store = try ResultsStore(directory: dir)
        try Synthetic.recordFullRun(into: store, rounds: 12, trials: 3)
        let html = try ReportBuilder(store: store).html()

        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(html.hasSuffix("</html>\n"))
        // Self-contained: no scripts, no external resources.
        XCTAssertFalse(html.lowercased().contains("<script"))
        XCTAssertFalse(html.contains("src=\"http"), "no external images")
        XCTAssertFalse(html.contains("<link"), "no external style sheets")
        XCTAssertEqual(html.components(separatedBy: "://").count - 1,
                       html.components(separatedBy: "xmlns=\"http://www.w3.org/2000/svg\"").count - 1,
                       "the only URLs are SVG namespace declarations")

        // Table III: rows scenario × attack, columns defenses, metric arrows, best in bold.
        XCTAssertTrue(html.contains("<table class=\"metrics\">"))
        for d in Synthetic.defenses { XCTAssertTrue(html.contains("<th class=\"group first\" colspan=\"4\">\(HTML.escape(d.name))</th>")) }
        for h in ["MSE ↑", "LPIPS ↑", "SSIM ↓", "PSNR ↓"] { XCTAssertTrue(html.contains(">\(h)</th>"), h) }
        XCTAssertTrue(html.contains("<tr><td class=\"left scenario\" rowspan=\"2\">FedSGD · batch 4 · photos32</td><td class=\"left\">DLG</td>"))
        XCTAssertTrue(html.contains("<tr><td class=\"left\">Inverting Gradients</td>"), "the scenario cell spans both attacks")
        XCTAssertTrue(html.contains("title=\"LPIPS unavailable\">n/a</td>"), "Inverting Gradients cells have no LPIPS")
        let cells = try store.cells(run: 1)
        let lowestSSIM = try XCTUnwrap(cells.filter { $0.attack == "DLG" }.compactMap { $0.worst?.ssim }.min())
        XCTAssertTrue(html.contains("<td class=\"best\">\(Format.fixed(lowestSSIM, 3))</td>"), "the lowest SSIM in the row is bold")

        // Charts: accuracy, time, scatter, one loss chart per (scenario, attack), one per cell.
        let svgs = charts(html)
        XCTAssertEqual(svgs.count, 3 + 2 + cells.count)
        for svg in svgs { XCTAssertTrue(svg.contains("class=\"mark"), "every chart has data marks") }
        let accuracy = svgs[0]
        XCTAssertEqual(accuracy.components(separatedBy: "class=\"mark line\"").count - 1, 4, "one line per series")
        XCTAssertTrue(accuracy.contains(">20%<") || accuracy.contains(">40%<"), "percent ticks")
        XCTAssertTrue(accuracy.contains(">pruning 70%</text>"), "legend")
        let time = svgs[1]
        XCTAssertEqual(time.components(separatedBy: "class=\"mark bar\"").count - 1, 4 * 3, "stacked bars: 4 series × 3 parts")
        let scatter = svgs[2]
        XCTAssertEqual(scatter.components(separatedBy: "class=\"mark point\"").count - 1, 4, "one point per defense")
        XCTAssertFalse(html.contains("No data:"), "a full run has data everywhere")

        // Images: ground truth once per (scenario, attack) group plus every trial's row, decodable.
        let images = try embeddedImages(html)
        XCTAssertEqual(images.count, 2 + cells.count + cells.count * 3)
        let truthPNG = try XCTUnwrap(cells.first?.groundTruthPNG)
        XCTAssertTrue(html.contains(ResultsImage.dataURI(png: truthPNG)))
        XCTAssertEqual(images.first?.width, ResultsImage.pngSize(truthPNG)?.width)
        XCTAssertEqual(images.first?.channels, 3)

        // Values, metadata, configuration.
        XCTAssertTrue(html.contains("<td class=\"left\">epsilon</td><td>1.83</td>"))
        XCTAssertTrue(html.contains("<span class=\"status done\">done</span>"))
        XCTAssertTrue(html.contains("(4 h 17 min)"))
        XCTAssertTrue(html.contains("defenses: [none, {dp: {sigma: 0.01}}, {pruning: 0.7}, outpost]"))
    }

    func testTextIsEscapedEverywhere() throws {
        let store = try ResultsStore(directory: try temporaryDirectory(self))
        let evil = "<script>alert(\"x\")</script> & 'co'"
        let escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;"
        let runId = try store.beginRun(command: evil, configuration: "k: \(evil)", label: evil, machine: evil).id!
        try store.recordRound(RoundRecord(runId: runId, series: evil, round: 1, testAccuracy: 0.5, testLoss: 1,
                                          trainingSeconds: 1, defenseSeconds: 1, aggregationSeconds: 1))
        let cell = try store.recordCell(CellRecord(runId: runId, key: CellKey(scenario: evil, attack: evil, defense: evil), trialCount: 1,
                                                   worstTrial: 0, worst: LeakageMetrics(mse: 0.1, psnr: 10, ssim: 0.2)))
        try store.recordTrial(TrialRecord(cellId: cell.id!, trialIndex: 0, finalLoss: 1, diverged: false, iterations: 2, seconds: 1,
                                          labels: [1], metrics: nil, reconstructionPNG: nil),
                              log: .summarizing(history: [(0, 2), (1, 1)]))
        try store.setValue(evil, forKey: evil, run: runId, series: evil)
        let html = try ReportBuilder(store: store, title: evil).html()
        XCTAssertFalse(html.contains("<script"), "no raw markup from the database reaches the page")
        XCTAssertFalse(html.contains("'co'"))
        XCTAssertGreaterThanOrEqual(html.components(separatedBy: escaped).count - 1, 10)
        // Inside SVG too (legend, point labels, tooltips).
        for svg in charts(html) { XCTAssertFalse(svg.contains("<script")) }
        XCTAssertEqual(HTML.escape("a\u{0}b\u{7f}c\td"), "abc\td", "characters HTML forbids are dropped")
    }

    func testEmptyDatabaseAndEmptyRun() throws {
        let store = try ResultsStore(directory: try temporaryDirectory(self))
        let empty = try ReportBuilder(store: store).html()
        XCTAssertTrue(empty.contains("The results database holds no runs yet."))
        XCTAssertTrue(charts(empty).isEmpty)

        let runId = try store.beginRun(command: "outpost run", configuration: "", label: "just started").id!
        let html = try ReportBuilder(store: store).html()
        XCTAssertTrue(charts(html).isEmpty, "no blank charts: every chart says it has no data")
        XCTAssertTrue(html.contains("No data: this run recorded no federated rounds"))
        XCTAssertTrue(html.contains("No data: needs a final test accuracy"))
        XCTAssertTrue(html.contains("No data: this run recorded no attack cells."))
        XCTAssertTrue(html.contains("<span class=\"status running\">running</span>"))
        XCTAssertTrue(html.contains("not finished"))
        XCTAssertTrue(html.contains("<pre class=\"config\">(empty)</pre>"))

        // A cell recorded before its trials (no summary, no trials) and rounds never evaluated.
        let cell = try store.recordCell(CellRecord(runId: runId, key: CellKey(scenario: "s", attack: "a", defense: "d")))
        try store.recordRound(RoundRecord(runId: runId, series: "d", round: 1, testAccuracy: nil, testLoss: nil,
                                          trainingSeconds: 1, defenseSeconds: 0, aggregationSeconds: 0))
        let partial = try ReportBuilder(store: store).html()
        XCTAssertTrue(partial.contains("No data: no round was evaluated on the test set"))
        XCTAssertTrue(partial.contains("title=\"no summary with ground truth for this cell\">—</td>"))
        XCTAssertTrue(partial.contains("no trials recorded"))
        XCTAssertTrue(partial.contains("No data: no trial of this cell was recorded."))
        XCTAssertTrue(partial.contains("No data: no loss log was recorded for these cells"))
        XCTAssertEqual(charts(partial).count, 1, "only the time chart has data")
        XCTAssertNotNil(cell.id)
    }

    func testSinglePointCharts() throws {
        let store = try ResultsStore(directory: try temporaryDirectory(self))
        let runId = try store.beginRun(command: "x", configuration: "", label: "one round").id!
        try store.recordRound(RoundRecord(runId: runId, series: "outpost", round: 1, testAccuracy: 0.42, testLoss: 1.5,
                                          trainingSeconds: 2, defenseSeconds: 0.5, aggregationSeconds: 0.25))
        _ = try store.recordCell(CellRecord(runId: runId, key: CellKey(scenario: "s", attack: "DLG", defense: "outpost"), trialCount: 1,
                                            worstTrial: 0, worst: LeakageMetrics(mse: 0.05, psnr: 13, ssim: 0.3)))
        let html = try ReportBuilder(store: store).html()
        let svgs = charts(html)
        XCTAssertEqual(svgs.count, 3)
        XCTAssertFalse(svgs[0].contains("class=\"mark line\""), "one point draws no line…")
        XCTAssertTrue(svgs[0].contains("class=\"mark point\""), "…but a marker")
        XCTAssertTrue(svgs[0].contains("r=\"5\""))
        XCTAssertTrue(svgs[1].contains(">2.75 s</text>"), "the bar's total is written above it")
        XCTAssertEqual(svgs[2].components(separatedBy: "class=\"mark point\"").count - 1, 1)
        for svg in svgs { XCTAssertFalse(svg.contains("nan") || svg.contains("inf"), "degenerate domains are padded") }
        XCTAssertFalse(html.contains("class=\"best\""), "nothing is bold without a comparison")
    }

    func testScatterLabelsDoNotOverlap() {
        let (left, right, top, bottom) = (60.0, 500.0, 30.0, 300.0)
        func place(_ centers: [(x: Double, y: Double)], _ texts: [String]) -> [ScatterChart.LabelBox] {
            ScatterChart.placeLabels(centers: centers, texts: texts, plotLeft: left, plotRight: right, plotTop: top, plotBottom: bottom)
        }
        // A lone point keeps the usual spot: above its marker, on the side towards the middle.
        let lone = place([(x: 100, y: 150)], ["outpost"])
        XCTAssertEqual(lone[0].baseline, 142)
        XCTAssertEqual(lone[0].minX, 110)
        XCTAssertEqual(place([(x: 450, y: 150)], ["outpost"])[0].maxX, 440)
        // The demo's dp_noise and outpost landed within a few pixels of each other; five
        // defenses on one spot, or close together near the top and bottom edges, all get room.
        let cases: [[(x: Double, y: Double)]] = [
            [(x: 300, y: 150), (x: 303, y: 152)],
            Array(repeating: (x: 200, y: 160), count: 5),
            [(x: 120, y: 40), (x: 125, y: 41), (x: 118, y: 44)],
            [(x: 420, y: 295), (x: 424, y: 292)],
        ]
        for centers in cases {
            let texts = centers.indices.map { "defense \($0)" }
            let boxes = place(centers, texts)
            for i in boxes.indices {
                XCTAssertGreaterThanOrEqual(boxes[i].minY, top, "\(centers)")
                XCTAssertLessThanOrEqual(boxes[i].maxY, bottom, "\(centers)")
                for j in boxes.indices where j > i {
                    XCTAssertFalse(boxes[i].overlaps(boxes[j]), "labels \(i) and \(j) of \(centers) overlap")
                }
            }
            // The placement depends on the points, not on the order the defenses come in.
            XCTAssertEqual(place(centers.reversed(), texts.reversed()), boxes.reversed())
        }
    }

    func testAxesAndTicks() {
        let a = Chart.LinearAxis(minimum: 0.03, maximum: 0.97)
        XCTAssertEqual(a.lo, 0)
        XCTAssertEqual(a.hi, 1)
        XCTAssertEqual(a.ticks.count, 6)
        XCTAssertEqual(a.ticks[1], 0.2, accuracy: 1e-12)
        let flat = Chart.LinearAxis(minimum: 5, maximum: 5)
        XCTAssertLessThan(flat.lo, 5)
        XCTAssertGreaterThan(flat.hi, 5)
        let rounds = Chart.LinearAxis(minimum: 1, maximum: 3, integers: true)
        XCTAssertEqual(rounds.ticks, [1, 2, 3])
        let single = Chart.LinearAxis(minimum: 1, maximum: 1, integers: true)
        XCTAssertEqual(single.ticks, [0, 1, 2])
        let log = Chart.LogAxis(minimum: 0.003, maximum: 40)
        XCTAssertEqual(log.loExponent, -3)
        XCTAssertEqual(log.hiExponent, 2)
        XCTAssertEqual(Chart.LogAxis.label(1e-3), "0.001")
        XCTAssertEqual(Chart.LogAxis.label(1e-6), "1e-6")
        XCTAssertEqual(Chart.LogAxis.label(100), "100")
        XCTAssertEqual(Chart.LogAxis.label(1e4), "1e4")
        XCTAssertEqual(ValueFormat.percent.tick(0.4, step: 0.2), "40%")
        XCTAssertEqual(Chart.formatSeconds(0.25), "250 ms")
        XCTAssertEqual(Format.compactMSE(0.000190), "1.9e-4")
        XCTAssertEqual(Format.compactMSE(0.0174), "0.0174")
        XCTAssertEqual(Format.compactPSNR(nil), "∞")
        XCTAssertEqual(Chart.niceNumber(0.23, round: true), 0.2, accuracy: 1e-12)
        XCTAssertEqual(Palette.assign(["a", "b", "a"]), ["a": Palette.colors[0], "b": Palette.colors[1]])
    }

    /// Writes the sample report used by scripts/report/check_report.sh and the screenshot in
    /// docs/images (to $OUTPOST_REPORT_SAMPLE_DIR, default /tmp/outpost-report-sample).
    func testWritesSampleReport() throws {
        let dir = ProcessInfo.processInfo.environment["OUTPOST_REPORT_SAMPLE_DIR"] ?? "/tmp/outpost-report-sample"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: (dir as NSString).appendingPathComponent(ResultsStore.defaultFileName + suffix))
        }
        let store = try ResultsStore(directory: dir)
        try Synthetic.recordFullRun(into: store)

        // A second, short run that failed: attacks on MNIST only, no federated rounds.
        let run = try store.beginRun(command: "outpost attack mnist-quick.yaml", configuration: "data: mnist\nattack: dlg\n",
                                     label: "MNIST quick check (interrupted)", machine: "bench-2 · Linux 6.1.0 · 2 CPUs · 24 GiB",
                                     startedAt: Date(timeIntervalSince1970: 1_790_020_000))
        var rng = Rng(state: 7)
        let truth = try Synthetic.images("mnist", indices: [0, 1])
        let cell = try store.recordCell(CellRecord(runId: run.id!, key: CellKey(scenario: "FedSGD · batch 2 · MNIST", attack: "DLG", defense: "none"),
                                                   groundTruthPNG: try ResultsImage.pngRow(truth)))
        for t in 0..<2 {
            let recon = try truth.map { try Synthetic.degrade($0, noise: 0.1 + 0.2 * Double(t), blur: 0, rng: &rng) }
            try store.recordTrial(TrialRecord(cellId: cell.id!, trialIndex: t, finalLoss: 0.01, diverged: false, iterations: 300,
                                              seconds: 3.2, labels: [7, 2], metrics: Synthetic.metrics(truth, recon, lpips: nil, labelAccuracy: 1),
                                              reconstructionPNG: try ResultsImage.pngRow(recon)),
                                  log: .summarizing(history: Synthetic.history(iterations: 300, start: 5, end: 0.01, rng: &rng)))
        }
        try store.setValue("out of memory in cell 2", forKey: "error", run: run.id!)
        try store.finishRun(run.id!, status: .failed, endedAt: Date(timeIntervalSince1970: 1_790_020_420))

        var builder = ReportBuilder(store: store, title: "Outpost results — sample report")
        builder.generatedAt = Date(timeIntervalSince1970: 1_790_030_000)
        let path = (dir as NSString).appendingPathComponent("report.html")
        try builder.write(to: path)
        let html = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(html, try builder.html())
        XCTAssertEqual(charts(html).count, 3 + 2 + 8 + 1 + 1)
        XCTAssertTrue(html.contains("No data: this run recorded no federated rounds"))
    }
}
