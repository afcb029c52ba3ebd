import Foundation
import OutpostData

/// PNG images for the results database: a batch of images as one row, ready to store in
/// ``TrialRecord/reconstructionPNG`` or ``CellRecord/groundTruthPNG``.
public enum ResultsImage {
    /// Encodes `images` side by side as one PNG (white background, `margin` pixels around and
    /// between images, each upscaled by `scale` with nearest neighbour). RGB when any image is RGB.
    ///
    /// - Throws: ``OutpostData/DataError`` when `images` is empty or encoding fails.
    public static func pngRow(_ images: [PixelImage], scale: Int = 1, margin: Int = 2) throws -> Data {
        var grid = ImageGrid(scale: scale, margin: margin)
        grid.addRow(images)
        return Data(try ImageCodec.encodePNG(grid.render()))
    }

    /// A `data:` URI for PNG bytes, for embedding in HTML.
    public static func dataURI(png: Data) -> String {
        "data:image/png;base64," + png.base64EncodedString()
    }

    /// The width and height in pixels of PNG bytes (read from the IHDR chunk), or nil when the
    /// bytes are not a PNG.
    public static func pngSize(_ png: Data) -> (width: Int, height: Int)? {
        let bytes = [UInt8](png.prefix(24))
        guard bytes.count == 24, bytes[0..<8].elementsEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
              bytes[12..<16].elementsEqual(Array("IHDR".utf8)) else { return nil }
        func be32(_ i: Int) -> Int { bytes[i..<i + 4].reduce(0) { $0 << 8 | Int($1) } }
        return (be32(16), be32(20))
    }
}
