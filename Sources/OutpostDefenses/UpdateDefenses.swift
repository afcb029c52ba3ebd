import OutpostTensor

/// L2 clipping of the model update Δ before it is sent: Δ·min(1, C/‖Δ‖), over all
/// parameters jointly (`global`) or tensor by tensor (`perLayer`).
public struct UpdateClipping: UpdateDefense {
    /// The bound and its scope.
    public struct Configuration: Sendable, Equatable {
        /// The L2 bound C.
        public var bound: Double = 1
        /// Whether the bound applies to the whole update or to each tensor.
        public var scope: GradientScope = .global

        /// An update-clipping configuration.
        public init(bound: Double = 1, scope: GradientScope = .global) {
            self.bound = bound
            self.scope = scope
        }

        /// Throws unless the bound is a positive finite number.
        public func validate() throws {
            try require(bound.isFinite && bound > 0, "update_clipping", "bound must be a finite number > 0, got \(bound)")
        }
    }

    /// The configuration.
    public let configuration: Configuration

    /// A defense with a validated configuration.
    public init(_ configuration: Configuration = Configuration()) throws {
        try configuration.validate()
        self.configuration = configuration
    }

    /// "Update clipping".
    public var name: String { "Update clipping" }

    /// The clipped update; draws no random numbers.
    public mutating func apply(to update: [Tensor], context: UpdateContext, rng: inout RandomGenerator) throws -> [Tensor] {
        try GradientOps.checkShapes(update, context.globalParameters, defense: "update_clipping")
        return GradientClipping.clip(update, bound: configuration.bound, scope: configuration.scope)
    }
}

/// Client-level DP-FedAvg (McMahan et al. 2018) with client-side fixed clipping, in the
/// meaning of Flower's `fixedclipping_mod` + `DifferentialPrivacyClientSideFixedClipping`:
/// each client clips its update Δ to global L2 norm C (``DPFedAvgClipping``) and the server
/// adds Gaussian noise of standard deviation z·C to the sum of the m sampled updates, i.e.
/// z·C/m to their (equally weighted) mean (``DPFedAvgServerNoise``).
///
/// With `noise = .client` each client instead adds N(0, (z·C)²) to its own clipped update
/// (local noise: every update is protected on its own, at m times the aggregate's noise
/// variance relative to central noise).
///
/// Accounting: client sampling at rate q = m/N per round and noise multiplier z, composed over
/// the rounds (``epsilon(delta:rounds:)``), treating the sampling as Poisson.
public enum DPFedAvg {
    /// Where the Gaussian noise is added.
    public enum NoisePlacement: String, Sendable, Codable, CaseIterable {
        /// On the server, to the aggregate (Flower's client-side fixed clipping).
        case server
        /// On each client, to its clipped update.
        case client
    }

    /// Clipping bound, noise multiplier and client sampling.
    public struct Configuration: Sendable, Equatable {
        /// The update clipping bound C.
        public var clip: Double = 1
        /// The noise multiplier z.
        public var noiseMultiplier: Double = 1
        /// m, the clients sampled per round.
        public var clientsPerRound: Int = 10
        /// N, the total number of clients.
        public var totalClients: Int = 100
        /// Where the noise is added.
        public var noise: NoisePlacement = .server
        /// Seeds the server's noise (round r draws from a generator derived from it and r).
        public var seed: UInt64 = 0

        /// A DP-FedAvg configuration.
        public init(clip: Double = 1, noiseMultiplier: Double = 1, clientsPerRound: Int = 10, totalClients: Int = 100,
                    noise: NoisePlacement = .server, seed: UInt64 = 0) {
            self.clip = clip
            self.noiseMultiplier = noiseMultiplier
            self.clientsPerRound = clientsPerRound
            self.totalClients = totalClients
            self.noise = noise
            self.seed = seed
        }

        /// Throws unless C > 0, z ≥ 0 and 1 ≤ m ≤ N.
        public func validate() throws {
            try require(clip.isFinite && clip > 0, "dp_fedavg", "clip must be a finite number > 0, got \(clip)")
            try require(noiseMultiplier.isFinite && noiseMultiplier >= 0, "dp_fedavg",
                        "noise_multiplier must be a finite number ≥ 0, got \(noiseMultiplier)")
            try require(clientsPerRound >= 1 && clientsPerRound <= totalClients, "dp_fedavg",
                        "clients_per_round must be in 1...total_clients (\(totalClients)), got \(clientsPerRound)")
        }

        /// The client sampling rate q = m/N.
        public var samplingRate: Double { Double(clientsPerRound) / Double(totalClients) }

        /// ε at `delta` after `rounds` rounds.
        public func epsilon(delta: Double, rounds: Int) throws -> Double {
            var accountant = RDPAccountant()
            try accountant.composePoissonSampledGaussian(samplingRate: samplingRate, noiseMultiplier: noiseMultiplier, count: rounds)
            return try accountant.epsilon(delta: delta).epsilon
        }
    }
}

/// The client side of ``DPFedAvg``: clips Δ to global L2 norm C, and with `.client` noise adds
/// N(0, (z·C)²) to every entry.
public struct DPFedAvgClipping: UpdateDefense {
    /// The configuration.
    public let configuration: DPFedAvg.Configuration
    /// The norm of the last update before clipping.
    public private(set) var lastNorm: Double?

    /// A client-side defense with a validated configuration.
    public init(_ configuration: DPFedAvg.Configuration = DPFedAvg.Configuration()) throws {
        try configuration.validate()
        self.configuration = configuration
    }

    /// "DP-FedAvg".
    public var name: String { "DP-FedAvg" }

    /// The clipped (and, with client noise, noised) update.
    public mutating func apply(to update: [Tensor], context: UpdateContext, rng: inout RandomGenerator) throws -> [Tensor] {
        try GradientOps.checkShapes(update, context.globalParameters, defense: "dp_fedavg")
        let (clipped, norm) = GradientOps.clipGlobally(update, to: configuration.clip)
        lastNorm = norm
        guard configuration.noise == .client else { return clipped }
        let std = configuration.noiseMultiplier * configuration.clip
        return clipped.map { t in Tensor(t.doubles.map { $0 + std * rng.normal() }, shape: t.shape, dtype: t.dtype) }
    }
}

/// The server side of ``DPFedAvg`` with `.server` noise: adds N(0, (z·C/m)²) to every entry of
/// the aggregate (the mean of m clipped updates), Flower's `add_gaussian_noise_to_params`.
/// The noise of round r is drawn from `RandomGenerator(seed:).derived(r)`, so a round's noise
/// is reproducible and independent of the others. With `.client` noise it passes the
/// aggregate unchanged.
public struct DPFedAvgServerNoise: AggregateDefense {
    /// The configuration.
    public let configuration: DPFedAvg.Configuration

    /// A server-side defense with a validated configuration.
    public init(_ configuration: DPFedAvg.Configuration = DPFedAvg.Configuration()) throws {
        try configuration.validate()
        self.configuration = configuration
    }

    /// "DP-FedAvg noise".
    public var name: String { "DP-FedAvg noise" }

    /// The standard deviation z·C/m added to each aggregate entry.
    public var standardDeviation: Double {
        configuration.noise == .server ? configuration.noiseMultiplier * configuration.clip / Double(configuration.clientsPerRound) : 0
    }

    /// The noised aggregate.
    public func apply(to aggregate: [Tensor], round: Int) throws -> [Tensor] {
        guard configuration.noise == .server else { return aggregate }
        var rng = RandomGenerator(seed: configuration.seed).derived(UInt64(bitPattern: Int64(round)))
        let std = standardDeviation
        return aggregate.map { t in Tensor(t.doubles.map { $0 + std * rng.normal() }, shape: t.shape, dtype: t.dtype) }
    }
}
