import ArgumentParser
import Foundation
import OutpostAttacks
import OutpostConfig
import OutpostData
import OutpostExperiments
import OutpostMetrics
import OutpostTensor

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "List, inspect and download data sets.",
        subcommands: [List.self, Inspect.self, Download.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The data sets Outpost reads.")
        func run() throws {
            for name in DatasetCatalogue.names { print(name) }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Counts, image shape and label histogram of a data set.",
            discussion: "Example: outpost data inspect fashion-mnist --dir ../shared/data --split test")
        @Argument(help: "Data set name (see `outpost data list`).")
        var name: String
        @Option(help: "The folder holding the data set (or its parent).")
        var dir: String
        @Option(help: "train or test.")
        var split: String = "train"
        @OptionGroup var common: CommonOptions

        struct Info: Encodable { let name: String; let count: Int; let shape: [Int]; let classes: Int; let histogram: [Int] }

        func run() throws {
            guard let s = Split(rawValue: split) else { throw ValidationError("--split must be train or test") }
            try reportingErrors {
                let ds = try loadDataset(name, split: s, directory: dir)
                let info = Info(name: ds.name, count: ds.count, shape: [ds.channels, ds.height, ds.width], classes: ds.classCount, histogram: ds.labelHistogram())
                if common.json { try printJSON(info); return }
                print("\(info.name) (\(split)): \(info.count) images of \(info.shape.map(String.init).joined(separator: "×")), \(info.classes) classes")
                for (label, count) in info.histogram.enumerated() { print("  \(ds.className(of: label)): \(count)") }
            }
        }
    }

    struct Download: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a data set from its official source, verifying checksums; interrupted downloads resume.",
            discussion: "Example: outpost data download mnist --dir data")
        @Argument(help: "Data set name.")
        var name: String
        @Option(help: "Destination folder.")
        var dir: String = "data"

        func run() throws {
            try reportingErrors {
                let downloader = Downloader(timeout: 60) { FileHandle.standardError.write(Data("\($0)\n".utf8)) }
                for path in try downloader.download(dataset: name, into: dir) { print(path) }
            }
        }
    }
}
