import Foundation

/// The structural-similarity machinery shared by ``ImageMetrics/ssim(_:_:windowSize:)`` and the
/// brightness search. It reproduces scikit-image 0.19's
/// `structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
/// data_range=1, channel_axis=0, win_size=windowSize)`:
///
/// 1. local means, variances and the covariance come from a separable Gaussian filter (σ = 1.5,
///    truncated at 3.5σ, so an 11-tap kernel `exp(-k²/(2σ²))` for k = -5…5, normalized to sum 1),
///    applied as `scipy.ndimage.gaussian_filter` does with mode `'reflect'`: the image is extended
///    by mirroring with the edge pixel repeated (`d c b a | a b c d | d c b a`);
/// 2. variances are population variances (`E[x²] - E[x]²`, no N/(N-1) factor);
/// 3. the SSIM map is `((2 μx μy + C1)(2 σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2))` with
///    C1 = (0.01)², C2 = (0.03)² (data range 1);
/// 4. `(windowSize - 1) / 2` pixels are cropped from every border of the map and the rest is
///    averaged; channels are averaged with equal weight.
///
/// Everything is computed in `Double`.
struct SSIMEngine {
    /// Filter taps reach this far from the centre (int(3.5 · 1.5 + 0.5) = 5).
    static let radius = Int(ImageMetrics.ssimTruncate * ImageMetrics.ssimSigma + 0.5)
    static let weights: [Double] = {
        let sigma2 = ImageMetrics.ssimSigma * ImageMetrics.ssimSigma
        let raw = (-radius...radius).map { k in exp(-0.5 / sigma2 * Double(k * k)) }
        let sum = raw.reduce(0, +)
        return raw.map { $0 / sum }
    }()

    let height: Int
    let width: Int
    let windowSize: Int
    /// For row y and tap k: the source row `reflect(y + k - radius)`.
    private let rowTaps: [Int]
    /// For column x and tap k: the source column `reflect(x + k - radius)`.
    private let columnTaps: [Int]

    /// Validates the image size against the window and prepares the reflection tables.
    init(height: Int, width: Int, windowSize: Int) throws {
        guard windowSize >= ImageMetrics.ssimMinimumSide, windowSize % 2 == 1 else {
            throw MetricsError.invalidWindowSize(windowSize)
        }
        guard height >= ImageMetrics.ssimMinimumSide, width >= ImageMetrics.ssimMinimumSide else {
            throw MetricsError.imageTooSmall(height: height, width: width, minimum: ImageMetrics.ssimMinimumSide)
        }
        guard height >= windowSize, width >= windowSize else {
            throw MetricsError.imageSmallerThanWindow(height: height, width: width, windowSize: windowSize)
        }
        self.height = height
        self.width = width
        self.windowSize = windowSize
        let taps = 2 * Self.radius + 1
        var rows = [Int](repeating: 0, count: height * taps)
        for y in 0..<height {
            for k in 0..<taps { rows[y * taps + k] = reflectIndex(y + k - Self.radius, count: height) }
        }
        var columns = [Int](repeating: 0, count: width * taps)
        for x in 0..<width {
            for k in 0..<taps { columns[x * taps + k] = reflectIndex(x + k - Self.radius, count: width) }
        }
        rowTaps = rows
        columnTaps = columns
    }

    /// Gaussian-filters one `height` × `width` plane (axis 0, then axis 1, as scipy does).
    func filter(_ source: UnsafeBufferPointer<Double>) -> [Double] {
        let h = height, w = width, taps = 2 * Self.radius + 1
        var vertical = [Double](repeating: 0, count: h * w)
        var out = [Double](repeating: 0, count: h * w)
        Self.weights.withUnsafeBufferPointer { weight in
            rowTaps.withUnsafeBufferPointer { rowTap in
                columnTaps.withUnsafeBufferPointer { columnTap in
                    vertical.withUnsafeMutableBufferPointer { v in
                        for y in 0..<h {
                            for k in 0..<taps {
                                let wk = weight[k]
                                let src = rowTap[y * taps + k] * w
                                let dst = y * w
                                for x in 0..<w { v[dst + x] += wk * source[src + x] }
                            }
                        }
                    }
                    vertical.withUnsafeBufferPointer { v in
                        out.withUnsafeMutableBufferPointer { o in
                            for y in 0..<h {
                                let row = y * w
                                for x in 0..<w {
                                    var sum = 0.0
                                    let tap = x * taps
                                    for k in 0..<taps { sum += weight[k] * v[row + columnTap[tap + k]] }
                                    o[row + x] = sum
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Filtered statistics of one channel of the reference image: μx and E[x²].
    struct ReferenceChannel {
        let plane: [Double]
        let mean: [Double]
        let meanOfSquares: [Double]
    }

    /// Filters one channel of the reference (ground-truth) image once, for reuse.
    func reference(_ plane: ArraySlice<Double>) -> ReferenceChannel {
        let x = Array(plane)
        let squares = x.map { $0 * $0 }
        let mean = x.withUnsafeBufferPointer { filter($0) }
        let meanOfSquares = squares.withUnsafeBufferPointer { filter($0) }
        return ReferenceChannel(plane: x, mean: mean, meanOfSquares: meanOfSquares)
    }

    /// Mean SSIM of one channel `y` against a prepared reference channel.
    func meanSSIM(_ ref: ReferenceChannel, _ plane: ArraySlice<Double>) -> Double {
        let y = Array(plane)
        let n = height * width
        var yy = [Double](repeating: 0, count: n)
        var xy = [Double](repeating: 0, count: n)
        for i in 0..<n {
            yy[i] = y[i] * y[i]
            xy[i] = ref.plane[i] * y[i]
        }
        let uy = y.withUnsafeBufferPointer { filter($0) }
        let uyy = yy.withUnsafeBufferPointer { filter($0) }
        let uxy = xy.withUnsafeBufferPointer { filter($0) }
        let c1 = (ImageMetrics.ssimK1 * ImageMetrics.dataRange) * (ImageMetrics.ssimK1 * ImageMetrics.dataRange)
        let c2 = (ImageMetrics.ssimK2 * ImageMetrics.dataRange) * (ImageMetrics.ssimK2 * ImageMetrics.dataRange)
        let pad = (windowSize - 1) / 2
        var sum = 0.0
        for row in pad..<(height - pad) {
            for column in pad..<(width - pad) {
                let i = row * width + column
                let mx = ref.mean[i], my = uy[i]
                let vx = ref.meanOfSquares[i] - mx * mx
                let vy = uyy[i] - my * my
                let vxy = uxy[i] - mx * my
                let a1 = 2 * mx * my + c1
                let a2 = 2 * vxy + c2
                let b1 = mx * mx + my * my + c1
                let b2 = vx + vy + c2
                sum += (a1 * a2) / (b1 * b2)
            }
        }
        return sum / Double((height - 2 * pad) * (width - 2 * pad))
    }

    /// Prepares every channel of a reference image.
    func reference(_ image: Image) -> [ReferenceChannel] {
        let plane = height * width
        return (0..<image.channels).map { c in reference(image.pixels[(c * plane)..<((c + 1) * plane)]) }
    }

    /// Mean SSIM over channels of `image` against prepared reference channels.
    func meanSSIM(_ ref: [ReferenceChannel], _ image: Image) -> Double {
        let plane = height * width
        var total = 0.0
        for c in 0..<image.channels {
            total += meanSSIM(ref[c], image.pixels[(c * plane)..<((c + 1) * plane)])
        }
        return total / Double(image.channels)
    }
}

/// scipy.ndimage's `'reflect'` boundary: index `i` of a line of `count` samples, extended as
/// `d c b a | a b c d | d c b a` (period `2 * count`, the edge sample repeated).
func reflectIndex(_ i: Int, count: Int) -> Int {
    let period = 2 * count
    var m = i % period
    if m < 0 { m += period }
    return m < count ? m : period - 1 - m
}
