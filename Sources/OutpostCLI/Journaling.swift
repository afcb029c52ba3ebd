import ArgumentParser
import Foundation
import OutpostConfig
import OutpostExperiments
import OutpostResults

/// A configuration file as a command reads it: parsed, with `--set` overrides applied.
struct ConfigInput {
    let url: URL
    var document: ConfigValue

    init(path: String, overrides: [String]) throws {
        url = URL(fileURLWithPath: path)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw ConfigError(path: "", message: "cannot read configuration file \(path)")
        }
        document = try ConfigValue.parse(yaml: text, source: path).applying(overrides: overrides)
    }

    init(yaml: String, source: String, overrides: [String], base: URL) throws {
        url = base.appendingPathComponent(source)
        document = try ConfigValue.parse(yaml: yaml, source: source).applying(overrides: overrides)
    }

    /// Sets `key` (e.g. `seed`, `attack.seed`) when the command line gave a value.
    mutating func set(_ key: [String], to value: Int?) throws {
        if let value { document = try document.setting(key, to: .scalar(String(value))) }
    }

    func section() throws -> ConfigSection { try ConfigSection(document) }
    var directory: URL { url.deletingLastPathComponent() }

    /// The effective configuration as canonical text: what `--resume` compares.
    func canonical() throws -> String { String(decoding: try document.jsonData(), as: UTF8.self) }
}

/// The configuration file, `--set` overrides and `--seed`, shared by the commands that do work.
struct ConfigOptions: ParsableArguments {
    @Argument(help: "The configuration (YAML); docs/configuration.md lists every key.")
    var config: String
    @Option(name: .customLong("set"), help: "Override a configuration key: key.path=value (repeatable).")
    var overrides: [String] = []
    @Option(name: .long, help: "Seed (overrides the configuration's seed; for `attack`, attack.seed).")
    var seed: Int?

    /// The configuration with the overrides and the seed (at `seedKey`) applied.
    func input(seedKey: [String] = ["seed"]) throws -> ConfigInput {
        var input = try ConfigInput(path: config, overrides: overrides)
        try input.set(seedKey, to: seed)
        return input
    }

    /// The file's name, as a run's label.
    var label: String { (config as NSString).lastPathComponent }
}

/// `--resume` for the commands that record their results.
struct ResumeOption: ParsableArguments {
    @Flag(name: .long, help: "Continue the latest interrupted run of the same configuration in the output folder, skipping what it recorded.")
    var resume = false
}

/// The command line as typed, without `--resume`, for the run's record.
var commandLineForRecord: String {
    (["outpost"] + CommandLine.arguments.dropFirst().filter { $0 != "--resume" }).joined(separator: " ")
}

/// Records a command's run in the results database of `directory`: opens (or resumes) the
/// run, marks it done or failed, and writes `report.html` beside the database.
/// Returns the body's result and the report's path.
func recordingRun<T>(in directory: String, kind: String, configuration: ConfigInput, label: String, resume: Bool, quiet: Bool,
                     _ body: (RunJournal) throws -> T) throws -> (result: T, report: String) {
    let canonical = try configuration.canonical()
    let journal = try RunJournal(directory: directory, kind: kind, commandLine: commandLineForRecord, configuration: canonical,
                                 label: label, resume: resume)
    if !quiet {
        if journal.resumed {
            log("resuming run #\(journal.runId) in \(directory)")
        } else if resume {
            let others = try journal.otherRuns(kind: kind, configuration: canonical)
            log("nothing to resume in \(directory)" + (others.isEmpty ? "" : " with this configuration (\(others.count) run(s) of `\(kind)` there have another)") + "; starting run #\(journal.runId)")
        }
    }
    let result: T
    do { result = try body(journal) } catch {
        try? journal.finish(.failed)
        throw error
    }
    try journal.finish(.done)
    let report = (directory as NSString).appendingPathComponent("report.html")
    var builder = ReportBuilder(store: journal.store, title: "Outpost \(kind): \(label)", runIDs: [journal.runId])
    builder.generatedAt = Date()
    try builder.write(to: report)
    return (result, report)
}

/// A line on standard error (progress and notes; results go to standard output).
func log(_ line: String) {
    FileHandle.standardError.write(Data("\(line)\n".utf8))
}
