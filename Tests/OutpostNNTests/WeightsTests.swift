import Foundation
import OutpostNN
import OutpostSafetensors
import OutpostTensor
import XCTest

/// safetensors state_dicts written by PyTorch (scripts/fixtures/nn/make_weights_fixtures.py).
final class WeightsTests: XCTestCase {
    struct Reference: Decodable {
        let lenet_input: [Float], lenet_logits: [Double], convnet_input: [Float], convnet_logits: [Double]
    }

    func fixture(_ name: String) throws -> URL {
        let parts = name.split(separator: ".")
        return try XCTUnwrap(Bundle.module.url(forResource: String(parts[0]), withExtension: String(parts[1]), subdirectory: "Fixtures"))
    }

    func reference() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: fixture("weights_reference.json")))
    }

    func testPyTorchStateDictsGiveTheSameLogits() throws {
        let ref = try reference()
        let lenet = Network.lenet(channels: 1, imageSize: 28)
        let lenetState = try lenet.loadState(from: fixture("lenet_state.safetensors"))
        let lenetLogits = lenet(Tensor(ref.lenet_input, shape: [2, 1, 28, 28]), lenetState)
        assertClose(lenetLogits.doubles, ref.lenet_logits)

        let convnet = Network.convNet(width: 4)
        let state = try convnet.loadState(from: fixture("convnet_state.safetensors"))
        let logits = convnet(Tensor(ref.convnet_input, shape: [3, 3, 32, 32]), state)
        assertClose(logits.doubles, ref.convnet_logits)
        // The running statistics came from the file, not the defaults.
        XCTAssertNotEqual(state.buffers[0].doubles, [Double](repeating: 0, count: 4))
        XCTAssertEqual(state.buffers[2].item, 1, "num_batches_tracked (int64) after one training step")
    }

    func testRoundTripThroughOurWriter() throws {
        let net = Network.convNet(width: 4)
        let state = try net.loadState(from: fixture("convnet_state.safetensors"))
        let data = try net.stateDictFile(state).serialized()
        let back = try net.loadState(from: SafetensorsFile(data: data))
        for (a, b) in zip(state.parameters + state.buffers, back.parameters + back.buffers) { XCTAssertEqual(a.scalars, b.scalars) }
    }

    func testShapeMismatchNamesKeyAndBothShapes() throws {
        let net = Network.convNet(width: 4)
        XCTAssertThrowsError(try net.loadState(from: fixture("convnet_bad_shape.safetensors"))) { error in
            let text = "\(error)"
            XCTAssert(text.contains("model.conv3.weight") && text.contains("[16, 8, 3, 3]") && text.contains("[8, 16, 3, 3]"), text)
        }
    }

    func testMissingAndUnexpectedKeysAreReported() throws {
        let net = Network.convNet(width: 4)
        XCTAssertThrowsError(try net.loadState(from: fixture("convnet_missing_key.safetensors"))) { error in
            XCTAssert("\(error)".contains("model.bn2.running_var"), "\(error)")
        }
        // A LeNet file offered to a ConvNet: missing and unexpected keys, all listed.
        XCTAssertThrowsError(try net.loadState(from: fixture("lenet_state.safetensors"))) { error in
            let text = "\(error)"
            XCTAssert(text.contains("body.0.weight") && text.contains("model.conv0.weight"), text)
        }
    }

    func testTruncatedFileFailsCleanly() throws {
        let data = try Data(contentsOf: fixture("convnet_state.safetensors"))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("truncated-\(UUID()).safetensors")
        try data.prefix(data.count / 2).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try Network.convNet(width: 4).loadState(from: url))
    }

    func testParameterTensorsForCapturedUpdates() throws {
        let net = Network.lenet(channels: 1, imageSize: 28)
        let state = try net.loadState(from: fixture("lenet_state.safetensors"))
        let file = try SafetensorsFile(data: net.parameterFile(state.parameters.map { $0 * 0.5 }).serialized())
        let loaded = try net.loadParameterTensors(from: file)
        for (a, b) in zip(loaded, state.parameters) { assertClose(a.doubles, (b * 0.5).doubles) }
        XCTAssertThrowsError(try net.parameterFile(Array(state.parameters.dropLast())))
    }
}

func assertClose(_ a: [Double], _ b: [Double], tolerance: Double = 1e-4, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    let scale = max(b.map(abs).max() ?? 1, 1e-12)
    let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
    XCTAssert(worst <= tolerance * scale, "max error \(worst) vs scale \(scale)", file: file, line: line)
}
