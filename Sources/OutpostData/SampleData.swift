import Foundation

/// The small real sample shipped inside the package (see `Samples/README.md`),
/// so demos run without downloading anything.
///
/// - `"mnist"`: the first 100 MNIST test images.
/// - `"fashion-mnist"`: the first 200 Fashion-MNIST test images.
/// - `"photos32"`: 60 natural-image patches, 32×32 RGB, 10 of each of 6 classes.
public enum SampleData {
    /// The names accepted by ``load(_:)``.
    public static let names = ["mnist", "fashion-mnist", "photos32"]

    /// The folder holding the samples inside the resource bundle.
    public static var directory: String? {
        Bundle.module.url(forResource: "Samples", withExtension: nil)?.path
    }

    /// Loads a shipped sample by name.
    ///
    /// - Throws: ``DataError/unknownDataset(name:known:)`` for a name not in ``names``,
    ///   ``DataError/fileNotFound(path:)`` when the resource bundle lacks the files.
    public static func load(_ name: String) throws -> ImageDataset {
        let key = name.lowercased()
        guard names.contains(key) else { throw DataError.unknownDataset(name: name, known: names) }
        guard let root = directory else { throw DataError.fileNotFound(path: "Samples (OutpostData resource bundle)") }
        let folder = (root as NSString).appendingPathComponent(key)
        var dataset = try DatasetCatalogue.load(key, split: key == "photos32" ? .train : .test, directory: folder)
        dataset.name = "\(key)-sample"
        return dataset
    }
}
