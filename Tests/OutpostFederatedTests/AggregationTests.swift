import OutpostFederated
import OutpostTensor
import XCTest

/// The aggregation rules against values computed by hand.
final class AggregationTests: XCTestCase {
    private let clients: [[Double]] = [
        [1, 2, 3, 4],
        [3, 0, -3, 8],
        [5, 10, 0, -4],
        [7, -1, 1, 0],
        [100, -100, 2, 6],
    ]

    /// Client k's payload: the vector above as a [4] tensor and its first two values again
    /// as a [2, 1] tensor (aggregation must work per tensor).
    private func payloads(_ count: Int, dtype: DType = .float64) -> [[Tensor]] {
        clients.prefix(count).map { v in
            [Tensor(v, shape: [4], dtype: dtype), Tensor(Array(v.prefix(2)), shape: [2, 1], dtype: dtype)]
        }
    }

    private func assertValues(_ t: [Tensor], _ expected: [Double], accuracy: Double = 1e-12, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(t.count, 2, file: file, line: line)
        for (a, b) in zip(t[0].doubles, expected) { XCTAssertEqual(a, b, accuracy: accuracy, file: file, line: line) }
        for (a, b) in zip(t[1].doubles, expected.prefix(2)) { XCTAssertEqual(a, b, accuracy: accuracy, file: file, line: line) }
        XCTAssertEqual(t[1].shape, [2, 1], file: file, line: line)
    }

    func testWeightedMeanUsesSampleCounts() throws {
        // n = 1, 3, 4 (total 8): (1·1 + 3·3 + 4·5)/8 = 3.75, (2 + 0 + 40)/8 = 5.25,
        // (3 − 9 + 0)/8 = −0.75, (4 + 24 − 16)/8 = 1.5.
        let r = try Aggregation.aggregate(payloads(3), sampleCounts: [1, 3, 4], rule: .weightedMean)
        assertValues(r, [3.75, 5.25, -0.75, 1.5])
        // Equal counts give the plain mean, which differs from the weighted one.
        let equal = try Aggregation.aggregate(payloads(3), sampleCounts: [2, 2, 2], rule: .weightedMean)
        assertValues(equal, [3, 4, 0, 8.0 / 3])
        assertValues(try Aggregation.aggregate(payloads(3), sampleCounts: [1, 3, 4], rule: .mean), [3, 4, 0, 8.0 / 3])
        // A client with no samples has no weight.
        assertValues(try Aggregation.aggregate(payloads(3), sampleCounts: [0, 1, 1], rule: .weightedMean), [4, 5, -1.5, 2])
    }

    func testWeightedMeanInFloat32() throws {
        let r = try Aggregation.aggregate(payloads(3, dtype: .float32), sampleCounts: [1, 3, 4], rule: .weightedMean)
        XCTAssertEqual(r[0].dtype, .float32)
        assertValues(r, [3.75, 5.25, -0.75, 1.5], accuracy: 1e-6)
    }

    func testCoordinateWiseMedian() throws {
        // Three clients: the middle value of each coordinate.
        assertValues(try Aggregation.aggregate(payloads(3), sampleCounts: [1, 1, 1], rule: .median), [3, 2, 0, 4])
        // Four clients: the mean of the two middle values, (3+5)/2, (0+2)/2, (0+1)/2, (0+4)/2.
        assertValues(try Aggregation.aggregate(payloads(4), sampleCounts: [1, 1, 1, 1], rule: .median), [4, 1, 0.5, 2])
        // The median ignores the sample counts and the outlier client 4.
        assertValues(try Aggregation.aggregate(payloads(5), sampleCounts: [1, 1, 1, 1, 1000], rule: .median), [5, 0, 1, 4])
    }

    func testCoordinateWiseTrimmedMean() throws {
        // Five clients, fraction 0.2: one value trimmed at each end of every coordinate.
        // [1,3,5,7,100] → 5; [-100,-1,0,2,10] → 1/3; [-3,0,1,2,3] → 1; [-4,0,4,6,8] → 10/3.
        assertValues(try Aggregation.aggregate(payloads(5), sampleCounts: [1, 1, 1, 1, 1], rule: .trimmedMean(fraction: 0.2)),
                     [5, 1.0 / 3, 1, 10.0 / 3])
        // ⌊0.19 · 5⌋ = 0: nothing trimmed, the plain mean.
        assertValues(try Aggregation.aggregate(payloads(5), sampleCounts: [1, 1, 1, 1, 1], rule: .trimmedMean(fraction: 0.19)),
                     [23.2, -17.8, 0.6, 2.8])
        // ⌊0.4 · 5⌋ = 2: only the middle value is left, the median.
        assertValues(try Aggregation.aggregate(payloads(5), sampleCounts: [1, 1, 1, 1, 1], rule: .trimmedMean(fraction: 0.4)),
                     [5, 0, 1, 4])
    }

    func testMismatchedPayloadsAreErrors() {
        XCTAssertThrowsError(try Aggregation.aggregate([], sampleCounts: [], rule: .mean)) { error in
            XCTAssertEqual(error as? FederatedError, .aggregation("no payloads to aggregate"))
        }
        var bad = payloads(2)
        bad[1][1] = Tensor([1, 2], shape: [2], dtype: .float64)
        XCTAssertThrowsError(try Aggregation.aggregate(bad, sampleCounts: [1, 1], rule: .mean)) { error in
            XCTAssertTrue("\(error)".contains("payload 1, tensor 1 is float64 [2]"), "\(error)")
        }
        XCTAssertThrowsError(try Aggregation.aggregate(payloads(2), sampleCounts: [1], rule: .weightedMean))
        XCTAssertThrowsError(try Aggregation.aggregate(payloads(2), sampleCounts: [0, 0], rule: .weightedMean))
    }
}
