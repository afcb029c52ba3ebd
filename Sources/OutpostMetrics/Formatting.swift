import Foundation

/// `value` with `digits` decimals; `"inf"`, `"-inf"` or `"nan"` for non-finite values.
func formatFixed(_ value: Double, digits: Int) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value > 0 ? "inf" : "-inf" }
    let text = String(format: "%.\(max(0, digits))f", value)
    // Avoid "-0.00": a value that rounds to zero prints without a sign.
    if text.hasPrefix("-"), text.dropFirst().allSatisfy({ $0 == "0" || $0 == "." }) {
        return String(text.dropFirst())
    }
    return text
}
