import Foundation

/// Text helpers for the HTML report.
public enum HTML {
    /// Escapes text for HTML element content and quoted attribute values (and so for inline
    /// SVG): `&`, `<`, `>`, `"` and `'` become character references, and characters HTML
    /// forbids (C0 controls other than tab and line breaks, U+007F) are dropped.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            case let c where c.value < 0x20 || c.value == 0x7f: continue
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The report's style sheet (inlined in the page's head).
    static let css = """
    :root { --ink: #1f2430; --muted: #5b6475; --line: #dfe3ea; --soft: #f5f7fa; --accent: #2f5d8a; }
    * { box-sizing: border-box; }
    body { margin: 0; font: 14px/1.5 -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", Helvetica, Arial, sans-serif;
           color: var(--ink); background: #eef1f5; }
    header.page { background: #1f2f46; color: #fff; padding: 22px 32px 18px; }
    header.page h1 { margin: 0 0 4px; font-size: 24px; font-weight: 600; letter-spacing: .2px; }
    header.page p { margin: 0; color: #c9d3e1; font-size: 13px; }
    nav.runs { padding: 10px 32px; background: #fff; border-bottom: 1px solid var(--line); font-size: 13px; }
    nav.runs a { margin-right: 14px; color: var(--accent); text-decoration: none; }
    main { max-width: 1280px; margin: 0 auto; padding: 20px 16px 48px; }
    section.run { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 20px 22px 24px; margin-bottom: 26px; }
    section.run > h2 { margin: 0 0 12px; font-size: 20px; font-weight: 600; display: flex; align-items: center; gap: 10px; }
    h3 { font-size: 16px; font-weight: 600; margin: 26px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
    h4 { font-size: 14px; font-weight: 600; margin: 16px 0 8px; }
    .status { font-size: 12px; font-weight: 600; padding: 2px 9px; border-radius: 10px; text-transform: uppercase; letter-spacing: .4px; }
    .status.done { background: #e3f3e6; color: #23683a; }
    .status.running { background: #fff3d6; color: #8a5a00; }
    .status.failed { background: #fbe3e3; color: #a12b2b; }
    dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 0 0 10px; font-size: 13px; }
    dl.meta dt { color: var(--muted); }
    dl.meta dd { margin: 0; }
    code, pre { font-family: "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace; font-size: 12px; }
    pre.config { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; overflow-x: auto; margin: 8px 0 0; }
    details { margin: 8px 0; }
    details > summary { cursor: pointer; color: var(--accent); font-weight: 500; }
    table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
    th, td { padding: 4px 9px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
    th { background: var(--soft); font-weight: 600; }
    th.left, td.left { text-align: left; }
    tbody tr:nth-child(even) td { background: #fafbfc; }
    table.metrics { font-size: 12px; }
    table.metrics th, table.metrics td { padding: 4px 5px; }
    table.metrics th.group { text-align: center; border-left: 2px solid #fff; }
    table.metrics td.scenario { white-space: normal; min-width: 120px; max-width: 170px; vertical-align: top; background: #fff; }
    table.metrics td.na-cell { text-align: center; }
    table.metrics td.first, table.metrics th.first { border-left: 2px solid var(--line); }
    td.best { font-weight: 700; color: #1c5c30; }
    td.na { color: #9aa2b1; }
    .table-wrap { overflow-x: auto; }
    p.caption, p.note { color: var(--muted); font-size: 12px; margin: 6px 0 0; }
    .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 16px 22px; }
    figure.chart-figure { margin: 0; max-width: 660px; }
    figure.chart-figure figcaption { font-weight: 600; font-size: 13px; margin-bottom: 4px; }
    svg.chart { width: 100%; height: auto; display: block; background: #fff; }
    svg.chart text { font-family: inherit; fill: #3b4252; }
    svg.chart .tick { font-size: 11px; }
    svg.chart .axis-label { font-size: 12px; fill: var(--muted); }
    svg.chart .legend-text { font-size: 12px; }
    svg.chart .point-label { font-size: 11px; font-weight: 600; }
    svg.chart .bar-total { font-size: 11px; fill: var(--muted); }
    svg.chart .note { font-size: 11px; fill: var(--muted); font-style: italic; }
    svg.chart line.grid { stroke: #e8ebf0; stroke-width: 1; }
    svg.chart line.axis { stroke: #8a93a3; stroke-width: 1; }
    p.no-data { margin: 0; padding: 28px 16px; text-align: center; color: var(--muted); background: var(--soft);
                border: 1px dashed #c8ced8; border-radius: 6px; font-size: 13px; }
    .recon-group { border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px 14px; margin: 14px 0; }
    .recon-group h4 { margin-top: 0; }
    .recon-layout { display: grid; grid-template-columns: minmax(0, 1fr) minmax(360px, 500px); gap: 20px; align-items: start; }
    table.recon td { vertical-align: middle; border-bottom: 1px solid #eef0f4; padding: 6px 9px; }
    table.recon td.row-label { text-align: left; white-space: normal; width: 280px; min-width: 240px; font-size: 12px; }
    table.recon td.row-label b { display: block; font-size: 13px; }
    table.recon span.role { display: block; color: var(--ink); }
    table.recon span.row-metrics { display: block; color: var(--muted); margin-top: 2px; font-variant-numeric: tabular-nums; }
    img.pixels { image-rendering: pixelated; image-rendering: crisp-edges; height: 84px; width: auto; display: block; }
    img.thumb { image-rendering: pixelated; image-rendering: crisp-edges; height: 40px; width: auto; display: block; }
    span.missing { color: #9aa2b1; font-style: italic; font-size: 12px; }
    .cell-details { margin: 6px 0 0; }
    .cell-details .inner { padding: 8px 0 4px; }
    p.empty { color: var(--muted); font-style: italic; }
    footer { text-align: center; color: var(--muted); font-size: 12px; padding: 0 0 30px; }
    """
}
