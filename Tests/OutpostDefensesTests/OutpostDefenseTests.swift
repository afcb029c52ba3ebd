import OutpostDefenses
import OutpostNN
import OutpostTensor
import XCTest

/// OUTPOST changes the gradient exactly as Algorithm 1 says.
final class OutpostDefenseTests: XCTestCase {
    /// Per layer, the entries Algorithm 1 prunes (ρ% smallest |g|) and noises (φ% highest
    /// Fisher information), computed here independently of the defense.
    private func expectedSets(_ gradient: [Tensor], fisher: [[Double]], rho: Double, phi: Double) -> [(pruned: Set<Int>, noised: Set<Int>)] {
        zip(gradient, fisher).map { g, f in
            let v = g.doubles
            let kp = Int((rho / 100 * Double(v.count)).rounded()), kn = Int((phi / 100 * Double(v.count)).rounded())
            let byMagnitude = v.indices.sorted { (abs(v[$0]), $0) < (abs(v[$1]), $1) }
            let byFisher = f.indices.sorted { f[$0] > f[$1] || (f[$0] == f[$1] && $0 < $1) }
            return (Set(byMagnitude.prefix(kp)), Set(byFisher.prefix(kn)))
        }
    }

    func testPerturbsAtTheFirstIterationWhateverTheDecay() throws {
        let fx = Fixture.synthetic(.lenet(), batch: 1, initialization: .dlg)
        let g = fx.gradient
        // β = 10⁹: the decayed probability is ~1e-9 at i = 1 and below at i = 2.
        let defense = try OutpostDefense(.init(beta: 1e9))
        var rng = RandomGenerator(seed: 5)
        for _ in 0..<20 {
            var d = defense
            let first = try d.apply(to: g, step: fx.step(iteration: 1), rng: &rng)
            XCTAssertEqual(d.lastReport?.perturbed, true)
            XCTAssertNotEqual(flat(first), flat(g), "i = 1 is always perturbed")
            let second = try d.apply(to: g, step: fx.step(iteration: 2), rng: &rng)
            XCTAssertEqual(d.lastReport?.perturbed, false)
            XCTAssertEqual(flat(second), flat(g), "an unperturbed step passes the gradient unchanged")
            XCTAssertEqual(d.steps, 2)
            XCTAssertEqual(d.perturbedSteps, 1)
        }
    }

    func testPerturbationRateFollowsOneOverOnePlusBetaI() throws {
        let fx = Fixture.synthetic(.mlp(inputShape: [1, 4, 4], hidden: [6], classes: 3), batch: 2)
        let g = fx.gradient
        let n = 2000
        var rng = RandomGenerator(seed: 11)
        for i in [2, 5, 10, 40] {
            var d = try OutpostDefense(.init(beta: 0.1))
            var changed = 0
            for _ in 0..<n {
                let out = try d.apply(to: g, step: fx.step(iteration: i), rng: &rng)
                if flat(out) != flat(g) { changed += 1 }
            }
            let p = 1 / (1 + 0.1 * Double(i))
            let rate = Double(changed) / Double(n)
            print("OUTPOST at i = \(i): perturbed \(changed)/\(n) = \(rate), expected \(p)")
            XCTAssertEqual(rate, p, accuracy: 4 * (p * (1 - p) / Double(n)).squareRoot(), "i = \(i)")
            XCTAssertEqual(d.perturbedSteps, changed)
            XCTAssertEqual(d.lastReport?.probability ?? 0, p, accuracy: 1e-15)
        }
    }

    /// With λ = 0 the noise vanishes and OUTPOST is exactly per-layer pruning: ρ% zeros.
    func testPrunesExactlyRhoPercentOfEachLayer() throws {
        let fx = Fixture.synthetic(.lenet(), batch: 1, initialization: .dlg)
        let g = fx.gradient
        for rho in [80.0, 35.0] {
            var d = try OutpostDefense(.init(lambda: 0, rho: rho))
            var rng = RandomGenerator(seed: 1)
            let out = try d.apply(to: g, step: fx.step(), rng: &rng)
            for (l, (o, gi)) in zip(out, g).enumerated() {
                let k = Int((rho / 100 * Double(gi.count)).rounded())
                XCTAssertEqual(gi.doubles.filter { $0 == 0 }.count, 0, "the raw gradient has no zeros")
                XCTAssertEqual(o.doubles.filter { $0 == 0 }.count, k, "layer \(l), ρ = \(rho)")
                let kept = zip(o.doubles, gi.doubles).filter { $0.0 != 0 }
                XCTAssert(kept.allSatisfy { $0.0 == $0.1 }, "unpruned entries pass unchanged")
                let maxPruned = zip(o.doubles, gi.doubles).filter { $0.0 == 0 }.map { abs($0.1) }.max() ?? 0
                XCTAssertLessThanOrEqual(maxPruned, kept.map { abs($0.1) }.min() ?? .infinity, "the smallest magnitudes are pruned")
                XCTAssertEqual(d.lastReport?.layers[l].prunedCount, k)
            }
        }
    }

    /// Noise lands exactly on the top-φ% Fisher entries (pruned or not, Algorithm 1 line 9
    /// adds it to the pruned gradient), nowhere else, with standard deviation λ·min(Var w, 1).
    func testNoiseOnlyOnTopFisherEntriesWithStandardDeviationLambdaRisk() throws {
        let fx = Fixture.synthetic(.lenet(), batch: 1, initialization: .dlg)
        let g = fx.gradient
        // One sample: Eq. 4's empirical Fisher is g².
        let sets = expectedSets(g, fisher: g.map { $0.doubles.map { $0 * $0 } }, rho: 80, phi: 40)
        let risks = fx.state.parameters.map { w -> Double in
            let v = w.doubles, m = v.reduce(0, +) / Double(v.count)
            return min(v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1), 1)
        }
        var residuals = [[Double]](repeating: [], count: g.count)
        var rng = RandomGenerator(seed: 3)
        for _ in 0..<40 {
            var d = try OutpostDefense()
            let out = try d.apply(to: g, step: fx.step(), rng: &rng)
            for l in g.indices {
                let (o, gi) = (out[l].doubles, g[l].doubles)
                let (pruned, noised) = sets[l]
                XCTAssertEqual(d.lastReport?.layers[l].noisedCount, noised.count)
                XCTAssertEqual(d.lastReport?.layers[l].risk ?? -1, risks[l], accuracy: 1e-9 * risks[l])
                for i in o.indices {
                    let base = pruned.contains(i) ? 0 : gi[i]
                    if noised.contains(i) {
                        residuals[l].append(o[i] - base)
                    } else {
                        XCTAssertEqual(o[i], base, "layer \(l) entry \(i): no noise outside the top-φ% Fisher entries")
                    }
                }
            }
        }
        for l in g.indices {
            XCTAssert(sets[l].noised.intersection(sets[l].pruned).count > 0, "with ρ = 80, φ = 40 some noised entries were pruned")
            // Float32 storage rounds each noisy value by at most ~6e-8 relative.
            assertDraws(residuals[l], std: 0.8 * risks[l], "layer \(l) (\(residuals[l].count) draws)")
        }
    }

    func testRiskIsCappedAtOne() throws {
        let net = Network.mlp(inputShape: [1, 4, 4], hidden: [64], classes: 4)
        let fx = Fixture.synthetic(net, batch: 1, initialization: .uniform(low: -5, high: 5))
        var d = try OutpostDefense(.init(lambda: 0.5, phi: 100, rho: 0))
        var rng = RandomGenerator(seed: 9)
        let g = fx.gradient
        let out = try d.apply(to: g, step: fx.step(), rng: &rng)
        let report = try XCTUnwrap(d.lastReport)
        // Var of uniform(−5, 5) weights ≈ 8.3 > 1, so r = 1 and the noise std is λ.
        XCTAssertEqual(report.layers[0].risk, 1)
        XCTAssertEqual(report.layers[0].noiseStandardDeviation, 0.5)
        assertDraws(zip(out[0].doubles, g[0].doubles).map { $0 - $1 }, std: 0.5)
    }

    /// With a batch, Eq. 4's Fisher (mean of squared per-sample gradients) and the squared
    /// batch mean select different entries; each option noises exactly its own selection.
    func testFisherEstimatesChooseTheirOwnEntries() throws {
        let fx = Fixture.synthetic(.lenet(), batch: 4, initialization: .dlg)
        let g = fx.gradient
        let perSample = OutpostDefense.empiricalFisher(fx.step().perSampleGradients())
        let batchMean = g.map { $0.doubles.map { $0 * $0 } }
        var differs = false
        for (estimate, fisher) in [(OutpostDefense.FisherEstimate.perSample, perSample), (.batchMeanSquared, batchMean)] {
            let sets = expectedSets(g, fisher: fisher, rho: 80, phi: 40)
            var d = try OutpostDefense(.init(fisher: estimate))
            var rng = RandomGenerator(seed: 4)
            let out = try d.apply(to: g, step: fx.step(), rng: &rng)
            for l in g.indices {
                let (o, gi) = (out[l].doubles, g[l].doubles)
                var unchangedNoised = 0
                for i in o.indices {
                    let base = sets[l].pruned.contains(i) ? 0 : gi[i]
                    if sets[l].noised.contains(i) {
                        if o[i] == base { unchangedNoised += 1 }
                    } else {
                        XCTAssertEqual(o[i], base, "\(estimate) layer \(l) entry \(i)")
                    }
                }
                // A noise draw far below the entry's Float32 resolution can round away.
                XCTAssertLessThanOrEqual(unchangedNoised, sets[l].noised.count / 1000, "\(estimate) layer \(l)")
            }
            if estimate == .batchMeanSquared {
                let other = expectedSets(g, fisher: perSample, rho: 80, phi: 40)
                differs = zip(sets, other).contains { $0.noised != $1.noised }
            }
        }
        XCTAssert(differs, "the two estimates select different entries on this batch, so the test tells them apart")
        // Eq. 4 by hand for one entry.
        let samples = fx.step().perSampleGradients()
        let byHand = samples.map { $0[6].doubles[17] * $0[6].doubles[17] }.reduce(0, +) / 4
        XCTAssertEqual(perSample[6][17], byHand, accuracy: 1e-12 * max(byHand, 1e-30))
    }

    func testInvalidHyperparametersAreRejected() {
        for bad in [OutpostDefense.Configuration(lambda: -1), .init(phi: 101), .init(beta: .nan), .init(rho: -0.1), .init(lambda: .infinity)] {
            XCTAssertThrowsError(try OutpostDefense(bad)) { error in
                guard case DefenseError.invalidParameter(defense: "outpost", _) = error else { return XCTFail("\(error)") }
            }
        }
        let fx = Fixture.synthetic(.lenet(), batch: 1)
        var d = try! OutpostDefense()
        var rng = RandomGenerator(seed: 0)
        XCTAssertThrowsError(try d.apply(to: fx.gradient, step: fx.step(iteration: 0), rng: &rng))
        XCTAssertThrowsError(try d.apply(to: Array(fx.gradient.dropLast()), step: fx.step(), rng: &rng))
    }
}
