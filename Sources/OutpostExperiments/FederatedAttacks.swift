import Foundation
import OutpostAttacks
import OutpostConfig
import OutpostFederated
import OutpostNN
import OutpostResults
import OutpostTensor

/// The attacks of `outpost run`: which exchanges the server captures (rounds × positions
/// among the sampled clients), what it knows about them (the threat model), and the attacks
/// it runs on each. The attack sees only what the server observed; the ground truth that
/// the simulator keeps beside it is used for the metrics alone.
public struct FederatedAttacks: Sendable {
    /// The exchanges to capture.
    public var captures: [CaptureRequest]
    /// What the server knows about a captured client's training.
    public var threatModel: ThreatModel
    /// The attacks run on every captured exchange.
    public var methods: [AttackConfiguration]

    /// One attack on one captured exchange, as summarized for the terminal and JSON.
    public struct CellSummary: Codable, Sendable {
        public let round: Int
        public let clientID: Int
        public let attack: String
        public let samples: Int
        public let worstForDefender: TrialMetrics?
        public let attackerPick: TrialMetrics?
        public let diverged: Int
        public let trials: Int
        public let directory: String
    }

    static let threatModels: [String: ThreatModel] = [
        "server_configured": .serverConfigured, "full": .full, "payload_only": .payloadOnly,
    ]

    /// Reads the `attacks` section of an `outpost run` configuration:
    ///
    ///     attacks:
    ///       rounds: [1, 10]            # rounds whose exchanges are captured
    ///       clients: [0]               # positions among that round's sampled clients
    ///       threat_model: server_configured   # or full, payload_only, or {known: [...], assumed_batch_size: 1}
    ///       methods:
    ///         - {name: csdlg, iterations: 300, matching: unrolled}
    static func read(_ s: ConfigSection, rounds: Int, clientsPerRound: Int) throws -> FederatedAttacks {
        let attackRounds = try s.intList("rounds", default: [1])
        for (i, r) in attackRounds.enumerated() where !(1...rounds).contains(r) {
            throw ConfigError(path: "\(s.path).rounds[\(i)]", message: "round \(r) is not in 1...\(rounds) (federation.rounds)")
        }
        let positions = try s.intList("clients", default: [0])
        for (i, p) in positions.enumerated() where !(0..<clientsPerRound).contains(p) {
            throw ConfigError(path: "\(s.path).clients[\(i)]",
                              message: "position \(p) is not among the \(clientsPerRound) clients sampled per round (0...\(clientsPerRound - 1))")
        }
        let threat = try readThreatModel(s)
        let methods = try s.sections("methods").map { try AttackConfiguration.read($0) }
        try s.finish()
        guard !attackRounds.isEmpty, !positions.isEmpty else {
            throw ConfigError(path: s.path, message: "needs at least one round and one client position")
        }
        let captures = attackRounds.flatMap { r in positions.map { CaptureRequest(round: r, selecting: .sampledPosition($0)) } }
        return FederatedAttacks(captures: captures, threatModel: threat,
                                methods: methods.isEmpty ? [try AttackConfiguration.read(ConfigSection(.null))] : methods)
    }

    static func readThreatModel(_ s: ConfigSection) throws -> ThreatModel {
        guard s.has("threat_model") else { return .serverConfigured }
        if case .scalar? = s.raw("threat_model") {
            let name = try s.choice("threat_model", among: threatModels.keys.sorted())
            return threatModels[name]!
        }
        let t = try s.section("threat_model")
        let known = Set(try t.stringList("known", default: [], among: ThreatModel.Fact.allCases.map(\.rawValue))
            .compactMap(ThreatModel.Fact.init(rawValue:)))
        let model = ThreatModel(known: known, assumedBatchSize: try t.int("assumed_batch_size", default: 1, range: 1...100_000))
        try t.finish()
        return model
    }

    /// The folder of one attack on one exchange.
    static func cellDirectory(_ base: String, round: Int, clientID: Int, attack: String) -> String {
        (base as NSString).appendingPathComponent("round-\(round)-client-\(clientID)-\(attack)")
    }

    /// Runs every method on `exchange` (built from what the server observed only) and
    /// scores it against the exchange's ground truth.
    func attack(_ exchange: CapturedExchange, network: Network, defense: String, directory: String, journal: RunJournal?,
                progress: ((String) -> Void)?, attackProgress: ((AttackProgress) -> Void)?) throws -> [CellSummary] {
        let target = try AttackTarget(network: network, globalState: exchange.server.globalState, payload: exchange.server.payload,
                                      knowledge: exchange.server.knowledge)
        let truth = exchange.groundTruth
        return try methods.map { method in
            progress?("\(defense): attacking round \(exchange.round), client \(exchange.clientID) (\(truth.labels.count) samples) with \(method.name)")
            let dir = Self.cellDirectory(directory, round: exchange.round, clientID: exchange.clientID, attack: method.name)
            let cell = AttackCell(key: CellKey(scenario: "round \(exchange.round), client \(exchange.clientID)", attack: method.name, defense: defense),
                                  directory: dir, journal: journal)
            let summary: AuditSummary
            switch method.plan {
            case .analytic: summary = try cell.runAnalytic(on: target, truth: truth.images, truthLabels: truth.labels)
            case .optimization(let a):
                summary = try cell.run(a, on: target, seed: method.seed, truth: truth.images, truthLabels: truth.labels, progress: attackProgress)
            }
            return CellSummary(summary, round: exchange.round, clientID: exchange.clientID, attack: method.name, samples: truth.labels.count)
        }
    }
}

extension FederatedAttacks {
    /// The summaries of every attack cell of a finished series, read from the cells' folders
    /// (so cells attacked before a resume are included).
    func summaries(directory: String, configuration: FederatedConfiguration) throws -> [CellSummary] {
        var out: [CellSummary] = []
        for request in captures {
            let clients = FederatedSimulator.sampledClients(round: request.round, configuration: configuration)
            guard case .sampledPosition(let p) = request.client, p < clients.count else { continue }
            for method in methods {
                let dir = Self.cellDirectory(directory, round: request.round, clientID: clients[p], attack: method.name)
                let url = URL(fileURLWithPath: dir).appendingPathComponent("summary.json")
                let summary = try JSONDecoder().decode(AuditSummary.self, from: Data(contentsOf: url))
                let samples = summary.trials.first.map { _ in summary.trials[0].labels.count } ?? 0
                out.append(CellSummary(summary, round: request.round, clientID: clients[p], attack: method.name, samples: samples))
            }
        }
        return out
    }
}

extension FederatedAttacks.CellSummary {
    init(_ s: AuditSummary, round: Int, clientID: Int, attack: String, samples: Int) {
        self.init(round: round, clientID: clientID, attack: attack, samples: samples,
                  worstForDefender: s.trials.first { $0.index == s.worstForDefender }?.metrics,
                  attackerPick: s.trials.first { $0.index == s.attackerChoice }?.metrics,
                  diverged: s.divergedTrials, trials: s.trials.count, directory: s.outputDirectory)
    }
}
