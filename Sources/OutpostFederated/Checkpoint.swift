import Foundation
import OutpostNN
import OutpostSafetensors
import OutpostTensor

/// The saved state of a federated run after a finished round: the global model (a
/// PyTorch-compatible safetensors `state_dict`) and this JSON record of everything else.
///
/// A checkpoint directory holds `checkpoint.json` and the model file it names
/// (`global-round-NNNNNN.safetensors`). Both are written to temporary files and renamed
/// into place, the model first and the JSON last; the JSON's rename is the commit point,
/// so a run killed at any moment leaves the previous complete checkpoint readable. Older
/// model files are removed after the commit.
///
/// The run's randomness needs no saved generator state: the client sample of round r and
/// every random stream of client k in round r are derived from (seed, r, k) alone, so
/// the seed and the next round index are the whole random state.
public struct FederatedCheckpoint: Sendable, Codable {
    /// The format of this record (currently 1).
    public var formatVersion: Int
    /// Rounds finished; the run resumes at round `completedRounds + 1`.
    public var completedRounds: Int
    /// The random state: the seed all streams derive from, and the next round index.
    public var randomState: RandomState
    /// The configuration of the run that wrote the checkpoint.
    public var configuration: FederatedConfiguration
    /// The model's architecture name and parameter keys (checked on resume).
    public var architecture: String
    /// Parameter and buffer keys of the saved `state_dict`.
    public var stateKeys: [String]
    /// The dtype the global model is computed in ("float32" or "float64").
    public var dtype: String
    /// The model file's name inside the checkpoint directory.
    public var modelFile: String
    /// Server-side state beyond the model. FedAvg with a server learning rate keeps none;
    /// recorded so that a checkpoint says so explicitly.
    public var serverState: [String: Double]
    /// Evaluations and reports of every finished round.
    public var history: RunHistory

    /// The seed and the next round: everything the run's random streams depend on.
    public struct RandomState: Sendable, Codable, Equatable {
        /// `FederatedConfiguration.seed`.
        public var seed: UInt64
        /// The round whose streams are drawn next.
        public var nextRound: Int
        /// How streams are derived, for readers of the file.
        public var derivation: String
    }

    /// The name of the JSON record inside a checkpoint directory.
    public static let recordName = "checkpoint.json"

    /// Whether `directory` holds a checkpoint record.
    public static func exists(in directory: URL) -> Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent(recordName).path)
    }

    /// Reads the record of the checkpoint in `directory`.
    public static func read(from directory: URL) throws -> FederatedCheckpoint {
        let url = directory.appendingPathComponent(recordName)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FederatedError.checkpoint("cannot read \(url.path): \(error.localizedDescription)")
        }
        let record: FederatedCheckpoint
        do { record = try JSONDecoder().decode(FederatedCheckpoint.self, from: data) } catch {
            throw FederatedError.checkpoint("\(url.path) is not a valid checkpoint record: \(error)")
        }
        guard record.formatVersion == 1 else {
            throw FederatedError.checkpoint("\(url.path) has format version \(record.formatVersion); this build reads version 1")
        }
        return record
    }

    /// Loads the global model the record names.
    public func loadModel(network: Network, directory: URL) throws -> ModelState {
        guard let dt = DType(rawValue: dtype) else { throw FederatedError.checkpoint("unknown dtype \(dtype) in checkpoint") }
        guard architecture == network.architecture, stateKeys == network.stateDictEntries.map(\.name) else {
            throw FederatedError.checkpoint("the checkpoint holds a \(architecture) with keys \(stateKeys.prefix(4))…, the simulator's model is a \(network.architecture) with keys \(network.stateDictEntries.map(\.name).prefix(4))…")
        }
        do {
            return try network.loadState(from: directory.appendingPathComponent(modelFile), dtype: dt)
        } catch {
            throw FederatedError.checkpoint("cannot load the global model \(modelFile): \(error)")
        }
    }

    /// Writes `state` and this record into `directory` atomically (see the type's
    /// documentation), creating the directory if needed.
    func write(state: ModelState, network: Network, to directory: URL) throws {
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: directory, withIntermediateDirectories: true)
            let modelData = try Self.modelFileData(state: state, network: network)
            try Self.atomicWrite(modelData, to: directory.appendingPathComponent(modelFile))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try Self.atomicWrite(try encoder.encode(self), to: directory.appendingPathComponent(Self.recordName))
        } catch let error as FederatedError {
            throw error
        } catch {
            throw FederatedError.checkpoint("cannot write the checkpoint in \(directory.path): \(error)")
        }
        // The new record is committed: older model files are no longer referenced.
        if let names = try? fm.contentsOfDirectory(atPath: directory.path) {
            for name in names where name.hasPrefix("global-round-") && name.hasSuffix(".safetensors") && name != modelFile {
                try? fm.removeItem(at: directory.appendingPathComponent(name))
            }
        }
    }

    /// The model file's name for a round.
    static func modelFileName(round: Int) -> String { String(format: "global-round-%06d.safetensors", round) }

    /// The `state_dict` as safetensors: `Network.stateDictFile` (F32) for Float32 models;
    /// Float64 models are written as F64 so that a resumed run continues bit for bit.
    static func modelFileData(state: ModelState, network: Network) throws -> Data {
        if state.parameters.first?.dtype != .float64 {
            return try network.stateDictFile(state, metadata: ["format": "pt"]).serialized()
        }
        var builder = SafetensorsBuilder(metadata: ["format": "pt"])
        for (spec, t) in zip(network.parameterSpecs, state.parameters) { try builder.add(spec.name, shape: spec.shape, doubles: t.doubles) }
        for (spec, t) in zip(network.bufferSpecs, state.buffers) {
            if spec.isInteger {
                try builder.add(spec.name, shape: spec.shape, int64s: t.doubles.map { Int64($0.rounded()) })
            } else {
                try builder.add(spec.name, shape: spec.shape, doubles: t.doubles)
            }
        }
        return builder.serialized()
    }

    /// Writes `data` to a temporary file beside `url`, then renames it over `url`.
    static func atomicWrite(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        try data.write(to: temporary)
        if rename(temporary.path, url.path) != 0 {
            let code = errno
            try? FileManager.default.removeItem(at: temporary)
            throw FederatedError.checkpoint("cannot rename \(temporary.lastPathComponent) to \(url.path): \(String(cString: strerror(code)))")
        }
    }
}
