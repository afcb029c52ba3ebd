import XCTest
@testable import OutpostSafetensors

final class HalfPrecisionTests: XCTestCase {
    /// The value of a finite half bit pattern, computed independently in Double.
    private func halfValue(_ bits: UInt16) -> Double {
        let sign: Double = bits & 0x8000 == 0 ? 1 : -1
        let exponent = Int(bits >> 10) & 0x1F
        let mantissa = Double(bits & 0x3FF)
        if exponent == 0 { return sign * mantissa * 0x1p-24 }
        return sign * (1 + mantissa / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
    }

    /// Collects failures in bulk loops so they stay fast; reports the first few.
    private struct Failures {
        var messages: [String] = []
        var count = 0
        mutating func check(_ condition: Bool, _ message: @autoclosure () -> String) {
            if !condition {
                count += 1
                if messages.count < 10 { messages.append(message()) }
            }
        }
        func assertNone(file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertEqual(count, 0, "\(count) failures, first: \(messages)", file: file, line: line)
        }
    }

    func testEveryHalfPatternDecodesExactly() {
        var failures = Failures()
        for raw in 0...UInt16.max {
            let value = HalfPrecision.float(fromFloat16Bits: raw)
            failures.check(value.sign == (raw & 0x8000 == 0 ? .plus : .minus), "sign of \(raw)")
            let exponent = (raw >> 10) & 0x1F
            if exponent == 0x1F {
                if raw & 0x3FF == 0 {
                    failures.check(value.isInfinite, "\(raw) should be infinite")
                } else {
                    failures.check(value.isNaN, "\(raw) should be NaN")
                }
                continue
            }
            failures.check(Double(value) == halfValue(raw), "pattern \(raw) decoded to \(value)")
            // Decoding then encoding gives the same pattern (exact round trip).
            failures.check(HalfPrecision.float16Bits(from: value) == raw, "round trip of \(raw)")
        }
        failures.assertNone()
    }

    /// Rounding to nearest, ties to even, checked around every half value: the
    /// midpoint to the next half goes to the even one, a hair either side goes to the nearer.
    func testFloatToHalfRoundsToNearestEven() {
        var failures = Failures()
        for raw in UInt16(0)..<0x7C00 {
            let low = halfValue(raw)
            let high = raw == 0x7BFF ? 65536.0 : halfValue(raw + 1)  // above the largest finite: "next" is 2^16
            let midpoint = Float((low + high) / 2)  // exact: halves have 11 significant bits
            failures.check(Double(midpoint) == (low + high) / 2, "midpoint above \(raw) not exact")
            let upper: UInt16 = raw == 0x7BFF ? 0x7C00 : raw + 1
            let even = raw & 1 == 0 ? raw : upper
            failures.check(HalfPrecision.float16Bits(from: midpoint) == even, "tie above \(raw)")
            failures.check(HalfPrecision.float16Bits(from: midpoint.nextDown) == raw, "below tie above \(raw)")
            failures.check(HalfPrecision.float16Bits(from: midpoint.nextUp) == upper, "above tie above \(raw)")
            failures.check(HalfPrecision.float16Bits(from: -midpoint) == even | 0x8000, "negative tie above \(raw)")
        }
        failures.assertNone()
    }

    func testHalfSpecialValues() {
        XCTAssertEqual(HalfPrecision.float16Bits(from: .infinity), 0x7C00)
        XCTAssertEqual(HalfPrecision.float16Bits(from: -.infinity), 0xFC00)
        XCTAssertEqual(HalfPrecision.float16Bits(from: .nan), 0x7E00)
        XCTAssertEqual(HalfPrecision.float16Bits(from: -Float.nan), 0xFE00)
        XCTAssertEqual(HalfPrecision.float16Bits(from: .signalingNaN), 0x7E00)
        XCTAssertEqual(HalfPrecision.float16Bits(from: .greatestFiniteMagnitude), 0x7C00)
        XCTAssertEqual(HalfPrecision.float16Bits(from: -0.0), 0x8000)
        XCTAssertEqual(HalfPrecision.float16Bits(from: .leastNonzeroMagnitude), 0x0000)
        XCTAssertEqual(HalfPrecision.float16Bits(from: -.leastNormalMagnitude), 0x8000)
        XCTAssertEqual(HalfPrecision.float16Bits(from: 0x1p-25), 0x0000)  // tie with zero goes to zero
        XCTAssertEqual(HalfPrecision.float16Bits(from: Float(0x1p-25).nextUp), 0x0001)
        XCTAssertEqual(HalfPrecision.float16Bits(from: 65519), 0x7BFF)
        XCTAssertEqual(HalfPrecision.float16Bits(from: 65520), 0x7C00)
        XCTAssertEqual(HalfPrecision.float(fromFloat16Bits: 0x7E01).bitPattern, 0x7FC0_2000)
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    /// Agrees with the platform's `Float16` conversion on many pseudo-random floats.
    func testAgreesWithPlatformFloat16() {
        var failures = Failures()
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<200_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let bits = UInt32(truncatingIfNeeded: state >> 32)
            // Concentrate on the half range: exponents 127-30 ... 127+17.
            let exponent = UInt32(97 + (bits >> 8) % 48)
            let value = Float(bitPattern: (bits & 0x8000_0000) | exponent << 23 | (bits & 0x007F_FFFF))
            failures.check(HalfPrecision.float16Bits(from: value) == Float16(value).bitPattern, "\(value)")
        }
        failures.assertNone()
    }
    #endif

    func testBFloat16DecodeAndRounding() {
        var failures = Failures()
        for raw in 0...UInt16.max {
            let value = HalfPrecision.float(fromBFloat16Bits: raw)
            failures.check(value.bitPattern == UInt32(raw) << 16, "decoding \(raw)")
            if !value.isNaN {
                failures.check(HalfPrecision.bfloat16Bits(from: value) == raw, "round trip of \(raw)")
            }
        }
        failures.assertNone()
        // Ties to even on the 16 dropped bits; just above a tie rounds up.
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: Float(bitPattern: 0x3F80_8000)), 0x3F80)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: Float(bitPattern: 0x3F81_8000)), 0x3F82)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: Float(bitPattern: 0x3F80_8001)), 0x3F81)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: Float(bitPattern: 0x3F80_7FFF)), 0x3F80)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: Float(bitPattern: 0xBF80_8001)), 0xBF81)
        // Past the largest finite bfloat16 rounds to infinity.
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: .greatestFiniteMagnitude), 0x7F80)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: -.greatestFiniteMagnitude), 0xFF80)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: Float(bitPattern: 0x7F7F_7FFF)), 0x7F7F)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: .infinity), 0x7F80)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: .nan), 0x7FC0)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: -Float.nan), 0xFFC0)
        // A NaN whose payload lives only in the dropped bits stays NaN.
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: Float(bitPattern: 0x7F80_0001)), 0x7FC0)
        // Subnormals round like everything else.
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: Float(bitPattern: 0x0000_8000)), 0x0000)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: Float(bitPattern: 0x0001_8000)), 0x0002)
    }
}
