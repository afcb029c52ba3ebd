import Foundation
import OutpostNN
import OutpostTensor
import XCTest

/// The PyTorch reference written by scripts/fixtures/optim/make_optimizer_fixtures.py, and
/// the same test problems written with OutpostTensor ops.
struct OptimizerFixture: Decodable {
    struct Packed: Decodable {
        let shape: [Int]
        let data: [Double]
    }

    struct Problem: Decodable {
        let params: [Packed]
        let x: Packed?
        let labels: [Int]?
    }

    struct Run: Decodable {
        let name: String
        let problem: String
        let dtype: String
        let losses: [Double]
        let finalLoss: Double
        let trajectory: [[Double]]
        let funcEvals: [Int]?
        let nIter: [Int]?

        enum CodingKeys: String, CodingKey {
            case name, problem, dtype, losses, trajectory
            case finalLoss = "final_loss", funcEvals = "func_evals", nIter = "n_iter"
        }
    }

    struct Schedule: Decodable {
        struct Args: Decodable {
            let stepSize: Int?
            let gamma: Double?
            let milestones: [Int]?
            let tMax: Int?
            let etaMin: Double?

            enum CodingKeys: String, CodingKey {
                case gamma, milestones
                case stepSize = "step_size", tMax = "T_max", etaMin = "eta_min"
            }
        }

        let name: String
        let baseLR: Double
        let args: Args
        let lrs: [Double]

        enum CodingKeys: String, CodingKey {
            case name, args, lrs
            case baseLR = "base_lr"
        }
    }

    let steps: Int
    let problems: [String: Problem]
    let runs: [Run]
    let schedules: [Schedule]

    static func load() throws -> OptimizerFixture {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "optimizers", withExtension: "json", subdirectory: "Fixtures"),
                                "Fixtures/optimizers.json is missing from the test bundle")
        return try JSONDecoder().decode(OptimizerFixture.self, from: Data(contentsOf: url))
    }

    func run(_ name: String, problem: String = "mlp", dtype: String = "float64") throws -> Run {
        try XCTUnwrap(runs.first { $0.name == name && $0.problem == problem && $0.dtype == dtype },
                      "fixture run \(name)/\(problem)/\(dtype) is missing")
    }

    /// A test problem: its starting parameters and its loss in OutpostTensor ops.
    struct TestProblem {
        let initial: [Tensor]
        let loss: ([Tensor]) -> Tensor

        /// The loss and its gradients at `params` (made variables when they are not).
        func lossAndGradients(_ params: [Tensor]) -> (loss: Double, gradients: [Tensor]) {
            let (value, grads) = valueAndGrad(at: params) { loss($0) }
            return (value.item, grads)
        }
    }

    func problem(_ name: String, dtype: DType) throws -> TestProblem {
        let p = try XCTUnwrap(problems[name], "fixture problem \(name) is missing")
        let initial = p.params.map { Tensor($0.data, shape: $0.shape, dtype: dtype) }
        switch name {
        case "mlp":
            let xp = try XCTUnwrap(p.x), labels = try XCTUnwrap(p.labels)
            let x = Tensor(xp.data, shape: xp.shape, dtype: dtype)
            return TestProblem(initial: initial) { w in
                let h = x.linear(w[0], bias: w[1]).tanh()
                let logits = h.linear(w[2], bias: w[3])
                let penalty = w.dropFirst().reduce(w[0].squared().sum()) { $0 + $1.squared().sum() }
                return Loss.crossEntropy(logits, labels: labels) + penalty * 0.01
            }
        case "rosenbrock":
            return TestProblem(initial: initial) { w in
                let x = Tensor.concat([w[0], w[1].reshaped([-1])], axis: 0)
                let n = x.shape[0]
                let lead = x.slice(axis: 0, 0..<(n - 1)), next = x.slice(axis: 0, 1..<n)
                return ((next - lead.squared()).squared() * 100 + (1 - lead).squared()).sum()
            }
        default:
            throw UnknownFixtureCase("unknown problem \(name)")
        }
    }
}

/// All elements of the tensors, concatenated, as Double.
func flatDoubles(_ tensors: [Tensor]) -> [Double] { tensors.flatMap(\.doubles) }

/// max |a − b| ≤ tolerance · max |b| (plus a tiny floor for all-zero references).
func assertClose(_ a: [Double], _ b: [Double], tolerance: Double, _ what: @autoclosure () -> String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(what()): lengths differ", file: file, line: line)
    guard a.count == b.count else { return }
    XCTAssert(a.allSatisfy(\.isFinite), "\(what()): non-finite values", file: file, line: line)
    let scale = max(b.map(abs).max() ?? 0, 1e-300)
    let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
    XCTAssert(worst <= tolerance * scale, "\(what()): max error \(worst), relative \(worst / scale) > \(tolerance)",
              file: file, line: line)
}

/// A fixture that names something the test does not know: a failure, never a skip, so a
/// regenerated fixture cannot silently drop coverage.
struct UnknownFixtureCase: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
