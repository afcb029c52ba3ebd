import OutpostDefenses
import OutpostTensor
import XCTest

/// `GradientOps.smallest` and `largest` select by a linear-time quickselect; they must pick
/// exactly the entries a full sort by (key, index) would, for any key, ties and NaN included.
final class SelectionTests: XCTestCase {
    /// The selection by sorting every index, as a set in ascending order.
    private func reference(_ k: Int, _ key: [Double], largest: Bool) -> [Int] {
        func rank(_ x: Double) -> Double { x.isNaN ? .infinity : x }
        func before(_ a: Int, _ b: Int) -> Bool {
            let (x, y) = (key[a], key[b])
            // NaN above every number, +∞ included; NaNs tie with each other.
            if x.isNaN != y.isNaN { return largest ? x.isNaN : y.isNaN }
            if x.isNaN || rank(x) == rank(y) { return a < b }
            return largest ? x > y : x < y
        }
        return Array(key.indices.sorted(by: before).prefix(max(0, k))).sorted()
    }

    func testMatchesAFullSortOnRandomKeysWithTies() {
        var rng = RandomGenerator(seed: 42)
        for trial in 0..<300 {
            let n = 1 + Int(rng.next() % 300)
            let levels = 1 + Int(rng.next() % 12)  // few distinct values: many ties
            let key: [Double] = (0..<n).map { _ in
                switch rng.next() % 20 {
                case 0: return .nan
                case 1: return -0.0
                case 2: return .infinity
                case 3: return -.infinity
                default: return trial % 2 == 0 ? Double(Int(rng.next() % UInt64(levels))) - 3 : rng.normal()
                }
            }
            for k in [0, 1, n / 3, n / 2, n - 1, n, n + 5] {
                XCTAssertEqual(GradientOps.smallest(k, of: key), reference(k, key, largest: false), "smallest \(k) of \(key)")
                XCTAssertEqual(GradientOps.largest(k, of: key), reference(k, key, largest: true), "largest \(k) of \(key)")
            }
        }
    }

    func testLongRunsOfEqualKeysAndSortedInputs() {
        let zeros = [Double](repeating: 0, count: 50_000)
        XCTAssertEqual(GradientOps.smallest(30_000, of: zeros), Array(0..<30_000))
        XCTAssertEqual(GradientOps.largest(30_000, of: zeros), Array(0..<30_000))
        let ascending = (0..<50_000).map(Double.init)
        XCTAssertEqual(GradientOps.smallest(10, of: ascending), Array(0..<10))
        XCTAssertEqual(GradientOps.largest(10, of: ascending), Array(49_990..<50_000))
        XCTAssertEqual(GradientOps.smallest(10, of: ascending.reversed()), Array(49_990..<50_000))
        let negativeZeroFirst: [Double] = [-0.0, 0.0, -0.0, 1]
        XCTAssertEqual(GradientOps.smallest(2, of: negativeZeroFirst), [0, 1], "−0 and +0 tie, broken by index")
    }
}
