import Foundation

/// Per-channel mean and standard deviation recorded with a data set.
///
/// Models are usually trained on normalized pixels `(x - mean[c]) / std[c]`;
/// attacks and metrics map reconstructions back to [0, 1] with
/// ``denormalize(_:planeSize:clampToUnit:)``.
public struct Normalization: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Mean of each channel, in [0, 1] pixel units.
    public var mean: [Float]
    /// Standard deviation of each channel (strictly positive).
    public var std: [Float]

    /// Creates a normalization; `mean` and `std` must have the same non-zero
    /// length and every `std` must be positive and finite.
    public init(mean: [Float], std: [Float]) throws {
        guard !mean.isEmpty, mean.count == std.count else {
            throw DataError.invalidArgument("normalization needs one mean and one std per channel (got \(mean.count) and \(std.count))")
        }
        guard std.allSatisfy({ $0 > 0 && $0.isFinite }), mean.allSatisfy({ $0.isFinite }) else {
            throw DataError.invalidArgument("normalization std must be positive and finite, mean finite (std \(std))")
        }
        self.mean = mean
        self.std = std
    }

    private init(uncheckedMean mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    /// Number of channels.
    public var channels: Int { mean.count }

    /// MNIST training-set statistics (0.1307, 0.3081).
    public static let mnist = Normalization(uncheckedMean: [0.1307], std: [0.3081])
    /// Fashion-MNIST training-set statistics (0.2860, 0.3530).
    public static let fashionMNIST = Normalization(uncheckedMean: [0.2860], std: [0.3530])
    /// CIFAR-10 training-set statistics.
    public static let cifar10 = Normalization(uncheckedMean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])
    /// CIFAR-100 training-set statistics.
    public static let cifar100 = Normalization(uncheckedMean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762])

    /// The identity normalization (mean 0, std 1) for `channels` channels.
    public static func identity(channels: Int) -> Normalization {
        Normalization(uncheckedMean: [Float](repeating: 0, count: max(channels, 1)),
                      std: [Float](repeating: 1, count: max(channels, 1)))
    }

    /// Computes per-channel mean and (population) standard deviation from
    /// images stored N×C×H×W. A channel with zero spread gets std 1.
    public static func computed(from images: [Float], channels: Int, planeSize: Int) throws -> Normalization {
        guard channels > 0, planeSize > 0, images.count % (channels * planeSize) == 0, !images.isEmpty else {
            throw DataError.invalidArgument("cannot compute statistics of \(images.count) values as N×\(channels)×\(planeSize)")
        }
        var sums = [Double](repeating: 0, count: channels)
        var squares = [Double](repeating: 0, count: channels)
        images.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let imageSize = channels * planeSize
            let count = buffer.count / imageSize
            for c in 0..<channels {
                var s = 0.0, q = 0.0
                for n in 0..<count {
                    let plane = base + n * imageSize + c * planeSize
                    for i in 0..<planeSize { let v = Double(plane[i]); s += v; q += v * v }
                }
                sums[c] = s; squares[c] = q
            }
        }
        let n = Double(images.count / channels)
        var mean = [Float](), std = [Float]()
        for c in 0..<channels {
            let m = sums[c] / n
            let variance = max(squares[c] / n - m * m, 0)
            let s = variance.squareRoot()
            mean.append(Float(m))
            std.append(s > 1e-12 && s.isFinite ? Float(s) : 1)
        }
        return Normalization(uncheckedMean: mean, std: std)
    }

    /// Returns `(x - mean[c]) / std[c]` for pixels stored as (N×)C×H×W, where the
    /// channel of element `i` is `(i / planeSize) % channels`.
    public func normalize(_ pixels: [Float], planeSize: Int) -> [Float] {
        apply(pixels, planeSize: planeSize) { value, c in (value - mean[c]) / std[c] }
    }

    /// Inverse of ``normalize(_:planeSize:)``: `x * std[c] + mean[c]`, optionally
    /// clamped to [0, 1].
    public func denormalize(_ pixels: [Float], planeSize: Int, clampToUnit: Bool = false) -> [Float] {
        apply(pixels, planeSize: planeSize) { value, c in
            let v = value * std[c] + mean[c]
            return clampToUnit ? min(max(v, 0), 1) : v
        }
    }

    private func apply(_ pixels: [Float], planeSize: Int, _ transform: (Float, Int) -> Float) -> [Float] {
        guard planeSize > 0 else { return pixels }
        var result = pixels
        result.withUnsafeMutableBufferPointer { buffer in
            for i in 0..<buffer.count {
                buffer[i] = transform(buffer[i], (i / planeSize) % channels)
            }
        }
        return result
    }

    /// The statistics as text, e.g. `mean (0.1307), std (0.3081)`.
    public var description: String {
        let m = mean.map { String(format: "%.4f", $0) }.joined(separator: ", ")
        let s = std.map { String(format: "%.4f", $0) }.joined(separator: ", ")
        return "mean (\(m)), std (\(s))"
    }
}

/// A labelled image data set held as plain Swift arrays.
///
/// Images are stored contiguously in N×C×H×W order with pixel values in [0, 1];
/// ``normalization`` records the statistics a model should use.
public struct ImageDataset: Sendable {
    /// A short name (for example `"mnist"`), used in messages and tables.
    public var name: String
    /// All pixels, N×C×H×W, in [0, 1].
    public private(set) var images: [Float]
    /// One label per image, each in `0..<classCount`.
    public private(set) var labels: [Int]
    /// Channels per image (1 for grayscale, 3 for RGB).
    public let channels: Int
    /// Image height in pixels.
    public let height: Int
    /// Image width in pixels.
    public let width: Int
    /// Number of classes; labels lie in `0..<classCount`.
    public let classCount: Int
    /// Optional human-readable class names (`classNames.count == classCount`).
    public var classNames: [String]?
    /// Per-channel statistics to normalize the images with.
    public var normalization: Normalization

    /// Creates a data set, validating shapes and labels.
    ///
    /// - Throws: ``DataError/invalidArgument(_:)`` when the array sizes do not
    ///   match, a label is out of range or the class names do not match `classCount`.
    public init(name: String, images: [Float], labels: [Int], channels: Int, height: Int, width: Int,
                classCount: Int, classNames: [String]? = nil, normalization: Normalization? = nil) throws {
        guard channels > 0, height > 0, width > 0, classCount > 0 else {
            throw DataError.invalidArgument("image shape \(channels)×\(height)×\(width) and class count \(classCount) must be positive")
        }
        let size = channels * height * width
        guard images.count == labels.count * size else {
            throw DataError.invalidArgument("\(images.count) pixel values do not make \(labels.count) images of \(channels)×\(height)×\(width)")
        }
        if let index = labels.firstIndex(where: { $0 < 0 || $0 >= classCount }) {
            throw DataError.invalidArgument("label \(labels[index]) of sample \(index) is outside 0..<\(classCount)")
        }
        if let names = classNames, names.count != classCount {
            throw DataError.invalidArgument("\(names.count) class names for \(classCount) classes")
        }
        let stats: Normalization
        if let normalization {
            guard normalization.channels == channels else {
                throw DataError.invalidArgument("normalization has \(normalization.channels) channels, images have \(channels)")
            }
            stats = normalization
        } else if images.isEmpty {
            stats = .identity(channels: channels)
        } else {
            stats = try Normalization.computed(from: images, channels: channels, planeSize: height * width)
        }
        self.name = name
        self.images = images
        self.labels = labels
        self.channels = channels
        self.height = height
        self.width = width
        self.classCount = classCount
        self.classNames = classNames
        self.normalization = stats
    }

    /// Number of images.
    public var count: Int { labels.count }
    /// Values per image (`channels * height * width`).
    public var sampleSize: Int { channels * height * width }
    /// Shape of one image as `[channels, height, width]`.
    public var imageShape: [Int] { [channels, height, width] }

    private func check(_ index: Int) throws {
        guard index >= 0 && index < count else {
            throw DataError.invalidArgument("sample index \(index) is outside 0..<\(count) of \(name)")
        }
    }

    /// The pixels (C×H×W, [0, 1]) of image `index`.
    public func image(at index: Int) throws -> [Float] {
        try check(index)
        return Array(images[index * sampleSize ..< (index + 1) * sampleSize])
    }

    /// The pixels and label of one sample.
    public func sample(at index: Int) throws -> Sample {
        Sample(pixels: try image(at: index), label: labels[index], channels: channels, height: height, width: width)
    }

    /// Image `index` as a ``PixelImage`` (for writing PNGs and grids).
    public func pixelImage(at index: Int) throws -> PixelImage {
        try PixelImage(width: width, height: height, channels: channels, pixels: image(at: index))
    }

    /// The class name of `label`, or the label as text when there are no names.
    public func className(of label: Int) -> String {
        if let names = classNames, label >= 0, label < names.count { return names[label] }
        return String(label)
    }

    /// A new data set with the samples at `indices`, in that order (repeats allowed).
    /// The normalization and class names are kept.
    public func subset(_ indices: [Int]) throws -> ImageDataset {
        let batch = try self.batch(indices)
        var result = self
        result.images = batch.images
        result.labels = batch.labels
        return result
    }

    /// The first `n` samples (or all of them when there are fewer).
    public func prefix(_ n: Int) throws -> ImageDataset {
        try subset(Array(0..<min(max(n, 0), count)))
    }

    /// Gathers the samples at `indices` into one contiguous batch.
    public func batch(_ indices: [Int]) throws -> Batch {
        for index in indices { try check(index) }
        let size = sampleSize
        var pixels = [Float](repeating: 0, count: indices.count * size)
        images.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { destination in
                guard let src = source.baseAddress, let dst = destination.baseAddress else { return }
                for (row, index) in indices.enumerated() {
                    (dst + row * size).update(from: src + index * size, count: size)
                }
            }
        }
        return Batch(unchecked: pixels, labels: indices.map { labels[$0] }, channels: channels, height: height, width: width)
    }

    /// The batch of samples `range` (clamped to the data set).
    public func batch(_ range: Range<Int>) throws -> Batch {
        let clamped = range.clamped(to: 0..<count)
        return try batch(Array(clamped))
    }

    /// Splits `0..<count` into consecutive index batches of `size` (the last may be
    /// shorter), shuffled with `seed` when one is given.
    public func batchIndices(size: Int, shuffleSeed seed: UInt64? = nil) throws -> [[Int]] {
        guard size > 0 else { throw DataError.invalidArgument("batch size must be positive, got \(size)") }
        var order = Array(0..<count)
        if let seed {
            var rng = SeededGenerator(seed: seed)
            rng.shuffle(&order)
        }
        return stride(from: 0, to: order.count, by: size).map { Array(order[$0 ..< min($0 + size, order.count)]) }
    }

    /// All images normalized with ``normalization``.
    public func normalizedImages() -> [Float] {
        normalization.normalize(images, planeSize: height * width)
    }

    /// Number of samples of each class.
    public func labelHistogram() -> [Int] {
        var histogram = [Int](repeating: 0, count: classCount)
        for label in labels { histogram[label] += 1 }
        return histogram
    }

    /// Replaces the images (for example with augmented ones) keeping labels and metadata.
    public func withImages(_ newImages: [Float]) throws -> ImageDataset {
        guard newImages.count == images.count else {
            throw DataError.invalidArgument("replacement images have \(newImages.count) values, expected \(images.count)")
        }
        var result = self
        result.images = newImages
        return result
    }
}

/// One image and its label.
public struct Sample: Sendable, Equatable {
    /// Pixels, C×H×W, in [0, 1].
    public var pixels: [Float]
    /// The class label.
    public var label: Int
    /// Channels, height and width of the image.
    public var channels: Int, height: Int, width: Int

    /// Creates a sample (no validation: a plain value).
    public init(pixels: [Float], label: Int, channels: Int, height: Int, width: Int) {
        self.pixels = pixels
        self.label = label
        self.channels = channels
        self.height = height
        self.width = width
    }
}

/// A contiguous batch of images (B×C×H×W, [0, 1]) with labels.
public struct Batch: Sendable, Equatable {
    /// Pixels, B×C×H×W.
    public var images: [Float]
    /// One label per image.
    public var labels: [Int]
    /// Channels, height and width of each image.
    public var channels: Int, height: Int, width: Int
    /// Number of images in the batch.
    public var count: Int { labels.count }
    /// Shape as `[count, channels, height, width]`.
    public var shape: [Int] { [count, channels, height, width] }

    /// Creates a batch; `images.count` must be `labels.count * channels * height * width`.
    public init(images: [Float], labels: [Int], channels: Int, height: Int, width: Int) throws {
        guard channels > 0, height > 0, width > 0, images.count == labels.count * channels * height * width else {
            throw DataError.invalidArgument("\(images.count) values do not make \(labels.count) images of \(channels)×\(height)×\(width)")
        }
        self.init(unchecked: images, labels: labels, channels: channels, height: height, width: width)
    }

    init(unchecked images: [Float], labels: [Int], channels: Int, height: Int, width: Int) {
        self.images = images
        self.labels = labels
        self.channels = channels
        self.height = height
        self.width = width
    }
}
