import ArgumentParser
#if canImport(CJemalloc)
import CJemalloc  // links jemalloc as the process's allocator (see Package.swift)
#endif
import Foundation
import OutpostAttacks
import OutpostConfig
import OutpostData
import OutpostExperiments
import OutpostMetrics
import OutpostTensor

@main
struct Outpost: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outpost",
        abstract: "How much of a client's data can a federated-learning server reconstruct, and what does each defense cost?",
        discussion: """
        Examples:
          outpost demo
          outpost run examples/run/fedavg-attacks.yml
          outpost attack examples/attack/captured-gradient.yml
          outpost evaluate examples/evaluate/table3.yml
          outpost train examples/train/fig3.yml
          outpost report out/table3
          outpost metrics truth.png reconstruction.png
          outpost data list
        """,
        subcommands: [Demo.self, Run.self, Attack.self, Evaluate.self, Train.self, Threshold.self, Report.self, Metrics.self, DataCommand.self, Bench.self])
}

/// Options every command shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Threads for the engine (default: all cores).")
    var threads: Int?
    @Flag(name: .long, help: "Print only errors and the final result.")
    var quiet = false
    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false

    func apply() throws {
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            Engine.threads = threads
        }
    }
}

/// Prints configuration and input problems as one clear message and exits with status 2,
/// instead of a stack trace.
func reportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ValidationError { throw e } catch let e as ExitCode { throw e } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(2)
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: Encoder) throws { try value.encode(to: encoder) }
}
