import CJPEGSafe
import CPNG
import Foundation

/// One image as floats in [0, 1], stored C×H×W (planar), the same layout as
/// ``ImageDataset/images``.
public struct PixelImage: Sendable, Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// 1 (grayscale) or 3 (RGB).
    public let channels: Int
    /// Pixels, C×H×W, in [0, 1].
    public var pixels: [Float]

    /// Creates an image; `pixels.count` must be `channels * height * width`,
    /// with 1 or 3 channels and a positive size.
    public init(width: Int, height: Int, channels: Int, pixels: [Float]) throws {
        guard width > 0, height > 0, channels == 1 || channels == 3 else {
            throw DataError.invalidArgument("image must be 1 or 3 channels of positive size, got \(channels)×\(height)×\(width)")
        }
        guard pixels.count == width * height * channels else {
            throw DataError.invalidArgument("\(pixels.count) pixel values for a \(channels)×\(height)×\(width) image")
        }
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// An image filled with `value`.
    public init(width: Int, height: Int, channels: Int, filledWith value: Float) throws {
        try self.init(width: width, height: height, channels: channels,
                      pixels: [Float](repeating: value, count: max(width * height * channels, 0)))
    }

    /// Creates an image from interleaved 8-bit pixels (H×W×C, as stored by PNG and JPEG).
    public init(width: Int, height: Int, channels: Int, interleaved: [UInt8]) throws {
        guard interleaved.count == width * height * channels else {
            throw DataError.invalidArgument("\(interleaved.count) bytes for a \(height)×\(width)×\(channels) image")
        }
        let unit = FileIO.unitFloats(interleaved)
        var planar = [Float](repeating: 0, count: unit.count)
        let plane = width * height
        for p in 0..<plane {
            for c in 0..<channels { planar[c * plane + p] = unit[p * channels + c] }
        }
        try self.init(width: width, height: height, channels: channels, pixels: planar)
    }

    /// The pixels as interleaved 8-bit values (H×W×C), clamped and rounded.
    public func interleavedBytes() -> [UInt8] {
        let bytes = FileIO.bytes(fromUnit: pixels)
        if channels == 1 { return bytes }
        var out = [UInt8](repeating: 0, count: bytes.count)
        let plane = width * height
        for p in 0..<plane {
            for c in 0..<channels { out[p * channels + c] = bytes[c * plane + p] }
        }
        return out
    }

    /// This image converted to `channels` channels: grayscale is replicated to RGB;
    /// RGB becomes grayscale with the ITU-R BT.601 luma weights (0.299, 0.587, 0.114).
    public func converted(toChannels target: Int) throws -> PixelImage {
        if target == channels { return self }
        let plane = width * height
        switch (channels, target) {
        case (1, 3):
            return try PixelImage(width: width, height: height, channels: 3, pixels: pixels + pixels + pixels)
        case (3, 1):
            var gray = [Float](repeating: 0, count: plane)
            for p in 0..<plane {
                gray[p] = 0.299 * pixels[p] + 0.587 * pixels[plane + p] + 0.114 * pixels[2 * plane + p]
            }
            return try PixelImage(width: width, height: height, channels: 1, pixels: gray)
        default:
            throw DataError.invalidArgument("cannot convert \(channels) channels to \(target)")
        }
    }

    /// Nearest-neighbour upscaling by an integer factor.
    public func upscaled(by factor: Int) throws -> PixelImage {
        guard factor >= 1 else { throw DataError.invalidArgument("upscale factor must be at least 1, got \(factor)") }
        if factor == 1 { return self }
        let w = width * factor, h = height * factor
        var out = [Float](repeating: 0, count: channels * w * h)
        for c in 0..<channels {
            for y in 0..<h {
                let sourceRow = c * width * height + (y / factor) * width
                let targetRow = c * w * h + y * w
                for x in 0..<w { out[targetRow + x] = pixels[sourceRow + x / factor] }
            }
        }
        return try PixelImage(width: w, height: h, channels: channels, pixels: out)
    }
}

/// PNG and JPEG decoding and PNG encoding.
///
/// PNG goes through libpng's simplified API (`png_image_*`), which reports errors
/// in `png_image.message` without unwinding through Swift; JPEG goes through the
/// `CJPEGSafe` C helper, which keeps libjpeg's setjmp/longjmp error recovery in C.
public enum ImageCodec {
    /// Largest accepted image (in pixels, 2^25 ≈ 33.5 million) — protects against
    /// absurd sizes in corrupt headers.
    public static let maximumPixels = 1 << 25

    /// The file types the codec can decode.
    public enum Format: String, Sendable {
        /// PNG (signature 89 50 4E 47 0D 0A 1A 0A).
        case png
        /// JPEG / JFIF (SOI marker FF D8 FF).
        case jpeg
    }

    /// The format of `bytes` judged by its signature, or `nil`.
    public static func sniff(_ bytes: [UInt8]) -> Format? {
        if bytes.count >= 8 && bytes[0..<8].elementsEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) { return .png }
        if bytes.count >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff { return .jpeg }
        return nil
    }

    /// Reads and decodes a PNG or JPEG file (the format is detected from its signature).
    public static func read(_ path: String) throws -> PixelImage {
        try decode(FileIO.read(path), path: path)
    }

    /// Decodes PNG or JPEG bytes. `path` is only used in error messages.
    /// Grayscale sources give 1 channel, everything else 3 (RGB); alpha is
    /// composited onto black.
    public static func decode(_ bytes: [UInt8], path: String = "<memory>") throws -> PixelImage {
        switch sniff(bytes) {
        case .png: return try decodePNG(bytes, path: path)
        case .jpeg: return try decodeJPEG(bytes, path: path)
        case nil:
            throw DataError.badMagic(path: path, expected: "PNG (89 50 4e 47) or JPEG (ff d8 ff) signature",
                                     found: Compression.hexPrefix(bytes, 8))
        }
    }

    /// Decodes a PNG with libpng's simplified API. Palette and sub-8-bit files are
    /// expanded; 8-bit files with a gAMA/sRGB chunk are converted to sRGB by libpng;
    /// 16-bit files keep their full precision (see the note in the implementation);
    /// alpha is composited onto black.
    public static func decodePNG(_ bytes: [UInt8], path: String = "<memory>") throws -> PixelImage {
        guard sniff(bytes) == .png else {
            throw DataError.badMagic(path: path, expected: "PNG signature 89 50 4e 47 0d 0a 1a 0a",
                                     found: Compression.hexPrefix(bytes, 8))
        }
        let image = makePNGImage()
        defer { releasePNGImage(image) }
        let began = bytes.withUnsafeBytes { raw in
            png_image_begin_read_from_memory(image, raw.baseAddress, raw.count)
        }
        guard began != 0 else {
            throw DataError.imageDecodeFailed(path: path, reason: pngMessage(image))
        }
        let width = Int(image.pointee.width), height = Int(image.pointee.height)
        let color = (image.pointee.format & png_uint_32(PNG_FORMAT_FLAG_COLOR)) != 0
        let channels = color ? 3 : 1
        guard width > 0, height > 0, width * height <= maximumPixels else {
            throw DataError.sizeMismatch(path: path, record: nil, expected: "at most \(maximumPixels) pixels",
                                         found: "\(width)×\(height)")
        }
        // 16-bit files: the simplified API treats them as linear light, so they are
        // read as 16-bit linear (values unchanged when the file carries no gamma
        // information) instead of being gamma-encoded down to 8-bit sRGB.
        let sixteenBit = (image.pointee.format & png_uint_32(PNG_FORMAT_FLAG_LINEAR)) != 0
        image.pointee.format = (color ? png_uint_32(PNG_FORMAT_FLAG_COLOR) : 0)
            | (sixteenBit ? png_uint_32(PNG_FORMAT_FLAG_LINEAR) : 0)
        let stride = png_int_32(width * channels)
        let interleaved: [Float]
        if sixteenBit {
            var buffer = [UInt16](repeating: 0, count: width * height * channels)
            let finished = buffer.withUnsafeMutableBytes { raw in
                png_image_finish_read(image, nil, raw.baseAddress, stride, nil)
            }
            guard finished != 0 else {
                throw DataError.imageDecodeFailed(path: path, reason: pngMessage(image))
            }
            interleaved = buffer.map { Float($0) / 65535 }
        } else {
            var buffer = [UInt8](repeating: 0, count: width * height * channels)
            let finished = buffer.withUnsafeMutableBytes { raw in
                png_image_finish_read(image, nil, raw.baseAddress, stride, nil)
            }
            guard finished != 0 else {
                throw DataError.imageDecodeFailed(path: path, reason: pngMessage(image))
            }
            return try PixelImage(width: width, height: height, channels: channels, interleaved: buffer)
        }
        let plane = width * height
        var planar = [Float](repeating: 0, count: interleaved.count)
        for p in 0..<plane {
            for c in 0..<channels { planar[c * plane + p] = interleaved[p * channels + c] }
        }
        return try PixelImage(width: width, height: height, channels: channels, pixels: planar)
    }

    /// Decodes a JPEG through the CJPEGSafe helper. Corrupt or truncated data
    /// (including what libjpeg would only warn about) is an error.
    public static func decodeJPEG(_ bytes: [UInt8], path: String = "<memory>") throws -> PixelImage {
        guard sniff(bytes) == .jpeg else {
            throw DataError.badMagic(path: path, expected: "JPEG SOI ff d8 ff", found: Compression.hexPrefix(bytes, 3))
        }
        var message = [CChar](repeating: 0, count: 256)
        var width: Int32 = 0, height: Int32 = 0, components: Int32 = 0
        let headerStatus = bytes.withUnsafeBufferPointer { input in
            message.withUnsafeMutableBufferPointer { text in
                outpost_jpeg_read_header(input.baseAddress, input.count, &width, &height, &components,
                                         text.baseAddress, text.count)
            }
        }
        guard headerStatus == 0 else {
            throw DataError.imageDecodeFailed(path: path, reason: cString(message))
        }
        let w = Int(width), h = Int(height), c = Int(components)
        guard w > 0, h > 0, w * h <= maximumPixels, c == 1 || c == 3 else {
            throw DataError.sizeMismatch(path: path, record: nil, expected: "1 or 3 components, at most \(maximumPixels) pixels",
                                         found: "\(w)×\(h)×\(c)")
        }
        var buffer = [UInt8](repeating: 0, count: w * h * c)
        let status = bytes.withUnsafeBufferPointer { input in
            buffer.withUnsafeMutableBufferPointer { output in
                message.withUnsafeMutableBufferPointer { text in
                    outpost_jpeg_decode(input.baseAddress, input.count, output.baseAddress, output.count,
                                        text.baseAddress, text.count)
                }
            }
        }
        guard status == 0 else {
            throw DataError.imageDecodeFailed(path: path, reason: cString(message))
        }
        return try PixelImage(width: w, height: h, channels: c, interleaved: buffer)
    }

    /// Encodes an image as an 8-bit grayscale or RGB PNG.
    public static func encodePNG(_ picture: PixelImage) throws -> [UInt8] {
        let image = makePNGImage()
        defer { releasePNGImage(image) }
        image.pointee.width = png_uint_32(picture.width)
        image.pointee.height = png_uint_32(picture.height)
        image.pointee.format = picture.channels == 3 ? png_uint_32(PNG_FORMAT_FLAG_COLOR) : 0
        let pixels = picture.interleavedBytes()
        let stride = png_int_32(picture.width * picture.channels)
        var size: png_alloc_size_t = 0
        // First pass measures, second pass writes.
        let measured = pixels.withUnsafeBytes { raw in
            png_image_write_to_memory(image, nil, &size, 0, raw.baseAddress, stride, nil)
        }
        guard measured != 0, size > 0 else {
            throw DataError.imageEncodeFailed(path: "<memory>", reason: pngMessage(image))
        }
        var output = [UInt8](repeating: 0, count: Int(size))
        var written = size
        let ok = output.withUnsafeMutableBytes { out in
            pixels.withUnsafeBytes { raw in
                png_image_write_to_memory(image, out.baseAddress, &written, 0, raw.baseAddress, stride, nil)
            }
        }
        guard ok != 0 else {
            throw DataError.imageEncodeFailed(path: "<memory>", reason: pngMessage(image))
        }
        if Int(written) < output.count { output.removeSubrange(Int(written)...) }
        return output
    }

    /// Writes an image as an 8-bit PNG file (parent folders are created).
    public static func writePNG(_ picture: PixelImage, to path: String) throws {
        let bytes: [UInt8]
        do {
            bytes = try encodePNG(picture)
        } catch DataError.imageEncodeFailed(_, let reason) {
            throw DataError.imageEncodeFailed(path: path, reason: reason)
        }
        try FileIO.write(bytes, to: path)
    }

    /// A zeroed `png_image` on the heap (the simplified API requires zero
    /// initialisation apart from `version`).
    private static func makePNGImage() -> UnsafeMutablePointer<png_image> {
        let image = UnsafeMutablePointer<png_image>.allocate(capacity: 1)
        UnsafeMutableRawPointer(image).initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<png_image>.size)
        image.pointee.version = png_uint_32(PNG_IMAGE_VERSION)
        return image
    }

    private static func releasePNGImage(_ image: UnsafeMutablePointer<png_image>) {
        png_image_free(image)
        image.deallocate()
    }

    private static func pngMessage(_ image: UnsafeMutablePointer<png_image>) -> String {
        let text = withUnsafeBytes(of: &image.pointee.message) { raw -> String in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
        return text.isEmpty ? "libpng error" : text
    }

    private static func cString(_ buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.isEmpty ? "libjpeg error" : text
    }
}
