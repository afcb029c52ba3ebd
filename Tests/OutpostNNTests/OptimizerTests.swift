import Foundation
import OutpostNN
import OutpostTensor
import XCTest

/// Optimizers against PyTorch (fixtures written by
/// scripts/fixtures/optim/make_optimizer_fixtures.py): every parameter after every one of
/// 20 steps must match torch's within 1e-9 of the parameters' scale in Float64 and 1e-4 in
/// Float32. Also: the differentiable SGD step, NaN handling in L-BFGS, checkpoints, errors.
final class OptimizerTests: XCTestCase {
    static let fixture = Result { try OptimizerFixture.load() }

    func fixture() throws -> OptimizerFixture { try Self.fixture.get() }

    /// The optimizer configurations of the generator script, by run name.
    static func makeOptimizer(_ name: String) throws -> any Optimizer {
        switch name {
        case "sgd_momentum": return try SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4)
        case "sgd_nesterov": return try SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: true)
        case "sgd_dampening": return try SGD(learningRate: 0.2, momentum: 0.8, dampening: 0.3, weightDecay: 1e-3)
        case "sgd_plain": return try SGD(learningRate: 0.5)
        case "adam": return try Adam(learningRate: 0.02, weightDecay: 1e-2)
        case "adamw": return try AdamW(learningRate: 0.02, beta1: 0.85, beta2: 0.99, weightDecay: 0.1)
        case "adam_amsgrad": return try Adam(learningRate: 0.05, beta1: 0.8, beta2: 0.9, epsilon: 1e-6, amsgrad: true)
        case "adamw_amsgrad": return try AdamW(learningRate: 0.05, beta1: 0.8, beta2: 0.9, weightDecay: 0.05, amsgrad: true)
        default: throw UnknownFixtureCase("no optimizer configuration named \(name)")
        }
    }

    static func makeLBFGS(_ name: String) throws -> LBFGS {
        switch name {
        case "lbfgs": return try LBFGS(learningRate: 1, maxIterations: 20, historySize: 100)
        case "lbfgs_strong_wolfe":
            return try LBFGS(learningRate: 1, maxIterations: 20, historySize: 100, lineSearch: .strongWolfe)
        case "lbfgs_strong_wolfe_short":
            return try LBFGS(learningRate: 0.05, maxIterations: 20, historySize: 100, lineSearch: .strongWolfe)
        case "lbfgs_strong_wolfe_long":
            return try LBFGS(learningRate: 30, maxIterations: 20, historySize: 100, lineSearch: .strongWolfe)
        default: throw UnknownFixtureCase("no L-BFGS configuration named \(name)")
        }
    }

    static let sgdRuns = ["sgd_momentum", "sgd_nesterov", "sgd_dampening", "sgd_plain"]
    static let adamRuns = ["adam", "adamw", "adam_amsgrad", "adamw_amsgrad"]

    // MARK: - Trajectories against PyTorch

    /// Runs `steps` first-order steps from the problem's start; returns the loss before
    /// each step and the flattened parameters after it.
    func trajectory(_ optimizer: inout any Optimizer, _ problem: OptimizerFixture.TestProblem, steps: Int,
                    from start: [Tensor]? = nil) -> (losses: [Double], params: [[Double]], final: [Tensor]) {
        var params = start ?? problem.initial
        var losses: [Double] = [], snapshots: [[Double]] = []
        for _ in 0..<steps {
            let (loss, grads) = problem.lossAndGradients(params)
            optimizer.step(parameters: &params, gradients: grads)
            losses.append(loss)
            snapshots.append(flatDoubles(params))
        }
        return (losses, snapshots, params)
    }

    func checkFirstOrderRuns(_ names: [String], dtype: DType, tolerance: Double) throws {
        let f = try fixture()
        let problem = try f.problem("mlp", dtype: dtype)
        for name in names {
            let run = try f.run(name, dtype: dtype.rawValue)
            var opt = try Self.makeOptimizer(name)
            let ours = trajectory(&opt, problem, steps: f.steps)
            XCTAssertEqual(ours.params.count, run.trajectory.count, name)
            for (k, (mine, torch)) in zip(ours.params, run.trajectory).enumerated() {
                assertClose(mine, torch, tolerance: tolerance, "\(name) \(dtype) parameters after step \(k + 1)")
            }
            assertClose(ours.losses, run.losses, tolerance: tolerance, "\(name) \(dtype) losses")
            let final = problem.lossAndGradients(ours.final).loss
            XCTAssertEqual(final, run.finalLoss, accuracy: tolerance * abs(run.finalLoss), "\(name) \(dtype) final loss")
            // The run must actually train: the test would be vacuous on a flat problem.
            XCTAssertLessThan(final, 0.8 * run.losses[0], "\(name) \(dtype) did not reduce the loss")
        }
    }

    /// Float SGD with momentum takes one fused pass from its second step on; every element
    /// must be exactly what PyTorch's order of scalar Float operations gives, with and
    /// without weight decay, over lengths that leave vector tails.
    func testSGDMomentumStepsEqualTheScalarFormula() throws {
        for (wd, dampening) in [(5e-4, 0.0), (0.0, 0.1)] {
            var sgd = try SGD(learningRate: 0.05, momentum: 0.9, dampening: dampening, weightDecay: wd)
            var rng = RandomGenerator(seed: 21)
            var params = [Tensor.normal([37], using: &rng), Tensor.normal([3, 5], using: &rng)]
            var p = params.map(\.scalars), b: [[Float]] = []
            for _ in 0..<4 {
                let grads = params.map { Tensor.normal($0.shape, using: &rng) }
                sgd.step(parameters: &params, gradients: grads)
                let (fwd, fm, fkeep, flr) = (Float(wd), Float(0.9), Float(1 - dampening), Float(-0.05))
                for i in p.indices {
                    let g = grads[i].scalars
                    let d = (0..<g.count).map { wd != 0 ? g[$0] + fwd * p[i][$0] : g[$0] }
                    if b.count <= i { b.append(d) } else { b[i] = (0..<g.count).map { b[i][$0] * fm + fkeep * d[$0] } }
                    p[i] = (0..<g.count).map { p[i][$0] + flr * b[i][$0] }
                    XCTAssertEqual(params[i].scalars.map(\.bitPattern), p[i].map(\.bitPattern), "weight decay \(wd), dampening \(dampening)")
                }
            }
        }
    }

    func testSGDFollowsTorchFloat64() throws {
        try checkFirstOrderRuns(Self.sgdRuns, dtype: .float64, tolerance: 1e-9)
    }

    func testSGDFollowsTorchFloat32() throws {
        try checkFirstOrderRuns(Self.sgdRuns, dtype: .float32, tolerance: 1e-4)
    }

    func testAdamAdamWAndAMSGradFollowTorchFloat64() throws {
        try checkFirstOrderRuns(Self.adamRuns, dtype: .float64, tolerance: 1e-9)
    }

    func testAdamAdamWAndAMSGradFollowTorchFloat32() throws {
        try checkFirstOrderRuns(Self.adamRuns, dtype: .float32, tolerance: 1e-4)
    }

    func checkLBFGSRuns(_ name: String) throws {
        let f = try fixture()
        for problemName in ["mlp", "rosenbrock"] {
            let run = try f.run(name, problem: problemName)
            let problem = try f.problem(problemName, dtype: .float64)
            var opt = try Self.makeLBFGS(name)
            var params = problem.initial
            var previousEvals = 0
            for k in 0..<f.steps {
                let result = opt.step(parameters: &params) { problem.lossAndGradients($0) }
                let what = "\(name) on \(problemName), step \(k + 1)"
                XCTAssertNotEqual(result.termination, .nonFiniteEvaluation, what)
                assertClose(flatDoubles(params), run.trajectory[k], tolerance: 1e-9, "\(what): parameters")
                XCTAssertEqual(result.initialLoss, run.losses[k], accuracy: 1e-9 * abs(run.losses[k]), "\(what): loss")
                XCTAssertEqual(opt.totalEvaluations, run.funcEvals?[k], "\(what): cumulative closure evaluations")
                XCTAssertEqual(opt.totalIterations, run.nIter?[k], "\(what): cumulative iterations")
                XCTAssertEqual(result.evaluations, (run.funcEvals?[k] ?? 0) - previousEvals, "\(what): evaluations in the step")
                previousEvals = run.funcEvals?[k] ?? 0
            }
            let final = problem.lossAndGradients(params).loss
            XCTAssertEqual(final, run.finalLoss, accuracy: 1e-9 * max(abs(run.finalLoss), 1e-12), "\(name) on \(problemName): final loss")
            XCTAssertLessThan(final, 0.5 * run.losses[0], "\(name) on \(problemName) did not minimize")
        }
    }

    func testLBFGSWithoutLineSearchFollowsTorch() throws {
        try checkLBFGSRuns("lbfgs")
    }

    func testLBFGSStrongWolfeFollowsTorch() throws {
        try checkLBFGSRuns("lbfgs_strong_wolfe")
    }

    /// First trial steps that are too short (the line search extrapolates with bounded
    /// cubic interpolation) and too long (it brackets and zooms).
    func testLBFGSStrongWolfeExtrapolationAndZoomFollowTorch() throws {
        try checkLBFGSRuns("lbfgs_strong_wolfe_short")
        try checkLBFGSRuns("lbfgs_strong_wolfe_long")
    }

    // MARK: - The differentiable SGD step

    func testFunctionalSGDEqualsInPlaceStep() throws {
        let f = try fixture()
        let configs: [SGD] = try Self.sgdRuns.map { try XCTUnwrap(Self.makeOptimizer($0) as? SGD) }
            + [try SGD(learningRate: 0.3, weightDecay: 0.01)]
        for dtype in DType.allCases {
            let problem = try f.problem("mlp", dtype: dtype)
            for config in configs {
                var opt = config
                var params = problem.initial
                var fParams = problem.initial
                var fBuffers: [Tensor?] = []
                for k in 0..<5 {
                    let grads = problem.lossAndGradients(params).gradients
                    opt.step(parameters: &params, gradients: grads)
                    (fParams, fBuffers) = config.functionalStep(parameters: fParams, gradients: grads, momentumBuffers: fBuffers)
                    // Same ops in the same order and precision: identical bits.
                    XCTAssertEqual(flatDoubles(fParams), flatDoubles(params), "\(config) \(dtype) step \(k + 1): parameters")
                    XCTAssertEqual(fBuffers.map { $0?.doubles }, (config.momentum == 0 ? params.map { _ in nil } : opt.momentumBuffers.map { $0?.doubles }),
                                   "\(dtype) step \(k + 1): momentum buffers")
                }
            }
        }
    }

    func testFunctionalSGDGradientsFlow() throws {
        let p = Tensor([0.5, -1.0, 2.0], shape: [3], dtype: .float64).requiringGrad()
        let g = Tensor([0.1, 0.2, -0.3], shape: [3], dtype: .float64).requiringGrad()
        let buf = Tensor([1.0, -2.0, 0.5], shape: [3], dtype: .float64).requiringGrad()
        func jacobianDiagonal(_ out: Tensor, _ wrt: Tensor) -> [Double] { grad(of: out.sum(), wrt: [wrt])[0].doubles }

        // Plain SGD: p' = p − lr·g, so ∂p'/∂g = −lr and ∂p'/∂p = 1.
        let plain = try SGD.functionalStep(parameters: [p], gradients: [g], learningRate: 0.1)
        XCTAssertEqual(jacobianDiagonal(plain.parameters[0], g), [-0.1, -0.1, -0.1])
        XCTAssertEqual(jacobianDiagonal(plain.parameters[0], p), [1, 1, 1])
        XCTAssertEqual(plain.momentumBuffers.count, 1)
        XCTAssertNil(plain.momentumBuffers[0])

        // Weight decay: ∂p'/∂p = 1 − lr·wd.
        let decayed = try SGD.functionalStep(parameters: [p], gradients: [g], learningRate: 0.1, weightDecay: 0.5)
        for v in jacobianDiagonal(decayed.parameters[0], p) { XCTAssertEqual(v, 0.95, accuracy: 1e-15) }

        // Momentum with a buffer: buf' = m·buf + (1 − τ)·g, p' = p − lr·buf'.
        let damped = try SGD.functionalStep(parameters: [p], gradients: [g], momentumBuffers: [buf],
                                            learningRate: 0.1, momentum: 0.9, dampening: 0.25)
        for v in jacobianDiagonal(damped.parameters[0], g) { XCTAssertEqual(v, -0.1 * 0.75, accuracy: 1e-15) }
        for v in jacobianDiagonal(damped.parameters[0], buf) { XCTAssertEqual(v, -0.1 * 0.9, accuracy: 1e-15) }
        for v in jacobianDiagonal(try XCTUnwrap(damped.momentumBuffers[0]), g) { XCTAssertEqual(v, 0.75, accuracy: 1e-15) }

        // Nesterov: p' = p − lr·(g + m·buf'), so ∂p'/∂g = −lr·(1 + m) with a buffer…
        let nesterov = try SGD.functionalStep(parameters: [p], gradients: [g], momentumBuffers: [buf],
                                              learningRate: 0.1, momentum: 0.9, nesterov: true)
        for v in jacobianDiagonal(nesterov.parameters[0], g) { XCTAssertEqual(v, -0.1 * 1.9, accuracy: 1e-15) }
        // …and also on the first step, where the buffer is the gradient itself (not detached).
        let first = try SGD.functionalStep(parameters: [p], gradients: [g], learningRate: 0.1, momentum: 0.9, nesterov: true)
        for v in jacobianDiagonal(first.parameters[0], g) { XCTAssertEqual(v, -0.1 * 1.9, accuracy: 1e-15) }
    }

    /// What an attacker does: unroll three local SGD steps (momentum, Nesterov, weight
    /// decay) of a client's training on private data x, and differentiate the final weights
    /// with respect to x. Checked against central finite differences in Float64.
    func testUnrolledLocalTrainingIsDifferentiableWithRespectToData() throws {
        let sgd = try SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 1e-2, nesterov: true)
        let w0 = Tensor([0.3, -0.2, 0.1, 0.4, -0.5, 0.25], shape: [2, 3], dtype: .float64)
        let y = Tensor([1.0, -1.0, 0.5, 0.0, 2.0, -0.5, 0.25, 1.5], shape: [4, 2], dtype: .float64)
        let x0 = [0.2, -0.4, 1.0, 0.7, 0.1, -0.3, -1.2, 0.5, 0.9, 0.3, -0.6, 0.8]

        func finalWeights(_ x: Tensor) -> Tensor {
            var w = w0.requiringGrad()
            var buffers: [Tensor?] = []
            for _ in 0..<3 {
                let loss = Loss.mse(x.linear(w).tanh(), y)
                let g = grad(of: loss, wrt: [w], createGraph: true)[0]
                let step = sgd.functionalStep(parameters: [w], gradients: [g], momentumBuffers: buffers)
                w = step.parameters[0]
                buffers = step.momentumBuffers
            }
            return w
        }
        func objective(_ x: Tensor) -> Tensor { (finalWeights(x) * Tensor([1, 2, -1, 0.5, 1, 3], shape: [2, 3], dtype: .float64)).sum() }

        let x = Tensor(x0, shape: [4, 3], dtype: .float64).requiringGrad()
        let analytic = grad(of: objective(x), wrt: [x])[0].doubles
        XCTAssert(analytic.contains { abs($0) > 1e-4 }, "the unrolled gradient should not vanish")
        let h = 1e-6
        for i in x0.indices {
            var plus = x0, minus = x0
            plus[i] += h
            minus[i] -= h
            let numeric = (objective(Tensor(plus, shape: [4, 3], dtype: .float64)).item
                - objective(Tensor(minus, shape: [4, 3], dtype: .float64)).item) / (2 * h)
            XCTAssertEqual(analytic[i], numeric, accuracy: 1e-7 + 1e-6 * abs(numeric), "∂objective/∂x[\(i)]")
        }
    }

    func testStepReturnsLeafVariablesAndRecordsNoGraph() throws {
        let f = try fixture()
        let problem = try f.problem("mlp", dtype: .float32)
        for name in Self.sgdRuns + Self.adamRuns {
            var opt = try Self.makeOptimizer(name)
            var params = problem.initial.map { $0.requiringGrad() }
            params[3] = params[3].detached   // a frozen parameter stays a constant
            // Gradients that are themselves part of a graph must not leak into the update.
            let (loss, grads) = valueAndGrad(at: params, createGraph: true) { problem.loss($0) }
            XCTAssert(loss.requiresGrad)
            opt.step(parameters: &params, gradients: grads)
            for i in 0..<3 {
                XCTAssert(params[i].requiresGrad && params[i].isLeaf, "\(name): parameter \(i) should be a new leaf")
            }
            XCTAssertFalse(params[3].requiresGrad, "\(name): a constant parameter stays constant")
            // The new parameters work as variables of the next forward pass.
            let next = problem.lossAndGradients(params)
            XCTAssert(next.loss.isFinite && next.gradients[0].doubles.contains { $0 != 0 }, name)
        }
    }

    // MARK: - Errors

    func assertThrows(_ what: String, _ expected: (OptimizerError) -> Bool, _ body: () throws -> Any,
                      file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("\(what): no error thrown", file: file, line: line)
        } catch let error as OptimizerError {
            XCTAssert(expected(error), "\(what): unexpected error \(error)", file: file, line: line)
            XCTAssertFalse(error.description.isEmpty, file: file, line: line)
        } catch {
            XCTFail("\(what): \(error) is not an OptimizerError", file: file, line: line)
        }
    }

    func testInvalidHyperparametersThrow() {
        func invalid(_ name: String) -> (OptimizerError) -> Bool {
            { if case .invalidHyperparameter(_, let n, _, _) = $0 { return n == name } else { return false } }
        }
        let combination: (OptimizerError) -> Bool = { if case .invalidCombination = $0 { return true } else { return false } }

        assertThrows("SGD negative lr", invalid("learning rate")) { try SGD(learningRate: -0.1) }
        assertThrows("SGD NaN lr", invalid("learning rate")) { try SGD(learningRate: .nan) }
        assertThrows("SGD infinite lr", invalid("learning rate")) { try SGD(learningRate: .infinity) }
        assertThrows("SGD momentum 1", invalid("momentum")) { try SGD(learningRate: 0.1, momentum: 1) }
        assertThrows("SGD negative momentum", invalid("momentum")) { try SGD(learningRate: 0.1, momentum: -0.1) }
        assertThrows("SGD dampening 1.5", invalid("dampening")) { try SGD(learningRate: 0.1, momentum: 0.5, dampening: 1.5) }
        assertThrows("SGD negative weight decay", invalid("weight decay")) { try SGD(learningRate: 0.1, weightDecay: -1e-4) }
        assertThrows("SGD nesterov without momentum", combination) { try SGD(learningRate: 0.1, nesterov: true) }
        assertThrows("SGD nesterov with dampening", combination) {
            try SGD(learningRate: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true)
        }
        assertThrows("functional SGD momentum 1", invalid("momentum")) {
            try SGD.functionalStep(parameters: [], gradients: [], learningRate: 0.1, momentum: 1)
        }
        for (label, make) in [("Adam", { (lr: Double, b1: Double, b2: Double, eps: Double, wd: Double) in
                                   try Adam(learningRate: lr, beta1: b1, beta2: b2, epsilon: eps, weightDecay: wd) as Any }),
                              ("AdamW", { (lr: Double, b1: Double, b2: Double, eps: Double, wd: Double) in
                                   try AdamW(learningRate: lr, beta1: b1, beta2: b2, epsilon: eps, weightDecay: wd) as Any })] {
            assertThrows("\(label) negative lr", invalid("learning rate")) { try make(-1e-3, 0.9, 0.999, 1e-8, 0) }
            assertThrows("\(label) beta1 = 1", invalid("beta1")) { try make(1e-3, 1, 0.999, 1e-8, 0) }
            assertThrows("\(label) beta1 < 0", invalid("beta1")) { try make(1e-3, -0.1, 0.999, 1e-8, 0) }
            assertThrows("\(label) beta2 = 1", invalid("beta2")) { try make(1e-3, 0.9, 1, 1e-8, 0) }
            assertThrows("\(label) beta2 NaN", invalid("beta2")) { try make(1e-3, 0.9, .nan, 1e-8, 0) }
            assertThrows("\(label) negative eps", invalid("epsilon")) { try make(1e-3, 0.9, 0.999, -1e-8, 0) }
            assertThrows("\(label) negative weight decay", invalid("weight decay")) { try make(1e-3, 0.9, 0.999, 1e-8, -0.1) }
        }
        assertThrows("LBFGS history 0", invalid("history size")) { try LBFGS(historySize: 0) }
        assertThrows("LBFGS negative lr", invalid("learning rate")) { try LBFGS(learningRate: -1) }
        assertThrows("LBFGS no iterations", invalid("max iterations")) { try LBFGS(maxIterations: 0) }
        assertThrows("LBFGS no evaluations", invalid("max evaluations")) { try LBFGS(maxIterations: 4, maxEvaluations: 0) }
        assertThrows("LBFGS negative gradient tolerance", invalid("gradient tolerance")) { try LBFGS(toleranceGrad: -1) }
        assertThrows("LBFGS NaN change tolerance", invalid("change tolerance")) { try LBFGS(toleranceChange: .nan) }

        // The message names the optimizer, the hyperparameter, the value and the rule.
        do {
            _ = try SGD(learningRate: 0.1, momentum: 1.2)
        } catch {
            XCTAssertEqual("\(error)", "SGD: invalid momentum 1.2; it must be in [0, 1)")
            XCTAssertEqual(error.localizedDescription, "SGD: invalid momentum 1.2; it must be in [0, 1)")
        }
        // Valid edge values are accepted, and the defaults match PyTorch's.
        XCTAssertNoThrow(try SGD(learningRate: 0, momentum: 0.999, dampening: 1))
        XCTAssertEqual(try LBFGS(maxIterations: 20).maxEvaluations, 25)
        XCTAssertEqual(try LBFGS(maxIterations: 7).maxEvaluations, 8)
        XCTAssertEqual(try AdamW().weightDecay, 0.01)
    }

    func testSetLearningRateValidates() throws {
        var sgd = try SGD(learningRate: 0.1)
        try sgd.setLearningRate(0.05)
        XCTAssertEqual(sgd.learningRate, 0.05)
        XCTAssertThrowsError(try sgd.setLearningRate(-1))
        XCTAssertThrowsError(try sgd.setLearningRate(.nan))
        XCTAssertEqual(sgd.learningRate, 0.05, "a rejected value leaves the rate unchanged")
        var lbfgs = try LBFGS()
        XCTAssertThrowsError(try lbfgs.setLearningRate(-0.5))
        lbfgs.learningRate = 0.5
        XCTAssertEqual(lbfgs.learningRate, 0.5)
    }

    // MARK: - L-BFGS and non-finite values

    /// f(x) = Σ (x − c)² with a closure that turns non-finite on chosen calls.
    struct PoisonedQuadratic {
        let target = Tensor([3.0, -1.0, 0.5, 2.0], shape: [4], dtype: .float64)
        var calls = 0
        var points: [[Double]] = []
        var losses: [Double] = []

        mutating func evaluate(_ params: [Tensor], poisonCall: Int, inGradient: Bool) -> LBFGS.Evaluation {
            calls += 1
            points.append(params[0].doubles)
            let (value, grads) = valueAndGrad(at: params) { ($0[0] - target).squared().sum() }
            losses.append(value.item)
            guard calls == poisonCall else { return (value.item, grads) }
            if inGradient {
                return (value.item, [grads[0].updatingScalars(Double.self) { $0[1] = .nan }])
            }
            return (.nan, grads)
        }
    }

    func testLBFGSReportsNonFiniteClosureValues() throws {
        let start = [Tensor([0.0, 0.0, 0.0, 0.0], shape: [4], dtype: .float64)]
        for lineSearch in [nil, LBFGS.LineSearch.strongWolfe] {
            for inGradient in [false, true] {
                let what = "line search \(lineSearch?.rawValue ?? "none"), NaN in \(inGradient ? "gradient" : "loss")"
                // 1. Non-finite at the first evaluation: nothing moves.
                var opt = try LBFGS(lineSearch: lineSearch)
                var params = start
                var q = PoisonedQuadratic()
                var r = opt.step(parameters: &params) { q.evaluate($0, poisonCall: 1, inGradient: inGradient) }
                XCTAssertEqual(r.termination, .nonFiniteEvaluation, what)
                XCTAssert(r.hitNonFiniteValue)
                XCTAssertEqual(r.evaluations, 1, what)
                XCTAssertEqual(r.iterations, 0, what)
                XCTAssertNil(r.finalLoss, what)
                XCTAssertEqual(r.initialLoss.isNaN, !inGradient, "\(what): the loss as the closure returned it")
                XCTAssertEqual(flatDoubles(params), flatDoubles(start), what)
                XCTAssertEqual(opt.totalEvaluations, 1)
                XCTAssertEqual(opt.totalIterations, 0)

                // Nothing was stored, so parameters of the other dtype are still welcome.
                var float32Params = [Tensor([0, 0, 0, 0], shape: [4], dtype: .float32)]
                let r32 = opt.step(parameters: &float32Params) { p in
                    let (v, g) = valueAndGrad(at: p) { ($0[0] - q.target.cast(to: .float32)).squared().sum() }
                    return (v.item, g)
                }
                XCTAssertNotEqual(r32.termination, .nonFiniteEvaluation, what)
                XCTAssertEqual(opt.totalEvaluations, 1 + r32.evaluations, what)

                // 2. Non-finite on the third evaluation: the step stops at the last finite
                // point it had accepted, whose loss it reports.
                opt = try LBFGS(lineSearch: lineSearch)
                params = start
                q = PoisonedQuadratic()
                r = opt.step(parameters: &params) { q.evaluate($0, poisonCall: 3, inGradient: inGradient) }
                XCTAssertEqual(r.termination, .nonFiniteEvaluation, what)
                XCTAssertEqual(r.evaluations, 3, what)
                XCTAssertEqual(q.calls, 3, what)
                let position = try XCTUnwrap(q.points.firstIndex(of: params[0].doubles), "\(what): parameters are not an evaluated point")
                XCTAssertLessThan(position, 2, "\(what): the parameters must not be the non-finite point")
                XCTAssertEqual(r.finalLoss, q.losses[position], what)
                XCTAssert(params[0].isFinite)
                if lineSearch == nil {
                    XCTAssertEqual(position, 1, "\(what): without line search the second point was accepted")
                }

                // 3. The optimizer stays usable: a clean step from there converges.
                r = opt.step(parameters: &params) { q.evaluate($0, poisonCall: -1, inGradient: false) }
                XCTAssertNotEqual(r.termination, .nonFiniteEvaluation, what)
                assertClose(params[0].doubles, q.target.doubles, tolerance: 1e-6, "\(what): minimum after recovery")
            }
        }
    }

    func testLBFGSStopsAtAStationaryStart() throws {
        var opt = try LBFGS()
        var params = [Tensor([3.0, -1.0], shape: [2], dtype: .float64)]
        let r = opt.step(parameters: &params) { p in
            let (v, g) = valueAndGrad(at: p) { ($0[0] - Tensor([3.0, -1.0], shape: [2], dtype: .float64)).squared().sum() }
            return (v.item, g)
        }
        XCTAssertEqual(r.termination, .gradientTolerance)
        XCTAssertEqual(r.evaluations, 1)
        XCTAssertEqual(r.iterations, 0)
        XCTAssertEqual(r.finalLoss, 0)
    }

    func testLBFGSPassesClosureErrorsOn() throws {
        struct Failure: Error {}
        var opt = try LBFGS()
        var params = [Tensor([1.0, 2.0], shape: [2], dtype: .float64)]
        var calls = 0
        XCTAssertThrowsError(try opt.step(parameters: &params) { p in
            calls += 1
            if calls == 2 { throw Failure() }
            let (v, g) = valueAndGrad(at: p) { $0[0].squared().sum() }
            return (v.item, g)
        }) { XCTAssert($0 is Failure) }
        XCTAssertEqual(params[0].doubles, [1, 2], "parameters keep their values when the closure throws")
    }

    /// A few million parameters in Float32: a separable quadratic with condition number 100,
    /// on which one L-BFGS step (at most 20 iterations and 25 evaluations) with the strong
    /// Wolfe line search cuts the loss a thousandfold.
    func testLBFGSOnTwoMillionParameters() throws {
        let n = 2_000_000
        var rng = RandomGenerator(seed: 7)
        let scale = Tensor.uniform([n], low: 1, high: 100, using: &rng)
        let target = Tensor.normal([n], using: &rng)
        var opt = try LBFGS(maxIterations: 20, historySize: 5, lineSearch: .strongWolfe)
        var params = [Tensor.zeros([n])]
        let started = Date()
        var closureSeconds = 0.0
        let r = opt.step(parameters: &params) { p in
            let t0 = Date()
            defer { closureSeconds += Date().timeIntervalSince(t0) }
            let (v, g) = valueAndGrad(at: p) { (($0[0] - target).squared() * scale).sum() / Double(n) }
            return (v.item, g)
        }
        let seconds = Date().timeIntervalSince(started)
        let error = (params[0] - target).abs().max().item
        print("L-BFGS, \(n) parameters: \(r.iterations) iterations, \(r.evaluations) evaluations, "
              + String(format: "%.2f s (%.2f s in the closure), max error %.3g", seconds, closureSeconds, error))
        XCTAssertNotEqual(r.termination, .nonFiniteEvaluation)
        XCTAssertLessThan(try XCTUnwrap(r.finalLoss), 1e-3 * r.initialLoss)
        XCTAssertEqual(opt.historyCount, 5)
    }

    // MARK: - Checkpoints

    /// Ten steps, a checkpoint through JSON, a new optimizer restored from it, ten more
    /// steps: the result must be bit-identical to twenty uninterrupted steps.
    func testSnapshotRestoreContinuesFirstOrderTrajectories() throws {
        let f = try fixture()
        for dtype in DType.allCases {
            let problem = try f.problem("mlp", dtype: dtype)
            for name in Self.sgdRuns + Self.adamRuns {
                var straight = try Self.makeOptimizer(name)
                let reference = trajectory(&straight, problem, steps: 20)

                var first = try Self.makeOptimizer(name)
                let half = trajectory(&first, problem, steps: 10)
                let data = try JSONEncoder().encode(first.snapshot())
                let decoded = try JSONDecoder().decode(OptimizerState.self, from: data)
                XCTAssertEqual(decoded, first.snapshot(), "\(name): the state survives JSON")
                // A fresh optimizer with other hyperparameters takes everything from the state.
                var resumed: any Optimizer
                if name.hasPrefix("sgd") {
                    resumed = try SGD(learningRate: 1)
                } else if name.hasPrefix("adamw") {
                    resumed = try AdamW()
                } else {
                    resumed = try Adam()
                }
                try resumed.restore(decoded)
                let rest = trajectory(&resumed, problem, steps: 10, from: half.final)
                XCTAssertEqual(rest.params.last, reference.params.last, "\(name) \(dtype): resumed trajectory differs")
                XCTAssertEqual(resumed.snapshot(), straight.snapshot(), "\(name) \(dtype): final states differ")
            }
        }
    }

    func testSnapshotRestoreContinuesLBFGS() throws {
        let f = try fixture()
        for name in ["lbfgs", "lbfgs_strong_wolfe"] {
            for problemName in ["mlp", "rosenbrock"] {
                let problem = try f.problem(problemName, dtype: .float64)
                var straight = try Self.makeLBFGS(name)
                var straightParams = problem.initial
                for _ in 0..<4 { straight.step(parameters: &straightParams) { problem.lossAndGradients($0) } }

                var first = try Self.makeLBFGS(name)
                var params = problem.initial
                for _ in 0..<2 { first.step(parameters: &params) { problem.lossAndGradients($0) } }
                let data = try JSONEncoder().encode(first.snapshot())
                var resumed = try LBFGS(learningRate: 0.5, maxIterations: 3, historySize: 2)
                try resumed.restore(JSONDecoder().decode(OptimizerState.self, from: data))
                XCTAssertEqual(resumed.historyCount, first.historyCount)
                XCTAssertEqual(resumed.lineSearch, first.lineSearch)
                for _ in 0..<2 { resumed.step(parameters: &params) { problem.lossAndGradients($0) } }
                XCTAssertEqual(flatDoubles(params), flatDoubles(straightParams), "\(name) on \(problemName): resumed trajectory differs")
                XCTAssertEqual(resumed.snapshot(), straight.snapshot(), "\(name) on \(problemName): final states differ")
                XCTAssertEqual(resumed.totalEvaluations, try f.run(name, problem: problemName).funcEvals?[3])
            }
        }
    }

    func testRestoreRejectsForeignAndInconsistentStates() throws {
        let f = try fixture()
        let problem = try f.problem("mlp", dtype: .float64)
        var sgd = try SGD(learningRate: 0.1, momentum: 0.9)
        var adam = try Adam(amsgrad: true)
        var lbfgs = try LBFGS()
        var params = problem.initial
        for _ in 0..<2 {
            let g = problem.lossAndGradients(params).gradients
            var p2 = params
            sgd.step(parameters: &params, gradients: g)
            adam.step(parameters: &p2, gradients: g)
        }
        lbfgs.step(parameters: &params) { problem.lossAndGradients($0) }
        let adamBefore = adam.snapshot()

        func rejected(_ what: String, _ body: () throws -> Void) {
            XCTAssertThrowsError(try body(), what) { error in
                guard case .incompatibleState? = error as? OptimizerError else {
                    return XCTFail("\(what): \(error) is not incompatibleState")
                }
            }
        }
        rejected("SGD state into Adam") { try adam.restore(sgd.snapshot()) }
        rejected("LBFGS state into SGD") { try sgd.restore(lbfgs.snapshot()) }
        var state = adamBefore
        state.tensors["exp_avg"]?.removeLast()
        rejected("a missing moment") { try adam.restore(state) }
        state = adamBefore
        state.tensors["exp_avg_sq"]?[0]?.values.removeLast()
        rejected("a moment that does not fill its shape") { try adam.restore(state) }
        state = adamBefore
        state.tensors["max_exp_avg_sq"]?[1]?.shape = [6, 1]
        rejected("moments of different shapes") { try adam.restore(state) }
        state = adamBefore
        state.hyperparameters["amsgrad"] = 0.5
        rejected("a non-boolean flag") { try adam.restore(state) }
        state = adamBefore
        state.counters["step"] = nil
        rejected("a missing step count") { try adam.restore(state) }
        state = adamBefore
        state.counters["step"] = 0
        rejected("a zero step count with moments") { try adam.restore(state) }
        var lState = lbfgs.snapshot()
        lState.tensors["d"] = []
        rejected("L-BFGS without its direction") { try lbfgs.restore(lState) }
        lState = lbfgs.snapshot()
        lState.tensors["old_dirs"]?.removeLast()
        rejected("L-BFGS with unpaired history") { try lbfgs.restore(lState) }
        lState = lbfgs.snapshot()
        lState.hyperparameters["history_size"] = 0
        XCTAssertThrowsError(try lbfgs.restore(lState), "invalid hyperparameters in a state")
        // Failed restores leave the optimizer as it was.
        XCTAssertEqual(adam.snapshot(), adamBefore)
        XCTAssertEqual(adam.stepCount, 2)
    }

    func testResetStateForgetsBuffersAndKeepsHyperparameters() throws {
        let f = try fixture()
        let problem = try f.problem("mlp", dtype: .float64)
        for name in ["sgd_nesterov", "adamw_amsgrad"] {
            var used = try Self.makeOptimizer(name)
            _ = trajectory(&used, problem, steps: 3)
            used.resetState()
            var fresh = try Self.makeOptimizer(name)
            XCTAssertEqual(used.snapshot(), fresh.snapshot(), name)
            XCTAssertEqual(trajectory(&used, problem, steps: 2).params, trajectory(&fresh, problem, steps: 2).params, name)
        }
        var lbfgs = try Self.makeLBFGS("lbfgs")
        var params = problem.initial
        lbfgs.step(parameters: &params) { problem.lossAndGradients($0) }
        XCTAssertGreaterThan(lbfgs.historyCount, 0)
        lbfgs.resetState()
        XCTAssertEqual(lbfgs.snapshot(), try Self.makeLBFGS("lbfgs").snapshot())
        XCTAssertEqual(lbfgs.historyCount, 0)
    }
}
