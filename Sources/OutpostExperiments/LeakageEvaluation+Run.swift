import Foundation
import OutpostAttacks
import OutpostData
import OutpostDefenses
import OutpostFederated
import OutpostNN
import OutpostResults
import OutpostTensor
import OutpostThreatModel

extension LeakageEvaluation {
    /// The ground truth and model of one scenario.
    struct Setup {
        let network: Network
        let state: ModelState
        let pixels: Tensor
        let labels: [Int]
    }

    func setup(_ scenario: Scenario) throws -> Setup {
        let name = scenario.gray ? "fashion-mnist" : "photos32"
        let data: ImageDataset
        if let dataDirectory { data = try loadDataset(name, split: scenario.gray ? .test : .train, directory: dataDirectory) } else { data = try SampleData.load(name) }
        var rng = RandomGenerator(seed: seed).derived(UInt64(scenario.rawValue))
        // Distinct images, drawn reproducibly.
        var indices: [Int] = []
        while indices.count < scenario.imageCount {
            let i = Int(rng.next() % UInt64(data.count))
            if !indices.contains(i) { indices.append(i) }
        }
        let size = data.sampleSize
        var values: [Float] = []
        for i in indices { values += data.images[(i * size)..<((i + 1) * size)] }
        let network = Network.lenet(channels: data.channels, imageSize: data.height, classes: max(10, data.classCount))
        return Setup(network: network, state: network.initialState(.dlg, seed: seed &+ UInt64(scenario.rawValue)),
                     pixels: Tensor(values, shape: [indices.count, data.channels, data.height, data.width]),
                     labels: indices.map { data.labels[$0] })
    }

    /// What the client sends under `defense` (the data never leaves this function).
    func payload(_ scenario: Scenario, _ s: Setup, defense: DefenseConfiguration, seed: UInt64) throws -> ClientPayload {
        if scenario != .twoImagesOneStepEach {
            // FedSGD: the defended gradient is what leaves.
            return try DefendedPayload.gradient(network: s.network, state: s.state, images: s.pixels, labels: s.labels, defense: defense, seed: seed)
        }
        var rng = RandomGenerator(seed: seed)
        var stepDefense = try defense.makeStepDefense()
        var updateDefense = try defense.makeUpdateDefense()
        let aggregate = try defense.makeAggregateDefense()
        // Scenario 2: one local SGD step per image; the update is what leaves.
        let perStep = 1
        var params = s.state.parameters
        var steps = 0
        for start in stride(from: 0, to: s.labels.count, by: perStep) {
            steps += 1
            let rows = start..<min(start + perStep, s.labels.count)
            let step = LocalStep(network: s.network, parameters: params, buffers: s.state.buffers, images: s.pixels.slice(axis: 0, rows),
                                 labels: Array(s.labels[rows]), iteration: steps, round: 1, training: false)
            let g = try stepDefense.apply(to: step.gradient(rows: 0..<rows.count), step: step, rng: &rng)
            params = zip(params, g).map { ($0 - $1 * Scenario.localLearningRate).detached }
        }
        var delta = zip(params, s.state.parameters).map { ($0 - $1).detached }
        delta = try updateDefense.apply(to: delta, context: context(s, steps: steps), rng: &rng)
        if let aggregate { delta = try aggregate.apply(to: delta, round: 1) }
        return ClientPayload(kind: .modelUpdate, tensors: delta, sampleCount: s.labels.count)
    }

    /// The client's real settings in a scenario, from which the threat model grants facts.
    func clientRecord(_ scenario: Scenario, _ s: Setup) -> ClientTrainingRecord {
        let update = scenario == .twoImagesOneStepEach
        let steps = update ? s.labels.count : 1
        return ClientTrainingRecord(round: 1, clientID: 0, algorithm: update ? .fedAvg : .fedSGD, learningRate: Scenario.localLearningRate,
                                    stepLearningRates: Array(repeating: Scenario.localLearningRate, count: steps), localEpochs: 1,
                                    batchSize: update ? 1 : s.labels.count, sampleCount: s.labels.count, localSteps: steps, momentum: 0,
                                    weightDecay: 0, labels: s.labels)
    }

    func context(_ s: Setup, steps: Int) -> UpdateContext {
        UpdateContext(network: s.network, globalParameters: s.state.parameters, round: 1, clientID: 0, sampleCount: s.labels.count, localSteps: steps)
    }

    /// The attack adapted to the scenario: model updates are matched by unrolling the
    /// client's steps; labels follow the attack (DLG optimizes them, the others infer).
    func attack(_ config: AttackConfiguration, for scenario: Scenario) -> AttackConfiguration.Plan {
        guard case .optimization(var a) = config.plan else { return config.plan }
        if scenario == .twoImagesOneStepEach { a.matching = .unrolledUpdate }
        return .optimization(a)
    }

    /// Runs every cell and writes results.json, table.md and one folder per cell. With a
    /// journal, every trial is recorded as it finishes and a resumed run skips the trials
    /// already recorded.
    public func run(journal: RunJournal? = nil, progress: ((String) -> Void)? = nil,
                    attackProgress: ((AttackProgress) -> Void)? = nil) throws -> [Cell] {
        try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        var cells: [Cell] = []
        for scenario in scenarios {
            let s = try setup(scenario)
            let knowledge = threatModel.knowledge(of: clientRecord(scenario, s), normalization: .identity(channels: s.network.inputShape[0]))
            for defense in defenses {
                let payload = try self.payload(scenario, s, defense: defense, seed: seed &+ 17)
                let target = try AttackTarget(network: s.network, globalState: s.state, payload: payload, knowledge: knowledge)
                for config in attacks {
                    progress?("scenario \(scenario.rawValue), \(config.name), defense \(defense.name)")
                    let clock = ContinuousClock.now
                    let dir = (outputDirectory as NSString).appendingPathComponent("s\(scenario.rawValue)-\(config.name)-\(defense.name)")
                    let cell = AttackCell(key: CellKey(scenario: scenario.title, attack: config.name, defense: defense.name),
                                          directory: dir, journal: journal)
                    let summary: AuditSummary
                    switch attack(config, for: scenario) {
                    case .analytic: summary = try cell.runAnalytic(on: target, truth: s.pixels, truthLabels: s.labels)
                    case .optimization(var a):
                        a.trials = trials
                        summary = try cell.run(a, on: target, seed: config.seed, truth: s.pixels, truthLabels: s.labels, progress: attackProgress)
                    }
                    let elapsed = ContinuousClock.now - clock
                    let worst = summary.trials.first { $0.index == summary.worstForDefender }?.metrics
                    let pick = summary.trials.first { $0.index == summary.attackerChoice }?.metrics
                    cells.append(Cell(scenario: scenario.rawValue, attack: config.name, defense: defense.name, worstForDefender: worst,
                                      attackerPick: pick, diverged: summary.divergedTrials, trials: summary.trials.count,
                                      seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18,
                                      grid: (dir as NSString).appendingPathComponent("grid.png")))
                }
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(cells).write(to: URL(fileURLWithPath: (outputDirectory as NSString).appendingPathComponent("results.json")))
        try table(cells).write(toFile: (outputDirectory as NSString).appendingPathComponent("table.md"), atomically: true, encoding: .utf8)
        return cells
    }

    /// Table III layout: a row per scenario and attack, a column per defense; each cell
    /// MSE / SSIM / PSNR of the trial worst for the defender (MSE ↑ and SSIM ↓ favour the
    /// defender).
    public func table(_ cells: [Cell]) -> String {
        let names = defenses.map(\.name)
        var md = "| scenario | attack | " + names.joined(separator: " | ") + " |\n"
        md += "| --- | --- |" + String(repeating: " --- |", count: names.count) + "\n"
        for scenario in scenarios {
            for attack in attacks.map(\.name) {
                let row = names.map { d -> String in
                    guard let c = cells.first(where: { $0.scenario == scenario.rawValue && $0.attack == attack && $0.defense == d }),
                          let m = c.worstForDefender else { return "—" }
                    return String(format: "MSE %.4f / SSIM %.3f / PSNR %@", m.mse, m.ssim, m.psnr.map { String(format: "%.1f", $0) } ?? "inf")
                }
                md += "| \(scenario.title) | \(attack) | " + row.joined(separator: " | ") + " |\n"
            }
        }
        md += "\nEach cell: the trial worst for the defender (best SSIM against the ground truth) of \(trials) trial(s); MSE ↑ and SSIM ↓ favour the defender.\n"
        return md
    }
}
