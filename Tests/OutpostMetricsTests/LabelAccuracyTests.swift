import XCTest
@testable import OutpostMetrics

final class LabelAccuracyTests: XCTestCase {
    func testPositional() throws {
        let a = try LabelAccuracy.positional(predicted: [3, 1, 4, 1, 5], truth: [3, 1, 4, 2, 6])
        XCTAssertEqual(a.correct, 3)
        XCTAssertEqual(a.total, 5)
        XCTAssertEqual(a.accuracy, 0.6)
        XCTAssertEqual(a.description, "3/5 (60.00%)")
        // Same multiset, wrong order: positional accuracy sees it, multiset accuracy does not.
        XCTAssertEqual(try LabelAccuracy.positional(predicted: [2, 1, 0], truth: [0, 1, 2]).correct, 1)
        XCTAssertEqual(try LabelAccuracy.multiset(predicted: [2, 1, 0], truth: [0, 1, 2]).accuracy, 1)
    }

    func testMultisetCountsRepeatedLabels() throws {
        // Truth has label 7 three times; only two 7s were inferred, plus a wrong 9.
        let a = try LabelAccuracy.multiset(predicted: [7, 9, 7, 2], truth: [7, 7, 2, 7])
        XCTAssertEqual(a.correct, 3)
        XCTAssertEqual(a.total, 4)
        // Guessing more labels than the batch holds does not help: the denominator grows.
        let surplus = try LabelAccuracy.multiset(predicted: [0, 1, 2, 3, 4, 5], truth: [0, 1, 2])
        XCTAssertEqual(surplus.correct, 3)
        XCTAssertEqual(surplus.total, 6)
        XCTAssertEqual(surplus.accuracy, 0.5)
        let missing = try LabelAccuracy.multiset(predicted: [1], truth: [1, 1])
        XCTAssertEqual(missing.accuracy, 0.5)
        XCTAssertEqual(try LabelAccuracy.multiset(predicted: [], truth: [1, 2]).accuracy, 0)
    }

    func testArgmaxLabels() throws {
        let scores: [[Float]] = [[0.1, 2.5, -1], [3, 3, 1], [-5, -4, -6]]
        XCTAssertEqual(try LabelAccuracy.argmaxLabels(scores), [1, 0, 1])
        assertMetricsError(try LabelAccuracy.argmaxLabels([[0.0, .nan]]), mentions: ["row 0", "column 1", "nan"]) {
            if case .invalidScore = $0 { return true }
            return false
        }
        assertMetricsError(try LabelAccuracy.argmaxLabels([[1.0], []]), mentions: ["row 1"]) {
            if case .emptyBatch = $0 { return true }
            return false
        }
        assertMetricsError(try LabelAccuracy.argmaxLabels([[Double]]())) {
            if case .emptyBatch = $0 { return true }
            return false
        }
    }

    func testBadLabelInput() {
        assertMetricsError(try LabelAccuracy.positional(predicted: [1, 2], truth: [1, 2, 3]), mentions: ["expected 3, got 2"]) {
            if case .countMismatch = $0 { return true }
            return false
        }
        assertMetricsError(try LabelAccuracy.positional(predicted: [], truth: []), mentions: ["no true labels"]) {
            if case .emptyBatch = $0 { return true }
            return false
        }
        assertMetricsError(try LabelAccuracy.multiset(predicted: [1], truth: [])) {
            if case .emptyBatch = $0 { return true }
            return false
        }
    }
}
