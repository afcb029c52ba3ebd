import Foundation
import OutpostLPIPS
import OutpostMetrics
import OutpostTensor
import XCTest

/// Input checks, the distance matrix and the pairing cost, and speed.
final class ImageAPITests: XCTestCase {
    func image(_ stream: Int, channels: Int = 3, height: Int = 32, width: Int = 32) throws -> Image {
        let n = channels * height * width
        return try Image(channels: channels, height: height, width: width,
                         pixels: (0..<n).map { (1 + LPIPS.formulaValue(stream: stream, index: $0)) / 2 })
    }

    func expectError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line,
                     _ check: (LPIPSError, String) -> Void) {
        do {
            try body()
            XCTFail("no error was thrown", file: file, line: line)
        } catch let error as LPIPSError {
            check(error, error.description)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    func testInvalidInputsAreErrors() throws {
        let alex = try Fixtures.network(.alex, dtype: .float32)
        let vgg = try Fixtures.network(.vgg16, dtype: .float32)
        // AlexNet needs 31 pixels a side; VGG-16 needs 16.
        let small = try image(1, height: 30, width: 64), small2 = try image(2, height: 30, width: 64)
        expectError({ _ = try alex.distance(small, small2) }) { error, text in
            XCTAssertEqual(error, .imageTooSmall(backbone: .alex, height: 30, width: 64, minimumSide: 31))
            XCTAssertTrue(text.contains("image 30x64 is too small for LPIPS (alex)"), text)
        }
        XCTAssertGreaterThan(try alex.distance(try image(1, height: 31, width: 31), try image(2, height: 31, width: 31)), 0)
        XCTAssertGreaterThan(try vgg.distance(try image(1, height: 16, width: 17), try image(2, height: 16, width: 17)), 0)
        expectError({ _ = try vgg.distance(try image(1, height: 16, width: 15), try image(2, height: 16, width: 15)) }) { error, _ in
            XCTAssertEqual(error, .imageTooSmall(backbone: .vgg16, height: 16, width: 15, minimumSide: 16))
        }
        // Channels other than 1 and 3.
        expectError({ _ = try alex.distance(try image(1, channels: 2), try image(2, channels: 2)) }) { error, text in
            XCTAssertEqual(error, .unsupportedChannels(2))
            XCTAssertTrue(text.contains("1 (grayscale, replicated to RGB) or 3 (RGB)"), text)
        }
        // Shapes, counts and empty batches.
        expectError({ _ = try alex.distance(try image(1), try image(2, channels: 1)) }) { error, text in
            XCTAssertEqual(error, .shapeMismatch(first: "1x3x32x32", second: "1x1x32x32"))
            XCTAssertTrue(text.contains("1x3x32x32 vs 1x1x32x32"), text)
        }
        expectError({ _ = try alex.distances([try image(1), try image(2, height: 40)], [try image(3), try image(4)]) }) { error, _ in
            XCTAssertEqual(error, .shapeMismatch(first: "3x32x32", second: "3x40x32"))
        }
        expectError({ _ = try alex.distances([try image(1)], []) }) { error, _ in XCTAssertEqual(error, .countMismatch(first: 1, second: 0)) }
        expectError({ _ = try alex.distances([], []) }) { error, _ in XCTAssertEqual(error, .emptyBatch) }
        expectError({ _ = try alex.distanceMatrix(truths: [try image(1)], reconstructions: [try image(2, height: 40)]) }) { error, _ in
            XCTAssertEqual(error, .shapeMismatch(first: "3x32x32", second: "3x40x32"))
        }
        // Tensors: rank and shape.
        expectError({ _ = try alex.distance(Tensor.zeros([3, 32, 32]), Tensor.zeros([3, 32, 32])) }) { error, _ in
            XCTAssertEqual(error, .shapeMismatch(first: "N x C x H x W", second: "3x32x32"))
        }
        expectError({ _ = try alex.distance(Tensor.zeros([2, 3, 32, 32]), Tensor.zeros([1, 3, 32, 32])) }) { error, _ in
            XCTAssertEqual(error, .shapeMismatch(first: "2x3x32x32", second: "1x3x32x32"))
        }
    }

    /// The matrix equals the pairwise distances, and the pairing cost recovers a shuffled batch.
    func testDistanceMatrixAndPairing() throws {
        let lpips = try Fixtures.network(.alex, dtype: .float32)
        let truths = try (0..<5).map { try image(2000 + $0) }
        // Reconstructions: noisy copies, shuffled.
        let order = [3, 0, 4, 1, 2]
        let reconstructions = try order.map { t -> Image in
            let x = truths[t].pixels.enumerated().map { min(max($0.element + 0.3 * LPIPS.formulaValue(stream: 3000 + t, index: $0.offset), 0), 1) }
            return try Image(channels: 3, height: 32, width: 32, pixels: x)
        }
        let matrix = try lpips.distanceMatrix(truths: truths, reconstructions: reconstructions)
        XCTAssertEqual(matrix.count, 5)
        for t in 0..<5 {
            for r in 0..<5 {
                XCTAssertEqual(matrix[t][r], try lpips.distance(truths[t], reconstructions[r]), accuracy: 1e-6)
            }
        }
        let viaCost = try Pairing.optimal(truths: truths, reconstructions: reconstructions, cost: lpips.pairingCost)
        let viaMatrix = try Pairing.optimal(costs: matrix)
        XCTAssertEqual(lpips.pairingCost.description, "LPIPS (alex)")
        for (t, r) in viaCost.pairs { XCTAssertEqual(order[r], t) }
        XCTAssertEqual(viaCost.reconstructionForTruth, viaMatrix.reconstructionForTruth)
        XCTAssertEqual(viaCost.pairs.count, 5)
        // A pairing-cost failure surfaces as the LPIPS error.
        XCTAssertThrowsError(try Pairing.optimal(truths: [try image(1, height: 20, width: 20)],
                                                 reconstructions: [try image(2, height: 20, width: 20)], cost: lpips.pairingCost)) { error in
            XCTAssertEqual(error as? LPIPSError, .imageTooSmall(backbone: .alex, height: 20, width: 20, minimumSide: 31))
        }
        // Unequal batch sizes (more reconstructions than truths) and chunking beyond 16 images.
        let many = try (0..<18).map { try image(4000 + $0) }
        let wide = try lpips.distanceMatrix(truths: Array(truths.prefix(2)), reconstructions: many)
        XCTAssertEqual(wide.map(\.count), [18, 18])
        XCTAssertEqual(wide[1][17], try lpips.distance(truths[1], many[17]), accuracy: 1e-6)
    }
}
