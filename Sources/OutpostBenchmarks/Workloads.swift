import OutpostAttacks
import OutpostNN
import OutpostTensor

/// One benchmark workload: set up once, then `run()` repeatedly; each call does a chunk of
/// work and says how many units (closure evaluations, iterations, samples) it did.
protocol Workload {
    /// "W1" ... "W5".
    var id: String { get }
    /// A short name, e.g. "dlg-lenet".
    var name: String { get }
    /// What the rate counts, e.g. "evals/s".
    var unit: String { get }
    mutating func run() -> Int
}

/// The parameter gradient of cross-entropy at `images` and hard `labels` (what a FedSGD
/// client sends).
func sharedGradient(_ net: Network, _ state: ModelState, images: Tensor, labels: [Int]) -> [Tensor] {
    let p = state.parameters.map { $0.requiringGrad() }
    let loss = Loss.crossEntropy(net(images, parameters: p, buffers: state.buffers), labels: labels)
    return grad(of: loss, wrt: p).map(\.detached)
}

/// An L-BFGS attack on [dummy images, dummy label logits] (W1 and W4). Trajectories are
/// restarted from fresh dummy data every `trajectorySteps` steps (and when one diverges), so
/// a fast and a slow engine spend their time in the same mix of early and late iterations.
struct LBFGSAttack {
    static let trajectorySteps = 10
    let imageShape: [Int]
    let classes: Int
    var rng: RandomGenerator
    var variables: [Tensor] = []
    var lbfgs: LBFGS
    var steps = 0
    let objective: ([Tensor]) -> Tensor

    init(imageShape: [Int], classes: Int, seed: UInt64, objective: @escaping ([Tensor]) -> Tensor) {
        self.imageShape = imageShape
        self.classes = classes
        self.objective = objective
        rng = RandomGenerator(seed: seed)
        lbfgs = try! LBFGS(learningRate: 1, maxIterations: 20, historySize: 100, lineSearch: nil)
        restart()
    }

    mutating func restart() {
        variables = [Tensor.normal(imageShape, using: &rng).requiringGrad(), Tensor.normal([imageShape[0], classes], using: &rng).requiringGrad()]
        lbfgs.resetState()
        steps = 0
    }

    /// One L-BFGS step; returns the closure evaluations it made.
    mutating func step() -> Int {
        if steps == Self.trajectorySteps { restart() }
        let f = objective
        let r = lbfgs.step(parameters: &variables) { v in
            let loss = f(v)
            return (loss.item, grad(of: loss, wrt: v))
        }
        steps += 1
        if r.hitNonFiniteValue || !variables.allSatisfy(\.isFinite) { restart() }
        return r.evaluations
    }
}

/// W1: DLG on the LeNet of DLG (3×32×32, 10 classes, every parameter uniform(−0.5, 0.5)).
struct DLGLeNet: Workload {
    let id = "W1", name = "dlg-lenet", unit = "evals/s"
    let net = Network.lenet(channels: 3, imageSize: 32, classes: 10)
    let state: ModelState
    let target: [Tensor]
    let truth: Tensor
    var attack: LBFGSAttack!

    init() {
        state = net.initialState(.dlg, seed: 1)
        var rng = RandomGenerator(seed: 2)
        truth = Tensor.uniform([1, 3, 32, 32], using: &rng)
        target = sharedGradient(net, state, images: truth, labels: [3])
        let (net, params, target) = (net, state.parameters, target)
        attack = LBFGSAttack(imageShape: [1, 3, 32, 32], classes: 10, seed: 3) { v in
            let p = params.map { $0.requiringGrad() }
            let logits = net(v[0], parameters: p, buffers: [])
            let loss = Loss.crossEntropy(logits, targets: v[1].softmax(axis: 1))
            return Tensor.squaredDistance(grad(of: loss, wrt: p, createGraph: true), target)
        }
    }

    mutating func run() -> Int { attack.step() }
}

/// W4: the client takes two local SGD steps (lr 0.01) of one image each and sends the model
/// delta; the attacker unrolls the same two steps on two dummy images with soft labels.
struct DeltaLeNet: Workload {
    let id = "W4", name = "delta-lenet", unit = "evals/s"
    var attack: LBFGSAttack!

    init() {
        let net = Network.lenet(channels: 3, imageSize: 32, classes: 10)
        let state = net.initialState(.dlg, seed: 1)
        var rng = RandomGenerator(seed: 4)
        let images = Tensor.uniform([2, 3, 32, 32], using: &rng)
        let labels = [3, 7]
        let lr = 0.01
        // The client's update.
        var params = state.parameters
        for i in 0..<2 {
            let g = sharedGradient(net, ModelState(parameters: params, buffers: []), images: images.slice(axis: 0, i..<(i + 1)), labels: [labels[i]])
            params = zip(params, g).map { ($0 - $1 * lr).detached }
        }
        let delta = zip(params, state.parameters).map { ($0 - $1).detached }
        let start = state.parameters
        attack = LBFGSAttack(imageShape: [2, 3, 32, 32], classes: 10, seed: 5) { v in
            let p0 = start.map { $0.requiringGrad() }
            var p = p0
            for i in 0..<2 {
                let logits = net(v[0].slice(axis: 0, i..<(i + 1)), parameters: p, buffers: [])
                let loss = Loss.crossEntropy(logits, targets: v[1].slice(axis: 0, i..<(i + 1)).softmax(axis: 1))
                let g = grad(of: loss, wrt: p, createGraph: true)
                p = zip(p, g).map { $0 - $1 * lr }
            }
            return Tensor.squaredDistance(zip(p, p0).map { $0 - $1 }, delta)
        }
    }

    mutating func run() -> Int { attack.step() }
}

/// W2 and W5: Inverting Gradients with known labels: 1 − cos + 1e-4·TV, Adam (lr 0.1) on
/// the sign of the image gradient, images clamped to [0, 1]; batch norm in eval mode. Each
/// step runs under the attack runner's Winograd policy (`GradientInversion.winogradPolicy`:
/// F(4×4, 3×3) where it is faster), as `GradientInversion.run` does.
struct InvertingGradients: Workload {
    let id: String, name: String, unit = "it/s"
    let net: Network
    let state: ModelState
    let labels: [Int]
    let target: [Tensor]
    /// ‖target‖², for the cosine distance.
    let targetNormSquared: Double
    var image: Tensor
    var adam: Adam
    var rng: RandomGenerator

    init(id: String, name: String, net: Network, batch: Int) {
        self.id = id
        self.name = name
        self.net = net
        state = net.initialState(.pytorchDefault, seed: 1)
        rng = RandomGenerator(seed: 6)
        labels = Array(0..<batch)
        let truth = Tensor.uniform([batch] + net.inputShape, using: &rng)
        target = sharedGradient(net, state, images: truth, labels: labels)
        targetNormSquared = target.reduce(0) { $0 + $1.sumOfSquares().item }
        image = Tensor.normal([batch] + net.inputShape, using: &rng)
        adam = try! Adam(learningRate: 0.1)
    }

    static func resnet18() -> InvertingGradients {
        InvertingGradients(id: "W2", name: "ig-resnet18", net: .resnet(.resnet18), batch: 1)
    }

    static func convNet() -> InvertingGradients {
        InvertingGradients(id: "W5", name: "ig-convnet", net: .convNet(width: 64), batch: 8)
    }

    mutating func run() -> Int {
        let gx = Engine.withWinograd(GradientInversion.winogradPolicy) {
            let x = image.requiringGrad()
            let p = state.parameters.map { $0.requiringGrad() }
            let logits = net(x, parameters: p, buffers: state.buffers, training: false)
            let ce = Loss.crossEntropy(logits, labels: labels)
            let g = grad(of: ce, wrt: p, createGraph: true)
            let loss = Tensor.cosineDistance(g, target, targetNormSquared: targetNormSquared) + Loss.totalVariation(x) * 1e-4
            return grad(of: loss, wrt: [x])[0]
        }
        var vars = [image]
        adam.step(parameters: &vars, gradients: [gx.sign()])
        image = withoutGrad { vars[0].clamped(min: 0, max: 1) }
        return 1
    }
}

/// W3: local training of the DLG LeNet on 1×28×28 images, batch 32, SGD (lr 0.01, momentum
/// 0.9, weight decay 5e-4).
struct FedAvgLeNet: Workload {
    let id = "W3", name = "fedavg-lenet", unit = "samples/s"
    static let batch = 32
    let net = Network.lenet(channels: 1, imageSize: 28, classes: 10)
    var params: [Tensor]
    var sgd: SGD
    let batches: [(Tensor, [Int])]
    var next = 0

    init() {
        params = net.initialState(.pytorchDefault, seed: 1).parameters
        sgd = try! SGD(learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4)
        var rng = RandomGenerator(seed: 7)
        batches = (0..<8).map { _ in
            (Tensor.uniform([Self.batch, 1, 28, 28], using: &rng), (0..<Self.batch).map { _ in Int(rng.next() % 10) })
        }
    }

    mutating func run() -> Int {
        let (x, y) = batches[next]
        next = (next + 1) % batches.count
        var ctx = ForwardContext(parameters: params, buffers: [], training: true)
        sgd.step(parameters: &params, gradients: net.crossEntropyGradient(x, labels: y, &ctx).gradient)
        return Self.batch
    }
}

/// Every workload, by id.
let allWorkloads: [(id: String, make: @Sendable () -> any Workload)] = [
    ("W1", { DLGLeNet() }),
    ("W2", { InvertingGradients.resnet18() }),
    ("W3", { FedAvgLeNet() }),
    ("W4", { DeltaLeNet() }),
    ("W5", { InvertingGradients.convNet() }),
]
