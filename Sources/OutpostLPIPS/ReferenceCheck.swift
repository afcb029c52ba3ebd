import OutpostMetrics

/// The outcome of ``LPIPS/checkEmbeddedReference(tolerance:)``.
public struct LPIPSReferenceCheck: Sendable, Equatable, CustomStringConvertible {
    /// The `lpips` package's distance between the probe images, from the file's metadata.
    public let expected: Double
    /// This implementation's distance between the same images with the same weights.
    public let actual: Double
    /// The largest accepted `|actual - expected|`.
    public let tolerance: Double

    /// Whether `|actual - expected| <= tolerance`.
    public var passed: Bool { abs(actual - expected) <= tolerance }

    /// E.g. `LPIPS probe: expected 0.431234, computed 0.431229 (|difference| 5.1e-06 <= 1e-04): passed`.
    public var description: String {
        let difference = abs(actual - expected)
        return "LPIPS probe: expected \(expected), computed \(actual) (|difference| \(difference) "
            + "\(passed ? "<=" : ">") \(tolerance)): \(passed ? "passed" : "FAILED")"
    }
}

extension LPIPS {
    /// Two fixed 3×64×64 images, the same in Swift and in the scripts under `scripts/lpips` and
    /// `scripts/fixtures/lpips`, so a converted weights file can carry the `lpips` package's
    /// distance between them (metadata ``LPIPSWeights/MetadataKey/probeDistance``).
    ///
    /// With h(k, i) the SplitMix64 value in [-1, 1) of ``formulaValue(stream:index:)``:
    /// `first[i] = (1 + h(1000, i)) / 2` and `second[i] = clamp(first[i] + 0.25 h(1001, i), 0, 1)`.
    public static func probeImages() -> (first: Image, second: Image) {
        formulaImagePair(channels: 3, height: 64, width: 64, base: 1000, noise: 1001, amplitude: 0.25)
    }

    /// Compares this network's distance between ``probeImages()`` with the `lpips` package's,
    /// recorded by `scripts/lpips/convert_weights.py` in the file's metadata: evidence that the
    /// converted weights and this implementation reproduce the package.
    /// - Parameter tolerance: the accepted absolute difference (1e-4 by default).
    /// - Returns: the comparison, or nil when the file carries no reference distance.
    /// - Throws: ``LPIPSError/invalidWeights(file:key:reason:)`` when the metadata value is not a number.
    public func checkEmbeddedReference(tolerance: Double = 1e-4) throws(LPIPSError) -> LPIPSReferenceCheck? {
        guard let text = metadata[LPIPSWeights.MetadataKey.probeDistance] else { return nil }
        guard let expected = Double(text), expected.isFinite else {
            throw .invalidWeights(file: source, key: LPIPSWeights.MetadataKey.probeDistance,
                                  reason: "metadata value \"\(text)\" is not a finite number")
        }
        let (a, b) = Self.probeImages()
        return LPIPSReferenceCheck(expected: expected, actual: try distance(a, b), tolerance: tolerance)
    }

    /// h(k, i): a uniform value in [-1, 1) from a SplitMix64 hash of stream `k` and element `i`
    /// in wrapping 64-bit arithmetic (the formula of the project's PyTorch fixtures):
    ///
    ///     z = (i + 1) * 0x9E3779B97F4A7C15 + (k + 1) * 0xD1B54A32D192ED03   (mod 2^64)
    ///     z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;  z = (z ^ (z >> 27)) * 0x94D049BB133111EB
    ///     z = z ^ (z >> 31);  h = (z >> 11) * 2^-53 * 2 - 1
    ///
    /// Both are non-negative.
    public static func formulaValue(stream k: Int, index i: Int) -> Double {
        precondition(k >= 0 && i >= 0, "formulaValue: stream and index must be non-negative")
        var z = UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(k + 1) &* 0xD1B5_4A32_D192_ED03
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) * 0x1p-53 * 2 - 1
    }

    /// A pair of formula images: `first[i] = (1 + h(base, i)) / 2` and
    /// `second[i] = clamp(first[i] + amplitude · h(noise, i), 0, 1)`, C×H×W order.
    static func formulaImagePair(channels: Int, height: Int, width: Int, base: Int, noise: Int,
                                 amplitude: Double) -> (first: Image, second: Image) {
        let n = channels * height * width
        let first = (0..<n).map { (1 + formulaValue(stream: base, index: $0)) / 2 }
        let second = (0..<n).map { min(max(first[$0] + amplitude * formulaValue(stream: noise, index: $0), 0), 1) }
        // The formulas stay in [0, 1], so construction cannot fail.
        return (try! Image(channels: channels, height: height, width: width, pixels: first),
                try! Image(channels: channels, height: height, width: width, pixels: second))
    }
}
