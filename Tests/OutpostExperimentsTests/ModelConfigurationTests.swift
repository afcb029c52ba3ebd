import OutpostConfig
import OutpostNN
import OutpostTensor
import XCTest
@testable import OutpostExperiments

/// A `model` section either fails to read with a clear error or describes a network that
/// runs on its own input shape: an image too small for the architecture must never reach
/// the engine, whose shape checks stop the process.
final class ModelConfigurationTests: XCTestCase {
    private func read(_ architecture: String, imageSize: Int) throws -> ModelConfiguration {
        let yaml = "architecture: \(architecture)\nchannels: 1\nimage_size: \(imageSize)\nwidth: 2\nclasses: 3"
        return try ModelConfiguration.read(ConfigSection(ConfigValue.parse(yaml: yaml)), relativeTo: nil)
    }

    func testEveryAcceptedImageSizeRuns() throws {
        for architecture in ModelConfiguration.architectures {
            var smallestAccepted: Int?
            for size in 4...12 {
                let m: ModelConfiguration
                do {
                    m = try read(architecture, imageSize: size)
                } catch let error as ConfigError {
                    XCTAssertNil(smallestAccepted, "\(architecture): \(size) refused after a smaller size was accepted")
                    XCTAssertTrue(error.path.hasSuffix("image_size"), "\(architecture) \(size): \(error)")
                    continue
                }
                smallestAccepted = smallestAccepted ?? size
                let net = m.network()
                let state = try m.state(for: net)
                let logits = withoutGrad {
                    net(Tensor.zeros([1] + net.inputShape), parameters: state.parameters, buffers: state.buffers, training: false)
                }
                XCTAssertEqual(logits.shape, [1, 3], "\(architecture) at \(size)×\(size)")
            }
            XCTAssertNotNil(smallestAccepted, "\(architecture) accepts none of 4...12")
        }
    }

    func testConvNetRefusesImagesItsPoolsCannotReduce() {
        for size in [4, 5, 8] {
            XCTAssertThrowsError(try read("convnet", imageSize: size)) { error in
                XCTAssertTrue("\(error)".contains("9×9"), "\(error)")
            }
        }
        XCTAssertNoThrow(try read("convnet", imageSize: 9))
    }
}
