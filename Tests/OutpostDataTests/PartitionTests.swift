import Foundation
import XCTest
import OutpostData

final class PartitionTests: XCTestCase {
    /// 6000 labels, 600 of each of 10 classes, interleaved.
    private let labels = (0..<6000).map { $0 % 10 }

    private func assertDisjoint(_ partition: FederatedPartition, total: Int, file: StaticString = #filePath, line: UInt = #line) {
        var seen = Set<Int>()
        for indices in partition.clientIndices {
            for index in indices {
                XCTAssertTrue(index >= 0 && index < total, "index \(index) out of range", file: file, line: line)
                XCTAssertTrue(seen.insert(index).inserted, "index \(index) assigned twice", file: file, line: line)
            }
        }
    }

    func testGeneratorMatchesTheReferenceXoshiro256StarStar() {
        // Reference values from a direct Python transcription of SplitMix64 seeding
        // and xoshiro256** (Blackman & Vigna), seed 42.
        var rng = SeededGenerator(seed: 42)
        XCTAssertEqual((0..<4).map { _ in rng.next() },
                       [0x1578_0b2e_0c2e_c716, 0x6104_d986_6d11_3a7e, 0xae17_5332_39e4_99a1, 0xecb8_ad47_03b3_60a1])
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7), c = SeededGenerator(seed: 8)
        let first = (0..<5).map { _ in a.nextInt(below: 1000) }
        XCTAssertEqual(first, (0..<5).map { _ in b.nextInt(below: 1000) })
        XCTAssertNotEqual(first, (0..<5).map { _ in c.nextInt(below: 1000) })
        var counts = [Int](repeating: 0, count: 6)
        for _ in 0..<60_000 { counts[a.nextInt(below: 6)] += 1 }
        for count in counts { XCTAssertEqual(Double(count), 10_000, accuracy: 400) }
    }

    func testGammaAndDirichletSamplers() {
        var rng = SeededGenerator(seed: 3)
        for shape in [0.1, 0.5, 1.0, 2.5, 10.0] {
            let n = 20_000
            var sum = 0.0, squares = 0.0
            for _ in 0..<n {
                let x = rng.nextGamma(shape: shape)
                XCTAssertTrue(x >= 0 && x.isFinite)
                sum += x
                squares += x * x
            }
            let mean = sum / Double(n)
            let variance = squares / Double(n) - mean * mean
            // Gamma(k, 1): mean k, variance k.
            XCTAssertEqual(mean, shape, accuracy: 0.05 * max(shape, 1), "shape \(shape)")
            XCTAssertEqual(variance, shape, accuracy: 0.12 * max(shape, 1), "shape \(shape)")
        }
        XCTAssertTrue(rng.nextGamma(shape: 0).isNaN)
        let draw = rng.nextDirichlet([0.5, 1, 2, 4])
        XCTAssertEqual(draw.reduce(0, +), 1, accuracy: 1e-12)
        XCTAssertTrue(draw.allSatisfy { $0 >= 0 })
        // Mean of Dir(alpha) is alpha / sum(alpha).
        var means = [Double](repeating: 0, count: 3)
        for _ in 0..<5000 {
            let d = rng.nextDirichlet([1, 2, 7])
            for k in 0..<3 { means[k] += d[k] / 5000 }
        }
        XCTAssertEqual(means[0], 0.1, accuracy: 0.01)
        XCTAssertEqual(means[2], 0.7, accuracy: 0.01)
    }

    func testIID() throws {
        let partition = try FederatedPartition.make(labels: labels, classCount: 10, clients: 7, scheme: .iid, seed: 1)
        XCTAssertEqual(partition.clientCount, 7)
        XCTAssertEqual(partition.assignedCount, 6000)
        XCTAssertLessThanOrEqual((partition.sizes.max() ?? 0) - (partition.sizes.min() ?? 0), 1)
        assertDisjoint(partition, total: 6000)
        XCTAssertLessThan(partition.meanLabelSkew(labels: labels, classCount: 10), 0.06)
        XCTAssertEqual(try FederatedPartition.make(labels: labels, classCount: 10, clients: 7, scheme: .iid, seed: 1), partition)
        XCTAssertNotEqual(try FederatedPartition.make(labels: labels, classCount: 10, clients: 7, scheme: .iid, seed: 2).clientIndices,
                          partition.clientIndices)
    }

    func testDirichletSkewDependsOnAlpha() throws {
        let nearIID = try FederatedPartition.make(labels: labels, classCount: 10, clients: 10,
                                                  scheme: .dirichlet(alpha: 1e6), seed: 11)
        let skewed = try FederatedPartition.make(labels: labels, classCount: 10, clients: 10,
                                                 scheme: .dirichlet(alpha: 0.1), seed: 11)
        for partition in [nearIID, skewed] {
            assertDisjoint(partition, total: 6000)
            XCTAssertEqual(partition.sizes, [Int](repeating: 600, count: 10))
        }
        let iidSkew = nearIID.meanLabelSkew(labels: labels, classCount: 10)
        let strongSkew = skewed.meanLabelSkew(labels: labels, classCount: 10)
        XCTAssertLessThan(iidSkew, 0.06, "alpha = 1e6 should be close to IID")
        XCTAssertGreaterThan(strongSkew, 0.45, "alpha = 0.1 should be strongly skewed")
        // Near-IID: every client has every class, each near 60 of 600.
        for histogram in nearIID.labelHistograms(labels: labels, classCount: 10) {
            for count in histogram { XCTAssertEqual(Double(count), 60, accuracy: 25) }
        }
        // Skewed: most clients are dominated by one class.
        let dominated = skewed.labelHistograms(labels: labels, classCount: 10).filter { ($0.max() ?? 0) > 300 }.count
        XCTAssertGreaterThanOrEqual(dominated, 5)
        XCTAssertEqual(try FederatedPartition.make(labels: labels, classCount: 10, clients: 10, scheme: .dirichlet(alpha: 0.1), seed: 11),
                       skewed)

        // An explicit per-client size leaves the rest unassigned.
        let small = try FederatedPartition.make(labels: labels, classCount: 10, clients: 20,
                                                scheme: .dirichlet(alpha: 0.5, samplesPerClient: 100), seed: 5)
        XCTAssertEqual(small.sizes, [Int](repeating: 100, count: 20))
        XCTAssertEqual(small.assignedCount, 2000)
        assertDisjoint(small, total: 6000)
    }

    func testProportionalAllocationRespectsCapacity() {
        XCTAssertEqual(FederatedPartition.allocate(10, proportions: [0.25, 0.25, 0.5], capacity: [100, 100, 100]), [3, 2, 5])
        // Class 0 can give only 2: its share moves to class 1 (class 2 has zero weight).
        XCTAssertEqual(FederatedPartition.allocate(10, proportions: [0.5, 0.5, 0], capacity: [2, 100, 100]), [2, 8, 0])
        // Every weighted class is exhausted: the rest is spread uniformly.
        XCTAssertEqual(FederatedPartition.allocate(6, proportions: [1, 0, 0], capacity: [0, 3, 3]), [0, 3, 3])
        // Not enough samples left at all.
        XCTAssertEqual(FederatedPartition.allocate(10, proportions: [0.5, 0.5], capacity: [1, 2]), [1, 2])
    }

    func testShardsGiveAtMostTwoLabelsPerClient() throws {
        let partition = try FederatedPartition.make(labels: labels, classCount: 10, clients: 20, scheme: .shards(perClient: 2), seed: 4)
        XCTAssertEqual(partition.sizes, [Int](repeating: 300, count: 20))
        assertDisjoint(partition, total: 6000)
        for histogram in partition.labelHistograms(labels: labels, classCount: 10) {
            XCTAssertLessThanOrEqual(histogram.filter { $0 > 0 }.count, 2)
            XCTAssertEqual(histogram.reduce(0, +), 300)
        }
        XCTAssertGreaterThan(partition.meanLabelSkew(labels: labels, classCount: 10), 0.8)
        // 6001 samples: the one left over by the division is unassigned.
        let odd = try FederatedPartition.make(labels: labels + [3], classCount: 10, clients: 20, scheme: .shards(), seed: 4)
        XCTAssertEqual(odd.assignedCount, 6000)
    }

    func testFixedSizeOnePercentEach() throws {
        let partition = try FederatedPartition.make(labels: labels, classCount: 10, clients: 100,
                                                    scheme: .fixedSize(samplesPerClient: 60), seed: 9)
        XCTAssertEqual(partition.sizes, [Int](repeating: 60, count: 100))
        assertDisjoint(partition, total: 6000)
        let fewer = try FederatedPartition.make(labels: labels, classCount: 10, clients: 10,
                                                scheme: .fixedSize(samplesPerClient: 5), seed: 9)
        XCTAssertEqual(fewer.assignedCount, 50)
    }

    func testImpossibleSettingsThrow() {
        func expect(_ clients: Int, _ scheme: PartitionScheme, labels: [Int]? = nil, _ expected: PartitionError,
                    line: UInt = #line) {
            XCTAssertThrowsError(try FederatedPartition.make(labels: labels ?? self.labels, classCount: 10, clients: clients,
                                                             scheme: scheme, seed: 0), line: line) { error in
                XCTAssertEqual(error as? PartitionError, expected, line: line)
                XCTAssertFalse("\(error)".isEmpty, line: line)
            }
        }
        expect(6001, .iid, .tooManyClients(clients: 6001, samples: 6000))
        expect(0, .iid, .invalidClientCount(0))
        expect(100, .fixedSize(samplesPerClient: 61), .notEnoughSamples(requested: 6100, available: 6000))
        expect(10, .fixedSize(samplesPerClient: 0), .invalidSamplesPerClient(0))
        expect(10, .dirichlet(alpha: 0), .invalidConcentration(0))
        expect(10, .dirichlet(alpha: -1), .invalidConcentration(-1))
        expect(10, .dirichlet(alpha: 1, samplesPerClient: 601), .notEnoughSamples(requested: 6010, available: 6000))
        expect(3001, .shards(perClient: 2), .tooManyClients(clients: 6002, samples: 6000))
        expect(10, .shards(perClient: 0), .invalidShardCount(0))
        expect(2, .iid, labels: [0, 10, 1], .labelOutOfRange(index: 1, label: 10, classCount: 10))
        XCTAssertThrowsError(try FederatedPartition.make(labels: labels, classCount: 10, clients: 2,
                                                         scheme: .dirichlet(alpha: .nan), seed: 0))
    }

    func testSummaryTableAndClientDatasets() throws {
        let pixels = (0..<(12 * 4)).map { Float($0) / 48 }
        let toy = try ImageDataset(name: "toy", images: pixels, labels: [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2],
                                   channels: 1, height: 2, width: 2, classCount: 3, classNames: ["cat", "dog", "owl"])
        let partition = try toy.partition(clients: 3, scheme: .shards(perClient: 1), seed: 1)
        let table = partition.summaryTable(labels: toy.labels, classCount: 3, classNames: toy.classNames)
        let lines = table.split(separator: "\n")
        XCTAssertEqual(lines.count, 6)
        XCTAssertTrue(lines[0].contains("3 clients, 12 of 12 samples assigned"))
        XCTAssertTrue(lines[1].contains("client") && lines[1].contains("cat") && lines[1].contains("owl"))
        // Each shard is one class of 4 samples: every row shows a single 4.
        for row in lines[3...] {
            let counts = row.split(separator: "|")[2].split(separator: " ").compactMap { Int($0) }
            XCTAssertEqual(counts.sorted(), [0, 0, 4])
        }
        let clients = try toy.clientDatasets(partition)
        XCTAssertEqual(clients.map(\.count), [4, 4, 4])
        XCTAssertEqual(Set(clients.map { Set($0.labels) }), Set([Set([0]), Set([1]), Set([2])]))
        XCTAssertEqual(clients[0].images, try toy.subset(partition.clientIndices[0]).images)
    }
}
