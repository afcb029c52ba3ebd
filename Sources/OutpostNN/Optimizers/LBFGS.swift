import Foundation
import OutpostTensor

/// Limited-memory BFGS, a port of PyTorch's `torch.optim.LBFGS` (itself modelled on
/// minFunc) with the same iteration, the same stopping tests, the same handling of the
/// history and the same strong-Wolfe line search (`_strong_wolfe` with
/// `_cubic_interpolate`), so that it follows PyTorch's trajectory step for step.
///
/// Each ``step(parameters:closure:)`` runs up to ``maxIterations`` iterations and at most
/// about ``maxEvaluations`` evaluations of the closure, which returns the loss and the
/// gradients at the parameters it is given. The parameters are concatenated into one flat
/// vector in their own precision (all must share one dtype); the history holds
/// 2 × ``historySize`` such vectors, in a ring buffer allocated with the first pair.
///
/// The direction is PyTorch's two-loop recursion rearranged around the Gram matrices SᵀY
/// and YᵀY (`LBFGSDirection.compact`): two passes over the history a step, split across
/// the engine's threads, instead of 2m dependent dot products and axpys. It equals the
/// two-loop recursion run in Float64 to about 1e-7 of the largest element for Float
/// parameters (the Float two-loop recursion: about 4e-7) and 1e-15 for Double ones, and
/// does not depend on the thread count.
///
/// A closure result with a NaN or infinite loss or gradient ends the step: the parameters
/// are left at the last point whose evaluation was finite, nothing from the bad point
/// enters the history, and the result's ``Termination/nonFiniteEvaluation`` says so.
public struct LBFGS: StatefulOptimizer, Sendable {
    /// The line search run along each L-BFGS direction.
    public enum LineSearch: String, Sendable, Codable, CaseIterable {
        /// A line search satisfying the strong Wolfe conditions (c₁ = 1e-4, c₂ = 0.9, at
        /// most 25 evaluations), PyTorch's `line_search_fn="strong_wolfe"`.
        case strongWolfe = "strong_wolfe"
    }

    /// Why a step stopped.
    public enum Termination: String, Sendable, Equatable {
        /// The largest gradient component was at most ``toleranceGrad`` (also when the
        /// step started at such a point and did nothing).
        case gradientTolerance
        /// ``maxIterations`` iterations were run.
        case maxIterations
        /// ``maxEvaluations`` evaluations were reached.
        case maxEvaluations
        /// The directional derivative g·d was above −``toleranceChange``: no descent left.
        case directionalDerivative
        /// The step moved no parameter by more than ``toleranceChange``.
        case parameterChange
        /// The loss changed by less than ``toleranceChange``.
        case lossChange
        /// The closure returned a NaN or infinite loss or gradient; the step was abandoned
        /// at the last finite point.
        case nonFiniteEvaluation
    }

    /// What one ``step(parameters:closure:)`` did.
    public struct StepResult: Sendable, Equatable {
        /// The loss at the parameters the step started from (what PyTorch's `step` returns),
        /// as the closure returned it even when that first evaluation was not finite.
        public let initialLoss: Double
        /// The loss at the parameters the step left, when it is known: nil when the
        /// step ended on a fixed-length move that was not evaluated (no line search, last
        /// iteration), as in PyTorch, or when the first evaluation was not finite.
        public let finalLoss: Double?
        /// Closure evaluations in this step, including a non-finite one.
        public let evaluations: Int
        /// Iterations (direction updates) in this step.
        public let iterations: Int
        /// Why the step stopped.
        public let termination: Termination

        /// Whether the closure returned a NaN or infinite value during the step.
        public var hitNonFiniteValue: Bool { termination == .nonFiniteEvaluation }
    }

    /// The closure's answer at given parameters: the loss and one gradient per parameter.
    public typealias Evaluation = (loss: Double, gradients: [Tensor])

    /// The step length of an iteration (PyTorch's `lr`): the fixed step without line
    /// search, the first trial step with it.
    public var learningRate: Double {
        didSet { precondition(learningRate >= 0 && learningRate.isFinite, "LBFGS: invalid learning rate \(learningRate)") }
    }
    /// Iterations per step (`max_iter`).
    public private(set) var maxIterations: Int
    /// Closure evaluations per step (`max_eval`) after which no new iteration starts.
    public private(set) var maxEvaluations: Int
    /// First-order optimality tolerance on max |gradient| (`tolerance_grad`).
    public private(set) var toleranceGrad: Double
    /// Tolerance on loss and parameter changes (`tolerance_change`).
    public private(set) var toleranceChange: Double
    /// Number of (s, y) pairs kept (`history_size`).
    public private(set) var historySize: Int
    /// The line search, or nil for fixed steps of length ``learningRate``.
    public private(set) var lineSearch: LineSearch?

    var memory: Memory = .empty
    var counters = Counters()
    /// How directions are computed; nil: ``defaultDirection(for:)``. Tests set it to
    /// compare the two forms.
    var directionMethod: LBFGSDirection?

    /// The default way to compute directions for parameters of `dtype`.
    static func defaultDirection(for dtype: DType) -> LBFGSDirection {
        .compact
    }

    /// An L-BFGS optimizer with PyTorch's defaults; `maxEvaluations` defaults to
    /// `maxIterations * 5 / 4`. Throws ``OptimizerError`` for a negative or non-finite
    /// learning rate or tolerance, fewer than one iteration or evaluation, and a history
    /// size below 1.
    public init(learningRate: Double = 1, maxIterations: Int = 20, maxEvaluations: Int? = nil,
                toleranceGrad: Double = 1e-7, toleranceChange: Double = 1e-9, historySize: Int = 100,
                lineSearch: LineSearch? = nil) throws {
        try Validate.nonNegative("LBFGS", "learning rate", learningRate)
        try Validate.atLeast("LBFGS", "max iterations", maxIterations, 1)
        let maxEval = maxEvaluations ?? maxIterations * 5 / 4
        try Validate.atLeast("LBFGS", "max evaluations", maxEval, 1)
        try Validate.nonNegative("LBFGS", "gradient tolerance", toleranceGrad)
        try Validate.nonNegative("LBFGS", "change tolerance", toleranceChange)
        try Validate.atLeast("LBFGS", "history size", historySize, 1)
        self.learningRate = learningRate
        self.maxIterations = maxIterations
        self.maxEvaluations = maxEval
        self.toleranceGrad = toleranceGrad
        self.toleranceChange = toleranceChange
        self.historySize = historySize
        self.lineSearch = lineSearch
    }

    /// Closure evaluations over all steps so far (PyTorch's `state['func_evals']`).
    public var totalEvaluations: Int { counters.evaluations }
    /// Iterations over all steps so far (PyTorch's `state['n_iter']`).
    public var totalIterations: Int { counters.iterations }
    /// Number of (s, y) pairs currently in the history.
    public var historyCount: Int {
        switch memory {
        case .empty: return 0
        case .float32(let m): return m.history.count
        case .float64(let m): return m.history.count
        }
    }

    /// One L-BFGS step: up to ``maxIterations`` iterations, evaluating `closure` at the
    /// points it tries.
    ///
    /// - Parameters:
    ///   - parameters: the parameters, all of one dtype; replaced by the new values. A
    ///     parameter that required grad is replaced by a new leaf variable.
    ///   - closure: returns the loss and the gradients (same count, shapes and dtype) at
    ///     the parameters it is given. Those are new tensors each time, leaf variables
    ///     where the original parameter required grad, so the closure can call
    ///     `grad(of:wrt:)` on them. An error it throws ends the step and is passed on;
    ///     the parameters then keep the values they had before the step and the state
    ///     may have advanced by the iterations already finished.
    /// - Returns: the losses, evaluation and iteration counts and why the step stopped.
    @discardableResult
    public mutating func step(parameters: inout [Tensor],
                              closure: (_ parameters: [Tensor]) throws -> Evaluation) rethrows -> StepResult {
        guard let dtype = parameters.first?.dtype else {
            preconditionFailure("LBFGS.step: no parameters")
        }
        precondition(parameters.allSatisfy { $0.dtype == dtype },
                     "LBFGS.step: all parameters must share one dtype, got \(parameters.map(\.dtype))")
        let count = parameters.reduce(0) { $0 + $1.count }
        // A state without a direction (no iteration finished yet) is stored as `.empty`, so
        // it fits parameters of either dtype. The storage is moved out of `memory` so that its
        // arrays are uniquely referenced while the step appends to the history: no copy of
        // `memory` may live on (a switch over `(dtype, memory)` kept one for the whole step,
        // and the first append then copied the history's buffers, 2.4 MB in W1).
        let held: DType? = {
            switch memory {
            case .empty: return nil
            case .float32: return .float32
            case .float64: return .float64
            }
        }()
        precondition(held == nil || held == dtype, "LBFGS.step: the state was built for other parameters than these \(dtype) ones")
        switch dtype {
        case .float32:
            var m = held == nil ? Storage<Float>(history: LBFGSHistory(capacity: historySize)) : takeFloat32()
            precondition(m.d.map { $0.count == count } ?? true, "LBFGS.step: the state holds \(m.d!.count) elements, the parameters \(count)")
            var c = counters
            defer { memory = m.d == nil ? .empty : .float32(m); counters = c }
            return try run(&m, &c, &parameters, closure)
        case .float64:
            var m = held == nil ? Storage<Double>(history: LBFGSHistory(capacity: historySize)) : takeFloat64()
            precondition(m.d.map { $0.count == count } ?? true, "LBFGS.step: the state holds \(m.d!.count) elements, the parameters \(count)")
            var c = counters
            defer { memory = m.d == nil ? .empty : .float64(m); counters = c }
            return try run(&m, &c, &parameters, closure)
        }
    }

    /// The Float storage, moved out of `memory` (left `.empty`).
    private mutating func takeFloat32() -> Storage<Float> {
        guard case .float32(let m) = memory else { preconditionFailure("LBFGS: no Float storage") }
        memory = .empty
        return m
    }

    /// The Double storage, moved out of `memory` (left `.empty`).
    private mutating func takeFloat64() -> Storage<Double> {
        guard case .float64(let m) = memory else { preconditionFailure("LBFGS: no Double storage") }
        memory = .empty
        return m
    }

    // MARK: - The algorithm

    /// The state PyTorch keeps in `self.state[params[0]]`, for parameters of scalar type T.
    struct Storage<T: TensorScalar>: Sendable {
        var d: [T]?
        var t = 0.0
        /// The (s, y) pairs (`old_stps`, `old_dirs`) and their `ro`.
        var history: LBFGSHistory<T>
        var hDiag = 1.0
        var prevFlatGrad: [T]?
        var prevLoss: Double?
    }

    struct Counters: Sendable, Equatable {
        var evaluations = 0
        var iterations = 0
    }

    enum Memory: Sendable {
        case empty
        case float32(Storage<Float>)
        case float64(Storage<Double>)
    }

    /// `LBFGS.step` of torch/optim/lbfgs.py, line by line.
    private func run<T: TensorScalar>(_ st: inout Storage<T>, _ counters: inout Counters, _ parameters: inout [Tensor],
                                      _ closure: ([Tensor]) throws -> Evaluation) rethrows -> StepResult {
        let shapes = parameters.map(\.shape)
        let wantsGrad = parameters.map(\.requiresGrad)
        var x = FlatVector.flatten(parameters, as: T.self)
        var lastLoss = Double.nan

        // Evaluates the closure at `point`; nil when the loss or a gradient is not finite.
        func evaluate(_ point: [T]) throws -> (loss: Double, grad: [T])? {
            var tensors = FlatVector.unflatten(point, shapes: shapes)
            for i in tensors.indices where wantsGrad[i] { tensors[i] = tensors[i].requiringGrad() }
            let (loss, gradients) = try closure(tensors)
            lastLoss = loss
            precondition(gradients.count == shapes.count,
                         "LBFGS.step: the closure returned \(gradients.count) gradients for \(shapes.count) parameters")
            for (i, g) in gradients.enumerated() {
                precondition(g.shape == shapes[i] && g.dtype == T.dtype,
                             "LBFGS.step: gradient \(i) is \(g.dtype) \(g.shape), parameter \(i) is \(T.dtype) \(shapes[i])")
            }
            let flat = FlatVector.flatten(gradients, as: T.self)
            return loss.isFinite && FlatVector.allFinite(flat) ? (loss, flat) : nil
        }
        func finish(_ point: [T]) {
            let values = FlatVector.unflatten(point, shapes: shapes)
            for i in parameters.indices { parameters[i] = replacement(for: parameters[i], values[i]) }
        }

        // Evaluate the initial f(x) and df/dx.
        let first = try evaluate(x)
        counters.evaluations += 1
        guard let first else {
            // Nothing was learned at this point: no iteration ran and the state is untouched.
            return StepResult(initialLoss: lastLoss, finalLoss: nil, evaluations: 1, iterations: 0,
                              termination: .nonFiniteEvaluation)
        }
        let origLoss = first.loss
        var loss = first.loss
        var flatGrad = first.grad
        var currentEvals = 1
        var optCond = FlatVector.absMax(flatGrad) <= toleranceGrad
        if optCond {
            return StepResult(initialLoss: origLoss, finalLoss: loss, evaluations: 1, iterations: 0,
                              termination: .gradientTolerance)
        }

        var d = st.d ?? []
        var t = st.t
        var nIter = 0
        var termination = Termination.maxIterations
        var lossKnown = true
        while nIter < maxIterations {
            nIter += 1
            counters.iterations += 1

            // Compute the descent direction.
            if counters.iterations == 1 {
                d = FlatVector.negated(flatGrad)
                st.history.removeAll()
                st.hDiag = 1
            } else {
                let y = FlatVector.difference(flatGrad, st.prevFlatGrad!)
                let s = FlatVector.scaled(d, t)
                let ys = FlatVector.dot(y, s)
                if ys > 1e-10 {
                    // Update the memory, dropping the oldest pair when it is full.
                    st.history.append(y: y, s: s, rho: 1 / ys)
                    // Scale of the initial Hessian approximation.
                    st.hDiag = ys / FlatVector.dot(y, y)
                }
                // The inverse-Hessian approximation times −gradient (the two-loop recursion,
                // or the same recursion in its compact form).
                d = st.history.direction(gradient: flatGrad, hDiag: st.hDiag,
                                         method: directionMethod ?? Self.defaultDirection(for: T.dtype))
            }
            st.prevFlatGrad = flatGrad
            st.prevLoss = loss

            // Step length: a small first step, then the learning rate.
            if counters.iterations == 1 {
                t = Swift.min(1, 1 / FlatVector.absSum(flatGrad)) * learningRate
            } else {
                t = learningRate
            }

            // Directional derivative; stop when it is not clearly negative.
            let gtd = FlatVector.dot(flatGrad, d)
            if gtd > -toleranceChange {
                termination = .directionalDerivative
                break
            }

            var lsEvals = 0
            if lineSearch == .strongWolfe {
                let ls = try strongWolfe(x: x, t: t, d: d, f: loss, g: flatGrad, gtd: gtd, evaluate: evaluate)
                lsEvals = ls.evaluations
                if ls.nonFinite {
                    currentEvals += lsEvals
                    counters.evaluations += lsEvals
                    termination = .nonFiniteEvaluation
                    break
                }
                loss = ls.f
                flatGrad = ls.g
                t = ls.t
                FlatVector.axpy(t, d, &x)
                optCond = FlatVector.absMax(flatGrad) <= toleranceGrad
            } else {
                // No line search: a fixed step, evaluated unless it is the last iteration.
                let moved = FlatVector.adding(x, t, d)
                if nIter != maxIterations {
                    lsEvals = 1
                    guard let r = try evaluate(moved) else {
                        currentEvals += lsEvals
                        counters.evaluations += lsEvals
                        termination = .nonFiniteEvaluation
                        break
                    }
                    loss = r.loss
                    flatGrad = r.grad
                    optCond = FlatVector.absMax(flatGrad) <= toleranceGrad
                } else {
                    lossKnown = false
                }
                x = moved
            }
            currentEvals += lsEvals
            counters.evaluations += lsEvals

            // Stopping tests, in PyTorch's order.
            if nIter == maxIterations { termination = .maxIterations; break }
            if currentEvals >= maxEvaluations { termination = .maxEvaluations; break }
            if optCond { termination = .gradientTolerance; break }
            if FlatVector.scaledAbsMax(d, t) <= toleranceChange { termination = .parameterChange; break }
            if Swift.abs(loss - st.prevLoss!) < toleranceChange { termination = .lossChange; break }
        }

        st.d = d
        st.t = t
        finish(x)
        let finalLoss: Double? = termination == .nonFiniteEvaluation ? st.prevLoss : (lossKnown ? loss : nil)
        return StepResult(initialLoss: origLoss, finalLoss: finalLoss, evaluations: currentEvals, iterations: nIter,
                          termination: termination)
    }

    /// `_strong_wolfe` of torch/optim/lbfgs.py: a step length along `d` from `x` satisfying
    /// the strong Wolfe conditions, with the loss and gradient there. `nonFinite` is set
    /// (and the other results are meaningless) when an evaluation was not finite.
    private func strongWolfe<T: TensorScalar>(
        x: [T], t initialStep: Double, d: [T], f: Double, g: [T], gtd: Double,
        c1: Double = 1e-4, c2: Double = 0.9, maxLineSearch: Int = 25,
        evaluate: ([T]) throws -> (loss: Double, grad: [T])?
    ) rethrows -> (f: Double, g: [T], t: Double, evaluations: Int, nonFinite: Bool) {
        let dNorm = FlatVector.absMax(d)
        var t = initialStep
        guard var (fNew, gNew) = try evaluate(FlatVector.adding(x, t, d)) else {
            return (f, g, 0, 1, true)
        }
        var evals = 1
        var gtdNew = FlatVector.dot(gNew, d)

        // Bracket an interval containing a point satisfying the Wolfe criteria.
        var tPrev = 0.0, fPrev = f, gPrev = g, gtdPrev = gtd
        var done = false
        var lsIter = 0
        var bracket: [Double] = [], bracketF: [Double] = [], bracketG: [[T]] = [], bracketGtd: [Double] = []
        while lsIter < maxLineSearch {
            if fNew > (f + c1 * t * gtd) || (lsIter > 1 && fNew >= fPrev) {
                bracket = [tPrev, t]; bracketF = [fPrev, fNew]; bracketG = [gPrev, gNew]; bracketGtd = [gtdPrev, gtdNew]
                break
            }
            if Swift.abs(gtdNew) <= -c2 * gtd {
                bracket = [t]; bracketF = [fNew]; bracketG = [gNew]
                done = true
                break
            }
            if gtdNew >= 0 {
                bracket = [tPrev, t]; bracketF = [fPrev, fNew]; bracketG = [gPrev, gNew]; bracketGtd = [gtdPrev, gtdNew]
                break
            }
            // Interpolate.
            let minStep = t + 0.01 * (t - tPrev)
            let maxStep = t * 10
            let tmp = t
            t = Self.cubicInterpolate(tPrev, fPrev, gtdPrev, t, fNew, gtdNew, bounds: (minStep, maxStep))
            // Next step.
            tPrev = tmp
            fPrev = fNew
            gPrev = gNew
            gtdPrev = gtdNew
            guard let r = try evaluate(FlatVector.adding(x, t, d)) else { return (f, g, 0, evals + 1, true) }
            (fNew, gNew) = r
            evals += 1
            gtdNew = FlatVector.dot(gNew, d)
            lsIter += 1
        }
        // Reached the maximum number of iterations?
        if lsIter == maxLineSearch {
            bracket = [0, t]; bracketF = [f, fNew]; bracketG = [g, gNew]; bracketGtd = [gtd, gtdNew]
        }

        // Zoom: refine the bracket until a point satisfies the criteria.
        var insufficientProgress = false
        var (lowPos, highPos) = bracketF[0] <= bracketF[bracketF.count - 1] ? (0, 1) : (1, 0)
        while !done && lsIter < maxLineSearch {
            // The bracket is too small.
            if Swift.abs(bracket[1] - bracket[0]) * dNorm < toleranceChange { break }

            t = Self.cubicInterpolate(bracket[0], bracketF[0], bracketGtd[0], bracket[1], bracketF[1], bracketGtd[1])

            // A trial point too close to an end of the bracket is moved 0.1 × its length
            // inside, when the previous trial was also too close or this one is outside.
            let hi = Self.pyMax(bracket[0], bracket[1]), lo = Self.pyMin(bracket[0], bracket[1])
            let eps = 0.1 * (hi - lo)
            if Self.pyMin(hi - t, t - lo) < eps {
                if insufficientProgress || t >= hi || t <= lo {
                    t = Swift.abs(t - hi) < Swift.abs(t - lo) ? hi - eps : lo + eps
                    insufficientProgress = false
                } else {
                    insufficientProgress = true
                }
            } else {
                insufficientProgress = false
            }

            // Evaluate the new point.
            guard let r = try evaluate(FlatVector.adding(x, t, d)) else { return (f, g, 0, evals + 1, true) }
            (fNew, gNew) = r
            evals += 1
            gtdNew = FlatVector.dot(gNew, d)
            lsIter += 1

            if fNew > (f + c1 * t * gtd) || fNew >= bracketF[lowPos] {
                // Armijo condition not satisfied or not lower than the lowest point.
                bracket[highPos] = t; bracketF[highPos] = fNew; bracketG[highPos] = gNew; bracketGtd[highPos] = gtdNew
                (lowPos, highPos) = bracketF[0] <= bracketF[1] ? (0, 1) : (1, 0)
            } else {
                if Swift.abs(gtdNew) <= -c2 * gtd {
                    done = true   // Wolfe conditions satisfied.
                } else if gtdNew * (bracket[highPos] - bracket[lowPos]) >= 0 {
                    // The old high becomes the new low.
                    bracket[highPos] = bracket[lowPos]; bracketF[highPos] = bracketF[lowPos]
                    bracketG[highPos] = bracketG[lowPos]; bracketGtd[highPos] = bracketGtd[lowPos]
                }
                // The new point becomes the new low.
                bracket[lowPos] = t; bracketF[lowPos] = fNew; bracketG[lowPos] = gNew; bracketGtd[lowPos] = gtdNew
            }
        }
        return (bracketF[lowPos], bracketG[lowPos], bracket[lowPos], evals, false)
    }

    /// `_cubic_interpolate`: the minimizer of the cubic through (x1, f1) and (x2, f2) with
    /// slopes g1 and g2, clamped to `bounds` (default: between x1 and x2); the midpoint of
    /// the bounds when the cubic has no real minimizer.
    static func cubicInterpolate(_ x1: Double, _ f1: Double, _ g1: Double, _ x2: Double, _ f2: Double, _ g2: Double,
                                 bounds: (Double, Double)? = nil) -> Double {
        let (xminBound, xmaxBound) = bounds ?? (x1 <= x2 ? (x1, x2) : (x2, x1))
        let d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
        let d2Square = d1 * d1 - g1 * g2
        if d2Square >= 0 {
            let d2 = d2Square.squareRoot()
            let minPos = x1 <= x2
                ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
            return pyMin(pyMax(minPos, xminBound), xmaxBound)
        }
        return (xminBound + xmaxBound) / 2
    }

    /// Python's `max(a, b)`: `a` unless `b > a` (so a NaN `a` is returned as is).
    @inline(__always) static func pyMax(_ a: Double, _ b: Double) -> Double { b > a ? b : a }
    /// Python's `min(a, b)`: `a` unless `b < a`.
    @inline(__always) static func pyMin(_ a: Double, _ b: Double) -> Double { b < a ? b : a }

    // MARK: - State

    /// Hyperparameters (`lr`, `max_iter`, `max_eval`, `tolerance_grad`, `tolerance_change`,
    /// `history_size`, `strong_wolfe` 0/1), counters (`func_evals`, `n_iter`), scalars (`t`,
    /// `H_diag`, `prev_loss`) and vectors (`d`, `prev_flat_grad`, `old_dirs`, `old_stps`,
    /// `ro`), named as in PyTorch's state.
    public func snapshot() -> OptimizerState {
        var state = OptimizerState(algorithm: "LBFGS", hyperparameters: [
            "lr": learningRate, "max_iter": Double(maxIterations), "max_eval": Double(maxEvaluations),
            "tolerance_grad": toleranceGrad, "tolerance_change": toleranceChange,
            "history_size": Double(historySize), "strong_wolfe": lineSearch == .strongWolfe ? 1 : 0,
        ])
        func fill<T: TensorScalar>(_ m: Storage<T>) {
            func vector(_ v: [T]) -> StateTensor {
                StateTensor(shape: [v.count], dtype: T.dtype.rawValue, values: v.map { Double($0) })
            }
            state.scalars = ["t": m.t, "H_diag": m.hDiag]
            if let p = m.prevLoss { state.scalars["prev_loss"] = p }
            state.tensors = [
                "d": m.d.map { [vector($0)] } ?? [],
                "prev_flat_grad": m.prevFlatGrad.map { [vector($0)] } ?? [],
                "old_dirs": (0..<m.history.count).map { vector(m.history.gradientChange($0)) },
                "old_stps": (0..<m.history.count).map { vector(m.history.step($0)) },
                "ro": [StateTensor(shape: [m.history.count], dtype: DType.float64.rawValue,
                                   values: (0..<m.history.count).map(m.history.rho))],
            ]
        }
        state.counters = ["func_evals": counters.evaluations, "n_iter": counters.iterations]
        switch memory {
        case .empty: break
        case .float32(let m): fill(m)
        case .float64(let m): fill(m)
        }
        return state
    }

    /// Restores a state written by ``snapshot()`` (see ``StatefulOptimizer/restore(_:)``).
    public mutating func restore(_ state: OptimizerState) throws {
        try state.require("LBFGS")
        var restored = try LBFGS(
            learningRate: state.hyperparameter("lr"), maxIterations: state.integer("max_iter"),
            maxEvaluations: state.integer("max_eval"), toleranceGrad: state.hyperparameter("tolerance_grad"),
            toleranceChange: state.hyperparameter("tolerance_change"), historySize: state.integer("history_size"),
            lineSearch: state.flag("strong_wolfe") ? .strongWolfe : nil)
        let counters = Counters(evaluations: try state.counter("func_evals"), iterations: try state.counter("n_iter"))
        func bad(_ message: String) -> OptimizerError { .incompatibleState(optimizer: "LBFGS", message: message) }

        let d = try state.tensorList("d"), prev = try state.tensorList("prev_flat_grad")
        let dirs = try state.tensorList("old_dirs"), steps = try state.tensorList("old_stps")
        if counters.iterations == 0 {
            guard d.isEmpty, prev.isEmpty, dirs.isEmpty, steps.isEmpty else { throw bad("vectors are present but no iteration was run") }
            restored.memory = .empty
            restored.counters = counters
            self = restored
            return
        }
        guard d.count == 1, prev.count == 1, let dv = d[0], let pv = prev[0] else {
            throw bad("d and prev_flat_grad must each hold one vector after an iteration")
        }
        guard dirs.count == steps.count, dirs.count <= restored.historySize else {
            throw bad("\(dirs.count) directions and \(steps.count) steps for a history of \(restored.historySize)")
        }
        let history = dirs + steps
        guard history.allSatisfy({ $0 != nil }) else { throw bad("a history vector is missing") }
        let vectors = [dv, pv] + history.map { $0! }
        let n = dv.count
        guard vectors.allSatisfy({ $0.rank == 1 && $0.count == n && $0.dtype == dv.dtype }) else {
            throw bad("the vectors differ in length or dtype")
        }
        guard let roList = try state.tensorList("ro").first, let ro = roList, ro.count == dirs.count else {
            throw bad("ro must hold one value per history pair")
        }
        guard let t = state.scalars["t"], let hDiag = state.scalars["H_diag"], let prevLoss = state.scalars["prev_loss"] else {
            throw bad("t, H_diag and prev_loss are required after an iteration")
        }
        func build<T: TensorScalar>(_: T.Type) -> Storage<T> {
            func v(_ x: Tensor) -> [T] { x.doubles.map { T($0) } }
            var history = LBFGSHistory<T>(capacity: restored.historySize)
            let rho = ro.doubles
            for i in dirs.indices { history.append(y: v(dirs[i]!), s: v(steps[i]!), rho: rho[i]) }
            history.invalidateGram()
            return Storage<T>(d: v(dv), t: t, history: history, hDiag: hDiag, prevFlatGrad: v(pv), prevLoss: prevLoss)
        }
        restored.memory = dv.dtype == .float32 ? .float32(build(Float.self)) : .float64(build(Double.self))
        restored.counters = counters
        self = restored
    }

    /// Forgets the history, the last direction and the counters.
    public mutating func resetState() {
        memory = .empty
        counters = Counters()
    }
}
