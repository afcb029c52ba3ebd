import OutpostDefenses
import OutpostNN
import OutpostTensor
import XCTest

/// Soteria zeroes exactly the head-weight gradient columns of the least sensitive features,
/// found from the model's structure.
final class SoteriaTests: XCTestCase {
    /// Σ_i ‖∂r_{i,f}/∂x_i‖ / (|r_{i,f}| + 0.1), sample by sample and feature by feature through
    /// a slice of the representation (a different graph from the defense's seeded pass).
    private func independentSensitivities(_ fx: Fixture) -> [Double] {
        var total: [Double]?
        for i in 0..<fx.labels.count {
            let x = fx.images.slice(axis: 0, i..<(i + 1)).requiringGrad()
            var ctx = ForwardContext(parameters: fx.state.parameters, buffers: fx.state.buffers, training: false, updatesRunningStatistics: false)
            let r = fx.network.features(x, &ctx)
            let values = r.doubles
            let s = (0..<r.shape[1]).map { f -> Double in
                let gx = grad(of: r.slice(axis: 1, f..<(f + 1)).sum(), wrt: [x])[0]
                return GradientOps.norm(gx) / (abs(values[f]) + 0.1)
            }
            total = total.map { zip($0, s).map { $0 + $1 } } ?? s
        }
        return total ?? []
    }

    private func check(_ fx: Fixture, _ label: String) throws {
        let g = fx.gradient
        var soteria = try Soteria()
        var rng = RandomGenerator(seed: 0)
        let out = try soteria.apply(to: g, step: fx.step(), rng: &rng)
        let head = fx.network.headWeightIndex
        let (classes, features) = (g[head].shape[0], g[head].shape[1])
        XCTAssertEqual(g[head].shape, [fx.network.classCount, features], label)
        for l in g.indices where l != head {
            XCTAssertEqual(out[l].doubles, g[l].doubles, "\(label): \(fx.network.parameterSpecs[l].name) passes unchanged")
        }
        let (o, gh) = (out[head].doubles, g[head].doubles)
        let zeroed = (0..<features).filter { f in (0..<classes).allSatisfy { o[$0 * features + f] == 0 } }
        XCTAssertEqual(zeroed.count, features / 2, "\(label): exactly 50% of the \(features) columns are zeroed")
        XCTAssertEqual(zeroed, soteria.lastPrunedFeatures, label)
        for f in 0..<features where !zeroed.contains(f) {
            for c in 0..<classes { XCTAssertEqual(o[c * features + f], gh[c * features + f], "\(label): column \(f) is kept as is") }
        }
        // The zeroed columns are the least sensitive features.
        let s = independentSensitivities(fx)
        let pruned = Set(zeroed)
        let maxPruned = pruned.map { s[$0] }.max() ?? 0
        let minKept = (0..<features).filter { !pruned.contains($0) }.map { s[$0] }.min() ?? .infinity
        print("Soteria on \(label): \(features) features, pruned sensitivities ≤ \(maxPruned), kept ≥ \(minKept)")
        XCTAssertLessThanOrEqual(maxPruned, minKept * (1 + 1e-5), label)
        let defenseView = Soteria.sensitivities(fx.step(), offset: 0.1)
        for f in [0, features / 3, features - 1] {
            XCTAssertEqual(defenseView[f], s[f], accuracy: 1e-4 * s[f], "\(label): sensitivity of feature \(f)")
        }
    }

    func testZeroesTheLeastSensitiveColumnsOfLeNet() throws {
        try check(.synthetic(.lenet(), batch: 1, initialization: .dlg, seed: 4), "LeNet")
    }

    func testZeroesTheLeastSensitiveColumnsOfResNet20() throws {
        try check(.synthetic(.resnet(.resnet20), batch: 2, seed: 5), "ResNet-20")
    }

    /// The replicated path (several features per backward pass) gives the per-feature path's
    /// sensitivities, whether the features divide into whole chunks or not.
    func testReplicatedPassesEqualPerFeaturePasses() throws {
        let fx = Fixture.synthetic(.lenet(channels: 1, imageSize: 12, classes: 4), batch: 3, initialization: .dlg, seed: 6)
        let step = fx.step()
        let reference = Soteria.perFeatureSensitivities(step, offset: 0.1)
        XCTAssertEqual(reference.count, 108)
        var ctx = ForwardContext(parameters: fx.state.parameters, buffers: fx.state.buffers, training: false, updatesRunningStatistics: false)
        let graph = fx.network.features(fx.images.requiringGrad(), &ctx).graphElementCount
        // Budgets of 1 replica, 5 (108 = 21·5 + 3) and all 108 features in one pass.
        for budget in [1, 5 * graph, 1 << 30] {
            let chunked = Soteria.replicatedSensitivities(step, offset: 0.1, budget: budget)
            XCTAssertEqual(chunked.count, reference.count)
            for f in reference.indices {
                XCTAssertEqual(chunked[f], reference[f], accuracy: 1e-5 * Swift.max(abs(reference[f]), 1e-6), "budget \(budget), feature \(f)")
            }
        }
    }

    /// Batch norm in eval mode keeps samples independent: the replicated path agrees there.
    func testReplicatedPassesWithBatchNormInEvalMode() throws {
        let fx = Fixture.synthetic(.resnet(.resnet20), batch: 2, seed: 5)
        let reference = Soteria.perFeatureSensitivities(fx.step(), offset: 0.1)
        let chunked = Soteria.replicatedSensitivities(fx.step(), offset: 0.1, budget: 1 << 24)
        for f in reference.indices {
            XCTAssertEqual(chunked[f], reference[f], accuracy: 1e-5 * Swift.max(abs(reference[f]), 1e-6), "feature \(f)")
        }
    }

    func testOffsetAndPercentAreConfigurable() throws {
        let fx = Fixture.synthetic(.lenet(), batch: 1, initialization: .dlg, seed: 4)
        var s = try Soteria(.init(percent: 90, offset: 0))
        var rng = RandomGenerator(seed: 0)
        let out = try s.apply(to: fx.gradient, step: fx.step(), rng: &rng)
        XCTAssertEqual(s.lastPrunedFeatures.count, Int((0.9 * 768).rounded()))
        XCTAssertEqual(out[fx.network.headWeightIndex].doubles.filter { $0 == 0 }.count, 10 * s.lastPrunedFeatures.count)
        XCTAssertThrowsError(try Soteria(.init(percent: 120)))
        XCTAssertThrowsError(try Soteria(.init(offset: -1)))
    }
}
