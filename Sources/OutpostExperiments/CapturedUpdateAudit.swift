import Foundation
import OutpostAttacks
import OutpostConfig
import OutpostData
import OutpostMetrics
import OutpostNN
import OutpostResults
import OutpostSafetensors
import OutpostTensor
import OutpostThreatModel

/// Auditing an update or gradient captured from a real (e.g. PyTorch) federated system: the
/// model (architecture + weights), the captured tensors (safetensors, `state_dict` key
/// names), the declared knowledge, and an attack. What `outpost attack` runs.
public struct CapturedUpdateAudit: Sendable {
    public var model: ModelConfiguration
    public var payloadFile: String
    public var payloadKind: ClientPayload.Kind
    public var knowledge: ServerKnowledge
    public var attack: AttackConfiguration
    /// Ground truth the user holds for their own data (images as a safetensors tensor
    /// `images`, N×C×H×W pixels in [0, 1], or PNG/JPEG files): used only to score.
    public var truthFiles: [String]
    public var outputDirectory: String

    /// Reads an audit configuration; relative paths are relative to the file.
    public static func read(_ root: ConfigSection, relativeTo base: URL?) throws -> CapturedUpdateAudit {
        let model = try ModelConfiguration.read(root.section("model"), relativeTo: base)
        let p = try root.section("payload")
        let file = resolve(try p.string("file"), relativeTo: base)
        let kind = ClientPayload.Kind(rawValue: try p.choice("kind", among: ["gradient", "model_update"], default: "gradient")) ?? .gradient
        try p.finish()
        let knowledge = try KnowledgeConfiguration.read(root.section("knowledge"), channels: model.channels)
        let attack = try AttackConfiguration.read(root.section("attack"))
        let t = try root.section("truth")
        let truth = try t.stringList("images", default: []).map { resolve($0, relativeTo: base) }
        try t.finish()
        let o = try root.section("output")
        let out = resolve(try o.string("directory", default: "outpost-attack"), relativeTo: base)
        try o.finish()
        try root.finish()
        return CapturedUpdateAudit(model: model, payloadFile: file, payloadKind: kind, knowledge: knowledge, attack: attack,
                                   truthFiles: truth, outputDirectory: out)
    }

    /// Loads everything, runs the attack, writes the outputs and returns the summary.
    /// Runs the attack and writes its outputs. With a journal every trial is recorded as it
    /// finishes (cell: scenario = `scenario` or the payload file, defense = "captured"), and a resumed run
    /// redoes only the missing trials.
    public func run(journal: RunJournal? = nil, scenario: String? = nil, progress: ((AttackProgress) -> Void)? = nil) throws -> AuditSummary {
        let network = model.network()
        let state = try model.state(for: network)
        let tensors = try network.loadParameterTensors(from: URL(fileURLWithPath: payloadFile))
        let payload = ClientPayload(kind: payloadKind, tensors: tensors, sampleCount: knowledge.sampleCount ?? knowledge.batchSize)
        let target = try AttackTarget(network: network, globalState: state, payload: payload, knowledge: knowledge)
        let truth = try truthFiles.isEmpty ? nil : loadTruth(network.inputShape)
        let cell = AttackCell(key: CellKey(scenario: scenario ?? (payloadFile as NSString).lastPathComponent, attack: attack.name, defense: "captured"),
                              directory: outputDirectory, journal: journal)
        switch attack.plan {
        case .analytic: return try cell.runAnalytic(on: target, truth: truth, truthLabels: nil)
        case .optimization(let inversion):
            return try cell.run(inversion, on: target, seed: attack.seed, truth: truth, truthLabels: nil, progress: progress)
        }
    }

    func loadTruth(_ inputShape: [Int]) throws -> Tensor {
        if truthFiles.count == 1, truthFiles[0].hasSuffix(".safetensors") {
            let file = try SafetensorsFile.read(from: URL(fileURLWithPath: truthFiles[0]))
            let entry = try file.entry("images")
            guard entry.shape.count == 4, Array(entry.shape.dropFirst()) == inputShape else {
                throw AttackError.invalidConfiguration("truth images have shape \(entry.shape), the model takes N×\(inputShape)")
            }
            return Tensor(try entry.floats(), shape: entry.shape)
        }
        let images = try truthFiles.map { path -> [Float] in
            let img = try ImageCodec.read(path).converted(toChannels: inputShape[0])
            guard [img.channels, img.height, img.width] == inputShape else {
                throw AttackError.invalidConfiguration("truth image \(path) is \(img.channels)×\(img.height)×\(img.width), the model takes \(inputShape)")
            }
            return img.pixels
        }
        return Tensor(images.flatMap { $0 }, shape: [images.count] + inputShape)
    }
}
