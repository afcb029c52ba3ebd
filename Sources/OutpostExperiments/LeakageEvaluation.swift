import Foundation
import OutpostAttacks
import OutpostConfig
import OutpostData
import OutpostDefenses
import OutpostFederated
import OutpostNN
import OutpostTensor
import OutpostThreatModel

/// The OUTPOST paper's Table III as a grid: scenarios × attacks × defenses, each cell the
/// worst-for-the-defender trial of T attack trials. The client computes its payload with
/// the defense applied to its own local steps; the attack sees only the defended payload.
public struct LeakageEvaluation: Sendable {
    /// The paper's four scenarios, all on the DLG LeNet with uniform(−0.5, 0.5) weights.
    public enum Scenario: Int, Sendable, CaseIterable, Codable {
        /// One 1×28×28 image (Fashion-MNIST here, EMNIST in the paper), shared gradient.
        case oneGrayImage = 1
        /// Two 1×28×28 images, one local SGD step each (E = 1, n = 2, B = 1): a model update.
        case twoImagesOneStepEach = 2
        /// One 3×32×32 image (photos32 here, CIFAR-10 in the paper), shared gradient.
        case oneColorImage = 3
        /// Sixteen 3×32×32 images in one batch, shared gradient.
        case sixteenColorImages = 4

        public var title: String {
            switch self {
            case .oneGrayImage: return "1: one 1×28×28 image"
            case .twoImagesOneStepEach: return "2: two images, one step each"
            case .oneColorImage: return "3: one 3×32×32 image"
            case .sixteenColorImages: return "4: sixteen 3×32×32 images, one batch"
            }
        }
        var gray: Bool { self == .oneGrayImage || self == .twoImagesOneStepEach }
        var imageCount: Int { [1, 2, 1, 16][rawValue - 1] }
        /// Client learning rate of the two-step scenario.
        static let localLearningRate = 0.1
    }

    public var scenarios: [Scenario]
    public var attacks: [AttackConfiguration]
    public var defenses: [DefenseConfiguration]
    public var trials: Int
    /// What the attacking server knows of the client (`threat_model`, as in `outpost run`).
    /// The default, the paper's, grants what the server configured (learning rate, E, B,
    /// sample count) but not the labels; `full` grants the labels too, for the known-label
    /// attacks of the literature (`labels: known`).
    public var threatModel: ThreatModel = .serverConfigured
    public var seed: UInt64
    /// Where the real data sets are; nil uses the sample shipped with Outpost.
    public var dataDirectory: String?
    public var outputDirectory: String

    /// Reads an `outpost evaluate` configuration.
    public static func read(_ root: ConfigSection, relativeTo base: URL?) throws -> LeakageEvaluation {
        let scenarios = try root.intList("scenarios", default: [1, 2, 3, 4]).enumerated().map { i, n -> Scenario in
            guard let s = Scenario(rawValue: n) else { throw ConfigError(path: "scenarios[\(i)]", message: "scenarios are 1, 2, 3 and 4, got \(n)") }
            return s
        }
        let attacks = try root.sections("attacks").map { s -> AttackConfiguration in try AttackConfiguration.read(s) }
        let defenses = try root.sections("defenses").map { s -> DefenseConfiguration in try defense(from: s) }
        let trials = try root.int("trials", default: 1, range: 1...1000)
        let threatModel = try FederatedAttacks.readThreatModel(root)
        let seed = UInt64(try root.int("seed", default: 0, range: 0...Int.max))
        let data = try root.section("data")
        let dir = try data.optionalString("directory").map { resolve($0, relativeTo: base) }
        try data.finish()
        let o = try root.section("output")
        let out = resolve(try o.string("directory", default: "outpost-evaluate"), relativeTo: base)
        try o.finish()
        try root.finish()
        guard !scenarios.isEmpty else { throw ConfigError(path: "scenarios", message: "needs at least one scenario") }
        var evaluation = LeakageEvaluation(scenarios: scenarios, attacks: attacks.isEmpty ? [try AttackConfiguration.read(ConfigSection(.null))] : attacks,
                                           defenses: defenses.isEmpty ? [.none] : defenses, trials: trials, seed: seed, dataDirectory: dir,
                                           outputDirectory: out)
        evaluation.threatModel = threatModel
        return evaluation
    }

    /// A defense section (`defense: outpost`, `lambda: 0.8`, ...) through the defense
    /// module's own validating decoder, with the key path added to its errors.
    static func defense(from s: ConfigSection) throws -> DefenseConfiguration {
        do {
            return try JSONDecoder().decode(DefenseConfiguration.self, from: s.wholeSection().jsonData())
        } catch let error as DecodingError {
            throw ConfigError(path: s.path, message: describe(error))
        } catch {
            throw ConfigError(path: s.path, message: "\(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let c), .keyNotFound(_, let c), .typeMismatch(_, let c), .valueNotFound(_, let c):
            let path = c.codingPath.map(\.stringValue).joined(separator: ".")
            return (path.isEmpty ? "" : "\(path): ") + c.debugDescription
        @unknown default: return "\(error)"
        }
    }

    /// One cell of the grid.
    public struct Cell: Codable, Sendable {
        public let scenario: Int
        public let attack: String
        public let defense: String
        public let worstForDefender: TrialMetrics?
        public let attackerPick: TrialMetrics?
        public let diverged: Int
        public let trials: Int
        public let seconds: Double
        public let grid: String
    }
}
