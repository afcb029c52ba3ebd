import OutpostDefenses
import OutpostNN
import OutpostTensor
import XCTest

/// DP-SGD's clipping and noise, and the RDP accountant against Google's dp-accounting.
final class DPSGDTests: XCTestCase {
    func testPerSampleGradientsAreClippedBeforeNoise() throws {
        let fx = Fixture.synthetic(.lenet(), batch: 4, initialization: .dlg)
        let raw = fx.step().perSampleGradients()
        let norms = raw.map(GradientOps.globalNorm)
        let bound = norms.sorted()[1] * 1.01   // one sample below the bound, three above
        let (clipped, reported) = DPSGD.clippedPerSampleGradients(fx.step(), bound: bound)
        XCTAssertEqual(reported, norms)
        for (c, (r, n)) in zip(clipped, zip(raw, norms)) {
            XCTAssertLessThanOrEqual(GradientOps.globalNorm(c), bound * (1 + 1e-6))
            if n <= bound {
                XCTAssertEqual(flat(c), flat(r), "a gradient within the bound is unchanged")
            } else {
                XCTAssertEqual(GradientOps.globalNorm(c), bound, accuracy: 1e-5 * bound)
                XCTAssert(zip(flat(c), flat(r)).allSatisfy { abs($0.0 - $0.1 * bound / n) <= 1e-6 * abs($0.1) + 1e-30 })
            }
        }
        // Without noise the step is the mean of the clipped gradients.
        var d = try DPSGD(.init(clip: bound, noiseMultiplier: 0))
        var rng = RandomGenerator(seed: 0)
        let out = try d.apply(to: fx.gradient, step: fx.step(), rng: &rng)
        XCTAssertEqual(d.lastPerSampleNorms, norms)
        XCTAssertEqual(d.stepsTaken, 1)
        let mean = GradientOps.mean(clipped)
        for (a, b) in zip(flat(out), flat(mean)) { XCTAssertEqual(a, b, accuracy: 1e-6 * abs(b) + 1e-12) }
    }

    func testNoiseHasStandardDeviationSigmaCOverB() throws {
        let fx = Fixture.synthetic(wideMLP(), batch: 4)
        var d = try DPSGD(.init(clip: 0.5, noiseMultiplier: 1.1))
        var rng = RandomGenerator(seed: 3)
        let out = try d.apply(to: fx.gradient, step: fx.step(), rng: &rng)
        let mean = GradientOps.mean(DPSGD.clippedPerSampleGradients(fx.step(), bound: 0.5).gradients)
        assertDraws(zip(flat(out), flat(mean)).map { $0 - $1 }, std: 1.1 * 0.5 / 4)
    }

    func testRDPMatchesDPAccountingPerOrder() {
        XCTAssertEqual(RDPAccountant.defaultOrders, RDPReference.orders)
        for c in RDPReference.rdp {
            let ours = RDPAccountant.poissonSampledGaussianRDP(samplingRate: c.q, noiseMultiplier: c.sigma, orders: RDPReference.orders)
            for (k, (a, b)) in zip(ours, c.rdp).enumerated() {
                if b.isInfinite {
                    XCTAssert(a.isInfinite, "q \(c.q) σ \(c.sigma) order \(RDPReference.orders[k]): dp-accounting excludes it (+∞), got \(a)")
                } else {
                    XCTAssertEqual(a, b, accuracy: 1e-6 * abs(b) + 1e-15, "q \(c.q) σ \(c.sigma) order \(RDPReference.orders[k])")
                }
            }
        }
    }

    func testEpsilonMatchesDPAccountingOnTheGrid() throws {
        var worst = 0.0
        for c in RDPReference.epsilon {
            var accountant = RDPAccountant()
            try accountant.composePoissonSampledGaussian(samplingRate: c.q, noiseMultiplier: c.sigma, count: c.steps)
            let (eps, order) = try accountant.epsilon(delta: c.delta)
            let label = "q \(c.q) σ \(c.sigma) steps \(c.steps) δ \(c.delta)"
            if c.epsilon.isInfinite {
                XCTAssert(eps.isInfinite, label)
                continue
            }
            let relative = abs(eps - c.epsilon) / max(c.epsilon, 1e-12)
            worst = max(worst, relative)
            XCTAssertLessThan(relative, 1e-3, "\(label): ε \(eps) vs dp-accounting \(c.epsilon)")
            XCTAssertEqual(order, c.order, "\(label): optimal order")
        }
        print("RDP accountant: \(RDPReference.epsilon.count) (q, σ, steps, δ) cases, worst relative ε difference \(worst)")
        for c in RDPReference.composed {
            var accountant = RDPAccountant()
            try accountant.composePoissonSampledGaussian(samplingRate: c.first.0, noiseMultiplier: c.first.1, count: c.first.2)
            try accountant.composePoissonSampledGaussian(samplingRate: c.second.0, noiseMultiplier: c.second.1, count: c.second.2)
            let (eps, order) = try accountant.epsilon(delta: c.delta)
            XCTAssertEqual(eps, c.epsilon, accuracy: 1e-3 * c.epsilon)
            XCTAssertEqual(order, c.order)
        }
    }

    func testEpsilonOverARunComposesStepsAndRounds() throws {
        let d = try DPSGD(.init(clip: 1, noiseMultiplier: 1.1))
        var accountant = RDPAccountant()
        try accountant.composePoissonSampledGaussian(samplingRate: 0.01, noiseMultiplier: 1.1, count: 50 * 20)
        XCTAssertEqual(try d.epsilon(delta: 1e-5, samplingRate: 0.01, stepsPerRound: 50, rounds: 20),
                       try accountant.epsilon(delta: 1e-5).epsilon)
        let one = try d.epsilon(delta: 1e-5, samplingRate: 0.01, stepsPerRound: 50, rounds: 1)
        let many = try d.epsilon(delta: 1e-5, samplingRate: 0.01, stepsPerRound: 50, rounds: 20)
        XCTAssertGreaterThan(many, one)
        XCTAssertLessThan(many, 20 * one, "RDP composition is tighter than adding ε")
        XCTAssertEqual(try RDPAccountant().epsilon(delta: 1e-5).epsilon, 0, "nothing composed, nothing spent")
        var bad = RDPAccountant()
        XCTAssertThrowsError(try bad.composePoissonSampledGaussian(samplingRate: 1.5, noiseMultiplier: 1, count: 1))
        XCTAssertThrowsError(try bad.composePoissonSampledGaussian(samplingRate: 0.1, noiseMultiplier: -1, count: 1))
        XCTAssertThrowsError(try bad.epsilon(delta: -1))
        XCTAssertThrowsError(try DPSGD(.init(clip: 0)))
        XCTAssertThrowsError(try DPSGD(.init(noiseMultiplier: -0.5)))
    }
}
