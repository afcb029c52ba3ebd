import OutpostAttacks
import OutpostNN
import OutpostTensor
import OutpostThreatModel
import XCTest
import OutpostTestSupport

/// The OUTPOST paper's scenario 2: the client takes two local steps (E = 1, n = 2, B = 1)
/// and sends the model update, which is harder to invert than one gradient.
final class UpdateMatchingTests: XCTestCase {
    func testTwoLocalStepsAreHarderThanOneGradient() throws {
        let ds = try RealData.dataset("mnist", split: .test)
        let (x, labels) = RealData.images(ds, [0, 1])
        let net = Network.lenet(channels: 1, imageSize: 28, classes: 10)
        let state = net.initialState(.dlg, seed: 1)
        let norm = PixelNormalization.identity(channels: 1)

        // One image, one gradient.
        let (x0, l0) = RealData.images(ds, [0])
        let single = try AttackTarget(network: net, globalState: state, payload: Client.gradientPayload(net, state, images: x0, labels: l0),
                                      knowledge: ServerKnowledge(batchSize: 1, labels: l0, normalization: norm))
        let oneStep = try XCTUnwrap(GradientInversion(distance: .squaredL2, labels: .known, optimizer: .lbfgs(), iterations: 100)
            .run(on: single, seed: 0).attackerChoice)
        let oneStepSSIM = try ssim(x0, oneStep.pixels)

        // Two images, two local SGD steps of one image each, the update sent; the attacker
        // knows lr, E, n and B and unrolls the same two steps.
        let payload = try Client.updatePayload(net, state, images: x, labels: labels, learningRate: 0.1, batchSize: 1)
        let knowledge = ServerKnowledge(batchSize: 1, learningRate: 0.1, localEpochs: 1, sampleCount: 2, labels: labels, normalization: norm)
        let target = try AttackTarget(network: net, globalState: state, payload: payload, knowledge: knowledge)
        let unrolled = try XCTUnwrap(GradientInversion(distance: .squaredL2, matching: .unrolledUpdate, labels: .known,
                                                       optimizer: .lbfgs(), iterations: 100).run(on: target, seed: 0).attackerChoice)
        let twoStepSSIM = try (0..<2).map { try ssim(x, unrolled.pixels, $0) }.reduce(0, +) / 2
        print("one gradient: SSIM \(oneStepSSIM); two local steps, unrolled: mean SSIM \(twoStepSSIM)")
        XCTAssertEqual(unrolled.pixels.shape, [2, 1, 28, 28])
        XCTAssertGreaterThan(oneStepSSIM, 0.9)
        XCTAssertLessThan(twoStepSSIM, oneStepSSIM)

        // The update read as a gradient (−Δ / (η · steps)) is also available, and also weaker.
        let approx = try XCTUnwrap(GradientInversion(distance: .squaredL2, matching: .updateAsGradient, labels: .known,
                                                     optimizer: .lbfgs(), iterations: 100)
            .run(on: AttackTarget(network: net, globalState: state, payload: payload,
                                  knowledge: ServerKnowledge(batchSize: 2, learningRate: 0.1, localEpochs: 1, sampleCount: 2,
                                                             labels: labels, normalization: norm)), seed: 0).attackerChoice)
        XCTAssertEqual(approx.pixels.shape, [2, 1, 28, 28])
    }
}
