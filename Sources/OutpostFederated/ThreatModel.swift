import OutpostThreatModel

/// The declared threat model of an attack point: which facts about a client's local
/// training the attacker at the server is assumed to know.
///
/// ``knowledge(of:normalization:)`` builds the attacker's `ServerKnowledge` from the
/// client's *real* settings of that round, copying only the granted fields; everything
/// else is left unknown (nil), so an attack can never silently read a fact the threat
/// model did not grant. The batch size is a required field of `ServerKnowledge` (it sets how
/// many images an attack reconstructs); when it is not granted, the declared
/// ``assumedBatchSize`` is used instead of the client's.
public struct ThreatModel: Sendable, Equatable, Codable {
    /// One fact about a client's local training.
    public enum Fact: String, Sendable, Codable, CaseIterable, Comparable {
        /// The learning rate of the client's first local step in the round.
        case learningRate = "learning_rate"
        /// Local epochs E.
        case localEpochs = "local_epochs"
        /// Batch size B (for FedSGD: the size of the batch whose gradient was sent).
        case batchSize = "batch_size"
        /// The number of samples n the client trained on.
        case sampleCount = "sample_count"
        /// SGD momentum.
        case momentum
        /// Weight decay.
        case weightDecay = "weight_decay"
        /// The labels of the client's samples, in the order of the ground truth's images.
        case labels
        /// The per-channel pixel normalization the client applies.
        case normalization

        /// Orders facts by declaration order (for stable output).
        public static func < (a: Fact, b: Fact) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    /// The facts the attacker knows.
    public var known: Set<Fact>
    /// The batch size the attacker assumes when ``Fact/batchSize`` is not granted.
    public var assumedBatchSize: Int

    /// A threat model granting `known`; `assumedBatchSize` stands in for an unknown batch size.
    public init(known: Set<Fact>, assumedBatchSize: Int = 1) {
        self.known = known
        self.assumedBatchSize = assumedBatchSize
    }

    /// The server knows what it configured (learning rate, E, B, momentum, weight decay,
    /// normalization) and the sample count the client reports, but never the labels: the
    /// production setting of the OUTPOST paper.
    public static let serverConfigured = ThreatModel(known: [.learningRate, .localEpochs, .batchSize, .sampleCount,
                                                             .momentum, .weightDecay, .normalization])
    /// Everything, labels included: the strongest (known-label) setting of the attack
    /// literature, e.g. Inverting Gradients' experiments.
    public static let full = ThreatModel(known: Set(Fact.allCases))
    /// Only the payload itself (and the sample count that comes with it): the attacker
    /// assumes single-image batches and unnormalized pixels.
    public static let payloadOnly = ThreatModel(known: [.sampleCount])

    /// Whether `fact` is granted.
    public func grants(_ fact: Fact) -> Bool { known.contains(fact) }

    /// Checks the declaration.
    public func validate() throws {
        guard assumedBatchSize >= 1 else {
            throw FederatedConfigurationError.invalidField(field: "threatModel.assumedBatchSize", value: "\(assumedBatchSize)",
                                                           requirement: "at least 1")
        }
    }

    /// The attacker's knowledge of a client whose real settings are `settings`: granted
    /// facts copied, the others nil (normalization: identity; batch size:
    /// ``assumedBatchSize``).
    public func knowledge(of settings: ClientTrainingRecord, normalization: PixelNormalization) -> ServerKnowledge {
        ServerKnowledge(
            batchSize: grants(.batchSize) ? settings.batchSize : assumedBatchSize,
            learningRate: grants(.learningRate) ? settings.learningRate : nil,
            localEpochs: grants(.localEpochs) ? settings.localEpochs : nil,
            sampleCount: grants(.sampleCount) ? settings.sampleCount : nil,
            momentum: grants(.momentum) ? settings.momentum : nil,
            weightDecay: grants(.weightDecay) ? settings.weightDecay : nil,
            labels: grants(.labels) ? settings.labels : nil,
            normalization: grants(.normalization) ? normalization : .identity(channels: normalization.mean.count))
    }

    private enum CodingKeys: String, CodingKey { case known, assumedBatchSize }

    /// Decodes the declaration (`known` as a list of fact names).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        known = Set(try c.decode([Fact].self, forKey: .known))
        assumedBatchSize = try c.decode(Int.self, forKey: .assumedBatchSize)
    }

    /// Encodes the declaration with the known facts in a fixed order.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(known.sorted(), forKey: .known)
        try c.encode(assumedBatchSize, forKey: .assumedBatchSize)
    }
}
