/// Bit-exact conversions between `Float` and the 16-bit formats IEEE 754 half
/// precision (`F16`) and bfloat16 (`BF16`).
///
/// Implemented on bit patterns so they behave the same on every platform
/// (Swift's `Float16` is not available everywhere).
public enum HalfPrecision {
    /// Converts IEEE 754 half-precision bits to `Float`, exactly: every half
    /// value (subnormals, signed zeros, infinities) is representable as a
    /// `Float`; a NaN keeps its sign and payload (shifted into the high mantissa bits).
    public static func float(fromFloat16Bits bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x03FF)
        if exponent == 0 {
            // Zero or subnormal: mantissa × 2^-24, exact in Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return Float(bitPattern: sign | magnitude.bitPattern)
        }
        if exponent == 0x1F {
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }

    /// Converts a `Float` to IEEE 754 half-precision bits with round to
    /// nearest, ties to even (as PyTorch's `tensor.to(torch.float16)`):
    /// magnitudes from 65520 up become infinity, tiny values become subnormals
    /// or signed zero, and NaN becomes the quiet NaN `0x7E00` with the input's sign.
    public static func float16Bits(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let biasedExponent = Int((bits >> 23) & 0xFF)
        let mantissa = bits & 0x007F_FFFF
        if biasedExponent == 0xFF {
            return sign | (mantissa != 0 ? 0x7E00 : 0x7C00)
        }
        let exponent = biasedExponent - 127
        if exponent > 15 {
            return sign | 0x7C00
        }
        if exponent >= -14 {
            // Normal half: keep 10 mantissa bits, round on the 13 dropped ones.
            // A carry out of the mantissa correctly bumps the exponent (up to infinity).
            var result = UInt32(exponent + 15) << 10 | (mantissa >> 13)
            let dropped = mantissa & 0x1FFF
            if dropped > 0x1000 || (dropped == 0x1000 && result & 1 == 1) {
                result += 1
            }
            return sign | UInt16(result)
        }
        if exponent < -25 {
            // Below half the smallest subnormal (2^-25): rounds to zero.
            return sign
        }
        // Subnormal half: the value is significand × 2^(exponent - 23) and the
        // half subnormal unit is 2^-24, so shift right by -(exponent + 1) (14...24 bits).
        let significand = mantissa | 0x0080_0000
        let shift = UInt32(-(exponent + 1))
        var result = significand >> shift
        let dropped = significand & ((1 << shift) - 1)
        let halfway: UInt32 = 1 << (shift - 1)
        if dropped > halfway || (dropped == halfway && result & 1 == 1) {
            result += 1
        }
        return sign | UInt16(result)
    }

    /// Converts bfloat16 bits to `Float`, exactly (they are the upper half of the `Float` bits).
    public static func float(fromBFloat16Bits bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Converts a `Float` to bfloat16 bits with round to nearest, ties to even
    /// (values rounding past the largest finite bfloat16 become infinity);
    /// NaN becomes the quiet NaN `0x7FC0` with the input's sign.
    public static func bfloat16Bits(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN {
            return UInt16((bits >> 16) & 0x8000) | 0x7FC0
        }
        let lowestKeptBit = (bits >> 16) & 1
        // Cannot overflow UInt32: the largest non-NaN pattern is 0xFF80_0000.
        let rounded = bits + 0x7FFF + lowestKeptBit
        return UInt16(rounded >> 16)
    }
}
