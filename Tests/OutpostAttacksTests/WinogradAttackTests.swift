import Foundation
import OutpostAttacks
import OutpostMetrics
import OutpostNN
import OutpostTensor
import OutpostTestSupport
import OutpostThreatModel
import XCTest

/// The attack runner's Winograd policy (`GradientInversion.winogradPolicy`, F(4×4, 3×3)
/// tiles where they are faster) against the engine's default (F(2×2, 3×3)) on what an
/// attack is for: reconstructing real images. F(4,3) rounds more in Float32 than F(2,3)
/// (WinogradConvolutionTests), so the runner may use it only if the reconstructions it
/// leads to are as good.
final class WinogradAttackTests: XCTestCase {
    /// One photos32 patch, the ConvNet of width 32 (its 32×32 layers have 32–128 channels
    /// and 64 tiles of 4×4 at batch 1, so five of its eight convolutions take F(4,3) under
    /// the attack's policy, in all three kernels and their second derivatives), PyTorch's
    /// default initialization, the shared gradient, labels known.
    private func convNetPhotoScenario(_ index: Int) throws -> (AttackTarget, Tensor) {
        let ds = try RealData.dataset("photos32")
        let (x, labels) = RealData.images(ds, [index])
        let net = Network.convNet(width: 32)
        let state = net.initialState(.pytorchDefault, seed: 1)
        let payload = Client.gradientPayload(net, state, images: x, labels: labels)
        let target = try AttackTarget(network: net, globalState: state, payload: payload,
                                      knowledge: ServerKnowledge(batchSize: 1, labels: labels, normalization: .identity(channels: 3)))
        return (target, x)
    }

    private func psnr(_ truth: Tensor, _ reconstruction: Tensor) throws -> Double {
        let c = truth.shape[1], h = truth.shape[2], w = truth.shape[3]
        let a = try Image(channels: c, height: h, width: w, pixels: Array(truth[0].doubles))
        let b = try Image(channels: c, height: h, width: w, pixels: Array(reconstruction[0].doubles), outOfRange: .clamp)
        return try ImageMetrics.psnr(a, b)
    }

    func testAttackPolicyIsF4x4() {
        XCTAssertEqual(GradientInversion.winogradPolicy, .shapeRuleF4x4)
        XCTAssertEqual(GradientInversion.invertingGradients().winograd, GradientInversion.winogradPolicy)
        XCTAssertEqual(GradientInversion.csDLG().winograd, GradientInversion.winogradPolicy)
    }

    /// Inverting Gradients (Adam on the signed gradient, TV 1e-4, box, step decay, labels
    /// known), 400 iterations from the same start, under F(2,3) (`.shapeRule`) and under the
    /// runner's policy, on two photos32 patches. The two runs round differently, so their
    /// trajectories part; what must hold is that neither reconstructs worse. Measured
    /// (release build, 2 threads), PSNR / SSIM under F(2,3) and F(4,3):
    ///   photos32[0]    15.44 / 0.551 and 15.76 / 0.576 (channel means alone: 10.28 / 0.045)
    ///   photos32[420]  16.02 / 0.388 and 15.77 / 0.327 (channel means alone: 13.27 / 0.045)
    /// Required: PSNR within 1 dB of F(2,3)'s per patch and not lower by more than 0.5 dB on
    /// average, SSIM within 0.1, and each reconstruction at least 2 dB above the channel
    /// means (an attack that learned nothing else).
    func testInvertingGradientsReconstructsAsWellUnderF4x4() throws {
        let iterations = 400
        var psnrChange = 0.0
        for index in [0, 420] {
            let (target, truth) = try convNetPhotoScenario(index)
            // What an attack that learned nothing but each channel's mean would score.
            let means = (0..<3).map { c in truth[0][c].doubles.reduce(0, +) / 1024 }
            let flat = Tensor((0..<3).flatMap { c in [Double](repeating: means[c], count: 1024) }, shape: [1, 3, 32, 32], dtype: .float32)
            let floor = try psnr(truth, flat)
            var results: [(psnr: Double, ssim: Double, pixels: [Double])] = []
            for policy in [Engine.WinogradPolicy.shapeRule, GradientInversion.winogradPolicy] {
                var attack = GradientInversion.invertingGradients(iterations: iterations)
                attack.winograd = policy
                let trial = try XCTUnwrap(attack.run(on: target, seed: 0).attackerChoice)
                XCTAssertFalse(trial.diverged)
                XCTAssertEqual(trial.iterations, iterations)
                let p = try psnr(truth, trial.pixels), s = try ssim(truth, trial.pixels)
                print("Inverting Gradients on photos32[\(index)], ConvNet-32, \(policy): PSNR \(p) dB, SSIM \(s), loss \(trial.finalLoss), \(trial.seconds) s")
                XCTAssertGreaterThan(p, floor + 2, "photos32[\(index)], \(policy): channel means alone score \(floor) dB")
                results.append((p, s, trial.pixels.doubles))
            }
            XCTAssertEqual(Engine.winograd, .shapeRule, "the runner restores the caller's policy")
            // The policy reached the convolutions: the two runs round differently.
            XCTAssertNotEqual(results[0].pixels, results[1].pixels)
            XCTAssertLessThan(abs(results[1].psnr - results[0].psnr), 1, "photos32[\(index)]: PSNR under F(4,3) against F(2,3)")
            XCTAssertGreaterThan(results[1].ssim, results[0].ssim - 0.1, "photos32[\(index)]: SSIM under F(4,3) against F(2,3)")
            psnrChange += (results[1].psnr - results[0].psnr) / 2
        }
        XCTAssertGreaterThan(psnrChange, -0.5, "mean PSNR change from F(2,3) to F(4,3)")
    }
}
