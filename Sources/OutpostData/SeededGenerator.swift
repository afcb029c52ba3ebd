import Foundation

/// A small, fast, seeded pseudo-random generator (xoshiro256** seeded through
/// SplitMix64) with the samplers the partitioners and augmentations need.
///
/// Every algorithm here is implemented in this file (no standard-library
/// shuffles or range sampling), so a seed gives the same numbers on every
/// platform and Swift version.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// Creates a generator from a 64-bit seed.
    public init(seed: UInt64) {
        var state = seed
        func splitMix() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }

    /// A uniform double in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform integer in `0..<bound` (Lemire's unbiased multiply-shift).
    /// Returns 0 when `bound <= 1`.
    public mutating func nextInt(below bound: Int) -> Int {
        guard bound > 1 else { return 0 }
        let n = UInt64(bound)
        var product = next().multipliedFullWidth(by: n)
        if product.low < n {
            let threshold = (0 &- n) % n
            while product.low < threshold {
                product = next().multipliedFullWidth(by: n)
            }
        }
        return Int(product.high)
    }

    /// `true` with probability `p`.
    public mutating func nextBool(probability p: Double = 0.5) -> Bool {
        nextDouble() < p
    }

    /// A standard normal variate (Marsaglia's polar method).
    public mutating func nextGaussian() -> Double {
        while true {
            let u = 2 * nextDouble() - 1
            let v = 2 * nextDouble() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 {
                return u * (-2 * Foundation.log(s) / s).squareRoot()
            }
        }
    }

    /// A Gamma(shape, 1) variate by Marsaglia & Tsang (2000); shapes below 1 use
    /// the boost `Gamma(a) = Gamma(a + 1) · U^(1/a)`. Requires `shape > 0`.
    public mutating func nextGamma(shape: Double) -> Double {
        guard shape > 0, shape.isFinite else { return .nan }
        if shape < 1 {
            let boosted = nextGamma(shape: shape + 1)
            var u = nextDouble()
            while u == 0 { u = nextDouble() }
            return boosted * Foundation.pow(u, 1 / shape)
        }
        let d = shape - 1.0 / 3.0
        let c = 1 / (9 * d).squareRoot()
        while true {
            var x = 0.0, v = 0.0
            repeat {
                x = nextGaussian()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = nextDouble()
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if u > 0, Foundation.log(u) < 0.5 * x * x + d * (1 - v + Foundation.log(v)) { return d * v }
        }
    }

    /// A Dirichlet(alpha) variate: normalized independent Gamma(alpha_k) draws.
    /// If every draw underflows to zero (tiny alphas), the mass goes to one
    /// component chosen with probability proportional to alpha.
    public mutating func nextDirichlet(_ alpha: [Double]) -> [Double] {
        let draws = alpha.map { nextGamma(shape: $0) }
        let total = draws.reduce(0, +)
        if total > 0 && total.isFinite { return draws.map { $0 / total } }
        var result = [Double](repeating: 0, count: alpha.count)
        if !alpha.isEmpty { result[nextCategorical(alpha)] = 1 }
        return result
    }

    /// An index drawn with probability proportional to `weights` (non-negative).
    /// Falls back to a uniform choice when all weights are zero.
    public mutating func nextCategorical(_ weights: [Double]) -> Int {
        let total = weights.reduce(0) { $0 + max($1, 0) }
        guard total > 0 else { return nextInt(below: weights.count) }
        var target = nextDouble() * total
        for (index, weight) in weights.enumerated() where weight > 0 {
            target -= weight
            if target < 0 { return index }
        }
        // Rounding: return the last positive weight.
        return weights.lastIndex(where: { $0 > 0 }) ?? 0
    }

    /// Fisher–Yates shuffle in place.
    public mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            let j = nextInt(below: i + 1)
            if i != j { array.swapAt(i, j) }
        }
    }

    /// A random permutation of `0..<n`.
    public mutating func permutation(_ n: Int) -> [Int] {
        var order = Array(0..<max(n, 0))
        shuffle(&order)
        return order
    }
}
