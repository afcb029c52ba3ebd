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
}
