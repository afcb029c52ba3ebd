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
    /// Pixels cropped from each border of the SSIM map: (windowSize - 1) / 2.
    let pad: Int
    /// Size of the cropped map, the only part that is averaged (and so the only part filtered).
    let cropHeight: Int
    let cropWidth: Int
    /// For output row `pad + i` and tap k = 1…radius: the source rows `reflect(pad + i - k)` and
    /// `reflect(pad + i + k)`, at `[(i * radius + k - 1) * 2]` and `+ 1`.
    private let rowTaps: [Int]
    /// The same for output column `pad + j`.
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
        pad = (windowSize - 1) / 2
        cropHeight = height - 2 * pad
        cropWidth = width - 2 * pad
        rowTaps = Self.taps(count: height, outputs: cropHeight, pad: pad)
        columnTaps = Self.taps(count: width, outputs: cropWidth, pad: pad)
    }

    /// The reflected source indices `i - k`, `i + k` (k = 1…radius) for outputs i = pad…pad+outputs-1.
    private static func taps(count: Int, outputs: Int, pad: Int) -> [Int] {
        var table = [Int]()
        table.reserveCapacity(outputs * radius * 2)
        for i in 0..<outputs {
            for k in 1...radius {
                table.append(reflectIndex(pad + i - k, count: count))
                table.append(reflectIndex(pad + i + k, count: count))
            }
        }
        return table
    }

    /// Gaussian-filters one `height` × `width` plane as scipy does (axis 0, then axis 1, with
    /// the symmetric kernel applied as `w0·x[i] + Σ wk·(x[i-k] + x[i+k])`), returning only the
    /// cropped `cropHeight` × `cropWidth` region that SSIM averages.
    func filter(_ source: UnsafeBufferPointer<Double>) -> [Double] {
        let w = width, r = Self.radius, ch = cropHeight, cw = cropWidth, pad = pad
        var vertical = [Double](repeating: 0, count: ch * w)
        var out = [Double](repeating: 0, count: ch * cw)
        Self.weights.withUnsafeBufferPointer { weightBuffer in
            let weight = weightBuffer.baseAddress! + r  // weight[k] for k = -r…r
            rowTaps.withUnsafeBufferPointer { rowTap in
                vertical.withUnsafeMutableBufferPointer { v in
                    for i in 0..<ch {
                        let dst = v.baseAddress! + i * w
                        let centre = source.baseAddress! + (pad + i) * w
                        let w0 = weight[0]
                        for x in 0..<w { dst[x] = w0 * centre[x] }
                        for k in 1...r {
                            let wk = weight[k]
                            let t = (i * r + k - 1) * 2
                            let minus = source.baseAddress! + rowTap[t] * w
                            let plus = source.baseAddress! + rowTap[t + 1] * w
                            for x in 0..<w { dst[x] += wk * (minus[x] + plus[x]) }
                        }
                    }
                }
            }
            columnTaps.withUnsafeBufferPointer { columnTap in
                vertical.withUnsafeBufferPointer { v in
                    out.withUnsafeMutableBufferPointer { o in
                        for i in 0..<ch {
                            let row = v.baseAddress! + i * w
                            let dst = o.baseAddress! + i * cw
                            for j in 0..<cw {
                                var sum = row[pad + j] * weight[0]
                                let t = j * r * 2
                                for k in 1...r {
                                    sum += (row[columnTap[t + 2 * k - 2]] + row[columnTap[t + 2 * k - 1]]) * weight[k]
                                }
                                dst[j] = sum
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Filtered statistics of one channel of the reference image: μx and E[x²] over the crop.
    struct ReferenceChannel {
        let mean: [Double]
        let meanOfSquares: [Double]
    }

    /// A prepared reference (ground-truth) image: its pixels and filtered statistics.
    struct Reference {
        let truth: Image
        let channels: [ReferenceChannel]
    }

    /// Prepares every channel of a reference (ground-truth) image once, for reuse.
    func reference(_ image: Image) -> Reference {
        let plane = height * width
        var squares = [Double](repeating: 0, count: plane)
        let channels = image.pixels.withUnsafeBufferPointer { pixels in
            (0..<image.channels).map { c in
                let x = UnsafeBufferPointer(rebasing: pixels[(c * plane)..<((c + 1) * plane)])
                squares.withUnsafeMutableBufferPointer { sq in
                    for i in 0..<plane { sq[i] = x[i] * x[i] }
                }
                let mean = filter(x)
                let meanOfSquares = squares.withUnsafeBufferPointer { filter($0) }
                return ReferenceChannel(mean: mean, meanOfSquares: meanOfSquares)
            }
        }
        return Reference(truth: image, channels: channels)
    }

    /// Mean SSIM over channels of `clamp(gain · image + offset, 0, 1)` against a prepared
    /// reference (the adjustment is applied on the fly; identity by default). `image` must have
    /// the reference's shape.
    func meanSSIM(_ reference: Reference, _ image: Image, adjustment: BrightnessAdjustment = .identity) -> Double {
        let ref = reference.channels
        let plane = height * width
        let identity = adjustment == .identity
        let gain = adjustment.gain, offset = adjustment.offset
        var y = [Double](repeating: 0, count: plane)
        var yy = [Double](repeating: 0, count: plane)
        var xy = [Double](repeating: 0, count: plane)
        let c1 = (ImageMetrics.ssimK1 * ImageMetrics.dataRange) * (ImageMetrics.ssimK1 * ImageMetrics.dataRange)
        let c2 = (ImageMetrics.ssimK2 * ImageMetrics.dataRange) * (ImageMetrics.ssimK2 * ImageMetrics.dataRange)
        var total = 0.0
        reference.truth.pixels.withUnsafeBufferPointer { xs in
            image.pixels.withUnsafeBufferPointer { ys in
                for c in 0..<image.channels {
                    let x = xs.baseAddress! + c * plane, source = ys.baseAddress! + c * plane
                    y.withUnsafeMutableBufferPointer { yBuf in
                        yy.withUnsafeMutableBufferPointer { yyBuf in
                            xy.withUnsafeMutableBufferPointer { xyBuf in
                                for i in 0..<plane {
                                    var v = source[i]
                                    if !identity {
                                        v = gain * v + offset
                                        v = v < 0 ? 0 : (v > 1 ? 1 : v)
                                    }
                                    yBuf[i] = v
                                    yyBuf[i] = v * v
                                    xyBuf[i] = x[i] * v
                                }
                            }
                        }
                    }
                    let uy = y.withUnsafeBufferPointer { filter($0) }
                    let uyy = yy.withUnsafeBufferPointer { filter($0) }
                    let uxy = xy.withUnsafeBufferPointer { filter($0) }
                    var sum = 0.0
                    for i in 0..<(cropHeight * cropWidth) {
                        let mx = ref[c].mean[i], my = uy[i]
                        let vx = ref[c].meanOfSquares[i] - mx * mx
                        let vy = uyy[i] - my * my
                        let vxy = uxy[i] - mx * my
                        let a1 = 2 * mx * my + c1
                        let a2 = 2 * vxy + c2
                        let b1 = mx * mx + my * my + c1
                        let b2 = vx + vy + c2
                        sum += (a1 * a2) / (b1 * b2)
                    }
                    total += sum / Double(cropHeight * cropWidth)
                }
            }
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
