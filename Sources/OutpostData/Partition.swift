import Foundation

/// How samples are distributed over federated clients.
public enum PartitionScheme: Sendable, Equatable, CustomStringConvertible {
    /// Uniformly random, every sample assigned once, client sizes differ by at most one.
    case iid
    /// Label skew (Hsu et al., 2019): each client draws its label proportions
    /// q ~ Dir(alpha · 1) and receives `samplesPerClient` samples (default
    /// `count / clients`), round(q_k · samplesPerClient) of class k (largest
    /// remainder rounding), drawn without replacement. When a class has run out,
    /// its share goes to the classes left in proportion to q, so samples are
    /// disjoint and every sample is assigned at most once. Large alpha tends to
    /// IID label mixes; alpha = 0.1 gives clients dominated by one or two classes.
    case dirichlet(alpha: Double, samplesPerClient: Int? = nil)
    /// Pathological non-IID shards (McMahan et al., 2017): sort by label, cut
    /// into `clients * shardsPerClient` equal shards, give each client
    /// `shardsPerClient` random shards. The remainder of the division is unassigned.
    case shards(perClient: Int = 2)
    /// Each client receives `samplesPerClient` distinct random samples (for
    /// example 600 = 1 % of MNIST each for 100 clients).
    case fixedSize(samplesPerClient: Int)

    /// A short name with the parameters, e.g. `dirichlet(alpha=0.1)`.
    public var description: String {
        switch self {
        case .iid: return "iid"
        case let .dirichlet(alpha, perClient):
            return "dirichlet(alpha=\(alpha)" + (perClient.map { ", \($0)/client" } ?? "") + ")"
        case let .shards(perClient): return "shards(\(perClient)/client)"
        case let .fixedSize(n): return "fixed(\(n)/client)"
        }
    }
}

/// An impossible partition request.
public enum PartitionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The client count must be at least one.
    case invalidClientCount(Int)
    /// More clients (or shards) than samples.
    case tooManyClients(clients: Int, samples: Int)
    /// `samplesPerClient * clients` exceeds the data set.
    case notEnoughSamples(requested: Int, available: Int)
    /// The per-client sample count must be at least one.
    case invalidSamplesPerClient(Int)
    /// The Dirichlet concentration must be positive and finite.
    case invalidConcentration(Double)
    /// Shards per client must be at least one.
    case invalidShardCount(Int)
    /// A label lies outside `0..<classCount`.
    case labelOutOfRange(index: Int, label: Int, classCount: Int)

    /// A readable explanation of why the partition is impossible.
    public var description: String {
        switch self {
        case let .invalidClientCount(n):
            return "the number of clients must be at least 1, got \(n)"
        case let .tooManyClients(clients, samples):
            return "cannot split \(samples) samples over \(clients) clients (or shards): more clients than samples"
        case let .notEnoughSamples(requested, available):
            return "the partition needs \(requested) samples but the data set has only \(available)"
        case let .invalidSamplesPerClient(n):
            return "samples per client must be at least 1, got \(n)"
        case let .invalidConcentration(alpha):
            return "the Dirichlet concentration alpha must be positive and finite, got \(alpha)"
        case let .invalidShardCount(n):
            return "shards per client must be at least 1, got \(n)"
        case let .labelOutOfRange(index, label, classCount):
            return "label \(label) of sample \(index) is outside 0..<\(classCount)"
        }
    }
}

/// The sample indices of every client, produced by ``FederatedPartition/make(labels:classCount:clients:scheme:seed:)``.
public struct FederatedPartition: Sendable, Equatable {
    /// `clientIndices[i]` are the data-set indices owned by client `i` (disjoint).
    public let clientIndices: [[Int]]
    /// The scheme that produced the partition.
    public let scheme: PartitionScheme
    /// The seed that produced it (same seed, same inputs ⇒ same partition).
    public let seed: UInt64

    /// Number of clients.
    public var clientCount: Int { clientIndices.count }
    /// Number of samples per client.
    public var sizes: [Int] { clientIndices.map(\.count) }
    /// Total number of assigned samples.
    public var assignedCount: Int { clientIndices.reduce(0) { $0 + $1.count } }

    /// Partitions a data set given its labels.
    ///
    /// - Throws: ``PartitionError`` for impossible settings (no clients, more
    ///   clients than samples, `samplesPerClient * clients` larger than the data
    ///   set, alpha ≤ 0, labels out of range).
    public static func make(labels: [Int], classCount: Int, clients: Int, scheme: PartitionScheme,
                            seed: UInt64) throws -> FederatedPartition {
        let n = labels.count
        guard clients >= 1 else { throw PartitionError.invalidClientCount(clients) }
        guard clients <= n else { throw PartitionError.tooManyClients(clients: clients, samples: n) }
        if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= classCount }) {
            throw PartitionError.labelOutOfRange(index: bad, label: labels[bad], classCount: classCount)
        }
        var rng = SeededGenerator(seed: seed)
        let assignment: [[Int]]
        switch scheme {
        case .iid:
            let order = rng.permutation(n)
            assignment = (0..<clients).map { i in
                let start = i * n / clients, end = (i + 1) * n / clients
                return Array(order[start..<end])
            }
        case let .fixedSize(perClient):
            guard perClient >= 1 else { throw PartitionError.invalidSamplesPerClient(perClient) }
            let (needed, overflow) = perClient.multipliedReportingOverflow(by: clients)
            guard !overflow, needed <= n else {
                throw PartitionError.notEnoughSamples(requested: overflow ? Int.max : needed, available: n)
            }
            let order = rng.permutation(n)
            assignment = (0..<clients).map { Array(order[($0 * perClient)..<(($0 + 1) * perClient)]) }
        case let .shards(perClient):
            guard perClient >= 1 else { throw PartitionError.invalidShardCount(perClient) }
            let (shardCount, overflow) = clients.multipliedReportingOverflow(by: perClient)
            guard !overflow, shardCount <= n else {
                throw PartitionError.tooManyClients(clients: overflow ? Int.max : shardCount, samples: n)
            }
            let sorted = (0..<n).sorted { labels[$0] != labels[$1] ? labels[$0] < labels[$1] : $0 < $1 }
            let shardSize = n / shardCount
            let shardOrder = rng.permutation(shardCount)
            assignment = (0..<clients).map { client in
                var indices: [Int] = []
                indices.reserveCapacity(perClient * shardSize)
                for s in 0..<perClient {
                    let shard = shardOrder[client * perClient + s]
                    indices.append(contentsOf: sorted[(shard * shardSize)..<((shard + 1) * shardSize)])
                }
                return indices
            }
        case let .dirichlet(alpha, perClientOption):
            guard alpha > 0, alpha.isFinite else { throw PartitionError.invalidConcentration(alpha) }
            let perClient = perClientOption ?? n / clients
            guard perClient >= 1 else { throw PartitionError.invalidSamplesPerClient(perClient) }
            let (needed, overflow) = perClient.multipliedReportingOverflow(by: clients)
            guard !overflow, needed <= n else {
                throw PartitionError.notEnoughSamples(requested: overflow ? Int.max : needed, available: n)
            }
            assignment = dirichletAssignment(labels: labels, classCount: classCount, clients: clients,
                                             perClient: perClient, alpha: alpha, rng: &rng)
        }
        return FederatedPartition(clientIndices: assignment, scheme: scheme, seed: seed)
    }

    private static func dirichletAssignment(labels: [Int], classCount: Int, clients: Int, perClient: Int,
                                            alpha: Double, rng: inout SeededGenerator) -> [[Int]] {
        var pools = [[Int]](repeating: [], count: classCount)
        for (index, label) in labels.enumerated() { pools[label].append(index) }
        for k in 0..<classCount { rng.shuffle(&pools[k]) }
        var next = [Int](repeating: 0, count: classCount)
        let concentration = [Double](repeating: alpha, count: classCount)
        var result: [[Int]] = []
        result.reserveCapacity(clients)
        for _ in 0..<clients {
            let proportions = rng.nextDirichlet(concentration)
            let available = (0..<classCount).map { pools[$0].count - next[$0] }
            let counts = allocate(perClient, proportions: proportions, capacity: available)
            var indices: [Int] = []
            indices.reserveCapacity(perClient)
            for k in 0..<classCount where counts[k] > 0 {
                indices.append(contentsOf: pools[k][next[k]..<(next[k] + counts[k])])
                next[k] += counts[k]
            }
            rng.shuffle(&indices)
            result.append(indices)
        }
        return result
    }

    /// Splits `total` into per-class counts proportional to `proportions` (largest
    /// remainder rounding), never exceeding `capacity`; what a full class cannot take
    /// goes to the classes with room left, again in proportion (uniformly when
    /// those classes have zero weight). The result sums to `min(total, sum(capacity))`.
    public static func allocate(_ total: Int, proportions: [Double], capacity: [Int]) -> [Int] {
        var counts = [Int](repeating: 0, count: proportions.count)
        var remaining = min(total, capacity.reduce(0, +))
        while remaining > 0 {
            let open = (0..<counts.count).filter { counts[$0] < capacity[$0] }
            guard !open.isEmpty else { break }
            var weights = open.map { max(proportions[$0], 0) }
            if weights.reduce(0, +) <= 0 { weights = [Double](repeating: 1, count: open.count) }
            let weightSum = weights.reduce(0, +)
            let exact = weights.map { Double(remaining) * $0 / weightSum }
            var shares = exact.map { Int($0.rounded(.down)) }
            let fractions = (0..<open.count).map { exact[$0] - Double(shares[$0]) }
            // Largest remainders get the units lost to rounding down (ties: lower class index).
            let order = (0..<open.count).sorted { a, b in
                fractions[a] != fractions[b] ? fractions[a] > fractions[b] : a < b
            }
            var leftover = remaining - shares.reduce(0, +)
            for position in order where leftover > 0 {
                shares[position] += 1
                leftover -= 1
            }
            var given = 0
            for (position, k) in open.enumerated() {
                let take = min(shares[position], capacity[k] - counts[k])
                counts[k] += take
                given += take
            }
            remaining -= given
            // Shares sum to `remaining` and every open class takes at least part of a
            // positive share, so `given` is positive; the guard only prevents a hang.
            if given == 0 { break }
        }
        return counts
    }

    /// Per-client label counts: `histograms[client][label]`.
    public func labelHistograms(labels: [Int], classCount: Int) -> [[Int]] {
        clientIndices.map { indices in
            var counts = [Int](repeating: 0, count: classCount)
            for index in indices where index >= 0 && index < labels.count {
                let label = labels[index]
                if label >= 0 && label < classCount { counts[label] += 1 }
            }
            return counts
        }
    }

    /// Mean over clients of the total-variation distance between the client's
    /// label distribution and the distribution of all assigned samples
    /// (0 = identical label mix everywhere, 1 = disjoint label sets).
    public func meanLabelSkew(labels: [Int], classCount: Int) -> Double {
        let histograms = labelHistograms(labels: labels, classCount: classCount)
        var global = [Double](repeating: 0, count: classCount)
        for h in histograms { for k in 0..<classCount { global[k] += Double(h[k]) } }
        let total = global.reduce(0, +)
        guard total > 0 else { return 0 }
        global = global.map { $0 / total }
        var sum = 0.0, counted = 0
        for h in histograms {
            let size = Double(h.reduce(0, +))
            guard size > 0 else { continue }
            var distance = 0.0
            for k in 0..<classCount { distance += abs(Double(h[k]) / size - global[k]) }
            sum += distance / 2
            counted += 1
        }
        return counted > 0 ? sum / Double(counted) : 0
    }

    /// A readable table: one row per client with its size and label counts.
    public func summaryTable(labels: [Int], classCount: Int, classNames: [String]? = nil) -> String {
        let histograms = labelHistograms(labels: labels, classCount: classCount)
        let headers = (0..<classCount).map { k -> String in
            if let names = classNames, k < names.count { return String(names[k].prefix(10)) }
            return String(k)
        }
        var widths = headers.map { max($0.count, 1) }
        for h in histograms { for k in 0..<classCount { widths[k] = max(widths[k], String(h[k]).count) } }
        let clientWidth = max(6, String(clientCount - 1).count)
        let sizeWidth = max(4, String(sizes.max() ?? 0).count)
        func pad(_ text: String, _ width: Int) -> String {
            String(repeating: " ", count: max(width - text.count, 0)) + text
        }
        var lines: [String] = []
        lines.append("partition \(scheme), seed \(seed): \(clientCount) clients, \(assignedCount) of \(labels.count) samples assigned")
        let header = pad("client", clientWidth) + " | " + pad("n", sizeWidth) + " | "
            + headers.enumerated().map { pad($1, widths[$0]) }.joined(separator: " ")
        lines.append(header)
        lines.append(String(repeating: "-", count: header.count))
        for (client, h) in histograms.enumerated() {
            lines.append(pad(String(client), clientWidth) + " | " + pad(String(h.reduce(0, +)), sizeWidth) + " | "
                + h.enumerated().map { pad(String($1), widths[$0]) }.joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }
}

extension ImageDataset {
    /// Partitions this data set over `clients` federated clients.
    public func partition(clients: Int, scheme: PartitionScheme, seed: UInt64) throws -> FederatedPartition {
        try FederatedPartition.make(labels: labels, classCount: classCount, clients: clients, scheme: scheme, seed: seed)
    }

    /// The data set of each client of `partition`.
    public func clientDatasets(_ partition: FederatedPartition) throws -> [ImageDataset] {
        try partition.clientIndices.enumerated().map { client, indices in
            var subset = try self.subset(indices)
            subset.name = "\(name)[client \(client)]"
            return subset
        }
    }
}
