import Foundation
import OutpostTensor
import XCTest

/// Float32 results against PyTorch (fixtures written by
/// scripts/fixtures/tensor/make_engine_fixtures.py). The error measure is relative to each
/// tensor's scale: max |ours − torch| ≤ 1e-4 · max |torch|, plus 1e-7 absolute for tensors
/// that are zero in exact arithmetic (a conv bias followed by batch norm has zero gradient,
/// and both engines return rounding noise of about 1e-8 there).
final class PyTorchReferenceTests: XCTestCase {
    struct Packed: Decodable { let shape: [Int]; let data: [Float] }
    struct File: Decodable { let cases: [String: [String: Packed]] }

    static let cases: [String: [String: Packed]] = {
        guard let url = Bundle.module.url(forResource: "engine_reference", withExtension: "json", subdirectory: "Fixtures"),
              let data = try? Data(contentsOf: url), let file = try? JSONDecoder().decode(File.self, from: data) else { return [:] }
        return file.cases
    }()

    func fixture(_ name: String) throws -> (_ key: String) -> Tensor {
        let c = try XCTUnwrap(Self.cases[name], "fixture case \(name) is missing")
        return { key in
            guard let p = c[key] else { XCTFail("\(name).\(key) missing"); return Tensor.zeros([0]) }
            return Tensor(p.data, shape: p.shape)
        }
    }

    func assertMatches(_ ours: Tensor, _ torch: Tensor, _ what: String, tolerance: Double = 1e-4,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(ours.shape, torch.shape, "\(what): shape", file: file, line: line)
        guard ours.shape == torch.shape else { return }
        let a = ours.doubles, b = torch.doubles
        let scale = max(b.map(abs).max() ?? 0, 1e-30)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssert(worst <= tolerance * scale + 1e-7, "\(what): max error \(worst) vs scale \(scale) (relative \(worst / scale))", file: file, line: line)
    }

    func testConvStackForwardBackwardAndBatchStatistics() throws {
        let f = try fixture("conv_stack")
        let names = ["x", "w1", "b1", "gamma", "beta", "w2", "wl", "bl"]
        let vars = names.map { f($0).requiringGrad() }
        let labels = f("labels").scalars.map { Int($0) }
        var h = vars[0].conv2d(vars[1], bias: vars[2], padding: 1)
        let bn = h.batchNormTraining(weight: vars[3], bias: vars[4])
        h = bn.output.relu().maxPool2d(kernel: 2)
        h = h.conv2d(vars[5], stride: 2, padding: 1, groups: 2)
        let logits = h.adaptiveAvgPool2d((1, 1)).flattened().linear(vars[6], bias: vars[7])
        let loss = Loss.crossEntropy(logits, labels: labels)
        assertMatches(logits, f("logits"), "logits")
        assertMatches(loss, f("loss").reshaped([]), "loss")
        for (name, g) in zip(names, grad(of: loss, wrt: vars)) { assertMatches(g, f("grad_" + name), "grad \(name)") }
        // PyTorch's running statistics after one step with momentum 0.1 from (0, 1).
        assertMatches(bn.mean * 0.1, f("running_mean"), "running mean")
        assertMatches(bn.variance * 0.1 + 0.9, f("running_var"), "running variance")
    }

    func testMiscStack() throws {
        let f = try fixture("misc_stack")
        let names = ["x", "wd", "gn_w", "gn_b", "wt", "ln_w"]
        let v = names.map { f($0).requiringGrad() }
        var h = v[0].conv2d(v[1], padding: 1, groups: 4)
        h = h.groupNorm(groups: 2, weight: v[2], bias: v[3]).gelu()
        h = h.avgPool2d(kernel: 3, stride: 2, padding: 1)
        h = h.convTranspose2d(v[4], stride: 2, padding: 1)
        h = h.layerNorm(normalizedShape: [9, 9], weight: v[5])
        let out = h.softplus() * h.tanh() + h.sigmoid()
        assertMatches(out, f("out"), "output")
        for (name, g) in zip(names, grad(of: out.mean(), wrt: v)) { assertMatches(g, f("grad_" + name), "grad \(name)") }
    }

    static func lenet(_ x: Tensor, _ p: [Tensor]) -> Tensor {
        var h = x.conv2d(p[0], bias: p[1], stride: 2, padding: 2).sigmoid()
        h = h.conv2d(p[2], bias: p[3], stride: 2, padding: 2).sigmoid()
        h = h.conv2d(p[4], bias: p[5], stride: 1, padding: 2).sigmoid()
        return h.flattened().linear(p[6], bias: p[7])
    }

    func testDLGGradientMatchingDoubleBackward() throws {
        let f = try fixture("dlg_lenet")
        let params = (0..<8).map { f("p\($0)").requiringGrad() }
        let label = Int(f("label").item)
        let target = grad(of: Loss.crossEntropy(Self.lenet(f("x"), params), labels: [label]), wrt: params)
        for i in 0..<8 { assertMatches(target[i], f("target\(i)"), "target gradient \(i)") }
        let dummy = f("dummy").requiringGrad(), dummyLabel = f("dummy_label").requiringGrad()
        let ce = Loss.crossEntropy(Self.lenet(dummy, params), targets: dummyLabel.softmax(axis: -1))
        let dummyGrads = grad(of: ce, wrt: params, createGraph: true)
        let loss = zip(dummyGrads, target).map { ($0 - $1).squared().sum() }.reduce(Tensor(scalar: 0), +)
        assertMatches(loss, f("loss").reshaped([]), "matching loss")
        let g = grad(of: loss, wrt: [dummy, dummyLabel])
        assertMatches(g[0], f("grad_dummy"), "d loss / d dummy image")
        assertMatches(g[1], f("grad_dummy_label"), "d loss / d dummy label")
    }

    /// The ig_cosine fixture's target gradient, dummy image and the dummy's gradient (with graph).
    func invertingGradientsCase() throws -> (f: (String) -> Tensor, target: [Tensor], dummy: Tensor, dg: [Tensor]) {
        let d = try fixture("dlg_lenet"), f = try fixture("ig_cosine")
        let params = (0..<8).map { d("p\($0)").requiringGrad() }
        let label = Int(d("label").item)
        let target = grad(of: Loss.crossEntropy(Self.lenet(d("x"), params), labels: [label]), wrt: params)
        let dummy = f("dummy").requiringGrad()
        let dg = grad(of: Loss.crossEntropy(Self.lenet(dummy, params), labels: [label]), wrt: params, createGraph: true)
        return (f, target, dummy, dg)
    }

    func testInvertingGradientsCosineLoss() throws {
        let (f, target, dummy, dg) = try invertingGradientsCase()
        let dot = zip(dg, target).map { ($0 * $1).sum() }.reduce(Tensor(scalar: 0), +)
        let na = dg.map { $0.squared().sum() }.reduce(Tensor(scalar: 0), +).sqrt()
        let nb = target.map { $0.squared().sum() }.reduce(Tensor(scalar: 0), +).sqrt()
        let loss = 1 - dot / (na * nb) + Loss.totalVariation(dummy) * 1e-4
        assertMatches(loss, f("loss").reshaped([]), "cosine loss")
        assertMatches(grad(of: loss, wrt: [dummy])[0], f("grad_dummy"), "d loss / d dummy image")
    }

    /// The same fixture through the fused primitive the attacks use.
    func testFusedCosineDistanceMatchesPyTorch() throws {
        let (f, target, dummy, dg) = try invertingGradientsCase()
        let normSquared = target.reduce(0) { $0 + $1.sumOfSquares().item }
        let loss = Tensor.cosineDistance(dg, target, targetNormSquared: normSquared) + Loss.totalVariation(dummy) * 1e-4
        assertMatches(loss, f("loss").reshaped([]), "cosine loss")
        assertMatches(grad(of: loss, wrt: [dummy])[0], f("grad_dummy"), "d loss / d dummy image")
    }
}
