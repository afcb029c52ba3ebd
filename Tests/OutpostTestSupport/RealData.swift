import Foundation
import OutpostData
import OutpostMetrics
import OutpostTensor
import XCTest

/// The real data sets beside the checkout (`../shared/data`), shared by the test targets;
/// tests that need them skip without them.
public enum RealData {
    /// The repository root: the folder with Package.swift above this file.
    public static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url = url.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    /// A data set from `../shared/data`, or an `XCTSkip` when the folder is absent.
    public static func dataset(_ name: String, split: Split = .train) throws -> ImageDataset {
        let dir = repositoryRoot.appendingPathComponent("../shared/data").standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: dir) else { throw XCTSkip("real data folder \(dir) is absent") }
        return try loadDataset(name, split: split, directory: dir)
    }

    /// Images `indices` of a data set as an N×C×H×W pixel tensor with their labels.
    public static func images(_ ds: ImageDataset, _ indices: [Int]) -> (Tensor, [Int]) {
        let size = ds.channels * ds.height * ds.width
        var values: [Float] = []
        for i in indices { values += ds.images[(i * size)..<((i + 1) * size)] }
        return (Tensor(values, shape: [indices.count, ds.channels, ds.height, ds.width]), indices.map { ds.labels[$0] })
    }
}

/// SSIM of image i of two N×C×H×W pixel tensors (the reconstruction clamped to [0, 1]).
public func ssim(_ truth: Tensor, _ reconstruction: Tensor, _ i: Int = 0) throws -> Double {
    let c = truth.shape[1], h = truth.shape[2], w = truth.shape[3]
    let a = try Image(channels: c, height: h, width: w, pixels: Array(truth[i].doubles))
    let b = try Image(channels: c, height: h, width: w, pixels: Array(reconstruction[i].doubles), outOfRange: .clamp)
    return try ImageMetrics.ssim(a, b)
}
