import Foundation

/// A seeded, reproducible random number generator (xoshiro256**, seeded through SplitMix64).
/// The same seed gives the same stream on every platform and thread count.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var z = seed
        func splitmix() -> UInt64 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var x = z
            x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            return x ^ (x >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// An independent generator derived from this one's seed stream and a label, e.g. one
    /// per client, so results do not depend on the order threads draw in.
    public func derived(_ label: UInt64) -> RandomGenerator {
        var copy = self
        return RandomGenerator(seed: copy.next() ^ (label &* 0xD1B5_4A32_D192_ED03))
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal (Box–Muller).
    public mutating func normal() -> Double {
        var u = uniform()
        while u <= 0 { u = uniform() }
        return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Double.pi * uniform())
    }

    /// Laplace with location 0 and scale b.
    public mutating func laplace(scale b: Double) -> Double {
        let u = uniform() - 0.5
        return -b * (u < 0 ? -1 : 1) * Foundation.log(Swift.max(1 - 2 * Swift.abs(u), .leastNonzeroMagnitude))
    }
}

extension Tensor {
    /// Uniform in [low, high).
    public static func uniform(_ shape: [Int], low: Double = 0, high: Double = 1, dtype: DType = .float32,
                               using rng: inout RandomGenerator) -> Tensor {
        Tensor((0..<Shapes.count(shape)).map { _ in low + (high - low) * rng.uniform() }, shape: shape, dtype: dtype)
    }

    /// Normal with the given mean and standard deviation.
    public static func normal(_ shape: [Int], mean: Double = 0, std: Double = 1, dtype: DType = .float32,
                              using rng: inout RandomGenerator) -> Tensor {
        Tensor((0..<Shapes.count(shape)).map { _ in mean + std * rng.normal() }, shape: shape, dtype: dtype)
    }

    /// 1 with probability p, else 0.
    public static func bernoulli(_ shape: [Int], probability p: Double, dtype: DType = .float32,
                                 using rng: inout RandomGenerator) -> Tensor {
        Tensor((0..<Shapes.count(shape)).map { _ in rng.uniform() < p ? 1 : 0 }, shape: shape, dtype: dtype)
    }

    /// Laplace with location 0 and scale b (variance 2b²).
    public static func laplace(_ shape: [Int], scale: Double, dtype: DType = .float32,
                               using rng: inout RandomGenerator) -> Tensor {
        Tensor((0..<Shapes.count(shape)).map { _ in rng.laplace(scale: scale) }, shape: shape, dtype: dtype)
    }
}
