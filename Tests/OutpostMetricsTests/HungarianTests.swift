import XCTest
@testable import OutpostMetrics

final class HungarianTests: XCTestCase {
    /// The minimal total cost over every one-to-one assignment of min(rows, columns) pairs.
    private func bruteForceMinimum(_ costs: [[Double]]) -> Double {
        let rows = costs.count, columns = costs[0].count
        let transposed = rows > columns
        let n = transposed ? columns : rows, m = transposed ? rows : columns
        func cost(_ i: Int, _ j: Int) -> Double { transposed ? costs[j][i] : costs[i][j] }
        var used = [Bool](repeating: false, count: m)
        var best = Double.infinity
        func search(_ i: Int, _ total: Double) {
            if i == n {
                best = min(best, total)
                return
            }
            for j in 0..<m where !used[j] {
                used[j] = true
                search(i + 1, total + cost(i, j))
                used[j] = false
            }
        }
        search(0, 0)
        return best
    }

    private func assertValid(_ a: Assignment, for costs: [[Double]], file: StaticString = #filePath, line: UInt = #line) {
        let rows = costs.count, columns = costs[0].count
        XCTAssertEqual(a.columnForRow.count, rows, file: file, line: line)
        XCTAssertEqual(a.rowForColumn.count, columns, file: file, line: line)
        XCTAssertEqual(a.pairs.count, min(rows, columns), file: file, line: line)
        XCTAssertEqual(Set(a.pairs.map(\.column)).count, a.pairs.count, "a column is used twice", file: file, line: line)
        for (row, column) in a.pairs {
            XCTAssertEqual(a.rowForColumn[column], row, file: file, line: line)
        }
        let sum = a.pairs.reduce(0.0) { $0 + costs[$1.row][$1.column] }
        XCTAssertEqual(a.totalCost, sum, accuracy: 1e-12, file: file, line: line)
    }

    func testMatchesBruteForceOnRandomMatricesUpToSevenBySeven() throws {
        var rng = SeededGenerator(seed: 7)
        var checked = 0
        for rows in 1...7 {
            for columns in 1...7 {
                for trial in 0..<4 {
                    // Trials 0-1: small integer costs (many ties); 2: continuous; 3: large negative and positive.
                    let costs: [[Double]] = (0..<rows).map { _ in
                        (0..<columns).map { _ in
                            switch trial {
                            case 0, 1: return Double(Int.random(in: 0...3, using: &rng))
                            case 2: return Double.random(in: 0..<1, using: &rng)
                            default: return Double.random(in: -1000...1000, using: &rng)
                            }
                        }
                    }
                    let assignment = try Hungarian.assign(costs)
                    assertValid(assignment, for: costs)
                    XCTAssertEqual(assignment.totalCost, bruteForceMinimum(costs), accuracy: 1e-9,
                                   "\(rows)x\(columns) trial \(trial): \(costs)")
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 196)
    }

    func testAllEqualCostsAndSingleEntries() throws {
        let ties = [[Double]](repeating: [Double](repeating: 2, count: 5), count: 5)
        let a = try Hungarian.assign(ties)
        assertValid(a, for: ties)
        XCTAssertEqual(a.totalCost, 10)
        XCTAssertEqual(try Hungarian.assign([[4.5]]).pairs.map(\.column), [0])
    }

    func testKnownExample() throws {
        // The six assignments cost 6, 5, 7, 9, 11 and 6; the unique optimum is
        // row 0 -> column 1, row 1 -> column 0, row 2 -> column 2: 1 + 2 + 2 = 5.
        let costs: [[Double]] = [[4, 1, 3], [2, 0, 5], [3, 2, 2]]
        let a = try Hungarian.assign(costs)
        XCTAssertEqual(a.columnForRow, [1, 0, 2])
        XCTAssertEqual(a.totalCost, 5)
    }

    func testRectangularLeavesTheWorstUnassigned() throws {
        // Three rows, two columns: row 1 is expensive everywhere and stays unassigned.
        let tall: [[Double]] = [[1, 9], [50, 60], [9, 1]]
        let a = try Hungarian.assign(tall)
        XCTAssertEqual(a.columnForRow, [0, nil, 1])
        XCTAssertEqual(a.rowForColumn, [0, 2])
        XCTAssertEqual(a.totalCost, 2)
        let wide: [[Double]] = [[5, 1, 7], [0, 3, 8]]
        let b = try Hungarian.assign(wide)
        XCTAssertEqual(b.columnForRow, [1, 0])
        XCTAssertEqual(b.rowForColumn, [1, 0, nil])
    }

    func testEmptyMatrixGivesEmptyAssignment() throws {
        let a = try Hungarian.assign([])
        XCTAssertTrue(a.pairs.isEmpty)
        XCTAssertEqual(a.totalCost, 0)
        let b = try Hungarian.assign([[], []])
        XCTAssertEqual(b.columnForRow, [nil, nil])
    }

    func testInvalidMatricesThrow() {
        assertMetricsError(try Hungarian.assign([[1, 2], [3]]), mentions: ["row 1", "1 entries"]) {
            if case .invalidCostMatrix = $0 { return true }
            return false
        }
        assertMetricsError(try Hungarian.assign([[1, .nan], [3, 4]]), mentions: ["cost[0][1]", "nan"]) {
            if case .invalidCostMatrix = $0 { return true }
            return false
        }
        assertMetricsError(try Hungarian.assign([[1, 2], [.infinity, 4]]), mentions: ["cost[1][0]"]) {
            if case .invalidCostMatrix = $0 { return true }
            return false
        }
        assertMetricsError(try Hungarian.assign([[1e307, -1e307], [0, 1]]), mentions: ["too large"]) {
            if case .invalidCostMatrix = $0 { return true }
            return false
        }
        // Large but safe magnitudes still work.
        XCTAssertEqual(try Hungarian.assign([[1e200, -1e200], [0, 1]]).columnForRow, [1, 0])
    }
}
