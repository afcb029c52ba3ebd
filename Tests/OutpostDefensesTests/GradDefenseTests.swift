import OutpostDefenses
import OutpostNN
import OutpostTensor
import XCTest

/// GradDefense's sensitivity, slicing, perturbation, clipping and recovery.
final class GradDefenseTests: XCTestCase {
    func testSlicingBalancesSensitivityGreedily() {
        // Atoms of gcd(4, 2) = 2 entries: tensor 0 has two atoms of weight 0.5, tensor 1 one of
        // weight 1. The average per slice is 1; atom 1 brings slice 0 to 1, so it opens slice 1.
        XCTAssertEqual(GradDefense.slices(sizes: [4, 2], sensitivity: [1, 1], count: 2), [0..<2, 2..<6])

        let net = Network.lenet()
        let sizes = net.parameterSpecs.map { $0.shape.reduce(1, *) }
        let sensitivity = [3.0, 0.5, 2.0, 0.2, 1.5, 0.1, 6.0, 0.3]
        let slices = GradDefense.slices(sizes: sizes, sensitivity: sensitivity, count: 10)
        XCTAssertEqual(slices.count, 10)
        XCTAssertEqual(slices.first?.lowerBound, 0)
        XCTAssertEqual(slices.last?.upperBound, sizes.reduce(0, +))
        for (a, b) in zip(slices, slices.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound, "contiguous") }
        XCTAssert(slices.allSatisfy { $0.lowerBound % 2 == 0 && $0.upperBound % 2 == 0 }, "boundaries on atoms (gcd 2)")
        // The greedy rule, atom by atom.
        var weightOf: [Double] = []
        for (size, s) in zip(sizes, sensitivity) { weightOf += Array(repeating: s / Double(size / 2), count: size / 2) }
        let average = sensitivity.reduce(0, +) / 10
        for slice in slices.dropLast() where !slice.isEmpty {
            let atoms = (slice.lowerBound / 2)..<(slice.upperBound / 2)
            let weight = atoms.reduce(0) { $0 + weightOf[$1] }
            if atoms.count > 1 { XCTAssertLessThan(weight, average, "\(slice) stays below the average") }
            if atoms.upperBound < weightOf.count {
                XCTAssertGreaterThanOrEqual(weight + weightOf[atoms.upperBound], average, "\(slice) closes when the next atom reaches it")
            }
        }
    }

    /// Sensitivity of tensor l is the mean over samples of ‖∂(Σ g_l)/∂x_i‖; checked against
    /// central differences of Σ g_l along every pixel in Float64.
    ///
    /// A property of this definition (the authors' code contracts the Jacobian with ones):
    /// for the softmax cross-entropy head, Σ over the head weight's gradient is
    /// (Σ_c (p_c − y_c))·(Σ_f h_f) = 0 and Σ over its bias gradient is Σ_c (p_c − y_c) = 0
    /// for every input, so the head's sensitivity is zero and its atoms weigh nothing when
    /// slicing: the head always ends up in the last slice.
    func testSensitivityIsTheInputGradientOfTheSummedGradient() throws {
        let net = Network.lenet(channels: 1, imageSize: 12, classes: 4)
        let fx64 = Fixture.synthetic(net, batch: 2, initialization: .dlg, seed: 3)
        let state = fx64.state.cast(to: .float64)
        let x = fx64.images.cast(to: .float64)
        let s = GradDefense.sensitivity(network: net, parameters: state.parameters, buffers: state.buffers,
                                        images: x, labels: fx64.labels, training: false)
        XCTAssertEqual(s.count, net.parameterSpecs.count)
        let head = [net.headWeightIndex, net.headBiasIndex!]
        for l in s.indices {
            if head.contains(l) {
                XCTAssertLessThan(s[l], 1e-9 * (s.max() ?? 1), "the head's summed gradient does not depend on the input")
            } else {
                XCTAssert(s[l].isFinite && s[l] > 0, "tensor \(l)")
            }
        }
        func summed(_ images: Tensor, _ l: Int) -> Double {
            let vars = state.parameters.map { $0.requiringGrad() }
            return grad(of: Loss.crossEntropy(net(images, parameters: vars, buffers: state.buffers), labels: fx64.labels), wrt: vars)[l].sum().item
        }
        // The full input gradient of Σ g_l by central differences over every pixel of the batch.
        for l in [0, 3, 5] {
            let h = 1e-6
            var values = x.doubles
            var perSample = [Double](repeating: 0, count: 2)
            for j in values.indices {
                let v = values[j]
                values[j] = v + h
                let up = summed(Tensor(values, shape: x.shape), l)
                values[j] = v - h
                let down = summed(Tensor(values, shape: x.shape), l)
                values[j] = v
                let d = (up - down) / (2 * h)
                perSample[j / 144] += d * d
            }
            let expected = perSample.map { $0.squareRoot() }.reduce(0, +) / 2
            XCTAssertEqual(s[l], expected, accuracy: 1e-5 * expected, "tensor \(l)")
        }
    }

    func testPerturbsExactlyTheDrawnSlicesWithSigma() throws {
        let fx = Fixture.synthetic(.lenet(), batch: 1, initialization: .dlg)
        let g = fx.gradient
        var residuals: [Double] = []
        var rng = RandomGenerator(seed: 12)
        var draws = Set<[Int]>()
        for _ in 0..<6 {
            var d = try GradDefense(.init(sigma: 0.01, clipping: false))
            let out = try d.apply(to: g, step: fx.step(), rng: &rng)
            XCTAssertEqual(d.slices.count, 10)
            XCTAssertEqual(d.lastPerturbedSlices.count, 5)
            draws.insert(d.lastPerturbedSlices)
            let (o, gv) = (flat(out), flat(g))
            for (k, slice) in d.slices.enumerated() {
                if d.lastPerturbedSlices.contains(k) {
                    residuals += slice.map { o[$0] - gv[$0] }
                    XCTAssert(slice.allSatisfy { o[$0] != gv[$0] } || slice.isEmpty, "slice \(k) is perturbed throughout")
                } else {
                    XCTAssertEqual(Array(o[slice]), Array(gv[slice]), "slice \(k) is not drawn and passes unchanged")
                }
            }
        }
        XCTAssertGreaterThan(draws.count, 1, "the drawn slices vary")
        assertDraws(residuals, std: 0.01)
    }

    /// With clipping, each sample's part of a drawn slice is clipped to C before averaging
    /// (σ = 0 isolates the clipping); undrawn slices are the plain mean of per-sample gradients.
    func testClipsEachSamplesSlicesToTheBound() throws {
        let fx = Fixture.synthetic(.lenet(), batch: 3, initialization: .dlg)
        let perSample = fx.step().perSampleGradients().map(flat)
        var d = try GradDefense(.init(sigma: 0, clipping: true, clippingBound: 0.05))
        var rng = RandomGenerator(seed: 1)
        let out = flat(try d.apply(to: fx.gradient, step: fx.step(), rng: &rng))
        for (k, slice) in d.slices.enumerated() {
            let drawn = d.lastPerturbedSlices.contains(k)
            var expected = [Double](repeating: 0, count: slice.count)
            for sample in perSample {
                let part = Array(sample[slice])
                let norm = part.reduce(0) { $0 + $1 * $1 }.squareRoot()
                let factor = drawn && norm > 0.05 ? 0.05 / norm : 1
                if drawn { XCTAssertLessThanOrEqual(norm * factor, 0.05 * (1 + 1e-12)) }
                for i in part.indices { expected[i] += part[i] * factor / 3 }
            }
            for (i, e) in expected.enumerated() {
                XCTAssertEqual(out[slice.lowerBound + i], e, accuracy: 1e-6 * abs(e) + 1e-9, "slice \(k) (drawn: \(drawn))")
            }
            if drawn { XCTAssertLessThanOrEqual(out[slice].reduce(0) { $0 + $1 * $1 }.squareRoot(), 0.05 * (1 + 1e-6)) }
        }
    }

    func testRootSetTakesTheFirstSamplesOfEachClass() {
        let images = Tensor((0..<6).map(Double.init), shape: [6, 1, 1, 1])
        let (x, y) = GradDefense.rootSet(images: images, labels: [2, 1, 2, 2, 1, 0], perClass: 2)
        XCTAssertEqual(y, [2, 1, 2, 1, 0])
        XCTAssertEqual(x.doubles, [0, 1, 2, 4, 5])
    }

    func testRecoveryMatchesNumpyReference() throws {
        let shape = GradDefenseRecovery.matrixShape(total: GradDefenseReference.input.count, q: GradDefenseReference.q)
        XCTAssertEqual(shape.rows, GradDefenseReference.rows)
        XCTAssertEqual(shape.columns, GradDefenseReference.columns)
        let out = GradDefenseRecovery.denoise(GradDefenseReference.input, scale: GradDefenseReference.scale, q: GradDefenseReference.q)
        for (a, b) in zip(out, GradDefenseReference.output) { XCTAssertEqual(a, b, accuracy: 1e-9) }
        func distance(_ a: [Double]) -> Double { zip(a, GradDefenseReference.signal).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot() }
        print("GradDefense recovery: distance to the signal \(distance(GradDefenseReference.input)) before, \(distance(out)) after")
        XCTAssertLessThan(distance(out), 0.5 * distance(GradDefenseReference.input))
    }

    func testRecoveryAsAggregateDefenseUsesTheReferenceNoiseScale() throws {
        let config = GradDefense.Configuration(sigma: 0.02)
        let recovery = try GradDefenseRecovery(config, clientsPerRound: 4)
        XCTAssertEqual(recovery.noiseScale, (4 * 0.5 * 0.02 * 0.02).squareRoot(), accuracy: 1e-15)
        let fx = Fixture.synthetic(.lenet(), batch: 1)
        let g = fx.gradient
        let out = try recovery.apply(to: g, round: 1)
        XCTAssertEqual(out.map(\.shape), g.map(\.shape))
        let expected = GradDefenseRecovery.denoise(flat(g), scale: recovery.noiseScale, q: 6)
        for (a, b) in zip(flat(out), expected) { XCTAssertEqual(a, b, accuracy: 1e-6 * max(abs(b), 1e-6)) }
        XCTAssertThrowsError(try GradDefenseRecovery(config, clientsPerRound: 0))
    }

    func testSymmetricEigenDecomposes() {
        var rng = RandomGenerator(seed: 2)
        let n = 30
        let b = (0..<(n * n)).map { _ in rng.normal() }
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { a[i * n + j] = b[i * n + j] + b[j * n + i] } }
        let (values, vectors) = SymmetricEigen.decompose(a, n: n)
        for j in 0..<n {
            for i in 0..<n {
                let av = (0..<n).reduce(0) { $0 + a[i * n + $1] * vectors[$1 * n + j] }
                XCTAssertEqual(av, values[j] * vectors[i * n + j], accuracy: 1e-9)
            }
            for k in 0..<n {
                let dot = (0..<n).reduce(0) { $0 + vectors[$1 * n + j] * vectors[$1 * n + k] }
                XCTAssertEqual(dot, j == k ? 1 : 0, accuracy: 1e-10)
            }
        }
    }

    func testInvalidConfigurationsAreRejected() {
        for bad in [GradDefense.Configuration(slices: 0), .init(perturbedSlices: 11), .init(sigma: -1),
                    .init(clippingBound: 0), .init(sigma: 0, clipping: true), .init(rootSamplesPerClass: 0), .init(q: 0)] {
            XCTAssertThrowsError(try GradDefense(bad), "\(bad)")
        }
        XCTAssertThrowsError(try GradDefense(rootImages: .zeros([2, 3, 32, 32]), rootLabels: nil))
        XCTAssertThrowsError(try GradDefense(rootImages: .zeros([2, 3, 32, 32]), rootLabels: [1]))
    }
}
