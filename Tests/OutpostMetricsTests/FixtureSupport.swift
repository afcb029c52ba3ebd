import Foundation
import XCTest
@testable import OutpostMetrics

/// One image pair of Fixtures/ssim_cases.json with scikit-image's reference values
/// (written by scripts/fixtures/metrics/make_ssim_fixtures.py).
struct FixtureCase {
    /// Expected SSIM: a value, or scikit-image raised ValueError.
    enum Expected: Equatable {
        case value(Double)
        case error
    }

    struct Brightness {
        let ssim: Double
        let gain: Double
        let offset: Double
    }

    let name: String
    let truth: Image
    let reconstruction: Image
    let mse: Double
    let psnr: Double
    let ssim: Expected
    let ssimByWindow: [Int: Expected]
    let brightnessWindow: Int
    let brightnessAdditive: Brightness?
    let brightnessAdditiveGain: Brightness?
}

enum Fixtures {
    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    /// All cases, loaded once.
    static let cases: Result<[FixtureCase], Error> = Result { try load() }

    static func allCases() throws -> [FixtureCase] { try cases.get() }

    static func named(_ name: String) throws -> FixtureCase {
        guard let found = try allCases().first(where: { $0.name == name }) else {
            throw LoadError(description: "no fixture case named \(name)")
        }
        return found
    }

    private static func url(_ name: String, _ ext: String) throws -> URL {
        guard let url = Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures") else {
            throw LoadError(description: "missing fixture Fixtures/\(name).\(ext)")
        }
        return url
    }

    private static func load() throws -> [FixtureCase] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url("ssim_cases", "json")))
        guard let root = json as? [String: Any], let cases = root["cases"] as? [[String: Any]],
              let pixelCount = root["pixel_count"] as? Int else {
            throw LoadError(description: "ssim_cases.json: unexpected layout")
        }
        let blob = try Data(contentsOf: url("ssim_pixels", "bin"))
        guard blob.count == pixelCount * 4 else {
            throw LoadError(description: "ssim_pixels.bin has \(blob.count) bytes, expected \(pixelCount * 4)")
        }
        let floats: [Float] = blob.withUnsafeBytes { raw in
            (0..<pixelCount).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        return try cases.map { c in
            func int(_ key: String) throws -> Int {
                guard let v = c[key] as? Int else { throw LoadError(description: "case field \(key) missing") }
                return v
            }
            func number(_ any: Any?, _ what: String) throws -> Double {
                if let s = any as? String, s == "inf" { return .infinity }
                guard let v = any as? Double else { throw LoadError(description: "\(what): not a number") }
                return v
            }
            func expected(_ any: Any?, _ what: String) throws -> FixtureCase.Expected {
                if let s = any as? String, s == "error" { return .error }
                return .value(try number(any, what))
            }
            func brightness(_ key: String) throws -> FixtureCase.Brightness? {
                guard let b = c[key] as? [String: Any] else { return nil }
                return FixtureCase.Brightness(
                    ssim: try number(b["ssim"], key), gain: try number(b["gain"], key),
                    offset: try number(b["offset"], key))
            }
            let channels = try int("channels"), height = try int("height"), width = try int("width")
            let n = channels * height * width
            func image(_ key: String) throws -> Image {
                let start = try int(key)
                return try Image(channels: channels, height: height, width: width,
                                 pixels: Array(floats[start..<(start + n)]))
            }
            var byWindow = [Int: FixtureCase.Expected]()
            for (k, v) in (c["ssim_window"] as? [String: Any]) ?? [:] {
                guard let w = Int(k) else { throw LoadError(description: "bad window key \(k)") }
                byWindow[w] = try expected(v, "ssim_window[\(k)]")
            }
            return FixtureCase(
                name: c["name"] as? String ?? "?", truth: try image("offset_a"), reconstruction: try image("offset_b"),
                mse: try number(c["mse"], "mse"), psnr: try number(c["psnr"], "psnr"),
                ssim: try expected(c["ssim"], "ssim"), ssimByWindow: byWindow,
                brightnessWindow: (c["brightness_window"] as? Int) ?? 11,
                brightnessAdditive: try brightness("brightness_additive"),
                brightnessAdditiveGain: try brightness("brightness_additive_gain"))
        }
    }
}

/// A small deterministic random generator (SplitMix64) so tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A random image with pixels uniform in [0, 1].
func randomImage(channels: Int, height: Int, width: Int, using rng: inout SeededGenerator) -> Image {
    let pixels = (0..<(channels * height * width)).map { _ in Double.random(in: 0...1, using: &rng) }
    return try! Image(channels: channels, height: height, width: width, pixels: pixels)
}

/// Asserts that `body` throws a ``MetricsError`` matching `matches`, and that its message
/// contains every string of `mentions`.
func assertMetricsError<T>(
    _ body: @autoclosure () throws -> T, mentions: [String] = [], file: StaticString = #filePath, line: UInt = #line,
    _ matches: (MetricsError) -> Bool
) {
    do {
        _ = try body()
        XCTFail("expected a MetricsError, nothing was thrown", file: file, line: line)
    } catch let error as MetricsError {
        XCTAssertTrue(matches(error), "unexpected error case: \(error)", file: file, line: line)
        for text in mentions {
            XCTAssertTrue(error.description.contains(text), "message \"\(error)\" lacks \"\(text)\"", file: file, line: line)
        }
    } catch {
        XCTFail("expected a MetricsError, got \(error)", file: file, line: line)
    }
}
