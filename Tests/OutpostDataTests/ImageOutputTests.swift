import Foundation
import XCTest
import OutpostData

final class ImageOutputTests: XCTestCase {
    private func quantized(_ count: Int, seed: UInt64) -> [Float] {
        TestSupport.bytes(count, seed: seed).map { Float($0) / 255 }
    }

    func testPNGRoundTripGrayAndRGB() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        for channels in [1, 3] {
            let image = try PixelImage(width: 37, height: 23, channels: channels, pixels: quantized(37 * 23 * channels, seed: UInt64(channels)))
            let path = TestSupport.join(directory, "nested", "image\(channels).png")
            try ImageCodec.writePNG(image, to: path)
            let bytes = try TestSupport.read(path)
            XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            // IHDR: width, height, bit depth 8, colour type 0 (gray) or 2 (RGB).
            XCTAssertEqual(Array(bytes[16..<24]), [0, 0, 0, 37, 0, 0, 0, 23])
            XCTAssertEqual(bytes[24], 8)
            XCTAssertEqual(bytes[25], channels == 1 ? 0 : 2)
            let decoded = try ImageCodec.read(path)
            XCTAssertEqual(decoded, image)
        }
        // Values outside [0, 1] and NaN are clamped when written.
        let wild = try PixelImage(width: 3, height: 1, channels: 1, pixels: [-1, .nan, 7])
        XCTAssertEqual(try ImageCodec.decode(ImageCodec.encodePNG(wild)).pixels, [0, 0, 1])
    }

    func testPNGVariantsWrittenByOtherTools() throws {
        // Fixtures written by Pillow 11 (palette, LA, RGBA) or by hand with zlib
        // (16-bit and 1-bit grayscale); expected values are what Pillow decodes,
        // except alpha, which is composited onto black here (transparent → 0).
        func decode(_ base64: String) throws -> PixelImage {
            guard let data = Data(base64Encoded: base64) else { throw DataError.invalidArgument("bad base64 fixture") }
            return try ImageCodec.decode([UInt8](data))
        }
        func bytes(_ image: PixelImage) -> [Int] { image.pixels.map { Int(($0 * 255).rounded()) } }
        let palette = try decode("iVBORw0KGgoAAAANSUhEUgAAAAQAAAACAgMAAAACxpXwAAAADFBMVEX/AAAA/wAAAP/IZDKtRH4/AAAADElEQVR4nGOQZmIAAABZAB7YfVN3AAAAAElFTkSuQmCC")
        XCTAssertEqual(palette.channels, 3)
        // Planar: R plane of the 4×2 image, then G, then B; each row is red, green, blue, (200,100,50).
        XCTAssertEqual(bytes(palette), [255, 0, 0, 200, 255, 0, 0, 200,
                                        0, 255, 0, 100, 0, 255, 0, 100,
                                        0, 0, 255, 50, 0, 0, 255, 50])
        let grayAlpha = try decode("iVBORw0KGgoAAAANSUhEUgAAAAMAAAABCAQAAACx6dw/AAAAD0lEQVR4nGM48T+Fges/AAxVAzVSQbWBAAAAAElFTkSuQmCC")
        XCTAssertEqual(grayAlpha.channels, 1)
        XCTAssertEqual(bytes(grayAlpha), [200, 0, 10])
        let rgba = try decode("iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAYAAAD0In+KAAAAEUlEQVR4nGPkEpH7H2CjwQgACOIB8i8tgbAAAAAASUVORK5CYII=")
        XCTAssertEqual(bytes(rgba), [10, 0, 20, 0, 30, 0])
        let gray16 = try decode("iVBORw0KGgoAAAANSUhEUgAAAAMAAAABEAAAAABuG5crAAAAD0lEQVR4nGNgYGho+P8fAAaEAv9GYN62AAAAAElFTkSuQmCC")
        XCTAssertEqual(gray16.pixels[1], Float(0x8080) / 65535, accuracy: 1e-6)
        XCTAssertEqual(bytes(gray16), [0, 128, 255])
        let gray1 = try decode("iVBORw0KGgoAAAANSUhEUgAAAAgAAAABAQAAAADLe9LuAAAACklEQVR4nGPYBAAAtACzJBi3ogAAAABJRU5ErkJggg==")
        XCTAssertEqual(bytes(gray1), [255, 0, 255, 255, 0, 0, 255, 0])
    }

    func testPixelImageConversions() throws {
        let image = try PixelImage(width: 2, height: 1, channels: 3, interleaved: [255, 0, 0, 0, 0, 255])
        XCTAssertEqual(image.pixels, [1, 0, 0, 0, 0, 1])
        XCTAssertEqual(image.interleavedBytes(), [255, 0, 0, 0, 0, 255])
        let gray = try image.converted(toChannels: 1)
        XCTAssertEqual(gray.pixels[0], 0.299, accuracy: 1e-6)
        XCTAssertEqual(gray.pixels[1], 0.114, accuracy: 1e-6)
        XCTAssertEqual(try gray.converted(toChannels: 3).pixels.count, 6)
        let big = try image.upscaled(by: 3)
        XCTAssertEqual(big.width, 6)
        XCTAssertEqual(big.height, 3)
        // Red plane: the left 3×3 block is 1, the right block 0.
        XCTAssertEqual(Array(big.pixels[0..<6]), [1, 1, 1, 0, 0, 0])
        XCTAssertEqual(Array(big.pixels[12..<18]), [1, 1, 1, 0, 0, 0])
        XCTAssertThrowsError(try PixelImage(width: 2, height: 2, channels: 2, pixels: [Float](repeating: 0, count: 8)))
        XCTAssertThrowsError(try PixelImage(width: 2, height: 2, channels: 1, pixels: [0]))
    }

    func testBitmapFont() throws {
        XCTAssertEqual(BitmapFont.width(of: "abc"), 17)
        XCTAssertEqual(BitmapFont.width(of: "abc", scale: 2), 34)
        XCTAssertEqual(BitmapFont.width(of: ""), 0)
        // '1': the middle column is fully set, the first column is empty.
        XCTAssertEqual((0..<7).map { BitmapFont.isSet("1", column: 2, row: $0) }, [Bool](repeating: true, count: 7))
        XCTAssertEqual((0..<7).filter { BitmapFont.isSet("1", column: 0, row: $0) }, [])
        // '-': only the middle row.
        XCTAssertEqual((0..<7).filter { BitmapFont.isSet("-", column: 0, row: $0) }, [3])
        // Every digit and letter has a visible, distinct glyph.
        let characters = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        let glyphs = characters.map { ch in (0..<5).flatMap { c in (0..<7).map { BitmapFont.isSet(ch, column: c, row: $0) } } }
        XCTAssertEqual(Set(glyphs.map { $0.description }).count, characters.count)
        XCTAssertTrue(glyphs.allSatisfy { $0.contains(true) })
        // Non-ASCII falls back to '?'.
        XCTAssertFalse(BitmapFont.hasGlyph("é"))
        XCTAssertEqual(BitmapFont.isSet("é", column: 1, row: 0), BitmapFont.isSet("?", column: 1, row: 0))
        var canvas = try PixelImage(width: 12, height: 9, channels: 1, filledWith: 1)
        BitmapFont.draw("7", into: &canvas, x: 1, y: 1, scale: 1, value: 0)
        // '7' has its top row set across the glyph.
        XCTAssertEqual((1...5).map { canvas.pixels[1 * 12 + $0] }, [0, 0, 0, 0, 0])
        XCTAssertEqual(canvas.pixels[0], 1)
    }

    func testImageGridLayout() throws {
        // Values on the 8-bit grid (0, 64/255, 128/255) so a PNG round trip is exact.
        let truth = try (0..<3).map { i in try PixelImage(width: 4, height: 4, channels: 1, filledWith: Float(64 * i) / 255) }
        let reconstruction = try (0..<3).map { _ in try PixelImage(width: 4, height: 4, channels: 1, filledWith: 0.5) }
        var grid = ImageGrid(scale: 3, margin: 2, fontScale: 1, background: 1)
        grid.addRow(truth, labels: ["7", "2", "1"], title: "GT")
        grid.addRow(reconstruction, labels: ["7", "2"], title: "DLG")
        let image = try grid.render()
        // Cell: 12 wide (image 4×3 = 12 ≥ label width 5); 12 + 1 + 7 tall (image, label gap, text).
        // Width = margin + title band (width("DLG") 17 + margin 2) + 3 × (12 + 2) = 2 + 19 + 42.
        XCTAssertEqual(image.width, 63)
        XCTAssertEqual(image.height, 2 + 2 * (20 + 2))
        XCTAssertEqual(image.channels, 1)
        // First image of row 0 (value 0) starts at x = 21, y = 2; the second (64/255) at x = 35.
        XCTAssertEqual(image.pixels[2 * 63 + 21], 0)
        XCTAssertEqual(image.pixels[13 * 63 + 32], 0)
        XCTAssertEqual(image.pixels[2 * 63 + 35], 64 / 255)
        XCTAssertEqual(image.pixels[2 * 63 + 20], 1, "margin stays background")
        // Row 1 images (0.5) start at y = 2 + 22.
        XCTAssertEqual(image.pixels[24 * 63 + 21], 0.5)
        // The label band under the first image contains ink, the band under the missing third label does not.
        let labelRows = 15..<22
        let inkFirst = labelRows.contains { y in (21..<33).contains { image.pixels[y * 63 + $0] == 0 } }
        XCTAssertTrue(inkFirst)
        let thirdLabelBand = (37..<44).flatMap { y in (49..<61).map { image.pixels[y * 63 + $0] } }
        XCTAssertTrue(thirdLabelBand.allSatisfy { $0 == 1 })
        // Title ink left of the row.
        XCTAssertTrue((2..<14).contains { y in (2..<19).contains { image.pixels[y * 63 + $0] == 0 } })

        // RGB if any image is RGB; written as a PNG that decodes to the same pixels.
        var colour = ImageGrid(scale: 1, margin: 1)
        colour.addRow([try PixelImage(width: 2, height: 2, channels: 3, pixels: quantized(12, seed: 9)), truth[1]])
        let rendered = try colour.render()
        XCTAssertEqual(rendered.channels, 3)
        let path = TestSupport.join(try TestSupport.temporaryDirectory(self), "grid.png")
        try colour.writePNG(to: path)
        XCTAssertEqual(try ImageCodec.read(path), rendered)
        XCTAssertThrowsError(try ImageGrid().render())
    }

    func testGridOfRealDigitsUpscaled() throws {
        let sample = try SampleData.load("mnist")
        var grid = ImageGrid(scale: 2, margin: 4)
        let indices = Array(0..<8)
        let images = try indices.map { try sample.pixelImage(at: $0) }
        grid.addRow(images, labels: indices.map { sample.className(of: sample.labels[$0]) }, title: "truth")
        let noisy = images.map { image -> PixelImage in
            var copy = image
            copy.pixels = copy.pixels.map { 1 - $0 }
            return copy
        }
        grid.addRow(noisy, labels: indices.map { "#\($0)" }, title: "inverted")
        let rendered = try grid.render()
        XCTAssertEqual(rendered.width, 4 + (BitmapFont.width(of: "inverted") + 4) + 8 * (56 + 4))
        // The first digit's pixel (14, 14) appears upscaled at its position in the grid.
        let digit = images[0]
        let x0 = 4 + BitmapFont.width(of: "inverted") + 4
        XCTAssertEqual(rendered.pixels[(4 + 28) * rendered.width + x0 + 28], digit.pixels[14 * 28 + 14])
    }

    func testAugmentationCropAndFlip() throws {
        let count = 6, channels = 3, side = 8
        let images = quantized(count * channels * side * side, seed: 21)
        var rng = SeededGenerator(seed: 5)
        XCTAssertEqual(try Augmentation(padding: 0, horizontalFlip: false).apply(to: images, channels: channels, height: side,
                                                                                 width: side, rng: &rng), images)
        var first = SeededGenerator(seed: 99), second = SeededGenerator(seed: 99)
        let augmentation = Augmentation(padding: 2, horizontalFlip: true)
        let out = try augmentation.apply(to: images, channels: channels, height: side, width: side, rng: &first)
        XCTAssertEqual(try augmentation.apply(to: images, channels: channels, height: side, width: side, rng: &second), out)
        // Each output must equal the input shifted by some (dx, dy) in -2...2 with zero fill,
        // optionally mirrored. Search all 50 possibilities.
        let size = channels * side * side
        var transformsSeen = Set<String>()
        for n in 0..<count {
            let source = Array(images[(n * size)..<((n + 1) * size)])
            let target = Array(out[(n * size)..<((n + 1) * size)])
            var match: String?
            for flip in [false, true] {
                for dy in -2...2 {
                    for dx in -2...2 {
                        var candidate = [Float](repeating: 0, count: size)
                        for c in 0..<channels {
                            for y in 0..<side {
                                for x in 0..<side {
                                    let sy = y + dy, cx = x + dx
                                    guard sy >= 0, sy < side, cx >= 0, cx < side else { continue }
                                    let sx = flip ? side - 1 - cx : cx
                                    candidate[c * 64 + y * side + x] = source[c * 64 + sy * side + sx]
                                }
                            }
                        }
                        if candidate == target { match = "\(flip) \(dx) \(dy)" }
                    }
                }
            }
            XCTAssertNotNil(match, "image \(n) is not a padded crop / flip of its source")
            if let match { transformsSeen.insert(match) }
        }
        XCTAssertGreaterThan(transformsSeen.count, 1, "different images should get different crops")
        let batch = try Batch(images: images, labels: [0, 1, 2, 3, 4, 5], channels: channels, height: side, width: side)
        var third = SeededGenerator(seed: 99)
        XCTAssertEqual(try augmentation.apply(to: batch, rng: &third).images, out)
        XCTAssertThrowsError(try augmentation.apply(to: [1, 2, 3], channels: 1, height: 2, width: 2, rng: &third))
    }
}
