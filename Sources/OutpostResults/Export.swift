import Foundation
import GRDB

extension ResultsStore {
    /// Columns that hold JSON text; the JSON export embeds them as JSON values, not strings.
    static let jsonColumns: Set<String> = ["labels", "inferredLabels", "iterations", "losses"]

    /// Writes every table as `<table>.csv` and `<table>.json` into `directory` (created when
    /// missing), from one consistent snapshot of the database, and returns the paths written.
    ///
    /// - CSV: RFC 4180 (a header row of column names; fields quoted when they hold a comma,
    ///   quote or line break; CRLF-free `\n` line ends), NULL as an empty field, blobs (PNG
    ///   images) as base64.
    /// - JSON: an array of objects with the columns in schema order, NULL as `null`, blobs as
    ///   base64 strings, JSON columns (labels, loss logs) as nested arrays, non-finite numbers
    ///   as `null`.
    @discardableResult
    public func export(to directory: String) throws -> [String] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let tables: [(name: String, columns: [String], rows: [Row])] = try pool.read { db in
            try Self.tableNames.map { table in
                let columns = try db.columns(in: table).map(\.name)
                let rows = try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY rowid")
                return (table, columns, rows)
            }
        }
        var written: [String] = []
        for table in tables {
            let csvPath = (directory as NSString).appendingPathComponent("\(table.name).csv")
            try Data(Self.csv(columns: table.columns, rows: table.rows).utf8).write(to: URL(fileURLWithPath: csvPath))
            let jsonPath = (directory as NSString).appendingPathComponent("\(table.name).json")
            try Data(Self.json(columns: table.columns, rows: table.rows).utf8).write(to: URL(fileURLWithPath: jsonPath))
            written += [csvPath, jsonPath]
        }
        return written
    }

    /// CSV text of `rows` under a header of `columns`.
    static func csv(columns: [String], rows: [Row]) -> String {
        var out = columns.map(csvField).joined(separator: ",") + "\n"
        for row in rows {
            out += columns.map { column -> String in
                switch row[column] as DatabaseValue? {
                case nil: return ""
                case let value?:
                    switch value.storage {
                    case .null: return ""
                    case .int64(let i): return String(i)
                    case .double(let d): return csvField(formatNumber(d))
                    case .string(let s): return csvField(s)
                    case .blob(let b): return b.base64EncodedString()
                    }
                }
            }.joined(separator: ",") + "\n"
        }
        return out
    }

    /// A CSV field, quoted when it holds a comma, a quote or a line break.
    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A JSON array of one object per row, keys in column order.
    static func json(columns: [String], rows: [Row]) -> String {
        var out = "[\n"
        for (n, row) in rows.enumerated() {
            let fields = columns.map { column -> String in
                let value: String
                switch (row[column] as DatabaseValue?)?.storage ?? .null {
                case .null: value = "null"
                case .int64(let i): value = String(i)
                case .double(let d): value = d.isFinite ? formatNumber(d) : "null"
                case .string(let s):
                    if jsonColumns.contains(column), (try? JSONSerialization.jsonObject(with: Data(s.utf8), options: [])) != nil {
                        value = s
                    } else {
                        value = jsonString(s)
                    }
                case .blob(let b): value = jsonString(b.base64EncodedString())
                }
                return "\(jsonString(column)): \(value)"
            }
            out += "  {" + fields.joined(separator: ", ") + "}" + (n + 1 < rows.count ? "," : "") + "\n"
        }
        return out + "]\n"
    }

    /// A JSON string literal.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20: out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// The shortest text that reads back as the same double (`"inf"`, `"-inf"`, `"nan"` for
    /// non-finite values).
    static func formatNumber(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        return "\(d)"
    }
}
