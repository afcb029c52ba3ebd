/// A small, strict JSON reader and writer for safetensors headers.
///
/// Foundation's JSON parser silently drops duplicate object keys and does not
/// keep key order; the header rules need both, so the header is parsed here.
/// The reader follows RFC 8259 (no comments, no trailing commas, no leading
/// zeros, no lone surrogates, no raw control characters in strings), limits
/// nesting depth so hostile input cannot exhaust the stack, and keeps number
/// literals as text so integers of any size can be range-checked exactly.
indirect enum JSONValue {
    /// Members in document order; duplicates are kept so the caller can reject them.
    case object([JSONMember])
    case array([JSONValue])
    case string(String)
    /// The literal text of a number, already checked against the JSON grammar.
    case number(String)
    case bool(Bool)
    case null

    /// A short name of the value's JSON type, for error messages.
    var typeName: String {
        switch self {
        case .object: return "object"
        case .array: return "array"
        case .string: return "string"
        case .number: return "number"
        case .bool: return "boolean"
        case .null: return "null"
        }
    }
}

/// One `"key": value` member of a JSON object.
struct JSONMember {
    var key: String
    var value: JSONValue
}

/// A JSON syntax error at a byte offset of the parsed text.
struct JSONSyntaxError: Error, Equatable {
    var offset: Int
    var message: String
}

/// Parses one JSON document from UTF-8 bytes. Leading and trailing JSON
/// whitespace (space, tab, line feed, carriage return) is allowed, so headers
/// padded with spaces parse.
struct JSONReader {
    private let bytes: [UInt8]
    private var position = 0
    private let maximumDepth: Int

    init(bytes: [UInt8], maximumDepth: Int = 64) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    /// Parses `bytes` as exactly one JSON value surrounded by optional whitespace.
    static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        var reader = JSONReader(bytes: bytes)
        reader.skipWhitespace()
        let value = try reader.parseValue(depth: 0)
        reader.skipWhitespace()
        if reader.position != reader.bytes.count {
            throw reader.error("unexpected trailing characters after the JSON value")
        }
        return value
    }

    private func error(_ message: String) -> JSONSyntaxError {
        JSONSyntaxError(offset: position, message: message)
    }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
            position += 1
        }
    }

    private mutating func expect(_ literal: String) throws(JSONSyntaxError) {
        for byte in literal.utf8 {
            guard current == byte else { throw error("invalid literal, expected '\(literal)'") }
            position += 1
        }
    }

    private mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard let byte = current else { throw error("unexpected end of input, expected a value") }
        switch byte {
        case UInt8(ascii: "{"):
            return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["):
            return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try expect("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expect("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expect("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try parseNumber())
        default:
            throw error("unexpected character, expected a value")
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        if depth > maximumDepth { throw error("nesting deeper than \(maximumDepth) levels") }
        position += 1  // {
        var members: [JSONMember] = []
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':' after an object key") }
            position += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            members.append(JSONMember(key: key, value: value))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                position += 1
            case UInt8(ascii: "}"):
                position += 1
                return .object(members)
            case nil:
                throw error("unexpected end of input inside an object")
            default:
                throw error("expected ',' or '}' in an object")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        if depth > maximumDepth { throw error("nesting deeper than \(maximumDepth) levels") }
        position += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                position += 1
            case UInt8(ascii: "]"):
                position += 1
                return .array(elements)
            case nil:
                throw error("unexpected end of input inside an array")
            default:
                throw error("expected ',' or ']' in an array")
            }
        }
    }

    private mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current else { throw error("unexpected end of input in a \\u escape") }
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("invalid hexadecimal digit in a \\u escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    private mutating func parseString() throws(JSONSyntaxError) -> String {
        position += 1  // opening quote
        var output: [UInt8] = []
        while true {
            guard let byte = current else { throw error("unexpected end of input inside a string") }
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return String(decoding: output, as: UTF8.self)
            case UInt8(ascii: "\\"):
                position += 1
                guard let escape = current else { throw error("unexpected end of input in an escape") }
                position += 1
                switch escape {
                case UInt8(ascii: "\""): output.append(0x22)
                case UInt8(ascii: "\\"): output.append(0x5C)
                case UInt8(ascii: "/"): output.append(0x2F)
                case UInt8(ascii: "b"): output.append(0x08)
                case UInt8(ascii: "f"): output.append(0x0C)
                case UInt8(ascii: "n"): output.append(0x0A)
                case UInt8(ascii: "r"): output.append(0x0D)
                case UInt8(ascii: "t"): output.append(0x09)
                case UInt8(ascii: "u"):
                    var scalarValue = try parseHex4()
                    if (0xD800...0xDBFF).contains(scalarValue) {
                        guard current == UInt8(ascii: "\\"),
                              position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u")
                        else { throw error("unpaired high surrogate in a \\u escape") }
                        position += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else {
                            throw error("high surrogate not followed by a low surrogate")
                        }
                        scalarValue = 0x10000 + ((scalarValue - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalarValue) {
                        throw error("unpaired low surrogate in a \\u escape")
                    }
                    guard let scalar = Unicode.Scalar(scalarValue) else {
                        throw error("invalid Unicode scalar in a \\u escape")
                    }
                    output.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    position -= 1
                    throw error("invalid escape character")
                }
            case 0x00..<0x20:
                throw error("unescaped control character in a string")
            default:
                // The whole header was validated as UTF-8 before parsing, so
                // multi-byte sequences can be copied byte by byte.
                output.append(byte)
                position += 1
            }
        }
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> String {
        let start = position
        func isDigit(_ byte: UInt8?) -> Bool {
            guard let byte else { return false }
            return byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
        }
        if current == UInt8(ascii: "-") { position += 1 }
        if current == UInt8(ascii: "0") {
            position += 1
            if isDigit(current) { throw error("leading zeros are not allowed in numbers") }
        } else if isDigit(current) {
            while isDigit(current) { position += 1 }
        } else {
            throw error("expected a digit")
        }
        if current == UInt8(ascii: ".") {
            position += 1
            guard isDigit(current) else { throw error("expected a digit after the decimal point") }
            while isDigit(current) { position += 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard isDigit(current) else { throw error("expected a digit in the exponent") }
            while isDigit(current) { position += 1 }
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }
}

/// How a JSON number literal fails to be a non-negative `Int`.
enum JSONIntegerProblem: Error, Equatable {
    case negative
    case notAnInteger
    case tooLarge
}

/// Converts a JSON number literal to a non-negative `Int`, exactly as the
/// reference implementation (serde_json into `usize`) accepts it: only plain
/// digit strings; `1.0` and `1e0` are not integers.
func nonNegativeInt(fromJSONNumber literal: String) -> Result<Int, JSONIntegerProblem> {
    let utf8 = Array(literal.utf8)
    if utf8.first == UInt8(ascii: "-") {
        // Any minus sign is rejected ("-0" included, which serde_json reads as a float).
        let rest = utf8.dropFirst()
        return rest.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
            ? .failure(.negative) : .failure(.notAnInteger)
    }
    var value = 0
    for byte in utf8 {
        guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return .failure(.notAnInteger) }
        let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
        let (sum, overflow2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
        if overflow1 || overflow2 { return .failure(.tooLarge) }
        value = sum
    }
    return .success(value)
}

/// Writes JSON text the way serde_json does (compact, no spaces), so that
/// headers are byte-identical to those of the reference writer.
enum JSONWriter {
    /// Appends `string` as a JSON string literal with serde_json's escaping:
    /// `"` `\` and the control characters are escaped (`\b \f \n \r \t` by
    /// name, others as `\u00xx`); everything else, non-ASCII included, is written as UTF-8.
    static func appendString(_ string: String, to output: inout [UInt8]) {
        let hexDigits = Array("0123456789abcdef".utf8)
        output.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case 0x22: output.append(contentsOf: [0x5C, 0x22])
            case 0x5C: output.append(contentsOf: [0x5C, 0x5C])
            case 0x08: output.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: output.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x00..<0x20:
                output.append(contentsOf: Array("\\u00".utf8))
                output.append(hexDigits[Int(byte >> 4)])
                output.append(hexDigits[Int(byte & 0x0F)])
            default:
                output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }

    /// Appends the decimal digits of `value`.
    static func appendInt(_ value: Int, to output: inout [UInt8]) {
        output.append(contentsOf: Array(String(value).utf8))
    }
}
