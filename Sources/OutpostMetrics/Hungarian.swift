/// A one-to-one assignment of the rows of a cost matrix to its columns.
///
/// For an `r × c` matrix exactly `min(r, c)` rows are assigned, each to a different column;
/// the other rows (or columns) stay unassigned.
public struct Assignment: Sendable, Equatable {
    /// For each row, its column, or `nil` when the row is unassigned (only when rows > columns).
    public let columnForRow: [Int?]
    /// For each column, its row, or `nil` when the column is unassigned (only when columns > rows).
    public let rowForColumn: [Int?]
    /// The sum of the costs of the assigned (row, column) pairs.
    public let totalCost: Double

    /// The assigned pairs, ordered by row.
    public var pairs: [(row: Int, column: Int)] {
        columnForRow.enumerated().compactMap { row, column in column.map { (row, $0) } }
    }
}

/// The Hungarian algorithm (Kuhn–Munkres), in the O(n²·m) shortest-augmenting-path form with
/// row and column potentials (Jonker–Volgenant style), n = min(rows, columns), m = max.
public enum Hungarian {
    /// The assignment of rows to columns that minimizes the total cost.
    ///
    /// `costs[i][j]` is the cost of pairing row `i` with column `j`. The matrix may be
    /// rectangular: with more columns than rows every row is assigned, with more rows than
    /// columns every column is. Among several optimal assignments one is returned
    /// (deterministically). To maximize a score, pass its negation.
    ///
    /// - Parameter costs: `rows` arrays of `columns` finite costs each. An empty matrix (no
    ///   rows, or rows of length 0) gives an empty assignment.
    /// - Throws: ``MetricsError/invalidCostMatrix(_:)`` for ragged rows, a NaN/infinite cost,
    ///   or costs so large (near `Double.greatestFiniteMagnitude`) that sums could overflow.
    public static func assign(_ costs: [[Double]]) throws -> Assignment {
        let rows = costs.count
        let columns = costs.first?.count ?? 0
        for (i, row) in costs.enumerated() {
            guard row.count == columns else {
                throw MetricsError.invalidCostMatrix("row \(i) has \(row.count) entries, row 0 has \(columns)")
            }
            if let j = row.firstIndex(where: { !$0.isFinite }) {
                throw MetricsError.invalidCostMatrix("cost[\(i)][\(j)] = \(row[j]) is not finite")
            }
        }
        // Potentials stay within a few multiples of the cost range times the size; reject
        // magnitudes where that could overflow (and the search would never terminate).
        let magnitude = costs.lazy.flatMap { $0 }.reduce(0.0) { max($0, abs($1)) }
        guard (magnitude * Double(4 * (rows + columns + 1))).isFinite else {
            throw MetricsError.invalidCostMatrix(
                "costs up to \(magnitude) in magnitude are too large to add up safely; rescale them")
        }
        if rows == 0 || columns == 0 {
            return Assignment(columnForRow: [Int?](repeating: nil, count: rows),
                              rowForColumn: [Int?](repeating: nil, count: columns), totalCost: 0)
        }
        // The algorithm needs rows <= columns; solve the transpose otherwise.
        let transposed = rows > columns
        let n = transposed ? columns : rows
        let m = transposed ? rows : columns
        let cost: (Int, Int) -> Double = transposed ? { costs[$1][$0] } : { costs[$0][$1] }
        let match = solve(n: n, m: m, cost: cost)  // match[j] = row (0-based) of column j, or -1
        var columnForRow = [Int?](repeating: nil, count: rows)
        var rowForColumn = [Int?](repeating: nil, count: columns)
        var total = 0.0
        for j in 0..<m where match[j] >= 0 {
            let (r, c) = transposed ? (j, match[j]) : (match[j], j)
            columnForRow[r] = c
            rowForColumn[c] = r
            total += costs[r][c]
        }
        return Assignment(columnForRow: columnForRow, rowForColumn: rowForColumn, totalCost: total)
    }

    /// Shortest augmenting paths with potentials for an n × m matrix, n <= m. Returns, for each
    /// column, its row or -1.
    private static func solve(n: Int, m: Int, cost: (Int, Int) -> Double) -> [Int] {
        // 1-based arrays; index 0 is the virtual source row/column.
        var u = [Double](repeating: 0, count: n + 1)
        var v = [Double](repeating: 0, count: m + 1)
        var rowOfColumn = [Int](repeating: 0, count: m + 1)
        var way = [Int](repeating: 0, count: m + 1)
        var minSlack = [Double](repeating: 0, count: m + 1)
        var used = [Bool](repeating: false, count: m + 1)
        for i in 1...n {
            rowOfColumn[0] = i
            var j0 = 0
            for j in 0...m {
                minSlack[j] = .infinity
                used[j] = false
            }
            repeat {
                used[j0] = true
                let i0 = rowOfColumn[j0]
                var delta = Double.infinity
                var j1 = 0
                for j in 1...m where !used[j] {
                    let slack = cost(i0 - 1, j - 1) - u[i0] - v[j]
                    if slack < minSlack[j] {
                        minSlack[j] = slack
                        way[j] = j0
                    }
                    if minSlack[j] < delta {
                        delta = minSlack[j]
                        j1 = j
                    }
                }
                for j in 0...m {
                    if used[j] {
                        u[rowOfColumn[j]] += delta
                        v[j] -= delta
                    } else {
                        minSlack[j] -= delta
                    }
                }
                j0 = j1
            } while rowOfColumn[j0] != 0
            // Augment along the path back to the source.
            repeat {
                let j1 = way[j0]
                rowOfColumn[j0] = rowOfColumn[j1]
                j0 = j1
            } while j0 != 0
        }
        return (1...m).map { rowOfColumn[$0] - 1 }
    }
}
