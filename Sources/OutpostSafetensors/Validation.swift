/// A tensor a model expects to find in a file.
public struct ExpectedTensor: Sendable, Equatable {
    /// The key, e.g. `conv1.weight`.
    public var name: String
    /// The required shape.
    public var shape: [Int]
    /// The required dtype class, or `nil` to accept any dtype.
    public var kind: SafetensorsDType.Kind?

    /// Describes an expected tensor; by default it must be floating point.
    public init(_ name: String, shape: [Int], kind: SafetensorsDType.Kind? = .floatingPoint) {
        self.name = name
        self.shape = shape
        self.kind = kind
    }
}

/// Selects keys to leave out of validation (in both directions: not reported
/// as missing, not reported as unexpected, not checked).
public enum KeyPattern: Sendable, Equatable, Hashable {
    /// The key itself.
    case exact(String)
    /// Keys beginning with the string.
    case prefix(String)
    /// Keys whose last dot-separated component is the string (`bn1.num_batches_tracked` for `num_batches_tracked`).
    case lastComponent(String)

    /// BatchNorm's `num_batches_tracked` counters, which inference does not need.
    public static let batchNormCounters = KeyPattern.lastComponent("num_batches_tracked")

    /// Whether `key` is selected.
    public func matches(_ key: String) -> Bool {
        switch self {
        case let .exact(name): return key == name
        case let .prefix(start): return key.hasPrefix(start)
        case let .lastComponent(component): return key == component || key.hasSuffix("." + component)
        }
    }
}

/// One way in which a file differs from what a model expects.
public enum ValidationProblem: Sendable, Equatable, CustomStringConvertible {
    /// An expected key is not in the file.
    case missingKey(key: String, expectedShape: [Int])
    /// The file has a key that is not expected.
    case unexpectedKey(key: String, shape: [Int], dtype: SafetensorsDType)
    /// The key is present with another shape.
    case shapeMismatch(key: String, expected: [Int], actual: [Int])
    /// The key is present with a dtype of the wrong class (e.g. an integer weight).
    case dtypeKindMismatch(key: String, expected: SafetensorsDType.Kind, actual: SafetensorsDType)

    /// The key concerned.
    public var key: String {
        switch self {
        case let .missingKey(key, _), let .unexpectedKey(key, _, _),
             let .shapeMismatch(key, _, _), let .dtypeKindMismatch(key, _, _):
            return key
        }
    }

    /// A sentence naming the key and what was expected, e.g.
    /// `shape mismatch for 'fc.weight': expected [10, 32], found [10, 64]`.
    public var description: String {
        switch self {
        case let .missingKey(key, expectedShape):
            return "missing key '\(key)' (expected shape \(expectedShape))"
        case let .unexpectedKey(key, shape, dtype):
            return "unexpected key '\(key)' (shape \(shape), \(dtype))"
        case let .shapeMismatch(key, expected, actual):
            return "shape mismatch for '\(key)': expected \(expected), found \(actual)"
        case let .dtypeKindMismatch(key, expected, actual):
            return "dtype mismatch for '\(key)': expected \(expected), found \(actual) (\(actual.kind))"
        }
    }
}

extension SafetensorsFile {
    /// Compares the file with the tensors a model expects and returns every
    /// problem: for each expected tensor (in the given order) a missing key,
    /// shape mismatch or dtype class mismatch; then each unexpected key in file
    /// order. Keys matching any of `ignoring` are skipped entirely. An empty
    /// result means the file fits.
    public func validate(against expected: [ExpectedTensor], ignoring: [KeyPattern] = []) -> [ValidationProblem] {
        func ignored(_ key: String) -> Bool { ignoring.contains { $0.matches(key) } }
        var problems: [ValidationProblem] = []
        var expectedNames = Set<String>()
        for tensor in expected where !ignored(tensor.name) {
            guard expectedNames.insert(tensor.name).inserted else { continue }
            guard let entry = self[tensor.name] else {
                problems.append(.missingKey(key: tensor.name, expectedShape: tensor.shape))
                continue
            }
            if entry.shape != tensor.shape {
                problems.append(.shapeMismatch(key: tensor.name, expected: tensor.shape, actual: entry.shape))
            }
            if let kind = tensor.kind, entry.dtype.kind != kind {
                problems.append(.dtypeKindMismatch(key: tensor.name, expected: kind, actual: entry.dtype))
            }
        }
        for entry in entries where !expectedNames.contains(entry.name) && !ignored(entry.name) {
            problems.append(.unexpectedKey(key: entry.name, shape: entry.shape, dtype: entry.dtype))
        }
        return problems
    }

    /// ``validate(against:ignoring:)`` for `(name, shape)` pairs, each expected to be floating point.
    public func validate(against expected: [(name: String, shape: [Int])],
                         ignoring: [KeyPattern] = []) -> [ValidationProblem] {
        validate(against: expected.map { ExpectedTensor($0.name, shape: $0.shape) }, ignoring: ignoring)
    }

    /// Throws if the file does not fit the expected tensors.
    /// - Throws: ``SafetensorsError/validationFailed(file:problems:)`` listing every problem.
    public func requireConformance(to expected: [ExpectedTensor], ignoring: [KeyPattern] = []) throws(SafetensorsError) {
        let problems = validate(against: expected, ignoring: ignoring)
        if !problems.isEmpty { throw .validationFailed(file: source, problems: problems) }
    }
}
