import Foundation

// Inline SVG charts for the HTML report: line charts, stacked bars and a labelled scatter.
// Every chart is a <figure> with a caption; with data it holds one <svg class="chart"> whose
// data marks carry the class "mark", without data it says so in a <p class="no-data">.

/// How chart values are written on axes and in tooltips.
enum ValueFormat {
    /// Plain numbers with as many decimals as the tick step needs.
    case number
    /// Fractions written as percentages (0.25 → 25%).
    case percent
    /// Seconds (1.5 → 1.5 s).
    case seconds

    func tick(_ v: Double, step: Double) -> String {
        switch self {
        case .number: return Chart.formatTick(v, step: step)
        case .percent: return Chart.formatTick(v * 100, step: step * 100) + "%"
        case .seconds: return Chart.formatTick(v, step: step) + " s"
        }
    }

    func value(_ v: Double) -> String {
        switch self {
        case .number: return Chart.formatSignificant(v)
        case .percent: return String(format: "%.1f%%", v * 100)
        case .seconds: return Chart.formatSeconds(v)
        }
    }
}

/// The categorical palette (Tableau 10), assigned to series in order.
enum Palette {
    static let colors = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                         "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]

    /// A colour per name, in order of first appearance.
    static func assign(_ names: [String]) -> [String: String] {
        var map: [String: String] = [:]
        for name in names where map[name] == nil { map[name] = colors[map.count % colors.count] }
        return map
    }
}

/// Shared geometry, scales and SVG pieces.
enum Chart {
    static let width = 640.0
    static let height = 320.0
    static let left = 68.0
    static let top = 18.0
    static let bottom = 50.0

    /// A figure with a caption around `body`.
    static func figure(title: String, body: String) -> String {
        "<figure class=\"chart-figure\"><figcaption>\(HTML.escape(title))</figcaption>\(body)</figure>"
    }

    /// The figure shown instead of a chart when there is nothing to draw.
    static func noData(title: String, reason: String) -> String {
        figure(title: title, body: "<p class=\"no-data\">No data: \(HTML.escape(reason))</p>")
    }

    static func svgOpen(label: String) -> String {
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(f(width)) \(f(height))\" "
            + "role=\"img\" aria-label=\"\(HTML.escape(label))\">"
    }

    /// A number for SVG coordinates (two decimals at most).
    static func f(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(format: "%.2f", r)
    }

    // MARK: Scales and ticks

    /// A linear axis: domain, ticks and the step between them.
    struct LinearAxis {
        var lo: Double
        var hi: Double
        var ticks: [Double]
        var step: Double

        /// Nice ticks covering `minimum...maximum` (padded when they are equal). With
        /// `integers`, the step is at least 1.
        init(minimum: Double, maximum: Double, integers: Bool = false, includeZero: Bool = false, count: Int = 5) {
            var a = minimum, b = maximum
            if includeZero { a = min(a, 0); b = max(b, 0) }
            if a == b {
                let pad = a == 0 ? 1 : abs(a) * 0.1
                a -= pad
                b += pad
                if integers { a = (minimum - 1).rounded(.down); b = (maximum + 1).rounded(.up) }
            }
            var step = Chart.niceNumber((b - a) / Double(max(count - 1, 1)), round: true)
            if integers { step = max(step.rounded(), 1) }
            lo = (a / step).rounded(.down) * step
            hi = (b / step).rounded(.up) * step
            self.step = step
            var t: [Double] = []
            var v = lo
            while v <= hi + step * 1e-9 {
                t.append(abs(v) < step * 1e-9 ? 0 : v)
                v += step
            }
            ticks = t
        }

        func position(_ v: Double, from p0: Double, to p1: Double) -> Double {
            hi == lo ? (p0 + p1) / 2 : p0 + (v - lo) / (hi - lo) * (p1 - p0)
        }
    }

    /// A base-10 logarithmic axis over positive values.
    struct LogAxis {
        var loExponent: Int
        var hiExponent: Int
        var ticks: [Double]

        init(minimum: Double, maximum: Double) {
            var a = Int(log10(minimum).rounded(.down))
            var b = Int(log10(maximum).rounded(.up))
            if a == b { a -= 1; b += 1 }
            loExponent = a
            hiExponent = b
            let every = max(1, (b - a + 5) / 6)
            ticks = stride(from: a, through: b, by: every).map { pow(10, Double($0)) }
        }

        func position(_ v: Double, from p0: Double, to p1: Double) -> Double {
            p0 + (log10(v) - Double(loExponent)) / Double(hiExponent - loExponent) * (p1 - p0)
        }

        static func label(_ v: Double) -> String {
            let e = Int(log10(v).rounded())
            switch e {
            case 0...3: return "1" + String(repeating: "0", count: e)
            case -3 ..< 0: return "0." + String(repeating: "0", count: -e - 1) + "1"
            default: return "1e\(e)"
            }
        }
    }

    /// Heckbert's nice numbers: 1, 2, 5 or 10 times a power of ten.
    static func niceNumber(_ x: Double, round: Bool) -> Double {
        guard x > 0, x.isFinite else { return 1 }
        let exponent = log10(x).rounded(.down)
        let fraction = x / pow(10, exponent)
        let nice: Double
        if round {
            nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
        } else {
            nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
        }
        return nice * pow(10, exponent)
    }

    /// A tick label with as many decimals as `step` needs (scientific for very large or small).
    static func formatTick(_ v: Double, step: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1e6 || (abs(v) < 1e-3) { return String(format: "%.0e", v) }
        let decimals = max(0, min(6, Int((-log10(step)).rounded(.up))))
        return String(format: "%.\(decimals)f", v)
    }

    /// Four significant digits, scientific outside [1e-3, 1e6).
    static func formatSignificant(_ v: Double) -> String {
        guard v.isFinite else { return v.isNaN ? "NaN" : (v > 0 ? "∞" : "−∞") }
        if v != 0 && (abs(v) < 1e-3 || abs(v) >= 1e6) { return String(format: "%.3e", v) }
        return String(format: "%.4g", v)
    }

    /// Seconds, with milliseconds below one second.
    static func formatSeconds(_ v: Double) -> String {
        if v < 1 { return String(format: "%.0f ms", v * 1000) }
        if v < 100 { return String(format: "%.2f s", v) }
        return String(format: "%.0f s", v)
    }

    /// Axis lines, grid lines and tick labels of the plot area.
    static func yGrid(ticks: [(position: Double, label: String)], plotLeft: Double, plotRight: Double) -> String {
        var s = ""
        for t in ticks {
            s += "<line class=\"grid\" x1=\"\(f(plotLeft))\" x2=\"\(f(plotRight))\" y1=\"\(f(t.position))\" y2=\"\(f(t.position))\"/>"
            s += "<text class=\"tick\" x=\"\(f(plotLeft - 8))\" y=\"\(f(t.position + 4))\" text-anchor=\"end\">\(HTML.escape(t.label))</text>"
        }
        return s
    }

    static func xTicks(_ ticks: [(position: Double, label: String)], baseline: Double) -> String {
        var s = ""
        for t in ticks {
            s += "<line class=\"axis\" x1=\"\(f(t.position))\" x2=\"\(f(t.position))\" y1=\"\(f(baseline))\" y2=\"\(f(baseline + 5))\"/>"
            s += "<text class=\"tick\" x=\"\(f(t.position))\" y=\"\(f(baseline + 18))\" text-anchor=\"middle\">\(HTML.escape(t.label))</text>"
        }
        return s
    }

    static func axisLabels(x: String, y: String, plotLeft: Double, plotRight: Double, plotTop: Double, plotBottom: Double) -> String {
        let midX = (plotLeft + plotRight) / 2, midY = (plotTop + plotBottom) / 2
        return "<text class=\"axis-label\" x=\"\(f(midX))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">\(HTML.escape(x))</text>"
            + "<text class=\"axis-label\" transform=\"translate(16 \(f(midY))) rotate(-90)\" text-anchor=\"middle\">\(HTML.escape(y))</text>"
    }

    static func frame(plotLeft: Double, plotRight: Double, plotTop: Double, plotBottom: Double) -> String {
        "<line class=\"axis\" x1=\"\(f(plotLeft))\" x2=\"\(f(plotRight))\" y1=\"\(f(plotBottom))\" y2=\"\(f(plotBottom))\"/>"
            + "<line class=\"axis\" x1=\"\(f(plotLeft))\" x2=\"\(f(plotLeft))\" y1=\"\(f(plotTop))\" y2=\"\(f(plotBottom))\"/>"
    }

    /// A legend in the right margin: a swatch and a name per entry (long names shortened,
    /// the full name in a tooltip).
    static func legend(_ entries: [(name: String, color: String)], x: Double, y: Double, line: Bool) -> String {
        var s = "<g class=\"legend\">"
        for (i, e) in entries.enumerated() {
            let ey = y + Double(i) * 18
            let shown = e.name.count > 20 ? String(e.name.prefix(19)) + "…" : e.name
            s += "<g><title>\(HTML.escape(e.name))</title>"
            if line {
                s += "<line x1=\"\(f(x))\" x2=\"\(f(x + 16))\" y1=\"\(f(ey))\" y2=\"\(f(ey))\" stroke=\"\(e.color)\" stroke-width=\"3\"/>"
            } else {
                s += "<rect x=\"\(f(x + 2))\" y=\"\(f(ey - 6))\" width=\"12\" height=\"12\" rx=\"2\" fill=\"\(e.color)\"/>"
            }
            s += "<text class=\"legend-text\" x=\"\(f(x + 22))\" y=\"\(f(ey + 4))\">\(HTML.escape(shown))</text></g>"
        }
        return s + "</g>"
    }

    /// Right margin: room for a legend when there is one.
    static func rightMargin(legendEntries: Int) -> Double { legendEntries > 0 ? 170 : 24 }
}

/// A line chart: one polyline per series, with point markers when there are few points.
struct LineChart {
    struct Series {
        var name: String
        var color: String
        var points: [(x: Double, y: Double)]
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    var xFormat: ValueFormat = .number
    var yFormat: ValueFormat = .number
    var integerX = false
    var logY = false
    var emptyReason = "nothing recorded"
    /// Draw markers on every point when a series has at most this many points.
    var markerLimit = 40

    func html() -> String {
        // Drop what cannot be drawn: non-finite values, and non-positive values on a log axis.
        let drawable = series.map { s in
            Series(name: s.name, color: s.color, points: s.points.filter {
                $0.x.isFinite && $0.y.isFinite && (!logY || $0.y > 0)
            })
        }.filter { !$0.points.isEmpty }
        let all = drawable.flatMap(\.points)
        guard !all.isEmpty else { return Chart.noData(title: title, reason: emptyReason) }

        let showLegend = drawable.count > 1 || drawable.first.map { !$0.name.isEmpty } ?? false
        let plotLeft = Chart.left, plotTop = Chart.top
        let plotRight = Chart.width - Chart.rightMargin(legendEntries: showLegend ? drawable.count : 0)
        let plotBottom = Chart.height - Chart.bottom
        let xs = all.map(\.x), ys = all.map(\.y)
        let xAxis = Chart.LinearAxis(minimum: xs.min()!, maximum: xs.max()!, integers: integerX)
        let px: (Double) -> Double = { xAxis.position($0, from: plotLeft, to: plotRight) }
        let py: (Double) -> Double
        let yTicks: [(position: Double, label: String)]
        if logY {
            let axis = Chart.LogAxis(minimum: ys.min()!, maximum: ys.max()!)
            py = { axis.position($0, from: plotBottom, to: plotTop) }
            yTicks = axis.ticks.map { (py($0), Chart.LogAxis.label($0)) }
        } else {
            let axis = Chart.LinearAxis(minimum: ys.min()!, maximum: ys.max()!)
            py = { axis.position($0, from: plotBottom, to: plotTop) }
            yTicks = axis.ticks.map { (py($0), yFormat.tick($0, step: axis.step)) }
        }

        var s = Chart.svgOpen(label: title)
        s += Chart.yGrid(ticks: yTicks, plotLeft: plotLeft, plotRight: plotRight)
        s += Chart.xTicks(xAxis.ticks.map { (px($0), xFormat.tick($0, step: xAxis.step)) }, baseline: plotBottom)
        s += Chart.frame(plotLeft: plotLeft, plotRight: plotRight, plotTop: plotTop, plotBottom: plotBottom)
        for line in drawable {
            let sorted = line.points.sorted { $0.x < $1.x }
            if sorted.count > 1 {
                let d = sorted.enumerated().map { "\($0.offset == 0 ? "M" : "L")\(Chart.f(px($0.element.x))) \(Chart.f(py($0.element.y)))" }
                    .joined(separator: " ")
                s += "<path class=\"mark line\" d=\"\(d)\" fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\"><title>\(HTML.escape(line.name))</title></path>"
            }
            if sorted.count <= markerLimit {
                for p in sorted {
                    let tip = (line.name.isEmpty ? "" : line.name + ": ") + "\(xLabel) \(xFormat.value(p.x)), \(yFormat.value(p.y))"
                    s += "<circle class=\"mark point\" cx=\"\(Chart.f(px(p.x)))\" cy=\"\(Chart.f(py(p.y)))\" r=\"\(sorted.count == 1 ? 5 : 3)\" fill=\"\(line.color)\"><title>\(HTML.escape(tip))</title></circle>"
                }
            }
        }
        s += Chart.axisLabels(x: xLabel, y: yLabel, plotLeft: plotLeft, plotRight: plotRight, plotTop: plotTop, plotBottom: plotBottom)
        if showLegend {
            s += Chart.legend(drawable.map { ($0.name, $0.color) }, x: plotRight + 18, y: plotTop + 8, line: true)
        }
        return Chart.figure(title: title, body: s + "</svg>")
    }
}

/// Vertical bars, one per category, each stacked from components (e.g. training, defense and
/// aggregation seconds).
struct StackedBarChart {
    struct Component {
        var name: String
        var color: String
        /// One value per category (negative and non-finite values count as 0).
        var values: [Double]
    }

    var title: String
    var yLabel: String
    var categories: [String]
    var components: [Component]
    var yFormat: ValueFormat = .seconds
    var emptyReason = "nothing recorded"

    func html() -> String {
        guard !categories.isEmpty, !components.isEmpty else { return Chart.noData(title: title, reason: emptyReason) }
        func value(_ c: Component, _ i: Int) -> Double {
            i < c.values.count && c.values[i].isFinite ? max(c.values[i], 0) : 0
        }
        let totals = categories.indices.map { i in components.reduce(0) { $0 + value($1, i) } }
        let plotLeft = Chart.left, plotTop = Chart.top + 8
        let plotRight = Chart.width - Chart.rightMargin(legendEntries: components.count)
        let rotate = categories.count > 4 || categories.contains { $0.count > 12 }
        let plotBottom = Chart.height - Chart.bottom - (rotate ? 22 : 0)
        let axis = Chart.LinearAxis(minimum: 0, maximum: max(totals.max() ?? 0, 0), includeZero: true)
        let py: (Double) -> Double = { axis.position($0, from: plotBottom, to: plotTop) }

        var s = Chart.svgOpen(label: title)
        s += Chart.yGrid(ticks: axis.ticks.map { (py($0), yFormat.tick($0, step: axis.step)) },
                         plotLeft: plotLeft, plotRight: plotRight)
        let slot = (plotRight - plotLeft) / Double(categories.count)
        let barWidth = min(slot * 0.6, 72)
        for (i, category) in categories.enumerated() {
            let x = plotLeft + slot * (Double(i) + 0.5) - barWidth / 2
            var base = 0.0
            for c in components {
                let v = value(c, i)
                let y0 = py(base), y1 = py(base + v)
                let tip = "\(category) — \(c.name): \(yFormat.value(v))"
                s += "<rect class=\"mark bar\" x=\"\(Chart.f(x))\" y=\"\(Chart.f(y1))\" width=\"\(Chart.f(barWidth))\" height=\"\(Chart.f(max(y0 - y1, 0)))\" fill=\"\(c.color)\"><title>\(HTML.escape(tip))</title></rect>"
                base += v
            }
            s += "<text class=\"bar-total\" x=\"\(Chart.f(x + barWidth / 2))\" y=\"\(Chart.f(py(base) - 5))\" text-anchor=\"middle\">\(HTML.escape(yFormat.value(totals[i])))</text>"
            let cx = x + barWidth / 2, cy = plotBottom + 16
            let shown = category.count > 22 ? String(category.prefix(21)) + "…" : category
            if rotate {
                s += "<text class=\"tick\" transform=\"translate(\(Chart.f(cx)) \(Chart.f(cy - 4))) rotate(-30)\" text-anchor=\"end\"><title>\(HTML.escape(category))</title>\(HTML.escape(shown))</text>"
            } else {
                s += "<text class=\"tick\" x=\"\(Chart.f(cx))\" y=\"\(Chart.f(cy))\" text-anchor=\"middle\"><title>\(HTML.escape(category))</title>\(HTML.escape(shown))</text>"
            }
        }
        s += Chart.frame(plotLeft: plotLeft, plotRight: plotRight, plotTop: plotTop, plotBottom: plotBottom)
        s += "<text class=\"axis-label\" transform=\"translate(16 \(Chart.f((plotTop + plotBottom) / 2))) rotate(-90)\" text-anchor=\"middle\">\(HTML.escape(yLabel))</text>"
        s += Chart.legend(components.map { ($0.name, $0.color) }, x: plotRight + 18, y: plotTop + 8, line: false)
        return Chart.figure(title: title, body: s + "</svg>")
    }
}

/// A scatter of labelled points (one per defense), each with its name written beside it.
struct ScatterChart {
    struct Point {
        var label: String
        var color: String
        var x: Double
        var y: Double
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var points: [Point]
    var xFormat: ValueFormat = .number
    var yFormat: ValueFormat = .number
    /// A hint drawn in the plot's corner, e.g. which way is better.
    var cornerNote = ""
    var emptyReason = "nothing recorded"

    func html() -> String {
        let drawable = points.filter { $0.x.isFinite && $0.y.isFinite }
        guard !drawable.isEmpty else { return Chart.noData(title: title, reason: emptyReason) }
        let plotLeft = Chart.left, plotTop = Chart.top
        let plotRight = Chart.width - Chart.rightMargin(legendEntries: drawable.count)
        let plotBottom = Chart.height - Chart.bottom
        let xs = drawable.map(\.x), ys = drawable.map(\.y)
        // Pad the data range by 8% so that markers and their labels stay inside the plot.
        func padded(_ v: [Double]) -> (Double, Double) {
            let lo = v.min()!, hi = v.max()!
            let pad = hi > lo ? (hi - lo) * 0.08 : 0
            return (lo - pad, hi + pad)
        }
        let (x0, x1) = padded(xs), (y0, y1) = padded(ys)
        let xAxis = Chart.LinearAxis(minimum: x0, maximum: x1)
        let yAxis = Chart.LinearAxis(minimum: y0, maximum: y1)
        let px: (Double) -> Double = { xAxis.position($0, from: plotLeft, to: plotRight) }
        let py: (Double) -> Double = { yAxis.position($0, from: plotBottom, to: plotTop) }

        var s = Chart.svgOpen(label: title)
        s += Chart.yGrid(ticks: yAxis.ticks.map { (py($0), yFormat.tick($0, step: yAxis.step)) }, plotLeft: plotLeft, plotRight: plotRight)
        s += Chart.xTicks(xAxis.ticks.map { (px($0), xFormat.tick($0, step: xAxis.step)) }, baseline: plotBottom)
        s += Chart.frame(plotLeft: plotLeft, plotRight: plotRight, plotTop: plotTop, plotBottom: plotBottom)
        if !cornerNote.isEmpty {
            s += "<text class=\"note\" x=\"\(Chart.f(plotRight - 6))\" y=\"\(Chart.f(plotTop + 14))\" text-anchor=\"end\">\(HTML.escape(cornerNote))</text>"
        }
        let centers = drawable.map { (x: px($0.x), y: py($0.y)) }
        let labels = drawable.map { $0.label.count > 18 ? String($0.label.prefix(17)) + "…" : $0.label }
        let boxes = Self.placeLabels(centers: centers, texts: labels, plotLeft: plotLeft, plotRight: plotRight,
                                     plotTop: plotTop, plotBottom: plotBottom)
        for (i, p) in drawable.enumerated() {
            let (cx, cy) = centers[i]
            let tip = "\(p.label): \(xLabel) \(xFormat.value(p.x)), \(yLabel) \(yFormat.value(p.y))"
            s += "<circle class=\"mark point\" cx=\"\(Chart.f(cx))\" cy=\"\(Chart.f(cy))\" r=\"6\" fill=\"\(p.color)\" stroke=\"#fff\" stroke-width=\"1.5\"><title>\(HTML.escape(tip))</title></circle>"
            let box = boxes[i]
            let anchorEnd = box.minX < cx
            s += "<text class=\"point-label\" x=\"\(Chart.f(anchorEnd ? box.maxX : box.minX))\" y=\"\(Chart.f(box.baseline))\" text-anchor=\"\(anchorEnd ? "end" : "start")\">\(HTML.escape(labels[i]))</text>"
        }
        s += Chart.axisLabels(x: xLabel, y: yLabel, plotLeft: plotLeft, plotRight: plotRight, plotTop: plotTop, plotBottom: plotBottom)
        s += Chart.legend(drawable.map { ($0.label, $0.color) }, x: plotRight + 18, y: plotTop + 8, line: false)
        return Chart.figure(title: title, body: s + "</svg>")
    }

    /// Where a point's label sits: its text box and the baseline the text is drawn on.
    struct LabelBox: Equatable {
        var minX, maxX, minY, maxY: Double
        var baseline: Double { maxY - 3 }

        func overlaps(_ o: LabelBox) -> Bool {
            minX < o.maxX && o.minX < maxX && minY < o.maxY && o.minY < maxY
        }
    }

    /// Label boxes for points at `centers`, none overlapping another where the plot has room.
    ///
    /// Two defenses with nearly the same cost and leakage put their markers on top of each
    /// other, and labels at a fixed offset then print over one another. Each label tries the
    /// spots beside its marker (above, below, then on the other side, then stepping further up
    /// and down) and takes the first that meets no label placed before it; points are placed
    /// top to bottom (then by name) so the result does not depend on the order of the defenses.
    static func placeLabels(centers: [(x: Double, y: Double)], texts: [String], plotLeft: Double, plotRight: Double,
                            plotTop: Double, plotBottom: Double) -> [LabelBox] {
        // 11px semibold text: about 6.6 px per character, 12 px from top to descender.
        let charWidth = 6.6, height = 12.0, gap = 10.0
        var placed = [LabelBox?](repeating: nil, count: centers.count)
        let order = centers.indices.sorted { (centers[$0].y, centers[$0].x, texts[$0]) < (centers[$1].y, centers[$1].x, texts[$1]) }
        for i in order {
            let (cx, cy) = centers[i]
            let width = Double(texts[i].count) * charWidth
            let preferEnd = cx > (plotLeft + plotRight) / 2
            func box(end: Bool, top: Double) -> LabelBox {
                let minX = end ? cx - gap - width : cx + gap
                return LabelBox(minX: minX, maxX: minX + width, minY: top, maxY: top + height)
            }
            // Tops of the candidate boxes: above the marker (the usual spot), below it, then
            // one label height further each way.
            var tops = [cy - 8 - height + 3, cy + 6]
            for k in 1...8 {
                tops.append(cy - 8 - height + 3 - Double(k) * height)
                tops.append(cy + 6 + Double(k) * height)
            }
            var candidates: [LabelBox] = []
            for top in tops {
                candidates.append(box(end: preferEnd, top: top))
                candidates.append(box(end: !preferEnd, top: top))
            }
            let inside = candidates.filter { $0.minY >= plotTop && $0.maxY <= plotBottom }
            let free = inside.first { c in !placed.contains { $0?.overlaps(c) ?? false } }
            placed[i] = free ?? inside.first ?? candidates[0]
        }
        return placed.map { $0! }
    }
}
