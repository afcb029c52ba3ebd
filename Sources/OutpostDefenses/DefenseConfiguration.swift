import Foundation
import OutpostTensor

/// A defense named with its parameters, as a configuration file gives it, and the factories
/// that make the defense values.
///
/// Encoded as one flat JSON object: the key `defense` names the defense and the other keys
/// are its parameters (snake_case, each optional, defaulting to the paper's setting), e.g.
///
///     {"defense": "outpost", "lambda": 0.8, "phi": 40, "beta": 0.1, "rho": 80}
///     {"defense": "dp_noise", "distribution": "laplace", "variance": 0.1}
///     {"defense": "dp_fedavg", "clip": 1, "noise_multiplier": 1, "clients_per_round": 10, "total_clients": 100}
///
/// Decoding validates: an unknown defense name, an unknown parameter, a parameter of the
/// wrong type or a value out of range throws ``DefenseError/invalidParameter(defense:message:)``.
public enum DefenseConfiguration: Sendable, Equatable {
    /// No defense (`none`).
    case none
    /// ``OutpostDefense`` (`outpost`).
    case outpost(OutpostDefense.Configuration)
    /// ``GradientCompression`` (`gc`).
    case gradientCompression(GradientCompression.Configuration)
    /// ``DPNoise`` (`dp_noise`).
    case dpNoise(DPNoise.Configuration)
    /// ``Soteria`` (`soteria`).
    case soteria(Soteria.Configuration)
    /// ``GradDefense`` with its server-side ``GradDefenseRecovery`` (`graddefense`).
    case gradDefense(GradDefense.Configuration)
    /// ``RandomMasking`` (`masking`).
    case masking(RandomMasking.Configuration)
    /// ``GradientClipping`` (`clipping`).
    case clipping(GradientClipping.Configuration)
    /// ``GradientPruning`` (`pruning`).
    case pruning(GradientPruning.Configuration)
    /// ``GaussianNoising`` (`noising`).
    case noising(GaussianNoising.Configuration)
    /// ``DPSGD`` (`dp_sgd`).
    case dpSGD(DPSGD.Configuration)
    /// ``UpdateClipping`` (`update_clipping`).
    case updateClipping(UpdateClipping.Configuration)
    /// ``DPFedAvgClipping`` with ``DPFedAvgServerNoise`` (`dp_fedavg`).
    case dpFedAvg(DPFedAvg.Configuration)

    /// Where a defense acts.
    public enum Level: String, Sendable {
        /// On each local step's gradient (``StepDefense``).
        case step
        /// On the finished update (``UpdateDefense``), possibly with a server part.
        case update
        /// Nowhere (`none`).
        case none
    }

    /// The names the `defense` key accepts, in declaration order.
    public static let names = ["none", "outpost", "gc", "dp_noise", "soteria", "graddefense", "masking", "clipping",
                               "pruning", "noising", "dp_sgd", "update_clipping", "dp_fedavg"]

    /// Every defense of `names` at its default settings, in that order (decoded from
    /// `{defense: name}`, so a new defense is included once its name is).
    public static let defaults: [DefenseConfiguration] = names.map { name in
        // Every defense decodes from its name alone; a failure here is a bug in this file.
        try! JSONDecoder().decode(DefenseConfiguration.self, from: Data(#"{"defense": "\#(name)"}"#.utf8))
    }

    /// The OUTPOST paper's Table III line-up at its settings: GC 80%, DP Laplace variance 0.1,
    /// Soteria 50%, GradDefense (10 slices, 5 perturbed, σ = 0.01, clipping) and OUTPOST
    /// (λ = 0.8, φ = 40, β = 0.1, ρ = 80).
    public static let outpostPaperSettings: [DefenseConfiguration] = [
        .gradientCompression(.init()), .dpNoise(.init()), .soteria(.init()), .gradDefense(.init()), .outpost(.init()),
    ]

    /// The name used in configuration files.
    public var name: String {
        switch self {
        case .none: return "none"
        case .outpost: return "outpost"
        case .gradientCompression: return "gc"
        case .dpNoise: return "dp_noise"
        case .soteria: return "soteria"
        case .gradDefense: return "graddefense"
        case .masking: return "masking"
        case .clipping: return "clipping"
        case .pruning: return "pruning"
        case .noising: return "noising"
        case .dpSGD: return "dp_sgd"
        case .updateClipping: return "update_clipping"
        case .dpFedAvg: return "dp_fedavg"
        }
    }

    /// Whether the defense is a per-step or an update-level one.
    public var level: Level {
        switch self {
        case .none: return .none
        case .updateClipping, .dpFedAvg: return .update
        default: return .step
        }
    }

    /// Checks the parameters (throws ``DefenseError/invalidParameter(defense:message:)``).
    public func validate() throws {
        switch self {
        case .none: return
        case .outpost(let c): try c.validate()
        case .gradientCompression(let c): try c.validate()
        case .dpNoise(let c): try c.validate()
        case .soteria(let c): try c.validate()
        case .gradDefense(let c): try c.validate()
        case .masking(let c): try c.validate()
        case .clipping(let c): try c.validate()
        case .pruning(let c): try c.validate()
        case .noising(let c): try c.validate()
        case .dpSGD(let c): try c.validate()
        case .updateClipping(let c): try c.validate()
        case .dpFedAvg(let c): try c.validate()
        }
    }

    /// The per-step defense; ``NoStepDefense`` for `none` and the update-level defenses.
    /// GradDefense takes its root data set from `resources` when given there.
    public func makeStepDefense(resources: DefenseResources = DefenseResources()) throws -> any StepDefense {
        switch self {
        case .none, .updateClipping, .dpFedAvg: return NoStepDefense()
        case .outpost(let c): return try OutpostDefense(c)
        case .gradientCompression(let c): return try GradientCompression(c)
        case .dpNoise(let c): return try DPNoise(c)
        case .soteria(let c): return try Soteria(c)
        case .gradDefense(let c): return try GradDefense(c, rootImages: resources.rootImages, rootLabels: resources.rootLabels)
        case .masking(let c): return try RandomMasking(c)
        case .clipping(let c): return try GradientClipping(c)
        case .pruning(let c): return try GradientPruning(c)
        case .noising(let c): return try GaussianNoising(c)
        case .dpSGD(let c): return try DPSGD(c)
        }
    }

    /// The update-level defense; ``NoUpdateDefense`` for `none` and the per-step defenses.
    public func makeUpdateDefense() throws -> any UpdateDefense {
        switch self {
        case .updateClipping(let c): return try UpdateClipping(c)
        case .dpFedAvg(let c): return try DPFedAvgClipping(c)
        default:
            try validate()
            return NoUpdateDefense()
        }
    }

    /// The server-side part, where the defense has one: GradDefense's recovery (for
    /// `resources.clientsPerRound` clients) and DP-FedAvg's server noise; nil otherwise.
    public func makeAggregateDefense(resources: DefenseResources = DefenseResources()) throws -> (any AggregateDefense)? {
        switch self {
        case .gradDefense(let c): return try GradDefenseRecovery(c, clientsPerRound: resources.clientsPerRound)
        case .dpFedAvg(let c) where c.noise == .server: return try DPFedAvgServerNoise(c)
        default:
            try validate()
            return nil
        }
    }
}

/// What some defenses need beyond their parameters.
public struct DefenseResources: Sendable {
    /// GradDefense's root data set: model-space images N×C×H×W (without one it is taken from
    /// the client's first batch of the round).
    public var rootImages: Tensor?
    /// The root data set's labels, one per image.
    public var rootLabels: [Int]?
    /// Clients whose updates one aggregate averages (GradDefense's recovery).
    public var clientsPerRound: Int

    /// Resources for the factories.
    public init(rootImages: Tensor? = nil, rootLabels: [Int]? = nil, clientsPerRound: Int = 1) {
        self.rootImages = rootImages
        self.rootLabels = rootLabels
        self.clientsPerRound = clientsPerRound
    }
}

// MARK: - Coding

/// A string coding key.
struct ParameterKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Reads one defense's parameters from a flat keyed container, rejecting unknown keys and
/// turning decoding errors into ``DefenseError``.
struct ParameterReader {
    let container: KeyedDecodingContainer<ParameterKey>
    let defense: String

    init(_ decoder: Decoder, defense: String, keys: [String]) throws {
        container = try decoder.container(keyedBy: ParameterKey.self)
        self.defense = defense
        if let unknown = container.allKeys.map(\.stringValue).filter({ $0 != "defense" && !keys.contains($0) }).sorted().first {
            throw DefenseError.invalidParameter(defense: defense, message: "unknown parameter '\(unknown)' (known: \(keys.joined(separator: ", ")))")
        }
    }

    /// The value at `key`, or `fallback` when the key is absent.
    func callAsFunction<T: Decodable>(_ key: String, _ fallback: T) throws -> T {
        try optional(key) ?? fallback
    }

    /// The value at `key`, or nil when absent or null.
    func optional<T: Decodable>(_ key: String) throws -> T? {
        do {
            return try container.decodeIfPresent(T.self, forKey: ParameterKey(key))
        } catch {
            throw DefenseError.invalidParameter(defense: defense, message: "parameter '\(key)' must be a \(T.self)")
        }
    }
}

/// Writes one defense's parameters into a flat keyed container.
struct ParameterWriter {
    var container: KeyedEncodingContainer<ParameterKey>

    init(_ encoder: Encoder) { container = encoder.container(keyedBy: ParameterKey.self) }

    mutating func callAsFunction<T: Encodable>(_ key: String, _ value: T) throws {
        try container.encode(value, forKey: ParameterKey(key))
    }

    mutating func optional<T: Encodable>(_ key: String, _ value: T?) throws {
        try container.encodeIfPresent(value, forKey: ParameterKey(key))
    }
}

extension DefenseConfiguration: Codable {
    /// Decodes `{"defense": name, parameters...}` and validates it.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: ParameterKey.self)
        let name: String
        do {
            name = try container.decode(String.self, forKey: ParameterKey("defense"))
        } catch {
            throw DefenseError.invalidParameter(defense: "configuration", message: "a defense needs a 'defense' key naming one of \(Self.names.joined(separator: ", "))")
        }
        switch name {
        case "none":
            _ = try ParameterReader(decoder, defense: name, keys: [])
            self = .none
        case "outpost": self = .outpost(try .init(from: decoder))
        case "gc": self = .gradientCompression(try .init(from: decoder))
        case "dp_noise": self = .dpNoise(try .init(from: decoder))
        case "soteria": self = .soteria(try .init(from: decoder))
        case "graddefense": self = .gradDefense(try .init(from: decoder))
        case "masking": self = .masking(try .init(from: decoder))
        case "clipping": self = .clipping(try .init(from: decoder))
        case "pruning": self = .pruning(try .init(from: decoder))
        case "noising": self = .noising(try .init(from: decoder))
        case "dp_sgd": self = .dpSGD(try .init(from: decoder))
        case "update_clipping": self = .updateClipping(try .init(from: decoder))
        case "dp_fedavg": self = .dpFedAvg(try .init(from: decoder))
        default:
            throw DefenseError.invalidParameter(defense: name, message: "unknown defense; known: \(Self.names.joined(separator: ", "))")
        }
    }

    /// Encodes `{"defense": name, parameters...}`.
    public func encode(to encoder: Encoder) throws {
        var writer = ParameterWriter(encoder)
        try writer("defense", name)
        switch self {
        case .none: break
        case .outpost(let c): try c.encode(to: encoder)
        case .gradientCompression(let c): try c.encode(to: encoder)
        case .dpNoise(let c): try c.encode(to: encoder)
        case .soteria(let c): try c.encode(to: encoder)
        case .gradDefense(let c): try c.encode(to: encoder)
        case .masking(let c): try c.encode(to: encoder)
        case .clipping(let c): try c.encode(to: encoder)
        case .pruning(let c): try c.encode(to: encoder)
        case .noising(let c): try c.encode(to: encoder)
        case .dpSGD(let c): try c.encode(to: encoder)
        case .updateClipping(let c): try c.encode(to: encoder)
        case .dpFedAvg(let c): try c.encode(to: encoder)
        }
    }
}

extension OutpostDefense.Configuration: Codable {
    /// Decodes `lambda`, `phi`, `beta`, `rho`, `fisher` (each optional) and validates.
    public init(from decoder: Decoder) throws {
        let r = try ParameterReader(decoder, defense: "outpost", keys: ["lambda", "phi", "beta", "rho", "fisher"])
        let d = Self()
        self.init(lambda: try r("lambda", d.lambda), phi: try r("phi", d.phi), beta: try r("beta", d.beta),
                  rho: try r("rho", d.rho), fisher: try r("fisher", d.fisher))
        try validate()
    }

    /// Encodes every parameter.
    public func encode(to encoder: Encoder) throws {
        var w = ParameterWriter(encoder)
        try w("lambda", lambda); try w("phi", phi); try w("beta", beta); try w("rho", rho); try w("fisher", fisher)
    }
}

extension GradientCompression.Configuration: Codable {
    /// Decodes `percent` (optional) and validates.
    public init(from decoder: Decoder) throws {
        let r = try ParameterReader(decoder, defense: "gc", keys: ["percent"])
        self.init(percent: try r("percent", Self().percent))
        try validate()
    }

    /// Encodes every parameter.
    public func encode(to encoder: Encoder) throws {
        var w = ParameterWriter(encoder)
        try w("percent", percent)
    }
}

extension DPNoise.Configuration: Codable {
    /// Decodes `distribution` and `variance` (optional) and validates.
    public init(from decoder: Decoder) throws {
        let r = try ParameterReader(decoder, defense: "dp_noise", keys: ["distribution", "variance"])
        let d = Self()
        self.init(distribution: try r("distribution", d.distribution), variance: try r("variance", d.variance))
        try validate()
    }

    /// Encodes every parameter.
    public func encode(to encoder: Encoder) throws {
        var w = ParameterWriter(encoder)
        try w("distribution", distribution); try w("variance", variance)
    }
}

extension Soteria.Configuration: Codable {
    /// Decodes `percent` and `offset` (optional) and validates.
    public init(from decoder: Decoder) throws {
        let r = try ParameterReader(decoder, defense: "soteria", keys: ["percent", "offset"])
        let d = Self()
        self.init(percent: try r("percent", d.percent), offset: try r("offset", d.offset))
        try validate()
    }

    /// Encodes every parameter.
    public func encode(to encoder: Encoder) throws {
        var w = ParameterWriter(encoder)
        try w("percent", percent); try w("offset", offset)
    }
}

extension GradDefense.Configuration: Codable {
    /// Decodes `slices`, `perturbed_slices`, `sigma`, `clipping`, `clipping_bound`,
    /// `root_samples_per_class`, `q` (each optional) and validates.
    public init(from decoder: Decoder) throws {
        let r = try ParameterReader(decoder, defense: "graddefense",
                                    keys: ["slices", "perturbed_slices", "sigma", "clipping", "clipping_bound", "root_samples_per_class", "q"])
        let d = Self()
        self.init(slices: try r("slices", d.slices), perturbedSlices: try r("perturbed_slices", d.perturbedSlices),
                  sigma: try r("sigma", d.sigma), clipping: try r("clipping", d.clipping),
                  clippingBound: try r.optional("clipping_bound"),
                  rootSamplesPerClass: try r("root_samples_per_class", d.rootSamplesPerClass), q: try r("q", d.q))
        try validate()
    }

    /// Encodes every parameter (`clipping_bound` only when set).
    public func encode(to encoder: Encoder) throws {
        var w = ParameterWriter(encoder)
        try w("slices", slices); try w("perturbed_slices", perturbedSlices); try w("sigma", sigma)
        try w("clipping", clipping); try w.optional("clipping_bound", clippingBound)
        try w("root_samples_per_class", rootSamplesPerClass); try w("q", q)
    }
}

extension RandomMasking.Configuration: Codable {
    /// Decodes `probability`, `norm_handling`, `norm_probability` (optional) and validates.
    public init(from decoder: Decoder) throws {
        let r = try ParameterReader(decoder, defense: "masking", keys: ["probability", "norm_handling", "norm_probability"])
        let d = Self()
        self.init(probability: try r("probability", d.probability), normHandling: try r("norm_handling", d.normHandling),
                  normProbability: try r("norm_probability", d.normProbability))
        try validate()
    }

    /// Encodes every parameter.
    public func encode(to encoder: Encoder) throws {
        var w = ParameterWriter(encoder)
        try w("probability", probability); try w("norm_handling", normHandling); try w("norm_probability", normProbability)
    }
}

extension GradientClipping.Configuration: Codable {
    /// Decodes `bound` and `scope` (optional) and validates.
    public init(from decoder: Decoder) throws {
        let r = try ParameterReader(decoder, defense: "clipping", keys: ["bound", "scope"])
        let d = Self()
        self.init(bound: try r("bound", d.bound), scope: try r("scope", d.scope))
        try validate()
    }

    /// Encodes every parameter.
    public func encode(to encoder: Encoder) throws {
        var w = ParameterWriter(encoder)
        try w("bound", bound); try w("scope", scope)
    }
}

extension GradientPruning.Configuration: Codable {
    /// Decodes `percent` and `scope` (optional) and validates.
    public init(from decoder: Decoder) throws {
        let r = try ParameterReader(decoder, defense: "pruning", keys: ["percent", "scope"])
        let d = Self()
        self.init(percent: try r("percent", d.percent), scope: try r("scope", d.scope))
        try validate()
    }

    /// Encodes every parameter.
    public func encode(to encoder: Encoder) throws {
        var w = ParameterWriter(encoder)
        try w("percent", percent); try w("scope", scope)
    }
}

extension GaussianNoising.Configuration: Codable {
    /// Decodes `sigma` (optional) and validates.
    public init(from decoder: Decoder) throws {
        let r = try ParameterReader(decoder, defense: "noising", keys: ["sigma"])
        self.init(sigma: try r("sigma", Self().sigma))
        try validate()
    }

    /// Encodes every parameter.
    public func encode(to encoder: Encoder) throws {
        var w = ParameterWriter(encoder)
        try w("sigma", sigma)
    }
}

extension DPSGD.Configuration: Codable {
    /// Decodes `clip` and `noise_multiplier` (optional) and validates.
    public init(from decoder: Decoder) throws {
        let r = try ParameterReader(decoder, defense: "dp_sgd", keys: ["clip", "noise_multiplier"])
        let d = Self()
        self.init(clip: try r("clip", d.clip), noiseMultiplier: try r("noise_multiplier", d.noiseMultiplier))
        try validate()
    }

    /// Encodes every parameter.
    public func encode(to encoder: Encoder) throws {
        var w = ParameterWriter(encoder)
        try w("clip", clip); try w("noise_multiplier", noiseMultiplier)
    }
}

extension UpdateClipping.Configuration: Codable {
    /// Decodes `bound` and `scope` (optional) and validates.
    public init(from decoder: Decoder) throws {
        let r = try ParameterReader(decoder, defense: "update_clipping", keys: ["bound", "scope"])
        let d = Self()
        self.init(bound: try r("bound", d.bound), scope: try r("scope", d.scope))
        try validate()
    }

    /// Encodes every parameter.
    public func encode(to encoder: Encoder) throws {
        var w = ParameterWriter(encoder)
        try w("bound", bound); try w("scope", scope)
    }
}

extension DPFedAvg.Configuration: Codable {
    /// Decodes `clip`, `noise_multiplier`, `clients_per_round`, `total_clients`, `noise`,
    /// `seed` (each optional) and validates.
    public init(from decoder: Decoder) throws {
        let r = try ParameterReader(decoder, defense: "dp_fedavg",
                                    keys: ["clip", "noise_multiplier", "clients_per_round", "total_clients", "noise", "seed"])
        let d = Self()
        self.init(clip: try r("clip", d.clip), noiseMultiplier: try r("noise_multiplier", d.noiseMultiplier),
                  clientsPerRound: try r("clients_per_round", d.clientsPerRound), totalClients: try r("total_clients", d.totalClients),
                  noise: try r("noise", d.noise), seed: try r("seed", d.seed))
        try validate()
    }

    /// Encodes every parameter.
    public func encode(to encoder: Encoder) throws {
        var w = ParameterWriter(encoder)
        try w("clip", clip); try w("noise_multiplier", noiseMultiplier); try w("clients_per_round", clientsPerRound)
        try w("total_clients", totalClients); try w("noise", noise); try w("seed", seed)
    }
}
