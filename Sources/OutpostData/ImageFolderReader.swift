import Foundation

/// Reads a folder with one subfolder per class, each holding PNG or JPEG files:
///
///     root/cat/001.png
///     root/dog/a.jpg
///
/// Classes are the subfolder names in sorted order (label = position). Files are
/// read in sorted order; hidden files and files whose extension is not `.png`,
/// `.jpg` or `.jpeg` are ignored. All images must have the same size.
public enum ImageFolderReader {
    /// Extensions recognised as images (case-insensitive).
    public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg"]

    /// Loads the folder.
    ///
    /// - Parameters:
    ///   - channels: 1 or 3 to convert every image; `nil` keeps grayscale when all
    ///     images are grayscale and otherwise converts to RGB.
    ///   - normalization: known statistics, or `nil` to compute them.
    /// - Throws: ``DataError/sizeMismatch(path:record:expected:found:)`` for an image
    ///   whose size differs from the first, ``DataError/imageDecodeFailed(path:reason:)``
    ///   for undecodable files, ``DataError/invalidFormat(path:record:reason:)`` for
    ///   a folder without classes or images.
    public static func load(_ root: String, name: String = "image-folder", channels: Int? = nil,
                            normalization: Normalization? = nil) throws -> ImageDataset {
        guard FileIO.isDirectory(root) else { throw DataError.fileNotFound(path: root) }
        if let channels, channels != 1 && channels != 3 {
            throw DataError.invalidArgument("image folders can be read as 1 or 3 channels, not \(channels)")
        }
        let classes = try listing(root).filter { FileIO.isDirectory(join(root, $0)) }
        guard !classes.isEmpty else {
            throw DataError.invalidFormat(path: root, record: nil, reason: "no class subfolders")
        }
        var decoded: [(image: PixelImage, label: Int, path: String)] = []
        for (label, className) in classes.enumerated() {
            let folder = join(root, className)
            for file in try listing(folder) {
                let path = join(folder, file)
                let ext = (file as NSString).pathExtension.lowercased()
                guard imageExtensions.contains(ext), FileIO.isFile(path) else { continue }
                decoded.append((try ImageCodec.read(path), label, path))
            }
        }
        guard let first = decoded.first else {
            throw DataError.invalidFormat(path: root, record: nil, reason: "no PNG or JPEG images in the class folders")
        }
        let targetChannels = channels ?? (decoded.allSatisfy { $0.image.channels == 1 } ? 1 : 3)
        let width = first.image.width, height = first.image.height
        var pixels: [Float] = []
        pixels.reserveCapacity(decoded.count * targetChannels * width * height)
        for (index, item) in decoded.enumerated() {
            guard item.image.width == width, item.image.height == height else {
                throw DataError.sizeMismatch(path: item.path, record: index,
                                             expected: "\(width)×\(height) like \(first.path)",
                                             found: "\(item.image.width)×\(item.image.height)")
            }
            pixels.append(contentsOf: try item.image.converted(toChannels: targetChannels).pixels)
        }
        return try ImageDataset(name: name, images: pixels, labels: decoded.map(\.label), channels: targetChannels,
                                height: height, width: width, classCount: classes.count, classNames: classes,
                                normalization: normalization)
    }

    private static func listing(_ directory: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { !$0.hasPrefix(".") }
                .sorted()
        } catch {
            throw DataError.readFailed(path: directory, reason: error.localizedDescription)
        }
    }

    private static func join(_ a: String, _ b: String) -> String {
        (a as NSString).appendingPathComponent(b)
    }
}
