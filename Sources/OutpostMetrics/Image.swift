/// An image for the leakage metrics: `channels` planes of `height` × `width` pixels, stored in
/// C×H×W order (all of channel 0 row by row, then channel 1, …), every pixel a finite value in
/// [0, 1]. Pixels are held as `Double` so metrics are computed in double precision; `Float`
/// input converts exactly.
///
/// The initializer validates its input and throws ``MetricsError`` on an empty shape, a pixel
/// count that does not match the shape, a NaN or infinite pixel, or (unless asked to clamp) a
/// pixel outside [0, 1].
public struct Image: Sendable, Equatable {
    /// What to do with a finite pixel outside [0, 1].
    public enum OutOfRangePolicy: Sendable, Equatable {
        /// Throw ``MetricsError/pixelOutOfRange(channel:row:column:value:)``.
        case reject
        /// Clamp the pixel to 0 or 1 (for reconstructions that overshoot the valid range).
        case clamp
    }

    /// Number of channels (1 for grayscale, 3 for RGB).
    public let channels: Int
    /// Number of rows.
    public let height: Int
    /// Number of columns.
    public let width: Int
    /// The pixels in C×H×W order; `pixels.count == channels * height * width`, all in [0, 1].
    public let pixels: [Double]

    /// Builds an image from C×H×W pixels.
    ///
    /// - Parameters:
    ///   - channels: number of channels, at least 1.
    ///   - height: number of rows, at least 1.
    ///   - width: number of columns, at least 1.
    ///   - pixels: `channels * height * width` values in C×H×W order.
    ///   - outOfRange: whether a finite value outside [0, 1] is an error (the default) or is clamped.
    /// - Throws: ``MetricsError/emptyImage(channels:height:width:)``,
    ///   ``MetricsError/pixelCountMismatch(expected:actual:shape:)``,
    ///   ``MetricsError/nonFinitePixel(channel:row:column:value:)`` or
    ///   ``MetricsError/pixelOutOfRange(channel:row:column:value:)``.
    public init<T: BinaryFloatingPoint>(
        channels: Int, height: Int, width: Int, pixels: [T], outOfRange: OutOfRangePolicy = .reject
    ) throws {
        guard channels >= 1, height >= 1, width >= 1 else {
            throw MetricsError.emptyImage(channels: channels, height: height, width: width)
        }
        let (count, overflow) = channels.multipliedReportingOverflow(by: height)
        let (expected, overflow2) = count.multipliedReportingOverflow(by: width)
        guard !overflow, !overflow2, pixels.count == expected else {
            throw MetricsError.pixelCountMismatch(
                expected: overflow || overflow2 ? Int.max : expected, actual: pixels.count,
                shape: "\(channels)x\(height)x\(width)")
        }
        let plane = height * width
        var values = [Double](repeating: 0, count: expected)
        for i in 0..<expected {
            let v = Double(pixels[i])
            if !v.isFinite {
                throw MetricsError.nonFinitePixel(
                    channel: i / plane, row: (i % plane) / width, column: i % width, value: "\(v)")
            }
            if v < 0 || v > 1 {
                if outOfRange == .reject {
                    throw MetricsError.pixelOutOfRange(
                        channel: i / plane, row: (i % plane) / width, column: i % width, value: v)
                }
                values[i] = v < 0 ? 0 : 1
            } else {
                values[i] = v
            }
        }
        self.channels = channels
        self.height = height
        self.width = width
        self.pixels = values
    }

    /// Splits a flat N×C×H×W array (the layout of an image tensor) into `count` images.
    ///
    /// - Throws: ``MetricsError/emptyBatch(_:)`` when `count` < 1,
    ///   ``MetricsError/pixelCountMismatch(expected:actual:shape:)`` when the array does not hold
    ///   `count * channels * height * width` values, and the per-image errors of
    ///   ``init(channels:height:width:pixels:outOfRange:)`` (the channel/row/column they name are
    ///   within the offending image).
    public static func batch<T: BinaryFloatingPoint>(
        count: Int, channels: Int, height: Int, width: Int, pixels: [T],
        outOfRange: OutOfRangePolicy = .reject
    ) throws -> [Image] {
        guard count >= 1 else { throw MetricsError.emptyBatch("a batch needs at least one image, got count \(count)") }
        guard channels >= 1, height >= 1, width >= 1 else {
            throw MetricsError.emptyImage(channels: channels, height: height, width: width)
        }
        let (per, o1) = channels.multipliedReportingOverflow(by: height)
        let (perImage, o2) = per.multipliedReportingOverflow(by: width)
        let (total, o3) = perImage.multipliedReportingOverflow(by: count)
        guard !o1, !o2, !o3, pixels.count == total else {
            throw MetricsError.pixelCountMismatch(
                expected: o1 || o2 || o3 ? Int.max : total, actual: pixels.count,
                shape: "\(count)x\(channels)x\(height)x\(width)")
        }
        return try (0..<count).map { n in
            try Image(channels: channels, height: height, width: width,
                      pixels: Array(pixels[(n * perImage)..<((n + 1) * perImage)]), outOfRange: outOfRange)
        }
    }

    /// Builds an image from pixels already known to be valid (finite, in [0, 1], right count).
    init(validatedChannels channels: Int, height: Int, width: Int, pixels: [Double]) {
        precondition(pixels.count == channels * height * width)
        self.channels = channels
        self.height = height
        self.width = width
        self.pixels = pixels
    }

    /// The shape as text, `"C x H x W"` without spaces, e.g. `"3x32x32"`.
    public var shapeDescription: String { "\(channels)x\(height)x\(width)" }

    /// Whether `other` has the same channels, height and width.
    public func hasSameShape(as other: Image) -> Bool {
        channels == other.channels && height == other.height && width == other.width
    }

    /// The pixel at channel `c`, row `y`, column `x` (all zero-based; traps when out of bounds,
    /// like an array subscript).
    public subscript(c: Int, y: Int, x: Int) -> Double {
        precondition(c >= 0 && c < channels && y >= 0 && y < height && x >= 0 && x < width,
                     "pixel index (\(c), \(y), \(x)) out of bounds for \(shapeDescription)")
        return pixels[(c * height + y) * width + x]
    }

    /// A `height` × `width` window of every channel starting at row `top`, column `left`.
    ///
    /// - Throws: ``MetricsError/emptyImage(channels:height:width:)`` for an empty window and
    ///   ``MetricsError/shapeMismatch(first:second:)`` when the window leaves the image.
    public func cropped(top: Int, left: Int, height h: Int, width w: Int) throws -> Image {
        guard h >= 1, w >= 1 else { throw MetricsError.emptyImage(channels: channels, height: h, width: w) }
        guard top >= 0, left >= 0, top + h <= height, left + w <= width else {
            throw MetricsError.shapeMismatch(
                first: shapeDescription,
                second: "crop rows \(top)..<\(top + h), columns \(left)..<\(left + w)")
        }
        var out = [Double]()
        out.reserveCapacity(channels * h * w)
        for c in 0..<channels {
            for y in top..<(top + h) {
                let start = (c * height + y) * width + left
                out.append(contentsOf: pixels[start..<(start + w)])
            }
        }
        return Image(validatedChannels: channels, height: h, width: w, pixels: out)
    }
}

/// Checks that two images have the same shape.
func requireSameShape(_ a: Image, _ b: Image) throws {
    guard a.hasSameShape(as: b) else {
        throw MetricsError.shapeMismatch(first: a.shapeDescription, second: b.shapeDescription)
    }
}

/// Checks that a batch is non-empty and that all its images share one shape.
func requireUniformBatch(_ images: [Image], name: String) throws {
    guard let first = images.first else { throw MetricsError.emptyBatch("\(name) holds no images") }
    for image in images.dropFirst() { try requireSameShape(first, image) }
}
