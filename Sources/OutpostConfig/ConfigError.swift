/// A configuration problem, found before any work starts: where it is, what was expected,
/// and the closest valid key when a key is misspelled.
public struct ConfigError: Error, Equatable, CustomStringConvertible, Sendable {
    /// Dotted key path, e.g. `training.learning_rate`.
    public let path: String
    public let message: String
    /// A valid key close to an unknown one.
    public let suggestion: String?

    public init(path: String, message: String, suggestion: String? = nil) {
        self.path = path
        self.message = message
        self.suggestion = suggestion
    }

    public var description: String {
        (path.isEmpty ? "" : "\(path): ") + message + (suggestion.map { " (did you mean '\($0)'?)" } ?? "")
    }
}

/// Several configuration problems reported together.
public struct ConfigErrors: Error, CustomStringConvertible, Sendable {
    public let errors: [ConfigError]
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

enum EditDistance {
    /// Levenshtein distance.
    static func between(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased()), b = Array(b.lowercased())
        if a.isEmpty { return b.count }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var previous = row[0]
            row[0] = i
            for j in 1...max(b.count, 1) where j <= b.count {
                let temp = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = temp
            }
        }
        return row[b.count]
    }

    /// The closest candidate within a distance that scales with the word's length.
    static func closest(to word: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, between(word, $0)) }.min { $0.1 < $1.1 }
        guard let (best, d) = scored, d <= max(2, word.count / 3) else { return nil }
        return best
    }
}
