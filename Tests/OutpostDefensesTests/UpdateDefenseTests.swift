import OutpostDefenses
import OutpostNN
import OutpostTensor
import XCTest

/// Update clipping and client-level DP-FedAvg.
final class UpdateDefenseTests: XCTestCase {
    private let network = wideMLP()

    private func update(scale: Double, seed: UInt64 = 1) -> ([Tensor], UpdateContext) {
        var rng = RandomGenerator(seed: seed)
        let state = network.initialState(seed: seed)
        let delta = network.parameterSpecs.map { Tensor.normal($0.shape, std: scale, using: &rng) }
        return (delta, UpdateContext(network: network, globalParameters: state.parameters, round: 1, clientID: 0, sampleCount: 10, localSteps: 5))
    }

    func testUpdateClippingBoundsTheUpdateNorm() throws {
        let (delta, context) = update(scale: 0.01)
        let norm = GradientOps.globalNorm(delta)
        var rng = RandomGenerator(seed: 0)
        for bound in [norm / 3, norm * 3] {
            var d = try UpdateClipping(.init(bound: bound))
            let out = try d.apply(to: delta, context: context, rng: &rng)
            XCTAssertEqual(GradientOps.globalNorm(out), min(norm, bound), accuracy: 1e-5 * norm)
            if bound > norm { XCTAssertEqual(flat(out), flat(delta)) }
        }
        var perLayer = try UpdateClipping(.init(bound: 0.05, scope: .perLayer))
        let out = try perLayer.apply(to: delta, context: context, rng: &rng)
        for (o, t) in zip(out, delta) {
            XCTAssertEqual(GradientOps.norm(o), min(GradientOps.norm(t), 0.05), accuracy: 1e-5 * GradientOps.norm(t))
        }
    }

    func testDPFedAvgClipsOnTheClientAndNoisesTheAggregateWithZCOverM() throws {
        let config = DPFedAvg.Configuration(clip: 0.1, noiseMultiplier: 1.2, clientsPerRound: 4, totalClients: 40, seed: 9)
        var rng = RandomGenerator(seed: 0)
        var clipped: [[Tensor]] = []
        for k in 0..<4 {
            let (delta, context) = update(scale: 0.01, seed: UInt64(k + 1))
            var client = try DPFedAvgClipping(config)
            let out = try client.apply(to: delta, context: context, rng: &rng)
            XCTAssertEqual(client.lastNorm ?? 0, GradientOps.globalNorm(delta), accuracy: 1e-9)
            XCTAssertEqual(GradientOps.globalNorm(out), min(0.1, GradientOps.globalNorm(delta)), accuracy: 1e-6)
            clipped.append(out)
        }
        let mean = GradientOps.mean(clipped)
        let server = try DPFedAvgServerNoise(config)
        XCTAssertEqual(server.standardDeviation, 1.2 * 0.1 / 4, accuracy: 1e-15, "Flower's z·C/m")
        let noised = try server.apply(to: mean, round: 3)
        assertDraws(zip(flat(noised), flat(mean)).map { $0 - $1 }, std: 1.2 * 0.1 / 4)
        XCTAssertEqual(flat(try server.apply(to: mean, round: 3)), flat(noised), "a round's noise is reproducible")
        XCTAssertNotEqual(flat(try server.apply(to: mean, round: 4)), flat(noised), "and differs between rounds")
    }

    func testClientNoisePlacementAddsZCToEachUpdate() throws {
        let config = DPFedAvg.Configuration(clip: 0.1, noiseMultiplier: 0.8, clientsPerRound: 2, totalClients: 10, noise: .client)
        let (delta, context) = update(scale: 0.01)
        var client = try DPFedAvgClipping(config)
        var rng = RandomGenerator(seed: 4)
        let out = try client.apply(to: delta, context: context, rng: &rng)
        let clipped = GradientOps.clipGlobally(delta, to: 0.1).clipped
        assertDraws(zip(flat(out), flat(clipped)).map { $0 - $1 }, std: 0.8 * 0.1)
        let server = try DPFedAvgServerNoise(config)
        XCTAssertEqual(flat(try server.apply(to: out, round: 1)), flat(out), "no second noise on the server")
    }

    func testDPFedAvgAccountsOverRoundsAtTheClientSamplingRate() throws {
        let config = DPFedAvg.Configuration(clip: 1, noiseMultiplier: 1.0, clientsPerRound: 10, totalClients: 100)
        XCTAssertEqual(config.samplingRate, 0.1)
        var accountant = RDPAccountant()
        try accountant.composePoissonSampledGaussian(samplingRate: 0.1, noiseMultiplier: 1.0, count: 100)
        XCTAssertEqual(try config.epsilon(delta: 1e-5, rounds: 100), try accountant.epsilon(delta: 1e-5).epsilon)
        // (The accountant itself is checked against dp-accounting in DPSGDTests.)
        XCTAssertGreaterThan(try config.epsilon(delta: 1e-5, rounds: 200), try config.epsilon(delta: 1e-5, rounds: 100))
        for bad in [DPFedAvg.Configuration(clip: 0), .init(noiseMultiplier: -1), .init(clientsPerRound: 0), .init(clientsPerRound: 101, totalClients: 100)] {
            XCTAssertThrowsError(try DPFedAvgClipping(bad))
            XCTAssertThrowsError(try DPFedAvgServerNoise(bad))
        }
    }
}
