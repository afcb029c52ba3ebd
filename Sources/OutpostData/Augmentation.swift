/// Seeded training augmentation: random crop with zero padding and random
/// horizontal flip (the usual CIFAR recipe: pad 4, crop 32×32, flip with p = 0.5).
///
/// Apply it to images in [0, 1] *before* normalization, so the padding is black
/// like torchvision's `RandomCrop(32, padding=4)` on PIL images.
public struct Augmentation: Sendable, Equatable {
    /// Zero padding added on each side before cropping back to the original size (0 = no crop).
    public var padding: Int
    /// Whether to flip left-right with probability 0.5.
    public var horizontalFlip: Bool

    /// Creates an augmentation.
    public init(padding: Int = 4, horizontalFlip: Bool = true) {
        self.padding = max(padding, 0)
        self.horizontalFlip = horizontalFlip
    }

    /// The standard CIFAR augmentation (pad 4, flip).
    public static let cifar = Augmentation(padding: 4, horizontalFlip: true)

    /// Augments a batch stored B×C×H×W, drawing crop offsets and flips from `rng`
    /// (per image: x offset, y offset, then flip).
    ///
    /// - Throws: ``DataError/invalidArgument(_:)`` when `images` is not a whole number of C×H×W images.
    public func apply(to images: [Float], channels: Int, height: Int, width: Int,
                      rng: inout SeededGenerator) throws -> [Float] {
        let size = channels * height * width
        guard channels > 0, height > 0, width > 0, images.count % size == 0 else {
            throw DataError.invalidArgument("\(images.count) values are not whole \(channels)×\(height)×\(width) images")
        }
        let count = images.count / size
        var output = [Float](repeating: 0, count: images.count)
        let plane = height * width
        images.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                for n in 0..<count {
                    // Offset of the crop window inside the padded image, in 0...2·padding;
                    // a source pixel (y, x) lands at (y + padding - dy, x + padding - dx).
                    let dx = padding > 0 ? rng.nextInt(below: 2 * padding + 1) : 0
                    let dy = padding > 0 ? rng.nextInt(below: 2 * padding + 1) : 0
                    let flip = horizontalFlip && rng.nextBool()
                    for c in 0..<channels {
                        let base = n * size + c * plane
                        for y in 0..<height {
                            let sy = y + dy - padding
                            guard sy >= 0 && sy < height else { continue }
                            for x in 0..<width {
                                let cx = x + dx - padding
                                guard cx >= 0 && cx < width else { continue }
                                let sx = flip ? width - 1 - cx : cx
                                target[base + y * width + x] = source[base + sy * width + sx]
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    /// Augments a batch (labels unchanged).
    public func apply(to batch: Batch, rng: inout SeededGenerator) throws -> Batch {
        var result = batch
        result.images = try apply(to: batch.images, channels: batch.channels, height: batch.height,
                                  width: batch.width, rng: &rng)
        return result
    }
}
