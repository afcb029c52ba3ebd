/// Typed, path-aware reading of one section of a configuration.
///
/// Every accessor names the key it reads; values of the wrong type or out of range are
/// errors naming the key path and what was expected; keys nobody read are errors with the
/// closest valid key (`finish()`). A list where one value is expected is a grid axis: the
/// configuration expands into one run per combination (see ``ConfigGrid``).
public final class ConfigSection {
    public let path: String
    private let pairs: [(key: String, value: ConfigValue)]
    private var read: [String] = []
    private let grid: ConfigGrid.Recorder?

    init(path: String, value: ConfigValue, grid: ConfigGrid.Recorder?) throws {
        self.path = path
        self.grid = grid
        switch value {
        case .mapping(let p): pairs = p
        case .null: pairs = []
        default: throw ConfigError(path: path, message: "expected a section (key: value pairs), got \(value.kindName)")
        }
    }

    /// A root section over a whole document, without grid expansion.
    public convenience init(_ document: ConfigValue) throws {
        try self.init(path: "", value: document, grid: nil)
    }

    private func child(_ key: String) -> String { ConfigPath.join(path, key) }

    /// Whether the key is present (and marks it read).
    public func has(_ key: String) -> Bool {
        read.append(key)
        return pairs.contains { $0.key == key }
    }

    /// Whether the key is present, without marking it read: for keys that must not be given,
    /// so an error about another key does not list them as valid.
    public func contains(_ key: String) -> Bool {
        pairs.contains { $0.key == key }
    }

    /// The raw value of a key, marking it read.
    public func raw(_ key: String) -> ConfigValue? {
        read.append(key)
        return pairs.first { $0.key == key }?.value
    }

    /// The scalar text of a key; a list becomes a grid axis when expansion is on.
    private func scalar(_ key: String, expected: String) throws -> String? {
        guard let v = raw(key) else { return nil }
        switch v {
        case .scalar(let s): return s
        case .null: return nil
        case .sequence(let items) where grid != nil:
            guard !items.isEmpty, items.allSatisfy({ if case .scalar = $0 { return true }; return false }) else {
                throw ConfigError(path: child(key), message: "expected \(expected) or a list of them for a grid, got \(v.kindName)")
            }
            grid!.axis(path: child(key), values: items)
            if case .scalar(let s) = items[0] { return s }
            return nil
        default:
            throw ConfigError(path: child(key), message: "expected \(expected), got \(v.kindName)")
        }
    }

    public func string(_ key: String, default fallback: String? = nil) throws -> String {
        guard let s = try scalar(key, expected: "a string") else {
            if let fallback { return fallback }
            throw ConfigError(path: child(key), message: "is required (a string)")
        }
        return s
    }

    public func optionalString(_ key: String) throws -> String? { try scalar(key, expected: "a string") }

    /// One of fixed names; a near miss gets a suggestion.
    public func choice(_ key: String, among options: [String], default fallback: String? = nil) throws -> String {
        let s = try string(key, default: fallback)
        guard options.contains(s) else {
            throw ConfigError(path: child(key), message: "'\(s)' is not one of \(options.joined(separator: ", "))",
                              suggestion: EditDistance.closest(to: s, in: options))
        }
        return s
    }

    public func double(_ key: String, default fallback: Double? = nil, range: ClosedRange<Double>? = nil,
                       exclusiveMinimum: Double? = nil) throws -> Double {
        guard let s = try scalar(key, expected: "a number") else {
            if let fallback { return fallback }
            throw ConfigError(path: child(key), message: "is required (a number)")
        }
        guard let v = Double(s), v.isFinite else { throw ConfigError(path: child(key), message: "expected a number, got '\(s)'") }
        if let range, !range.contains(v) { throw ConfigError(path: child(key), message: "must be in [\(range.lowerBound), \(range.upperBound)], got \(s)") }
        if let m = exclusiveMinimum, v <= m { throw ConfigError(path: child(key), message: "must be greater than \(m), got \(s)") }
        return v
    }

    public func optionalDouble(_ key: String, range: ClosedRange<Double>? = nil) throws -> Double? {
        guard pairs.contains(where: { $0.key == key }), raw(key) != .null else { read.append(key); return nil }
        return try double(key, range: range)
    }

    public func int(_ key: String, default fallback: Int? = nil, range: ClosedRange<Int>? = nil) throws -> Int {
        guard let s = try scalar(key, expected: "an integer") else {
            if let fallback { return fallback }
            throw ConfigError(path: child(key), message: "is required (an integer)")
        }
        guard let v = Int(s) else { throw ConfigError(path: child(key), message: "expected an integer, got '\(s)'") }
        if let range, !range.contains(v) {
            let upper = range.upperBound == Int.max ? "∞" : "\(range.upperBound)"
            throw ConfigError(path: child(key), message: "must be in [\(range.lowerBound), \(upper)], got \(v)")
        }
        return v
    }

    public func optionalInt(_ key: String, range: ClosedRange<Int>? = nil) throws -> Int? {
        guard pairs.contains(where: { $0.key == key }), raw(key) != .null else { read.append(key); return nil }
        return try int(key, range: range)
    }

    public func bool(_ key: String, default fallback: Bool? = nil) throws -> Bool {
        guard let s = try scalar(key, expected: "true or false") else {
            if let fallback { return fallback }
            throw ConfigError(path: child(key), message: "is required (true or false)")
        }
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw ConfigError(path: child(key), message: "expected true or false, got '\(s)'")
        }
    }

    /// A list of integers (a list here is data, never a grid axis).
    public func intList(_ key: String, default fallback: [Int]? = nil) throws -> [Int] {
        guard let v = raw(key), v != .null else {
            if let fallback { return fallback }
            throw ConfigError(path: child(key), message: "is required (a list of integers)")
        }
        let items: [ConfigValue]
        switch v {
        case .sequence(let s): items = s
        case .scalar: items = [v]
        default: throw ConfigError(path: child(key), message: "expected a list of integers, got \(v.kindName)")
        }
        return try items.enumerated().map { i, item in
            guard case .scalar(let s) = item, let n = Int(s) else {
                throw ConfigError(path: "\(child(key))[\(i)]", message: "expected an integer, got \(item)")
            }
            return n
        }
    }

    /// A list of strings (data, never a grid axis).
    public func stringList(_ key: String, default fallback: [String]? = nil, among options: [String]? = nil) throws -> [String] {
        guard let v = raw(key), v != .null else {
            if let fallback { return fallback }
            throw ConfigError(path: child(key), message: "is required (a list)")
        }
        let items: [ConfigValue]
        switch v {
        case .sequence(let s): items = s
        case .scalar: items = [v]
        default: throw ConfigError(path: child(key), message: "expected a list of names, got \(v.kindName)")
        }
        return try items.enumerated().map { i, item in
            guard case .scalar(let s) = item else { throw ConfigError(path: "\(child(key))[\(i)]", message: "expected a name, got \(item.kindName)") }
            if let options, !options.contains(s) {
                throw ConfigError(path: "\(child(key))[\(i)]", message: "'\(s)' is not one of \(options.joined(separator: ", "))",
                                  suggestion: EditDistance.closest(to: s, in: options))
            }
            return s
        }
    }

    /// A nested section (empty when absent).
    public func section(_ key: String) throws -> ConfigSection {
        try ConfigSection(path: child(key), value: raw(key) ?? .null, grid: grid)
    }

    /// A list of sections, e.g. several defenses; a single section counts as a list of one.
    public func sections(_ key: String) throws -> [ConfigSection] {
        guard let v = raw(key), v != .null else { return [] }
        switch v {
        case .sequence(let items):
            return try items.enumerated().map { try ConfigSection(path: "\(child(key))[\($0.offset)]", value: $0.element, grid: grid) }
        case .mapping: return [try ConfigSection(path: child(key), value: v, grid: grid)]
        default: throw ConfigError(path: child(key), message: "expected a section or a list of sections, got \(v.kindName)")
        }
    }

    /// The whole section as a value, every key marked read: for sections validated by
    /// another module's own decoder (see ``ConfigValue/jsonData()``).
    public func wholeSection() -> ConfigValue {
        read.append(contentsOf: pairs.map(\.key))
        return .mapping(pairs)
    }

    /// Fails on keys that were never read, each with the closest key that was.
    public func finish() throws {
        let known = Array(Set(read)).sorted()
        let unknown = pairs.map(\.key).filter { !read.contains($0) }
        guard !unknown.isEmpty else { return }
        let errors = unknown.map {
            ConfigError(path: child($0), message: "unknown key (valid keys here: \(known.joined(separator: ", ")))",
                        suggestion: EditDistance.closest(to: $0, in: known))
        }
        if errors.count == 1 { throw errors[0] }
        throw ConfigErrors(errors: errors)
    }
}

extension ConfigValue {
    var kindName: String {
        switch self {
        case .scalar(let s): return "'\(s)'"
        case .sequence: return "a list"
        case .mapping: return "a section"
        case .null: return "nothing"
        }
    }
}
