import Foundation
import OutpostAttacks
import OutpostData
import OutpostFederated
import OutpostNN
import OutpostTensor
import OutpostThreatModel
import XCTest
import OutpostTestSupport

/// What leaves a client and what an attack may know: the attack receives the payload and
/// the declared knowledge, never the ground truth, and the module graph makes that a
/// compile-time fact.
final class ThreatBoundaryTests: XCTestCase {
    private let network = Fixture.mlp()

    // MARK: The module wall

    /// Target name → direct target dependencies, parsed from Package.swift's `.target(...)`,
    /// `.testTarget(...)` and `.systemLibrary(...)` declarations (string and
    /// `.target(name:)` dependencies).
    private func packageGraph() throws -> [String: [String]] {
        let text = try String(contentsOf: RealData.repositoryRoot.appendingPathComponent("Package.swift"), encoding: .utf8)
        // Declarations start a line; `.target(name:)` inside a dependency list does not.
        let declaration = try NSRegularExpression(pattern: #"(?m)^\s*\.(?:target|testTarget|systemLibrary)\(\s*name:\s*"([^"]+)""#)
        let matches = declaration.matches(in: text, range: NSRange(text.startIndex..., in: text))
        var graph: [String: [String]] = [:]
        for (i, match) in matches.enumerated() {
            let name = String(text[Range(match.range(at: 1), in: text)!])
            let start = Range(match.range, in: text)!.upperBound
            let end = i + 1 < matches.count ? Range(matches[i + 1].range, in: text)!.lowerBound : text.endIndex
            let body = text[start..<end]
            guard let open = body.range(of: "dependencies:") else { graph[name] = []; continue }
            // The dependency list: from "[" to its matching "]".
            var depth = 0
            var list = ""
            for ch in body[open.upperBound...] {
                if ch == "[" { depth += 1; if depth == 1 { continue } }
                if ch == "]" { depth -= 1; if depth == 0 { break } }
                if depth >= 1 { list.append(ch) }
            }
            let names = try NSRegularExpression(pattern: #"(?:^|[\[,(]\s*|name:\s*)"([^"]+)""#)
            graph[name] = names.matches(in: list, range: NSRange(list.startIndex..., in: list))
                .map { String(list[Range($0.range(at: 1), in: list)!]) }
        }
        return graph
    }

    private func closure(of target: String, in graph: [String: [String]]) -> Set<String> {
        var seen = Set<String>(), stack = [target]
        while let t = stack.popLast() {
            for d in graph[t] ?? [] where seen.insert(d).inserted { stack.append(d) }
        }
        return seen
    }

    func testAttacksCannotImportDataOrTheSimulator() throws {
        let graph = try packageGraph()
        // The parser reads the real file: known edges are present.
        XCTAssertEqual(graph["OutpostAttacks"].map(Set.init), ["OutpostTensor", "OutpostNN", "OutpostThreatModel"])
        XCTAssertEqual(graph["OutpostFederated"].map(Set.init),
                       ["OutpostTensor", "OutpostNN", "OutpostData", "OutpostThreatModel", "OutpostDefenses"])
        XCTAssertTrue(graph["OutpostTensor"]?.contains("COpenBLAS") == true)
        // Everything OutpostAttacks can import, directly or through its dependencies:
        let reachable = closure(of: "OutpostAttacks", in: graph)
        XCTAssertTrue(reachable.contains("OutpostThreatModel"))
        XCTAssertFalse(reachable.contains("OutpostData"), "attacks could read client data sets")
        XCTAssertFalse(reachable.contains("OutpostFederated"), "attacks could name GroundTruth")
        XCTAssertFalse(reachable.contains("OutpostDefenses"))
        // And the simulator does not depend on the attacks: captures go out as plain values.
        XCTAssertFalse(closure(of: "OutpostFederated", in: graph).contains("OutpostAttacks"))
        // The threat-model module, which attacks do import, knows nothing of data either.
        XCTAssertFalse(closure(of: "OutpostThreatModel", in: graph).contains("OutpostData"))
    }

    /// Every value reachable from `subject` through stored properties (type names).
    private func reachableTypeNames(_ subject: Any) -> [String] {
        var names: [String] = []
        func visit(_ value: Any, depth: Int) {
            names.append(String(reflecting: type(of: value)))
            guard depth < 12 else { return }
            for child in Mirror(reflecting: value).children { visit(child.value, depth: depth + 1) }
        }
        visit(subject, depth: 0)
        return names
    }

    func testAttackTargetFromACaptureHoldsNoGroundTruth() throws {
        let data = try Fixture.dataset(count: 16)
        var c = Fixture.configuration(clients: 2, rounds: 1, local: LocalTrainingConfiguration(epochs: 1, batchSize: 1, learningRate: 0.1))
        c.algorithm = .fedSGD
        c.captures = [CaptureRequest(round: 1, client: 0)]
        let exchange = try XCTUnwrap(try FederatedSimulator(configuration: c, network: network, trainingData: data).run().captures.first)
        let target = try AttackTarget(network: network, globalState: exchange.server.globalState, payload: exchange.server.payload,
                                      knowledge: exchange.server.knowledge)
        let types = reachableTypeNames(target)
        XCTAssertTrue(types.contains("OutpostThreatModel.ClientPayload"))
        XCTAssertTrue(types.contains("OutpostThreatModel.ServerKnowledge"))
        XCTAssertFalse(types.contains { $0.contains("OutpostFederated.") || $0.contains("OutpostData.") }, "\(Set(types))")
        XCTAssertNil(target.knowledge.labels, "the default threat model does not grant labels")
        // The ground truth sits beside the observation, in a type attacks cannot name.
        XCTAssertTrue(reachableTypeNames(exchange).contains("OutpostFederated.GroundTruth"))
    }

    // MARK: Declared knowledge

    func testKnowledgeGrantsOnlyDeclaredFacts() throws {
        let data = try Fixture.dataset(count: 20)
        var c = Fixture.configuration(clients: 2, rounds: 2,
                                      local: LocalTrainingConfiguration(epochs: 3, batchSize: 4, learningRate: 0.2, momentum: 0.5,
                                                                        weightDecay: 1e-3,
                                                                        schedule: LearningRateScheduleSpec(.exponential(gamma: 0.5))))
        c.captures = [CaptureRequest(round: 2, client: 1)]
        func knowledge(_ model: ThreatModel) throws -> (ServerKnowledge, GroundTruth) {
            c.threatModel = model
            let e = try XCTUnwrap(try FederatedSimulator(configuration: c, network: network, trainingData: data).run().captures.first)
            return (e.server.knowledge, e.groundTruth)
        }
        let (configured, truth) = try knowledge(.serverConfigured)
        XCTAssertEqual(configured.learningRate, 0.1, "round 2 of an exponential schedule with γ = 0.5")
        XCTAssertEqual(truth.settings.learningRate, 0.1)
        XCTAssertEqual(configured.localEpochs, 3)
        XCTAssertEqual(configured.batchSize, 4)
        XCTAssertEqual(configured.sampleCount, 10)
        XCTAssertEqual(configured.momentum, 0.5)
        XCTAssertEqual(configured.weightDecay, 1e-3)
        XCTAssertNil(configured.labels)
        XCTAssertEqual(configured.normalization.mean.map(Float.init), data.normalization.mean)

        let (bare, _) = try knowledge(.payloadOnly)
        XCTAssertEqual(bare.sampleCount, 10)
        XCTAssertNil(bare.learningRate)
        XCTAssertNil(bare.localEpochs)
        XCTAssertNil(bare.momentum)
        XCTAssertNil(bare.weightDecay)
        XCTAssertNil(bare.labels)
        XCTAssertEqual(bare.batchSize, 1, "the declared assumption, not the client's B")
        XCTAssertEqual(bare.normalization, .identity(channels: 1))

        let (full, fullTruth) = try knowledge(.full)
        XCTAssertEqual(full.labels, fullTruth.labels)
        XCTAssertEqual(full.labels?.count, 10)

        let (custom, _) = try knowledge(ThreatModel(known: [.labels, .localEpochs], assumedBatchSize: 2))
        XCTAssertEqual(custom.batchSize, 2)
        XCTAssertEqual(custom.localEpochs, 3)
        XCTAssertNotNil(custom.labels)
        XCTAssertNil(custom.learningRate)
    }

    // MARK: Ground truth

    func testFedAvgGroundTruthListsTheSamplesInTheOrderUsed() throws {
        let data = try Fixture.dataset(count: 20)
        var c = Fixture.configuration(clients: 2, rounds: 1, local: LocalTrainingConfiguration(epochs: 3, batchSize: 4, learningRate: 0.1))
        c.captures = [CaptureRequest(round: 1, client: 1)]
        c.captureStepGradients = true
        let start = network.initialState(seed: 6, dtype: .float64)
        let sim = try FederatedSimulator(configuration: c, network: network, trainingData: data, initialState: start)
        let exchange = try XCTUnwrap(try sim.run().captures.first)
        let truth = exchange.groundTruth
        XCTAssertEqual(Set(truth.datasetIndices), Set(sim.partition.clientIndices[1]))
        XCTAssertEqual(truth.images.shape, [10, 1, 8, 8])
        XCTAssertEqual(truth.images.scalars, try data.batch(truth.datasetIndices).images)
        XCTAssertEqual(truth.labels, truth.datasetIndices.map { data.labels[$0] })
        XCTAssertEqual(truth.epochOrders.count, 3)
        XCTAssertEqual(truth.epochOrders[0], Array(0..<10))
        for order in truth.epochOrders { XCTAssertEqual(order.sorted(), Array(0..<10)) }
        XCTAssertNotEqual(truth.epochOrders[1], truth.epochOrders[0], "shuffled every epoch")
        XCTAssertFalse(truth.augmented)
        XCTAssertEqual(truth.settings.localSteps, 9)
        XCTAssertEqual(truth.settings.stepLearningRates, Array(repeating: 0.1, count: 9))

        // The recorded steps follow the epoch orders, batch by batch...
        let steps = try XCTUnwrap(truth.steps)
        XCTAssertEqual(steps.map(\.iteration), Array(1...9))
        XCTAssertEqual(steps.map(\.epoch), [1, 1, 1, 2, 2, 2, 3, 3, 3])
        for e in 0..<3 { XCTAssertEqual(steps[(3 * e)..<(3 * e + 3)].flatMap(\.rows), truth.epochOrders[e]) }
        // ...and the first step's gradient is the gradient of exactly those rows.
        let rows = steps[0].rows.map { truth.datasetIndices[$0] }
        let x = try Fixture.modelInput(data, rows, normalized: true, dtype: .float64)
        let vars = start.parameters.map { $0.requiringGrad() }
        let g = grad(of: Loss.crossEntropy(network(x, parameters: vars, buffers: [], training: true), labels: rows.map { data.labels[$0] }),
                     wrt: vars)
        XCTAssertLessThan(maxDifference(steps[0].gradient, g), 1e-14)
        XCTAssertTrue(bitIdentical(steps[0].gradient, steps[0].defendedGradient))
        // The update is what those nine recorded steps add up to under plain SGD.
        let summed = (0..<start.parameters.count).map { l in steps.reduce(start.parameters[l].zerosLike()) { $0 - $1.defendedGradient[l] * 0.1 } }
        XCTAssertLessThan(maxDifference(summed, exchange.server.payload.tensors), 1e-14)
    }

    func testUnsampledClientCapturesAreReported() throws {
        let data = try Fixture.dataset(count: 40)
        var c = Fixture.configuration(clients: 8, perRound: 2, rounds: 2)
        let sampled = FederatedSimulator.sampledClients(round: 2, configuration: c)
        let absent = try XCTUnwrap((0..<8).first { !sampled.contains($0) })
        c.captures = [CaptureRequest(round: 2, client: absent), CaptureRequest(round: 2, client: sampled[1]),
                      CaptureRequest(round: 1, selecting: .sampledPosition(0))]
        c.local.augmentation = Augmentation(padding: 1, horizontalFlip: false)
        let result = try FederatedSimulator(configuration: c, network: network, trainingData: data).run()
        XCTAssertEqual(result.unmatchedCaptures, [CaptureRequest(round: 2, client: absent)])
        XCTAssertEqual(result.captures.map(\.round), [1, 2])
        XCTAssertEqual(result.captures[0].clientID, FederatedSimulator.sampledClients(round: 1, configuration: c)[0])
        XCTAssertEqual(result.captures[1].clientID, sampled[1])
        XCTAssertEqual(result.captures[1].server.payload.round, 2)
        XCTAssertEqual(result.captures[1].server.payload.clientID, sampled[1])
        XCTAssertTrue(result.captures[1].groundTruth.augmented)
    }

    // MARK: An attack scored by the harness

    func testAnalyticAttackIsExactOnFedSGDAndNotOnFedAvg() throws {
        let data = try Fixture.dataset(count: 12)
        // FedSGD with one image: the first layer's gradient reveals it exactly.
        var c = Fixture.configuration(clients: 4, rounds: 1, local: LocalTrainingConfiguration(epochs: 1, batchSize: 1, learningRate: 0.1))
        c.algorithm = .fedSGD
        c.captures = [CaptureRequest(round: 1, client: 2)]
        func attack(_ c: FederatedConfiguration) throws -> (error: Double, truth: GroundTruth) {
            let exchange = try XCTUnwrap(try FederatedSimulator(configuration: c, network: network, trainingData: data).run().captures.first)
            let target = try AttackTarget(network: network, globalState: exchange.server.globalState, payload: exchange.server.payload,
                                          knowledge: exchange.server.knowledge)
            let reconstruction = try AnalyticRecovery.recover(target).pixels
            // Scoring happens here, in the harness, with the ground truth the attack never saw.
            let truth = exchange.groundTruth
            let first = truth.images.slice(axis: 0, 0..<1)
            return (zip(reconstruction.doubles, first.doubles).map { abs($0 - $1) }.max()!, truth)
        }
        let sgd = try attack(c)
        XCTAssertLessThan(sgd.error, 1e-4)
        // FedAvg, three local steps on three images: the update mixes them.
        c.algorithm = .fedAvg
        c.local = LocalTrainingConfiguration(epochs: 1, batchSize: 1, learningRate: 0.1)
        let avg = try attack(c)
        XCTAssertEqual(avg.truth.settings.localSteps, 3)
        XCTAssertGreaterThan(avg.error, 0.05)
    }
}
