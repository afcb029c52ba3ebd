import OutpostDefenses
import OutpostNN
import OutpostTensor
import XCTest

/// GC, DP noise and the masking paper's masking, clipping, pruning and noising change the
/// gradient exactly as defined.
final class ElementwiseDefenseTests: XCTestCase {
    private func apply(_ defense: some StepDefense, _ fx: Fixture, seed: UInt64 = 0) throws -> ([Tensor], [Tensor]) {
        var d = defense
        var rng = RandomGenerator(seed: seed)
        let g = fx.gradient
        return (g, try d.apply(to: g, step: fx.step(), rng: &rng))
    }

    func testGradientCompressionZeroesExactlyEightyPercentPerLayer() throws {
        let (g, out) = try apply(GradientCompression(), .synthetic(.lenet(), batch: 1, initialization: .dlg))
        for (l, (o, gi)) in zip(out, g).enumerated() {
            let k = Int((0.8 * Double(gi.count)).rounded())
            XCTAssertEqual(o.doubles.filter { $0 == 0 }.count, k, "layer \(l) of \(gi.count)")
            let pruned = zip(o.doubles, gi.doubles).filter { $0.0 == 0 }.map { abs($0.1) }
            let kept = zip(o.doubles, gi.doubles).filter { $0.0 != 0 }
            XCTAssert(kept.allSatisfy { $0.0 == $0.1 })
            XCTAssertLessThanOrEqual(pruned.max() ?? 0, kept.map { abs($0.1) }.min() ?? .infinity)
        }
    }

    func testDPNoiseHasTheConfiguredVariance() throws {
        let fx = Fixture.synthetic(wideMLP(), batch: 2)
        for distribution in DPNoise.Distribution.allCases {
            let (g, out) = try apply(DPNoise(.init(distribution: distribution, variance: 0.1)), fx, seed: 8)
            let noise = zip(flat(out), flat(g)).map { $0 - $1 }
            // Laplace: excess kurtosis 3, so its sample variance scatters more.
            assertDraws(noise, std: 0.1.squareRoot(), kurtosisExcess: distribution == .laplace ? 3 : 0, "\(distribution)")
            let m = moments(noise)
            let kurtosis = noise.reduce(0) { $0 + pow(($1 - m.mean) / m.std, 4) } / Double(noise.count) - 3
            print("DP noise \(distribution): variance \(m.std * m.std) over \(noise.count) entries, excess kurtosis \(kurtosis)")
            XCTAssertEqual(kurtosis, distribution == .laplace ? 3 : 0, accuracy: distribution == .laplace ? 1 : 0.15, "\(distribution) shape")
        }
        XCTAssertEqual(DPNoise.Configuration(variance: 0.1).scale, 0.05.squareRoot(), accuracy: 1e-15, "Laplace b = √(v/2)")
    }

    func testMaskingZeroesEntriesWithProbabilityP() throws {
        let fx = Fixture.synthetic(wideMLP(), batch: 2)
        for p in [0.3, 0.9] {
            let (g, out) = try apply(RandomMasking(.init(probability: p)), fx, seed: 2)
            let pairs = zip(flat(out), flat(g))
            XCTAssert(pairs.allSatisfy { $0.0 == 0 || $0.0 == $0.1 }, "entries are either masked or untouched")
            let n = Double(pairs.count(where: { $0.1 != 0 }))
            let rate = Double(pairs.count(where: { $0.0 == 0 && $0.1 != 0 })) / n
            XCTAssertEqual(rate, p, accuracy: 4 * (p * (1 - p) / n).squareRoot(), "p = \(p)")
        }
    }

    func testMaskingHandlesBatchNormParametersAsConfigured() throws {
        let net = Network.convNet(width: 2)
        let fx = Fixture.synthetic(net, batch: 2)
        let isNorm = net.parameterSpecs.map { $0.role == .normScale || $0.role == .normShift }
        XCTAssert(isNorm.contains(true) && isNorm.contains(false))
        let cases: [(RandomMasking.Configuration, other: Double, norm: Double)] = [
            (.init(probability: 1, normHandling: .exempt), 1, 0),
            (.init(probability: 0, normHandling: .withOthers), 0, 0),
            (.init(probability: 1, normHandling: .withOthers), 1, 1),
            (.init(probability: 0, normHandling: .separately, normProbability: 1), 0, 1),
            (.init(probability: 1, normHandling: .separately, normProbability: 0), 1, 0),
        ]
        for (config, otherRate, normRate) in cases {
            let (g, out) = try apply(RandomMasking(config), fx)
            for l in g.indices {
                let expectZero = (isNorm[l] ? normRate : otherRate) == 1
                XCTAssertEqual(out[l].doubles, expectZero ? g[l].doubles.map { _ in 0 } : g[l].doubles,
                               "\(config.normHandling) parameter \(net.parameterSpecs[l].name)")
            }
        }
    }

    func testClippingBoundsTheNorm() throws {
        let fx = Fixture.synthetic(.lenet(), batch: 1, initialization: .dlg)
        let g = fx.gradient
        let total = GradientOps.globalNorm(g)
        for bound in [total / 10, total * 2] {
            let (_, out) = try apply(GradientClipping(.init(bound: bound, scope: .global)), fx)
            XCTAssertEqual(GradientOps.globalNorm(out), min(bound, total), accuracy: 1e-5 * total)
            let factor = min(1, bound / total)
            XCTAssert(zip(flat(out), flat(g)).allSatisfy { abs($0.0 - factor * $0.1) <= 1e-6 * abs($0.1) + 1e-30 }, "same direction")
        }
        let norms = g.map(GradientOps.norm)
        let bound = norms.sorted()[norms.count / 2]
        let (_, out) = try apply(GradientClipping(.init(bound: bound, scope: .perLayer)), fx)
        for (l, o) in out.enumerated() {
            XCTAssertEqual(GradientOps.norm(o), min(norms[l], bound), accuracy: 1e-5 * norms[l], "layer \(l)")
            if norms[l] <= bound { XCTAssertEqual(o.doubles, g[l].doubles) }
        }
    }

    func testPruningKeepsTheLargestEntries() throws {
        let fx = Fixture.synthetic(.lenet(), batch: 1, initialization: .dlg)
        let (g, out) = try apply(GradientPruning(.init(percent: 90, scope: .global)), fx)
        let (o, gv) = (flat(out), flat(g))
        XCTAssertEqual(o.filter { $0 == 0 }.count, Int((0.9 * Double(gv.count)).rounded()))
        let keptMin = zip(o, gv).filter { $0.0 != 0 }.map { abs($0.1) }.min() ?? 0
        XCTAssert(zip(o, gv).allSatisfy { $0.0 == 0 ? abs($0.1) <= keptMin : $0.0 == $0.1 })
        // Global ranking: layers do not keep 10% each.
        let keptPerLayer = out.map { t in Double(t.doubles.filter { $0 != 0 }.count) / Double(t.count) }
        XCTAssertGreaterThan((keptPerLayer.max() ?? 0) - (keptPerLayer.min() ?? 0), 0.05)
        let (_, perLayer) = try apply(GradientPruning(.init(percent: 80, scope: .perLayer)), fx)
        let (_, gc) = try apply(GradientCompression(), fx)
        XCTAssertEqual(flat(perLayer), flat(gc), "per-layer pruning at 80% is GC")
    }

    func testNoisingAddsGaussianNoiseOfSigma() throws {
        let (g, out) = try apply(GaussianNoising(.init(sigma: 0.03)), .synthetic(wideMLP(), batch: 2), seed: 6)
        assertDraws(zip(flat(out), flat(g)).map { $0 - $1 }, std: 0.03)
    }
}
