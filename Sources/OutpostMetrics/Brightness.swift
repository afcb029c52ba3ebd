/// A brightness adjustment `clamp(gain · x + offset, 0, 1)` applied to every pixel.
public struct BrightnessAdjustment: Sendable, Equatable, CustomStringConvertible {
    /// Multiplicative gain (1 leaves contrast unchanged).
    public let gain: Double
    /// Additive offset (0 leaves brightness unchanged).
    public let offset: Double

    /// The adjustment that changes nothing: gain 1, offset 0.
    public static let identity = BrightnessAdjustment(gain: 1, offset: 0)

    /// An adjustment with the given gain and offset.
    public init(gain: Double, offset: Double) {
        self.gain = gain
        self.offset = offset
    }

    /// The adjusted image, every pixel `clamp(gain · p + offset, 0, 1)`.
    public func apply(to image: Image) -> Image {
        if self == .identity { return image }
        let adjusted = image.pixels.map { p -> Double in
            let v = gain * p + offset
            return v < 0 ? 0 : (v > 1 ? 1 : v)
        }
        return Image(validatedChannels: image.channels, height: image.height, width: image.width, pixels: adjusted)
    }

    /// `"x1.00 +0.00"` style text: the gain, then the signed offset.
    public var description: String {
        let g = formatFixed(gain, digits: 2)
        let o = formatFixed(offset, digits: 2)
        return "x\(g) \(offset < 0 ? "" : "+")\(o)"
    }
}

/// The grid of brightness adjustments that
/// ``ImageMetrics/brightnessAdjustedSSIM(_:_:search:windowSize:)`` tries.
public struct BrightnessSearch: Sendable, Equatable {
    /// Gains to try (each > 0). Gain 1 is always tried even if absent.
    public let gains: [Double]
    /// Offsets to try. Offset 0 is always tried even if absent.
    public let offsets: [Double]

    /// A search over every (gain, offset) combination.
    ///
    /// - Throws: ``MetricsError/invalidBrightnessSearch(_:)`` when a list is empty, a value is
    ///   not finite, or a gain is not positive.
    public init(gains: [Double], offsets: [Double]) throws {
        guard !gains.isEmpty, !offsets.isEmpty else {
            throw MetricsError.invalidBrightnessSearch("gains and offsets must each hold at least one value")
        }
        if let bad = gains.first(where: { !$0.isFinite || $0 <= 0 }) {
            throw MetricsError.invalidBrightnessSearch("gain \(bad) is not a finite positive number")
        }
        if let bad = offsets.first(where: { !$0.isFinite }) {
            throw MetricsError.invalidBrightnessSearch("offset \(bad) is not finite")
        }
        self.gains = gains
        self.offsets = offsets
    }

    private init(validGains gains: [Double], offsets: [Double]) {
        self.gains = gains
        self.offsets = offsets
    }

    /// The default offsets: -0.5 to 0.5 in steps of 0.05 (`i · 0.05` for i = -10…10, 21 values).
    public static let defaultOffsets: [Double] = (-10...10).map { Double($0) * 0.05 }
    /// The default gains of ``additiveAndGain``: 0.5 to 2.0 in steps of 0.1 (`i / 10` for
    /// i = 5…20, 16 values).
    public static let defaultGains: [Double] = (5...20).map { Double($0) / 10 }

    /// Additive offsets only: gain 1 and the 21 ``defaultOffsets``. A darker or brighter copy
    /// is matched; a copy with lower contrast only partly.
    public static let additive = BrightnessSearch(validGains: [1], offsets: defaultOffsets)
    /// Every ``defaultGains`` × ``defaultOffsets`` combination (336 adjustments): also matches
    /// a copy scaled toward black (`0.5 · x` is undone by gain 2). Note that a gain above 1
    /// also raises the contrast of blurry reconstructions, so it rewards them more.
    public static let additiveAndGain = BrightnessSearch(validGains: defaultGains, offsets: defaultOffsets)

    /// The adjustments in the order they are tried: gain 1 first, then the other gains in the
    /// order given; for each gain offset 0 first, then the other offsets in the order given.
    /// The first candidate is therefore always ``BrightnessAdjustment/identity``.
    public var candidates: [BrightnessAdjustment] {
        let g = [1.0] + gains.filter { $0 != 1 }
        let o = [0.0] + offsets.filter { $0 != 0 }
        return g.flatMap { gain in o.map { BrightnessAdjustment(gain: gain, offset: $0) } }
    }
}

/// The result of ``ImageMetrics/brightnessAdjustedSSIM(_:_:search:windowSize:)``.
public struct BrightnessAdjustedSSIM: Sendable, Equatable {
    /// The best SSIM found, at least ``plainSSIM``.
    public let ssim: Double
    /// The adjustment of the reconstruction that gave ``ssim``.
    public let adjustment: BrightnessAdjustment
    /// The SSIM of the unadjusted reconstruction.
    public let plainSSIM: Double
}
