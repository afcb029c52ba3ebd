import Foundation
import Yams

/// A configuration document as a tree, independent of the YAML library: mappings keep
/// their key order so error messages and saved configs read like the file.
public indirect enum ConfigValue: Equatable, Sendable, CustomStringConvertible {
    case scalar(String)
    case sequence([ConfigValue])
    case mapping([(key: String, value: ConfigValue)])
    case null

    public static func == (a: ConfigValue, b: ConfigValue) -> Bool {
        switch (a, b) {
        case let (.scalar(x), .scalar(y)): return x == y
        case let (.sequence(x), .sequence(y)): return x == y
        case let (.mapping(x), .mapping(y)): return x.map(\.key) == y.map(\.key) && x.map(\.value) == y.map(\.value)
        case (.null, .null): return true
        default: return false
        }
    }

    /// Parses YAML text.
    public static func parse(yaml: String, source: String = "<config>") throws -> ConfigValue {
        let node: Node?
        do { node = try Yams.compose(yaml: yaml) } catch {
            throw ConfigError(path: "", message: "\(source) is not valid YAML: \(error)")
        }
        guard let node else { return .mapping([]) }
        return try convert(node, path: "")
    }

    private static func convert(_ node: Node, path: String) throws -> ConfigValue {
        switch node {
        case .scalar(let s):
            return s.tag.description == "tag:yaml.org,2002:null" || (s.string == "~" || s.string == "null") && s.style == .plain ? .null : .scalar(s.string)
        case .sequence(let seq):
            return .sequence(try seq.enumerated().map { try convert($0.element, path: "\(path)[\($0.offset)]") })
        case .mapping(let map):
            var pairs: [(key: String, value: ConfigValue)] = []
            for (k, v) in map {
                guard case .scalar(let key) = k else { throw ConfigError(path: path, message: "mapping keys must be plain names") }
                let child = ConfigPath.join(path, key.string)
                if pairs.contains(where: { $0.key == key.string }) { throw ConfigError(path: child, message: "key appears twice") }
                pairs.append((key.string, try convert(v, path: child)))
            }
            return .mapping(pairs)
        case .alias:
            throw ConfigError(path: path, message: "YAML aliases are not supported in configurations")
        }
    }

    /// YAML text for this value (used to save the configuration a run actually used).
    public func yaml(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent)
        switch self {
        case .scalar(let s): return Self.quoteIfNeeded(s)
        case .null: return "null"
        case .sequence(let items):
            if items.allSatisfy({ if case .scalar = $0 { return true }; return false }) {
                return "[" + items.map { $0.yaml() }.joined(separator: ", ") + "]"
            }
            return items.map { "\n\(pad)- " + $0.yaml(indent: indent + 1).trimmingLeadingNewline() }.joined()
        case .mapping(let pairs):
            if pairs.isEmpty { return "{}" }
            return pairs.map { pair -> String in
                switch pair.value {
                case .mapping(let m) where !m.isEmpty: return "\n\(pad)\(pair.key):" + pair.value.yaml(indent: indent + 1)
                case .sequence(let s) where !s.allSatisfy({ if case .scalar = $0 { return true }; return false }):
                    return "\n\(pad)\(pair.key):" + pair.value.yaml(indent: indent + 1)
                default: return "\n\(pad)\(pair.key): " + pair.value.yaml(indent: indent + 1)
                }
            }.joined()
        }
    }

    public var description: String { yaml().trimmingLeadingNewline() }

    static func quoteIfNeeded(_ s: String) -> String {
        let plain = !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || "._-/+".contains($0) }
        return plain ? s : "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// The value at a dotted path, if present.
    public func value(at path: [String]) -> ConfigValue? {
        guard let first = path.first else { return self }
        guard case .mapping(let pairs) = self, let child = pairs.first(where: { $0.key == first })?.value else { return nil }
        return child.value(at: Array(path.dropFirst()))
    }

    /// A copy with `newValue` at a dotted path, creating mappings on the way.
    public func setting(_ path: [String], to newValue: ConfigValue) throws -> ConfigValue {
        guard let first = path.first else { return newValue }
        var pairs: [(key: String, value: ConfigValue)]
        switch self {
        case .mapping(let p): pairs = p
        case .null: pairs = []
        default: throw ConfigError(path: first, message: "cannot set a key inside a value that is not a section")
        }
        if let i = pairs.firstIndex(where: { $0.key == first }) {
            pairs[i].value = try pairs[i].value.setting(Array(path.dropFirst()), to: newValue)
        } else {
            pairs.append((first, try ConfigValue.null.setting(Array(path.dropFirst()), to: newValue)))
        }
        return .mapping(pairs)
    }

    /// Applies `key.path=value` overrides (the value is parsed as YAML, so `lr=[0.1, 0.01]`
    /// makes a grid axis and `name=outpost` a string).
    public func applying(overrides: [String]) throws -> ConfigValue {
        var result = self
        for o in overrides {
            guard let eq = o.firstIndex(of: "="), eq != o.startIndex else {
                throw ConfigError(path: "", message: "override '\(o)' is not of the form key.path=value")
            }
            let path = o[..<eq].split(separator: ".").map(String.init)
            guard !path.isEmpty, path.allSatisfy({ !$0.isEmpty }) else { throw ConfigError(path: "", message: "override '\(o)' has an empty key") }
            let value = try ConfigValue.parse(yaml: String(o[o.index(after: eq)...]), source: "override '\(o)'")
            result = try result.setting(path, to: value == .mapping([]) ? .scalar("") : value)
        }
        return result
    }
}

extension ConfigValue {
    /// JSON for this value, with scalars typed the way YAML reads them (numbers, booleans,
    /// null, otherwise strings), for decoders that validate their own keys.
    public func jsonData() throws -> Data {
        try JSONSerialization.data(withJSONObject: jsonObject(), options: [.fragmentsAllowed, .sortedKeys])
    }

    func jsonObject() -> Any {
        switch self {
        case .null: return NSNull()
        case .scalar(let s):
            if let i = Int(s) { return i }
            if let d = Double(s), d.isFinite { return d }
            switch s.lowercased() {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            default: return s
            }
        case .sequence(let items): return items.map { $0.jsonObject() }
        case .mapping(let pairs): return Dictionary(pairs.map { ($0.key, $0.value.jsonObject()) }, uniquingKeysWith: { a, _ in a })
        }
    }
}

extension String {
    func trimmingLeadingNewline() -> String { hasPrefix("\n") ? String(dropFirst()) : self }
}

enum ConfigPath {
    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}
