import Foundation
import OutpostDefenses
import OutpostNN
import OutpostTensor
import XCTest

/// Configuration files name a defense and its parameters; bad ones are rejected.
final class ConfigurationTests: XCTestCase {
    /// One non-default configuration of every defense.
    static let samples: [DefenseConfiguration] = [
        .none,
        .outpost(.init(lambda: 0.5, phi: 30, beta: 0.2, rho: 70, fisher: .batchMeanSquared)),
        .gradientCompression(.init(percent: 60)),
        .dpNoise(.init(distribution: .gaussian, variance: 0.01)),
        .soteria(.init(percent: 40, offset: 0)),
        .gradDefense(.init(slices: 8, perturbedSlices: 3, sigma: 0.02, clipping: true, clippingBound: 0.5, rootSamplesPerClass: 2, q: 4)),
        .masking(.init(probability: 0.2, normHandling: .separately, normProbability: 0.1)),
        .clipping(.init(bound: 2, scope: .perLayer)),
        .pruning(.init(percent: 95, scope: .perLayer)),
        .noising(.init(sigma: 0.1)),
        .dpSGD(.init(clip: 2, noiseMultiplier: 0.7)),
        .updateClipping(.init(bound: 3, scope: .global)),
        .dpFedAvg(.init(clip: 0.5, noiseMultiplier: 1.3, clientsPerRound: 5, totalClients: 50, noise: .client, seed: 42)),
    ]

    private func decode(_ json: String) throws -> DefenseConfiguration {
        try JSONDecoder().decode(DefenseConfiguration.self, from: Data(json.utf8))
    }

    func testEveryDefenseRoundTripsThroughJSON() throws {
        XCTAssertEqual(Self.samples.map(\.name), DefenseConfiguration.names)
        for config in Self.samples {
            let data = try JSONEncoder().encode(config)
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
            XCTAssertEqual(object["defense"] as? String, config.name)
            XCTAssertEqual(try JSONDecoder().decode(DefenseConfiguration.self, from: data), config, String(decoding: data, as: UTF8.self))
        }
    }

    func testMissingParametersTakeThePapersSettings() throws {
        XCTAssertEqual(try decode(#"{"defense": "outpost"}"#), .outpost(.init(lambda: 0.8, phi: 40, beta: 0.1, rho: 80)))
        XCTAssertEqual(try decode(#"{"defense": "gc"}"#), .gradientCompression(.init(percent: 80)))
        XCTAssertEqual(try decode(#"{"defense": "dp_noise"}"#), .dpNoise(.init(distribution: .laplace, variance: 0.1)))
        XCTAssertEqual(try decode(#"{"defense": "soteria"}"#), .soteria(.init(percent: 50)))
        XCTAssertEqual(try decode(#"{"defense": "graddefense"}"#),
                       .gradDefense(.init(slices: 10, perturbedSlices: 5, sigma: 0.01, clipping: true)))
        XCTAssertEqual(try decode(#"{"defense": "outpost", "phi": 25}"#), .outpost(.init(phi: 25)))
        XCTAssertEqual(DefenseConfiguration.outpostPaperSettings.map(\.name), ["gc", "dp_noise", "soteria", "graddefense", "outpost"])
    }

    func testBadConfigurationsThrowDefenseErrors() {
        let bad = [
            #"{"defense": "outpost", "lamda": 0.8}"#,          // misspelt parameter
            #"{"defense": "outpost", "lambda": "high"}"#,      // wrong type
            #"{"defense": "outpost", "rho": 120}"#,
            #"{"defense": "gc", "percent": -5}"#,
            #"{"defense": "dp_noise", "distribution": "cauchy"}"#,
            #"{"defense": "dp_noise", "variance": -0.1}"#,
            #"{"defense": "soteria", "percent": 101}"#,
            #"{"defense": "graddefense", "perturbed_slices": 20}"#,
            #"{"defense": "masking", "probability": 1.5}"#,
            #"{"defense": "clipping", "bound": 0}"#,
            #"{"defense": "pruning", "scope": "sideways"}"#,
            #"{"defense": "noising", "sigma": -1}"#,
            #"{"defense": "dp_sgd", "clip": -1}"#,
            #"{"defense": "update_clipping", "bound": -2}"#,
            #"{"defense": "dp_fedavg", "clients_per_round": 200, "total_clients": 100}"#,
            #"{"defense": "none", "lambda": 1}"#,
            #"{"defense": "fortress"}"#,
            #"{"lambda": 0.8}"#,
        ]
        for json in bad {
            XCTAssertThrowsError(try decode(json), json) { error in
                guard case DefenseError.invalidParameter = error else { return XCTFail("\(json): \(error) is not a DefenseError") }
            }
        }
    }

    func testFactoriesMakeTheNamedDefenses() throws {
        let expectedStep = ["none", "OUTPOST", "GC", "DP", "Soteria", "GradDefense", "Masking", "Clipping", "Pruning", "Noising",
                            "DP-SGD", "none", "none"]
        let expectedUpdate = Array(repeating: "none", count: 11) + ["Update clipping", "DP-FedAvg"]
        for (k, config) in Self.samples.enumerated() {
            XCTAssertEqual(try config.makeStepDefense().name, expectedStep[k], config.name)
            XCTAssertEqual(try config.makeUpdateDefense().name, expectedUpdate[k], config.name)
            XCTAssertEqual(config.level, k == 0 ? .none : (k >= 11 ? .update : .step), config.name)
        }
        XCTAssertEqual(try DefenseConfiguration.gradDefense(.init()).makeAggregateDefense()?.name, "GradDefense recovery")
        XCTAssertEqual(try DefenseConfiguration.dpFedAvg(.init()).makeAggregateDefense()?.name, "DP-FedAvg noise")
        XCTAssertNil(try DefenseConfiguration.dpFedAvg(.init(noise: .client)).makeAggregateDefense())
        XCTAssertNil(try DefenseConfiguration.outpost(.init()).makeAggregateDefense())
        XCTAssertThrowsError(try DefenseConfiguration.outpost(.init(phi: 200)).makeStepDefense())
        XCTAssertThrowsError(try DefenseConfiguration.outpost(.init(phi: 200)).makeUpdateDefense())
        XCTAssertThrowsError(try DefenseConfiguration.outpost(.init(phi: 200)).makeAggregateDefense())
        // A configured defense is the same as a hand-made one: same output for the same seed.
        let fx = Fixture.synthetic(.lenet(), batch: 1, initialization: .dlg)
        var made = try DefenseConfiguration.outpost(.init()).makeStepDefense()
        var direct = try OutpostDefense()
        var r1 = RandomGenerator(seed: 7), r2 = RandomGenerator(seed: 7)
        XCTAssertEqual(flat(try made.apply(to: fx.gradient, step: fx.step(), rng: &r1)),
                       flat(try direct.apply(to: fx.gradient, step: fx.step(), rng: &r2)))
    }
}
