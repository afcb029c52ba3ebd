@testable import OutpostTensor
import XCTest

/// `Engine.withDenormalsFlushed`: inside the scope denormal values are read and written as
/// zero, on the calling thread and on the workers that run split kernels; outside it, and
/// after it, they are kept.
final class DenormalTests: XCTestCase {
    private static let tiny = Float.leastNormalMagnitude / 8

    override func setUpWithError() throws {
        try XCTSkipUnless(Engine.canFlushDenormals, "this CPU has no flush-to-zero mode")
    }

    func testFlushedInsideTheScopeOnly() {
        let x = Tensor([Self.tiny, 1, -Self.tiny], shape: [3])
        XCTAssertEqual((x * 1.0).scalars, [Self.tiny, 1, -Self.tiny])
        let inside = Engine.withDenormalsFlushed { (x * 1.0).scalars }
        XCTAssertEqual(inside, [0, 1, 0])
        // Results that would be denormal are written as zero.
        let halved = Engine.withDenormalsFlushed { (Tensor([Float.leastNormalMagnitude], shape: [1]) * 0.5).scalars }
        XCTAssertEqual(halved, [0])
        XCTAssertEqual((x * 1.0).scalars, [Self.tiny, 1, -Self.tiny], "the thread's mode is restored")
    }

    func testNestedScopesRestoreTheOuterMode() {
        let x = Tensor([Self.tiny], shape: [1])
        Engine.withDenormalsFlushed {
            Engine.withDenormalsFlushed { XCTAssertEqual((x * 1.0).scalars, [0]) }
            XCTAssertEqual((x * 1.0).scalars, [0], "still inside the outer scope")
        }
        XCTAssertEqual((x * 1.0).scalars, [Self.tiny])
    }

    func testWorkersFollowTheCallersMode() {
        let saved = Engine.threads
        Engine.threads = 2
        defer { Engine.threads = saved }
        // Large enough to be split across threads; every element denormal.
        let n = 4 * Kernels.elementwiseGrain
        let x = Tensor([Float](repeating: Self.tiny, count: n), shape: [n])
        for _ in 0..<3 {
            XCTAssertTrue(Engine.withDenormalsFlushed { (x * 1.0).scalars }.allSatisfy { $0 == 0 })
            XCTAssertTrue((x * 1.0).scalars.allSatisfy { $0 == Self.tiny })
        }
    }
}
