import OutpostNN
import OutpostTensor
import OutpostThreatModel

/// Everything an attacker holds: the model definition and the global weights the client
/// started from (the server sent them), one client's payload, and the declared knowledge.
public struct AttackTarget: Sendable {
    public let network: Network
    public let globalState: ModelState
    public let payload: ClientPayload
    public let knowledge: ServerKnowledge

    public init(network: Network, globalState: ModelState, payload: ClientPayload, knowledge: ServerKnowledge) throws {
        guard payload.tensors.count == network.parameterSpecs.count else {
            throw AttackError.payloadMismatch("payload has \(payload.tensors.count) tensors, the \(network.architecture) has \(network.parameterSpecs.count) parameters")
        }
        for (t, spec) in zip(payload.tensors, network.parameterSpecs) where t.shape != spec.shape {
            throw AttackError.payloadMismatch("payload tensor for \(spec.name) has shape \(t.shape), the model expects \(spec.shape)")
        }
        guard payload.tensors.allSatisfy(\.isFinite) else { throw AttackError.payloadMismatch("payload contains NaN or infinity") }
        guard knowledge.batchSize >= 1 else { throw AttackError.invalidConfiguration("batch size must be at least 1, got \(knowledge.batchSize)") }
        guard knowledge.normalization.mean.count == network.inputShape[0], knowledge.normalization.std.count == network.inputShape[0],
              knowledge.normalization.std.allSatisfy({ $0 > 0 }) else {
            throw AttackError.invalidConfiguration("normalization must give one mean and one positive std per input channel (\(network.inputShape[0]))")
        }
        if let labels = knowledge.labels {
            guard labels.allSatisfy({ $0 >= 0 && $0 < network.classCount }) else {
                throw AttackError.invalidConfiguration("known labels \(labels) are outside the \(network.classCount) classes")
            }
        }
        self.network = network
        self.globalState = globalState
        self.payload = payload
        self.knowledge = knowledge
    }
}

/// Why an attack could not run.
public enum AttackError: Error, CustomStringConvertible, Equatable {
    case payloadMismatch(String)
    case invalidConfiguration(String)
    case unsupported(String)

    public var description: String {
        switch self {
        case .payloadMismatch(let m): return "payload does not fit the model: \(m)"
        case .invalidConfiguration(let m): return "invalid attack configuration: \(m)"
        case .unsupported(let m): return "unsupported: \(m)"
        }
    }
}
