import ArgumentParser
import Foundation
import OutpostResults

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build the HTML report (and optionally JSON/CSV exports) from an output folder's results database.",
        discussion: """
        Reads results.sqlite read-only, so it works while a run is still writing: the report then shows
        what was recorded so far. The report is one self-contained file (images embedded, charts as SVG).

        Examples:
          outpost report out/table3
          outpost report out/table3 --output table3.html --run 2 --run 3
          outpost report out/fig3 --export out/fig3/export      (one JSON and one CSV file per table)
        """)

    @Argument(help: "The output folder holding results.sqlite (or the database file itself).")
    var folder: String
    @Option(name: .long, help: "Where to write the report (default: FOLDER/report.html).")
    var output: String?
    @Option(name: .customLong("run"), help: "Include only this run id (repeatable; default: every run).")
    var runs: [Int64] = []
    @Option(name: .long, help: "The page title.")
    var title: String = "Outpost results"
    @Option(name: .long, help: "Also export every table as JSON and CSV into this folder.")
    var export: String?
    @Flag(name: .long, help: "List the runs in the database and exit.")
    var list = false

    func run() throws {
        try reportingErrors {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) else {
                throw ValidationError("\(folder) does not exist")
            }
            let path = isDirectory.boolValue ? (folder as NSString).appendingPathComponent(ResultsStore.defaultFileName) : folder
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("no results database in \(folder) (expected \(ResultsStore.defaultFileName))")
            }
            let store = try ResultsStore(path: path, readOnly: true)
            let all = try store.runs()
            if list {
                for r in all { print("#\(r.id ?? 0)  \(r.status.rawValue)  \(r.label)  \(r.command)") }
                return
            }
            let known = Set(all.compactMap(\.id))
            if let missing = runs.first(where: { !known.contains($0) }) {
                throw ValidationError("no run #\(missing) in \(path) (runs: \(all.compactMap(\.id).map { "#\($0)" }.joined(separator: ", ")))")
            }
            var builder = ReportBuilder(store: store, title: title, runIDs: runs.isEmpty ? nil : runs)
            builder.generatedAt = Date()
            let destination = output ?? ((isDirectory.boolValue ? folder : (folder as NSString).deletingLastPathComponent) as NSString)
                .appendingPathComponent("report.html")
            try builder.write(to: destination)
            print(destination)
            if let export { for file in try store.export(to: export) { print(file) } }
        }
    }
}
