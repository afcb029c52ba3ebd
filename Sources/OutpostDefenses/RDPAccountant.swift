import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A Rényi-differential-privacy accountant for the Poisson-subsampled Gaussian mechanism
/// (DP-SGD steps, client-sampled DP-FedAvg rounds), matching Google's `dp-accounting`
/// (`RdpAccountant` with its default orders and the add-or-remove-one relation):
///
/// * the RDP of one mechanism with sampling rate q and noise multiplier σ at order α is
///   log(A_α)/(α − 1) (Mironov, Talwar, Zhang 2019), A_α by the binomial sum for integer α and
///   by the two erfc series for fractional α (a fractional order whose series has not
///   converged after 1000 terms counts as +∞, as in dp-accounting); q = 1 gives α/(2σ²),
///   q = 0 gives 0, σ = 0 gives +∞;
/// * RDP adds up over composed mechanisms;
/// * (ε, δ) uses the improved conversion of Balle et al. 2020 (Prop. 12) / Canonne, Kamath,
///   Steinke 2020 that dp-accounting uses: ε = min_α [r_α + log(1 − 1/α) − log(δ·α)/(α − 1)]
///   over orders α > 1.01, with ε = 0 where δ² + expm1(−r_α) > 0 (the KL bound), and ε ≥ 0.
public struct RDPAccountant: Sendable, Equatable {
    /// dp-accounting's DEFAULT_RDP_ORDERS: 1.1, 1.2, ..., 10.9, 11, ..., 63, 128, 256, 512, 1024.
    public static let defaultOrders: [Double] = {
        let fractional: [Double] = (1..<100).map { (x: Int) -> Double in 1 + Double(x) / 10 }
        let integer: [Double] = (11..<64).map { (x: Int) -> Double in Double(x) }
        return fractional + integer + [128, 256, 512, 1024]
    }()

    /// The orders α at which RDP is tracked.
    public let orders: [Double]
    /// The accumulated RDP at each order.
    public private(set) var rdp: [Double]

    /// An accountant with nothing composed yet. Orders must be ≥ 1.
    public init(orders: [Double] = RDPAccountant.defaultOrders) {
        precondition(orders.allSatisfy { $0 >= 1 }, "RDPAccountant: orders must be at least 1")
        self.orders = orders
        rdp = Array(repeating: 0, count: orders.count)
    }

    /// Composes `count` runs of the Poisson-subsampled Gaussian mechanism with sampling rate
    /// `samplingRate` and noise multiplier `noiseMultiplier` (noise std / L2 sensitivity).
    public mutating func composePoissonSampledGaussian(samplingRate q: Double, noiseMultiplier sigma: Double, count: Int) throws {
        try require(within(q, 0...1), "rdp_accountant", "sampling rate must be in 0...1, got \(q)")
        try require(sigma.isFinite && sigma >= 0, "rdp_accountant", "noise multiplier must be a finite number ≥ 0, got \(sigma)")
        try require(count >= 0, "rdp_accountant", "count must be ≥ 0, got \(count)")
        guard count > 0 else { return }
        let one = Self.poissonSampledGaussianRDP(samplingRate: q, noiseMultiplier: sigma, orders: orders)
        for i in rdp.indices { rdp[i] += Double(count) * one[i] }
    }

    /// ε for the target δ and the order that attains it.
    public func epsilon(delta: Double) throws -> (epsilon: Double, order: Double) {
        try require(delta.isFinite && delta >= 0, "rdp_accountant", "delta must be a finite number ≥ 0, got \(delta)")
        return Self.epsilon(orders: orders, rdp: rdp, delta: delta)
    }

    /// dp-accounting's `compute_epsilon`: the improved RDP-to-(ε, δ) conversion.
    public static func epsilon(orders: [Double], rdp: [Double], delta: Double) -> (epsilon: Double, order: Double) {
        if delta == 0 {
            return rdp.allSatisfy { $0 == 0 } ? (0, 0) : (.infinity, 0)
        }
        var best = Double.infinity, bestOrder = orders.first ?? 0
        for (a, r) in zip(orders, rdp) {
            let eps: Double
            if r < 0 {
                eps = 0
            } else if delta * delta + Foundation.expm1(-r) > 0 {
                eps = 0
            } else if a > 1.01 {
                eps = r + Foundation.log1p(-1 / a) - Foundation.log(delta * a) / (a - 1)
            } else {
                eps = .infinity
            }
            // numpy's argmin: the first minimum (all +∞ gives the first order).
            if eps < best { best = eps; bestOrder = a }
        }
        return (max(0, best), bestOrder)
    }

    /// RDP of one Poisson-subsampled Gaussian mechanism at each order.
    public static func poissonSampledGaussianRDP(samplingRate q: Double, noiseMultiplier sigma: Double, orders: [Double]) -> [Double] {
        orders.map { alpha in
            if q == 0 { return 0 }
            if alpha.isInfinite || sigma == 0 { return .infinity }
            if q == 1 { return alpha / (2 * sigma * sigma) }
            let logA = alpha.rounded() == alpha ? logAInteger(q: q, sigma: sigma, alpha: Int(alpha))
                                                : logAFractional(q: q, sigma: sigma, alpha: alpha)
            return logA / (alpha - 1)
        }
    }

    /// log(exp(x) + exp(y)) without overflow.
    static func logAdd(_ x: Double, _ y: Double) -> Double {
        let (a, b) = (min(x, y), max(x, y))
        if a == -.infinity { return b }
        return Foundation.log1p(Foundation.exp(a - b)) + b
    }

    /// log|binom(n, k)| through log-gamma (scipy's gammaln is log|Γ| too).
    static func logBinomial(_ n: Double, _ k: Double) -> Double {
        logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1)
    }

    /// log|Γ(x)| through the reentrant `lgamma_r` (plain `lgamma` writes a global sign).
    static func logGamma(_ x: Double) -> Double {
        var sign: Int32 = 0
        return lgamma_r(x, &sign)
    }

    /// log(erfc(x)), accurate where erfc underflows (asymptotic series past x ≈ 26).
    static func logErfc(_ x: Double) -> Double {
        let r = Foundation.erfc(x)
        if r > 1e-300 { return Foundation.log(r) }
        return -Foundation.log(Double.pi) / 2 - Foundation.log(x) - x * x - 0.5 * Foundation.pow(x, -2)
            + 0.625 * Foundation.pow(x, -4) - 37.0 / 24.0 * Foundation.pow(x, -6) + 353.0 / 64.0 * Foundation.pow(x, -8)
    }

    /// log(A_α) for integer α, 0 < q < 1.
    static func logAInteger(q: Double, sigma: Double, alpha: Int) -> Double {
        var logA = -Double.infinity
        let log1mq = Foundation.log1p(-q), logq = Foundation.log(q)
        for i in 0...alpha {
            let di = Double(i)
            let coef = logBinomial(Double(alpha), di) + di * logq + Double(alpha - i) * log1mq
            logA = logAdd(logA, coef + (di * di - di) / (2 * sigma * sigma))
        }
        return logA
    }

    /// log(A_α) for fractional α, 0 < q < 1 (Sec. 3.3 of Mironov et al. 2019); +∞ when the
    /// series has not converged after 1000 terms.
    static func logAFractional(q: Double, sigma: Double, alpha: Double) -> Double {
        var logA0 = -Double.infinity, logA1 = -Double.infinity
        let z0 = sigma * sigma * Foundation.log(1 / q - 1) + 0.5
        let log1mq = Foundation.log1p(-q), logq = Foundation.log(q)
        var lastS0 = -Double.infinity, lastS1 = -Double.infinity
        for i in 0..<1000 {
            let di = Double(i)
            let coef = logBinomial(alpha, di)
            let j = alpha - di
            let logT0 = coef + di * logq + j * log1mq
            let logT1 = coef + j * logq + di * log1mq
            let logE0 = Foundation.log(0.5) + logErfc((di - z0) / (2.0.squareRoot() * sigma))
            let logE1 = Foundation.log(0.5) + logErfc((z0 - j) / (2.0.squareRoot() * sigma))
            let logS0 = logT0 + (di * di - di) / (2 * sigma * sigma) + logE0
            let logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1
            logA0 = logAdd(logA0, logS0)
            logA1 = logAdd(logA1, logS1)
            let total = logAdd(logA0, logA1)
            if logS0 < lastS0 && logS1 < lastS1 && max(logS0, logS1) < total - 30 { return total }
            lastS0 = logS0
            lastS1 = logS1
        }
        return .infinity
    }
}
