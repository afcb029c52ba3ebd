import Foundation
import OutpostNN
import OutpostTensor

/// GradDefense (Wang, Guo, Xie, Qi, INFOCOM 2022), as in the authors' code
/// (wangjunxiao/GradDefense: `sensitivity.py`, `perturb.py`, `clip.py`, `compensate.py`)
/// with the OUTPOST paper's setting (10 slices, 5 perturbed, σ = 0.01, clipping on, Q = 6):
///
/// 1. **Sensitivity** of each parameter tensor l, measured on a small root data set (the
///    authors take 5 samples per class): with g_l = ∂L/∂θ_l of the mean cross-entropy, the
///    input-gradient Jacobian product v = ∂(Σ g_l)/∂x, and s_l = the mean over root samples
///    of ‖v_i‖ (Frobenius norm per sample). Computed once per round, at the first step,
///    with the round's starting weights. (With the softmax cross-entropy the entries of the
///    head's weight and bias gradients sum to zero for every input, so this contraction gives
///    the head sensitivity 0 and the head always falls into the last slice.)
/// 2. **Slicing**: the flat gradient is cut into atoms of gcd(tensor sizes) entries; each
///    atom of tensor l weighs s_l / (atoms of l). Slices are filled greedily in parameter
///    order: atoms join a slice while its running weight stays below Σ s / slices; the atom
///    that reaches it opens the next slice; the last slice takes the rest.
/// 3. **Perturbation**: `perturbedSlices` of the slices are drawn uniformly at random and
///    N(0, σ²) is added to every entry of them.
/// 4. **Clipping** (optional, on in the paper's setting): the gradient is rebuilt from the
///    per-sample gradients, each sample's part in every drawn slice clipped to L2 norm C
///    (the authors' code uses C = σ), averaged, then noised as in 3.
/// 5. **Recovery** on the server: ``GradDefenseRecovery``.
///
/// Deviations from the authors' code, all at edges: slices are half-open ranges (the code's
/// inclusive end indices make consecutive slices share one entry); a slice never starts
/// empty (when a single atom outweighs the average it forms a slice by itself, where the code
/// would repeat a boundary); if the atoms run out before all slices are formed the remaining
/// slices are empty (the code would index past its boundary list).
public struct GradDefense: StepDefense {
    /// GradDefense's parameters; the defaults are the OUTPOST paper's setting.
    public struct Configuration: Sendable, Equatable {
        /// Number of slices the gradient is cut into.
        public var slices: Int = 10
        /// Number of slices drawn for perturbation at each step.
        public var perturbedSlices: Int = 5
        /// Standard deviation of the Gaussian noise (the paper's "noise variance 0.01" is the
        /// code's `scale`, which is used as the standard deviation).
        public var sigma: Double = 0.01
        /// Per-sample clipping of the drawn slices.
        public var clipping: Bool = true
        /// The clipping bound C; nil uses σ, as the authors' code does.
        public var clippingBound: Double?
        /// Root-set samples per class when the root set is taken from the client's batch.
        public var rootSamplesPerClass: Int = 5
        /// The recovery step's matrix aspect ratio Q (rows/columns), see ``GradDefenseRecovery``.
        public var q: Double = 6

        /// The paper's setting by default.
        public init(slices: Int = 10, perturbedSlices: Int = 5, sigma: Double = 0.01, clipping: Bool = true,
                    clippingBound: Double? = nil, rootSamplesPerClass: Int = 5, q: Double = 6) {
            self.slices = slices
            self.perturbedSlices = perturbedSlices
            self.sigma = sigma
            self.clipping = clipping
            self.clippingBound = clippingBound
            self.rootSamplesPerClass = rootSamplesPerClass
            self.q = q
        }

        /// Throws for fewer than one slice, more perturbed slices than slices, a negative σ,
        /// a non-positive clipping bound or Q, or fewer than one root sample per class.
        public func validate() throws {
            try require(slices >= 1, "graddefense", "slices must be ≥ 1, got \(slices)")
            try require(perturbedSlices >= 0 && perturbedSlices <= slices, "graddefense",
                        "perturbed_slices must be in 0...slices (\(slices)), got \(perturbedSlices)")
            try require(sigma.isFinite && sigma >= 0, "graddefense", "sigma must be a finite number ≥ 0, got \(sigma)")
            if let c = clippingBound {
                try require(c.isFinite && c > 0, "graddefense", "clipping_bound must be a finite number > 0, got \(c)")
            }
            try require(clippingBound != nil || !clipping || sigma > 0, "graddefense",
                        "clipping with the default bound (σ) needs σ > 0; give clipping_bound")
            try require(rootSamplesPerClass >= 1, "graddefense", "root_samples_per_class must be ≥ 1, got \(rootSamplesPerClass)")
            try require(q.isFinite && q > 0, "graddefense", "q must be a finite number > 0, got \(q)")
        }

        /// The clipping bound in effect: `clippingBound`, or σ.
        public var effectiveClippingBound: Double { clippingBound ?? sigma }
    }

    /// The configuration.
    public let configuration: Configuration
    /// The root data set's images, when given; otherwise the root set is taken from the
    /// first step's batch.
    public let rootImages: Tensor?
    /// The root data set's labels, when given.
    public let rootLabels: [Int]?
    /// Per-tensor sensitivity, measured at the first step.
    public private(set) var sensitivity: [Double]?
    /// The slices of the flat gradient (flat index ranges), fixed with the sensitivity.
    public private(set) var slices: [Range<Int>] = []
    /// The slices drawn at the last step, ascending.
    public private(set) var lastPerturbedSlices: [Int] = []

    /// A defense with a validated configuration and an optional root data set (images N×C×H×W
    /// in model space and their labels).
    public init(_ configuration: Configuration = Configuration(), rootImages: Tensor? = nil, rootLabels: [Int]? = nil) throws {
        try configuration.validate()
        guard (rootImages == nil) == (rootLabels == nil) else {
            throw DefenseError.invalidParameter(defense: "graddefense", message: "give both root images and root labels, or neither")
        }
        if let x = rootImages, let y = rootLabels {
            guard x.rank == 4, x.shape[0] == y.count, !y.isEmpty else {
                throw DefenseError.invalidParameter(defense: "graddefense", message: "root set: \(x.shape) images for \(y.count) labels")
            }
        }
        self.configuration = configuration
        self.rootImages = rootImages
        self.rootLabels = rootLabels
    }

    /// "GradDefense".
    public var name: String { "GradDefense" }

    /// Measures the sensitivity and cuts the slices at the first step, then draws
    /// `perturbedSlices` slices and perturbs them (after per-sample clipping when on). The
    /// incoming `gradient` is used as is without clipping; with clipping the gradient is
    /// rebuilt from the step's per-sample gradients.
    public mutating func apply(to gradient: [Tensor], step: LocalStep, rng: inout RandomGenerator) throws -> [Tensor] {
        try GradientOps.checkShapes(gradient, step.parameters, defense: "graddefense")
        if sensitivity == nil {
            let (x, y) = rootImages.flatMap { images in rootLabels.map { (images, $0) } }
                ?? Self.rootSet(images: step.images, labels: step.labels, perClass: configuration.rootSamplesPerClass)
            let s = Self.sensitivity(network: step.network, parameters: step.parameters, buffers: step.buffers,
                                     images: x, labels: y, training: step.training)
            sensitivity = s
            slices = Self.slices(sizes: gradient.map(\.count), sensitivity: s, count: configuration.slices)
        }
        let drawn = Self.draw(configuration.perturbedSlices, of: configuration.slices, rng: &rng)
        lastPerturbedSlices = drawn
        var flat: [Double]
        if configuration.clipping {
            let bound = configuration.effectiveClippingBound
            var samples = step.perSampleGradients().map(GradientOps.flatten)
            for k in drawn {
                for s in samples.indices { Self.clip(&samples[s], slice: slices[k], to: bound) }
            }
            flat = [Double](repeating: 0, count: samples[0].count)
            for sample in samples { for i in sample.indices { flat[i] += sample[i] } }
            flat = flat.map { $0 / Double(samples.count) }
        } else {
            flat = GradientOps.flatten(gradient)
        }
        for k in drawn {
            for i in slices[k] { flat[i] += configuration.sigma * rng.normal() }
        }
        return GradientOps.unflatten(flat, like: gradient)
    }

    /// The root data set taken from a batch: the first `perClass` samples of each class, in
    /// batch order (the authors' `extract_root_set` on the client's data).
    public static func rootSet(images: Tensor, labels: [Int], perClass: Int) -> (Tensor, [Int]) {
        var taken: [Int: Int] = [:]
        var rows: [Int] = []
        for (i, y) in labels.enumerated() where taken[y, default: 0] < perClass {
            taken[y, default: 0] += 1
            rows.append(i)
        }
        if rows.count == labels.count { return (images.detached, labels) }
        return (Tensor.concat(rows.map { images.slice(axis: 0, $0..<($0 + 1)) }, axis: 0).detached, rows.map { labels[$0] })
    }

    /// Per-parameter-tensor sensitivity: the mean over the root samples of ‖∂(Σ g_l)/∂x_i‖,
    /// with g_l the gradient of the mean cross-entropy (one double-backward pass per tensor).
    public static func sensitivity(network: Network, parameters: [Tensor], buffers: [Tensor], images: Tensor, labels: [Int],
                                   training: Bool) -> [Double] {
        let x = images.detached.requiringGrad()
        let vars = parameters.map { $0.detached.requiringGrad() }
        let loss = Loss.crossEntropy(network(x, parameters: vars, buffers: buffers, training: training), labels: labels)
        let g = grad(of: loss, wrt: vars, createGraph: true)
        let n = images.shape[0], size = images.count / n
        return g.map { gl in
            let v = grad(of: gl.sum(), wrt: [x])[0].doubles
            var total = 0.0
            for i in 0..<n { total += v[(i * size)..<((i + 1) * size)].reduce(0) { $0 + $1 * $1 }.squareRoot() }
            return total / Double(n)
        }
    }

    /// The greedy, sensitivity-balanced slicing of a flat gradient made of tensors of `sizes`
    /// entries: `count` half-open flat ranges that cover 0..<Σ sizes in order.
    public static func slices(sizes: [Int], sensitivity: [Double], count: Int) -> [Range<Int>] {
        precondition(sizes.count == sensitivity.count && count >= 1, "GradDefense.slices: one sensitivity per tensor, at least one slice")
        let atom = sizes.reduce(0) { gcd($0, $1) }
        guard atom > 0 else { return Array(repeating: 0..<0, count: count) }
        var weights: [Double] = []
        for (size, s) in zip(sizes, sensitivity) {
            let atoms = size / atom
            weights += Array(repeating: s / Double(atoms), count: atoms)
        }
        let average = sensitivity.reduce(0, +) / Double(count)
        var boundaries = [0]
        var start = 0
        for _ in 0..<(count - 1) {
            var cache = 0.0, a = start
            while a < weights.count {
                cache += weights[a]
                if cache < average { a += 1 } else { break }
            }
            if a == start && a < weights.count { a += 1 }
            boundaries.append(a)
            start = a
        }
        boundaries.append(weights.count)
        return (0..<count).map { (boundaries[$0] * atom)..<(boundaries[$0 + 1] * atom) }
    }

    /// `k` distinct slice indices out of `count`, uniformly at random, ascending.
    public static func draw(_ k: Int, of count: Int, rng: inout RandomGenerator) -> [Int] {
        var pool = Array(0..<count)
        for i in 0..<k {
            let j = i + Int(rng.uniform() * Double(count - i))
            pool.swapAt(i, min(j, count - 1))
        }
        return pool.prefix(k).sorted()
    }

    /// Scales `flat[slice]` to L2 norm at most `bound`.
    static func clip(_ flat: inout [Double], slice: Range<Int>, to bound: Double) {
        let norm = flat[slice].reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard norm > bound else { return }
        let factor = bound / norm
        for i in slice { flat[i] *= factor }
    }

    private static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}

/// GradDefense's server-side recovery ("compensation by denoising", the authors'
/// `compensate.py`), applied to the aggregate of a round.
///
/// The flat aggregate (T entries) is reshaped row-major into a v×w matrix C, v the smallest
/// divisor of T with v ≥ √(Q·T) and w = T/v (realized ratio Q' = v/w). The sample covariance
/// of C's columns (numpy `cov(C, rowvar=0)`) is eigendecomposed; by the Marchenko–Pastur law
/// the eigenvalues of pure noise of variance s² fall in [(1 − 1/√Q')²s², (1 + 1/√Q')²s²], so
/// only eigenvectors with eigenvalues outside that band are kept and C is projected onto
/// them: C·V·Vᵀ.
///
/// The noise scale follows the authors' demo: s² = K·(m/S)·σ² for K clients per round with
/// equal weights, m of S slices perturbed per step. For K = 1 that is the variance per entry
/// of the noise averaged over which slices are hit; for K > 1 it is K² times the variance of
/// the average of K independent noises (a doubt about the reference, kept for fidelity).
/// An aggregate of a single entry is returned unchanged.
public struct GradDefenseRecovery: AggregateDefense {
    /// The step configuration the clients used.
    public let configuration: GradDefense.Configuration
    /// K, the number of clients whose updates the aggregate averages.
    public let clientsPerRound: Int

    /// A recovery step for `clientsPerRound` clients defended with `configuration`.
    public init(_ configuration: GradDefense.Configuration = GradDefense.Configuration(), clientsPerRound: Int = 1) throws {
        try configuration.validate()
        guard clientsPerRound >= 1 else {
            throw DefenseError.invalidParameter(defense: "graddefense", message: "clients_per_round must be ≥ 1, got \(clientsPerRound)")
        }
        self.configuration = configuration
        self.clientsPerRound = clientsPerRound
    }

    /// "GradDefense recovery".
    public var name: String { "GradDefense recovery" }

    /// s = √(K·(m/S)·σ²), the noise scale the band is computed for.
    public var noiseScale: Double {
        (Double(clientsPerRound) * Double(configuration.perturbedSlices) / Double(configuration.slices)
            * configuration.sigma * configuration.sigma).squareRoot()
    }

    /// The denoised aggregate.
    public func apply(to aggregate: [Tensor], round: Int) throws -> [Tensor] {
        GradientOps.unflatten(Self.denoise(GradientOps.flatten(aggregate), scale: noiseScale, q: configuration.q), like: aggregate)
    }

    /// The matrix shape (rows v, columns w) the recovery uses for `total` entries.
    public static func matrixShape(total: Int, q: Double) -> (rows: Int, columns: Int) {
        let target = (q * Double(total)).squareRoot()
        var best = total
        var d = 1
        while d * d <= total {
            if total % d == 0 {
                if Double(d) >= target { best = min(best, d) }
                if Double(total / d) >= target { best = min(best, total / d) }
            }
            d += 1
        }
        return (best, total / best)
    }

    /// Projects the v×w matrix of `flat` onto the covariance eigenvectors outside the
    /// Marchenko–Pastur band of noise with standard deviation `scale`.
    public static func denoise(_ flat: [Double], scale: Double, q: Double) -> [Double] {
        let (v, w) = matrixShape(total: flat.count, q: q)
        guard v >= 2 else { return flat }
        let realQ = Double(v) / Double(w)
        var mean = [Double](repeating: 0, count: w)
        for i in 0..<v { for j in 0..<w { mean[j] += flat[i * w + j] } }
        mean = mean.map { $0 / Double(v) }
        var cov = [Double](repeating: 0, count: w * w)
        for i in 0..<v {
            let row = (0..<w).map { flat[i * w + $0] - mean[$0] }
            for j in 0..<w where row[j] != 0 {
                for k in j..<w { cov[j * w + k] += row[j] * row[k] }
            }
        }
        for j in 0..<w {
            for k in j..<w {
                cov[j * w + k] /= Double(v - 1)
                cov[k * w + j] = cov[j * w + k]
            }
        }
        let lower = (1 - 1 / realQ.squareRoot()) * (1 - 1 / realQ.squareRoot()) * scale * scale
        let upper = (1 + 1 / realQ.squareRoot()) * (1 + 1 / realQ.squareRoot()) * scale * scale
        let (values, vectors) = SymmetricEigen.decompose(cov, n: w)
        let kept = values.indices.filter { values[$0] <= lower || values[$0] >= upper }
        // P = Vk Vkᵀ (w×w), then C·P.
        var projector = [Double](repeating: 0, count: w * w)
        for j in 0..<w {
            for k in 0..<w {
                var s = 0.0
                for e in kept { s += vectors[j * w + e] * vectors[k * w + e] }
                projector[j * w + k] = s
            }
        }
        var out = [Double](repeating: 0, count: flat.count)
        for i in 0..<v {
            for k in 0..<w {
                var s = 0.0
                for j in 0..<w { s += flat[i * w + j] * projector[j * w + k] }
                out[i * w + k] = s
            }
        }
        return out
    }
}
