/// The errors thrown by OutpostMetrics. Every case describes itself in a sentence that names the
/// offending value (see ``description``).
public enum MetricsError: Error, CustomStringConvertible, Sendable {
    /// An image dimension is zero or negative.
    case emptyImage(channels: Int, height: Int, width: Int)
    /// The pixel array does not hold `channels * height * width` values.
    case pixelCountMismatch(expected: Int, actual: Int, shape: String)
    /// A pixel is NaN or infinite.
    case nonFinitePixel(channel: Int, row: Int, column: Int, value: String)
    /// A pixel lies outside [0, 1] and the image was built with ``Image/OutOfRangePolicy/reject``.
    case pixelOutOfRange(channel: Int, row: Int, column: Int, value: Double)
    /// Two images that must have the same shape do not.
    case shapeMismatch(first: String, second: String)
    /// The image is smaller than 7×7, the least SSIM accepts.
    case imageTooSmall(height: Int, width: Int, minimum: Int)
    /// The image is at least 7×7 but smaller than the SSIM window (11 by default).
    case imageSmallerThanWindow(height: Int, width: Int, windowSize: Int)
    /// The SSIM window size is not an odd number of at least 7.
    case invalidWindowSize(Int)
    /// A batch (or label list) that must not be empty is empty.
    case emptyBatch(String)
    /// A cost matrix is ragged or holds a NaN or infinite cost.
    case invalidCostMatrix(String)
    /// Two lists that must have the same length do not.
    case countMismatch(what: String, expected: Int, actual: Int)
    /// A brightness search grid is empty or holds a non-finite or non-positive value.
    case invalidBrightnessSearch(String)
    /// A pairing does not fit the batches it is applied to.
    case invalidPairing(String)
    /// A label score is NaN or infinite.
    case invalidScore(row: Int, column: Int, value: String)

    /// A one-sentence explanation naming the offending values, for logs and command-line output.
    public var description: String {
        switch self {
        case let .emptyImage(c, h, w):
            return "empty image: shape \(c)x\(h)x\(w) (channels x height x width) must have every dimension >= 1"
        case let .pixelCountMismatch(expected, actual, shape):
            return "pixel count mismatch: shape \(shape) needs \(expected) pixels, got \(actual)"
        case let .nonFinitePixel(c, y, x, value):
            return "non-finite pixel \(value) at channel \(c), row \(y), column \(x)"
        case let .pixelOutOfRange(c, y, x, value):
            return "pixel \(value) at channel \(c), row \(y), column \(x) is outside [0, 1]; "
                + "build the image with outOfRange: .clamp to clamp it"
        case let .shapeMismatch(first, second):
            return "image shape mismatch: \(first) vs \(second) (channels x height x width)"
        case let .imageTooSmall(h, w, minimum):
            return "image \(h)x\(w) is too small for SSIM: both sides must be at least \(minimum) pixels"
        case let .imageSmallerThanWindow(h, w, window):
            let side = Swift.min(h, w)
            let largestOdd = side % 2 == 1 ? side : side - 1
            return "image \(h)x\(w) is smaller than the \(window)x\(window) SSIM window "
                + "(scikit-image raises here too); pass an odd windowSize from 7 to \(largestOdd) "
                + "to crop a smaller border, as scikit-image's win_size does"
        case let .invalidWindowSize(size):
            return "invalid SSIM window size \(size): it must be odd and at least 7"
        case let .emptyBatch(what):
            return "empty batch: \(what)"
        case let .invalidCostMatrix(reason):
            return "invalid cost matrix: \(reason)"
        case let .countMismatch(what, expected, actual):
            return "count mismatch in \(what): expected \(expected), got \(actual)"
        case let .invalidBrightnessSearch(reason):
            return "invalid brightness search: \(reason)"
        case let .invalidPairing(reason):
            return "invalid pairing: \(reason)"
        case let .invalidScore(row, column, value):
            return "non-finite label score \(value) at row \(row), column \(column)"
        }
    }
}
