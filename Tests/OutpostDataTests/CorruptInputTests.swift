import Foundation
import XCTest
import OutpostData

/// Every reader must turn bad input into a `DataError` naming the file, the record
/// and what was expected — never a crash and never silently short data.
final class CorruptInputTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = try TestSupport.temporaryDirectory(self)
    }

    private func path(_ name: String) -> String { TestSupport.join(directory, name) }

    /// Ten 4×3 images and labels 0...9 as valid IDX files; returns (images path, labels path).
    private func writeValidIDX(gzip: Bool = false) throws -> (String, String) {
        let pixels = TestSupport.bytes(10 * 12, seed: 1)
        var images = TestSupport.idxImages(pixels, count: 10, rows: 4, columns: 3)
        var labels = TestSupport.idxLabels(Array(0..<10))
        if gzip {
            images = try Compression.gzip(images)
            labels = try Compression.gzip(labels)
        }
        try TestSupport.write(images, path("images"))
        try TestSupport.write(labels, path("labels"))
        return (path("images"), path("labels"))
    }

    private func loadIDX(_ images: String, _ labels: String, classCount: Int = 10) throws -> ImageDataset {
        try IDXReader.load(images: images, labels: labels, name: "fixture", classCount: classCount)
    }

    func testValidIDXFixtureLoads() throws {
        let (images, labels) = try writeValidIDX()
        let dataset = try loadIDX(images, labels)
        XCTAssertEqual(dataset.count, 10)
        XCTAssertEqual(dataset.imageShape, [1, 4, 3])
        XCTAssertEqual(dataset.images, TestSupport.bytes(120, seed: 1).map { Float($0) / 255 })
        let (gzImages, gzLabels) = try writeValidIDX(gzip: true)
        XCTAssertEqual(try loadIDX(gzImages, gzLabels).images, dataset.images)
    }

    func testTruncatedIDXImagesReportTheIncompleteRecord() throws {
        let (images, labels) = try writeValidIDX()
        var bytes = try TestSupport.read(images)
        bytes.removeLast(13)   // image 8 loses its last byte, image 9 is gone
        try TestSupport.write(bytes, images)
        let error = TestSupport.expectDataError(try self.loadIDX(images, labels)) {
            if case let .truncated(path, 8, 16 + 120, 16 + 107) = $0 { return path == images } else { return false }
        }
        XCTAssertTrue(error?.description.contains("record 8") ?? false)
        // Truncated inside the header.
        try TestSupport.write(Array(bytes.prefix(10)), images)
        TestSupport.expectDataError(try self.loadIDX(images, labels)) {
            if case .truncated(_, nil, 16, 10) = $0 { return true } else { return false }
        }
        try TestSupport.write([], images)
        TestSupport.expectDataError(try self.loadIDX(images, labels)) {
            if case .truncated(_, nil, 4, 0) = $0 { return true } else { return false }
        }
    }

    func testTrailingBytesAreRejected() throws {
        let (images, labels) = try writeValidIDX()
        try TestSupport.write(try TestSupport.read(labels) + [0], labels)
        TestSupport.expectDataError(try self.loadIDX(images, labels)) {
            if case .trailingData(labels, 18, 19) = $0 { return true } else { return false }
        }
    }

    func testWrongIDXMagicNumbers() throws {
        let (images, labels) = try writeValidIDX()
        // Label and image files swapped.
        TestSupport.expectDataError(try self.loadIDX(labels, images)) {
            if case let .badMagic(path, expected, found) = $0 {
                return path == images && expected.hasPrefix("00 00 08 01") && found == "00 00 08 03"
            }
            return false
        }
        // Not unsigned bytes (type 0x0D = float).
        var bytes = try TestSupport.read(images)
        bytes[2] = 0x0D
        try TestSupport.write(bytes, images)
        TestSupport.expectDataError(try self.loadIDX(images, labels)) {
            if case .badMagic(images, _, "00 00 0d 03") = $0 { return true } else { return false }
        }
    }

    func testLabelOutOfRangeAndCountMismatch() throws {
        let (images, labels) = try writeValidIDX()
        TestSupport.expectDataError(try self.loadIDX(images, labels, classCount: 9)) {
            if case .labelOutOfRange(labels, 9, 9, 9) = $0 { return true } else { return false }
        }
        try TestSupport.write(TestSupport.idxLabels([0, 1, 2]), labels)
        TestSupport.expectDataError(try self.loadIDX(images, labels)) {
            if case .countMismatch(labels, 10, 3) = $0 { return true } else { return false }
        }
    }

    func testCorruptAndTruncatedGzip() throws {
        let (images, labels) = try writeValidIDX(gzip: true)
        let good = try TestSupport.read(images)
        // Truncated stream.
        try TestSupport.write(Array(good.prefix(good.count - 20)), images)
        TestSupport.expectDataError(try self.loadIDX(images, labels)) {
            if case let .corruptCompressedData(path, reason) = $0 { return path == images && reason.contains("truncated") }
            return false
        }
        // Damaged deflate data: flip bits in the middle of the stream.
        var damaged = good
        for i in 12..<min(40, damaged.count - 8) { damaged[i] ^= 0x5A }
        try TestSupport.write(damaged, images)
        TestSupport.expectDataError(try self.loadIDX(images, labels)) {
            if case .corruptCompressedData(images, _) = $0 { return true } else { return false }
        }
        // Damaged CRC in the gzip trailer.
        var badCRC = good
        badCRC[badCRC.count - 6] ^= 0xFF
        try TestSupport.write(badCRC, images)
        TestSupport.expectDataError(try self.loadIDX(images, labels)) {
            if case .corruptCompressedData(images, _) = $0 { return true } else { return false }
        }
        // Only the magic number.
        try TestSupport.write([0x1f, 0x8b], images)
        TestSupport.expectDataError(try self.loadIDX(images, labels)) {
            if case .corruptCompressedData(images, _) = $0 { return true } else { return false }
        }
        // Two concatenated members are one valid stream.
        let raw = TestSupport.idxImages(TestSupport.bytes(120, seed: 1), count: 10, rows: 4, columns: 3)
        let split = try Compression.gzip(Array(raw.prefix(50))) + (try Compression.gzip(Array(raw.dropFirst(50))))
        XCTAssertEqual(try Compression.gunzip(split, path: "two-members"), raw)
    }

    func testCIFARTruncatedAndBadLabels() throws {
        let record = CIFARReader.encodeRecord(labels: [3], pixels: TestSupport.bytes(3072, seed: 2))
        try TestSupport.write(record + record + Array(record.prefix(1000)), path("batch.bin"))
        TestSupport.expectDataError(try CIFARReader.readCIFAR10([self.path("batch.bin")])) {
            if case .truncated(self.path("batch.bin"), 2, 3 * 3073, 2 * 3073 + 1000) = $0 { return true } else { return false }
        }
        var bad = record + record
        bad[3073] = 10
        try TestSupport.write(bad, path("batch.bin"))
        TestSupport.expectDataError(try CIFARReader.readCIFAR10([self.path("batch.bin")])) {
            if case .labelOutOfRange(self.path("batch.bin"), 1, 10, 10) = $0 { return true } else { return false }
        }
        // photos32-style data with 6 classes: label 6 is out of range.
        bad[3073] = 6
        try TestSupport.write(bad, path("batch.bin"))
        TestSupport.expectDataError(try CIFARReader.readCIFAR10([self.path("batch.bin")], classCount: 6)) {
            if case .labelOutOfRange(_, 1, 6, 6) = $0 { return true } else { return false }
        }
        // CIFAR-100: fine label 100 in record 0; a CIFAR-10 file read as CIFAR-100 is not whole records.
        let record100 = CIFARReader.encodeRecord(labels: [2, 100], pixels: TestSupport.bytes(3072, seed: 3))
        try TestSupport.write(record100, path("train.bin"))
        TestSupport.expectDataError(try CIFARReader.readCIFAR100([self.path("train.bin")])) {
            if case .labelOutOfRange(_, 0, 100, 100) = $0 { return true } else { return false }
        }
        try TestSupport.write(record + record, path("c10.bin"))
        TestSupport.expectDataError(try CIFARReader.readCIFAR100([self.path("c10.bin")])) {
            if case .truncated(_, 1, 2 * 3074, 2 * 3073) = $0 { return true } else { return false }
        }
        try TestSupport.write([], path("empty.bin"))
        TestSupport.expectDataError(try CIFARReader.readCIFAR10([self.path("empty.bin")])) {
            if case .truncated(_, 0, 3073, 0) = $0 { return true } else { return false }
        }
        TestSupport.expectDataError(try CIFARReader.readCIFAR10([self.path("missing.bin")])) {
            if case .fileNotFound = $0 { return true } else { return false }
        }
    }

    func testClassNameFileWithTheWrongCount() throws {
        let folder = path("photos32")
        let record = CIFARReader.encodeRecord(labels: [0], pixels: TestSupport.bytes(3072, seed: 4))
        try TestSupport.write(record, TestSupport.join(folder, "photos32.bin"))
        try TestSupport.write(Array("a\nb\nc\n".utf8), TestSupport.join(folder, "classes.txt"))
        TestSupport.expectDataError(try loadDataset("photos32", directory: folder)) {
            if case .countMismatch(_, 6, 3) = $0 { return true } else { return false }
        }
    }

    func testMalformedEMNISTMapping() throws {
        try TestSupport.write(Array("0 48\n1 x\n".utf8), path("mapping.txt"))
        TestSupport.expectDataError(try DatasetCatalogue.readEMNISTMapping(self.path("mapping.txt"), classCount: 10)) {
            if case .invalidFormat(_, 1, _) = $0 { return true } else { return false }
        }
        try TestSupport.write(Array("0 48\n10 57\n".utf8), path("mapping.txt"))
        TestSupport.expectDataError(try DatasetCatalogue.readEMNISTMapping(self.path("mapping.txt"), classCount: 10)) {
            if case .labelOutOfRange(_, 1, 10, 10) = $0 { return true } else { return false }
        }
    }

    func testCorruptPNG() throws {
        let image = try PixelImage(width: 20, height: 10, channels: 3, pixels: TestSupport.bytes(600, seed: 5).map { Float($0) / 255 })
        let png = try ImageCodec.encodePNG(image)
        XCTAssertEqual(try ImageCodec.decode(png), image)
        // Truncated inside the image data.
        TestSupport.expectDataError(try ImageCodec.decode(Array(png.prefix(png.count / 2)), path: "half.png")) {
            if case .imageDecodeFailed("half.png", _) = $0 { return true } else { return false }
        }
        // Damaged IHDR (CRC no longer matches).
        var damaged = png
        damaged[17] ^= 0xFF
        TestSupport.expectDataError(try ImageCodec.decode(damaged, path: "ihdr.png")) {
            if case .imageDecodeFailed("ihdr.png", _) = $0 { return true } else { return false }
        }
        // Damaged compressed pixel data.
        var pixelsDamaged = png
        for i in (png.count - 40)..<(png.count - 20) { pixelsDamaged[i] ^= 0x33 }
        TestSupport.expectDataError(try ImageCodec.decode(pixelsDamaged, path: "idat.png")) {
            if case .imageDecodeFailed("idat.png", _) = $0 { return true } else { return false }
        }
        // Only the signature.
        TestSupport.expectDataError(try ImageCodec.decode(Array(png.prefix(8)), path: "sig.png")) {
            if case .imageDecodeFailed("sig.png", _) = $0 { return true } else { return false }
        }
        // Not an image at all.
        TestSupport.expectDataError(try ImageCodec.decode(Array("hello world".utf8), path: "text.png")) {
            if case .badMagic("text.png", _, _) = $0 { return true } else { return false }
        }
        TestSupport.expectDataError(try ImageCodec.decode([], path: "empty.png")) {
            if case .badMagic("empty.png", _, "(empty)") = $0 { return true } else { return false }
        }
    }

    func testCorruptJPEG() throws {
        let jpeg = Fixtures.rgbJPEG
        XCTAssertEqual(try ImageCodec.decode(jpeg).width, 16)
        // Truncated: libjpeg would only warn and pad with grey; it must be an error here.
        for cut in [jpeg.count - 2, jpeg.count - 40, jpeg.count / 2, 30, 3] {
            TestSupport.expectDataError(try ImageCodec.decode(Array(jpeg.prefix(cut)), path: "cut.jpg")) {
                if case .imageDecodeFailed("cut.jpg", _) = $0 { return true } else { return false }
            }
        }
        // Damaged frame header: zero width.
        var noWidth = jpeg
        if let sof = (0..<(jpeg.count - 9)).first(where: { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 }) {
            noWidth[sof + 7] = 0
            noWidth[sof + 8] = 0
        } else {
            XCTFail("fixture has no SOF0 marker")
        }
        TestSupport.expectDataError(try ImageCodec.decode(noWidth, path: "sof.jpg")) {
            if case .imageDecodeFailed("sof.jpg", _) = $0 { return true } else { return false }
        }
        // Garbage after the SOI marker.
        let garbage = [0xFF, 0xD8, 0xFF] + TestSupport.bytes(200, seed: 6)
        TestSupport.expectDataError(try ImageCodec.decode(garbage, path: "garbage.jpg")) {
            if case .imageDecodeFailed("garbage.jpg", _) = $0 { return true } else { return false }
        }
        // Damaged entropy-coded data.
        var scrambled = jpeg
        for i in (jpeg.count - 60)..<(jpeg.count - 2) { scrambled[i] = 0xFF }
        TestSupport.expectDataError(try ImageCodec.decode(scrambled, path: "scan.jpg")) {
            if case .imageDecodeFailed("scan.jpg", _) = $0 { return true } else { return false }
        }
    }

    func testImageFolderErrors() throws {
        let root = path("folder")
        TestSupport.expectDataError(try ImageFolderReader.load(root)) {
            if case .fileNotFound = $0 { return true } else { return false }
        }
        try FileManager.default.createDirectory(atPath: TestSupport.join(root, "empty"), withIntermediateDirectories: true)
        TestSupport.expectDataError(try ImageFolderReader.load(root)) {
            if case .invalidFormat(root, nil, _) = $0 { return true } else { return false }
        }
        // A corrupt PNG inside a class folder names that file.
        let good = try PixelImage(width: 5, height: 5, channels: 1, filledWith: 0.25)
        try ImageCodec.writePNG(good, to: TestSupport.join(root, "a", "good.png"))
        let png = try ImageCodec.encodePNG(good)
        try TestSupport.write(Array(png.prefix(png.count - 16)), TestSupport.join(root, "a", "zbroken.png"))
        TestSupport.expectDataError(try ImageFolderReader.load(root)) {
            if case let .imageDecodeFailed(path, _) = $0 { return path.hasSuffix("zbroken.png") } else { return false }
        }
        // A text file with an image extension.
        try TestSupport.write(Array("not a picture".utf8), TestSupport.join(root, "a", "zbroken.png"))
        TestSupport.expectDataError(try ImageFolderReader.load(root)) {
            if case let .badMagic(path, _, _) = $0 { return path.hasSuffix("zbroken.png") } else { return false }
        }
        // A truncated JPEG.
        try FileManager.default.removeItem(atPath: TestSupport.join(root, "a", "zbroken.png"))
        try TestSupport.write(Array(Fixtures.grayJPEG.prefix(200)), TestSupport.join(root, "b", "cut.jpg"))
        TestSupport.expectDataError(try ImageFolderReader.load(root)) {
            if case let .imageDecodeFailed(path, _) = $0 { return path.hasSuffix("cut.jpg") } else { return false }
        }
        TestSupport.expectDataError(try ImageFolderReader.load(root, channels: 2)) {
            if case .invalidArgument = $0 { return true } else { return false }
        }
    }

    func testCorruptArchives() throws {
        // Corrupt tar header checksum.
        var tar = tarMember(name: "file.txt", contents: Array("abcd".utf8))
        tar[148] = UInt8(ascii: "7")
        tar += [UInt8](repeating: 0, count: 1024)
        try TestSupport.write(try Compression.gzip(tar), path("bad.tar.gz"))
        TestSupport.expectDataError(try ArchiveExtractor.extractTarGz(self.path("bad.tar.gz"), into: self.path("out"))) {
            if case let .invalidFormat(_, 0, reason) = $0 { return reason.contains("checksum") } else { return false }
        }
        // The same member with a correct checksum extracts.
        let good = tarMember(name: "file.txt", contents: Array("abcd".utf8)) + [UInt8](repeating: 0, count: 1024)
        try TestSupport.write(try Compression.gzip(good), path("good.tar.gz"))
        XCTAssertEqual(try ArchiveExtractor.extractTarGz(self.path("good.tar.gz"), into: self.path("out")).count, 1)
        XCTAssertEqual(try TestSupport.read(TestSupport.join(self.path("out"), "file.txt")), Array("abcd".utf8))
        // The real tar.gz cut short.
        try TestSupport.write(Array(Fixtures.tarGz.prefix(300)), path("cut.tar.gz"))
        TestSupport.expectDataError(try ArchiveExtractor.extractTarGz(self.path("cut.tar.gz"), into: self.path("out"))) {
            if case .corruptCompressedData = $0 { return true } else { return false }
        }
        // Zip with a damaged stored entry: the CRC check catches it.
        var zip = Fixtures.zip
        if let start = (0..<(zip.count - 4)).first(where: { zip[$0] == 10 && zip[$0 + 1] == 11 && zip[$0 + 2] == 12 }) {
            zip[start] = 99
        } else {
            XCTFail("stored entry not found in the zip fixture")
        }
        try TestSupport.write(zip, path("bad.zip"))
        TestSupport.expectDataError(try ArchiveExtractor.extractZip(self.path("bad.zip"), into: self.path("zout"))) {
            if case let .checksumMismatch(path, "crc32", _, _) = $0 { return path.hasSuffix("gzip/stored.bin") } else { return false }
        }
        try TestSupport.write(Array(Fixtures.zip.prefix(200)), path("cut.zip"))
        TestSupport.expectDataError(try ArchiveExtractor.extractZip(self.path("cut.zip"), into: self.path("zout"))) {
            if case .badMagic = $0 { return true } else { return false }
        }
    }

    /// One ustar member (header with a valid checksum, data padded to 512 bytes).
    private func tarMember(name: String, contents: [UInt8]) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) {
            for (i, byte) in text.utf8.enumerated() { header[offset + i] = byte }
        }
        put(name, at: 0)
        put("0000644", at: 100)
        put(String(format: "%011o", contents.count), at: 124)
        put("00000000000", at: 136)
        header[156] = UInt8(ascii: "0")
        put("ustar", at: 257)
        put("00", at: 263)
        put("        ", at: 148)
        let sum = header.reduce(0) { $0 + Int($1) }
        put(String(format: "%06o", sum), at: 148)
        header[154] = 0
        header[155] = UInt8(ascii: " ")
        let padding = (512 - contents.count % 512) % 512
        return header + contents + [UInt8](repeating: 0, count: padding)
    }

    func testArchiveMembersCannotEscapeTheTargetFolder() throws {
        for evil in ["../evil.txt", "/tmp/evil.txt", "a/../../evil.txt"] {
            let tar = tarMember(name: evil, contents: Array("x".utf8)) + [UInt8](repeating: 0, count: 1024)
            try TestSupport.write(try Compression.gzip(tar), path("evil.tar.gz"))
            TestSupport.expectDataError(try ArchiveExtractor.extractTarGz(self.path("evil.tar.gz"), into: self.path("inside"))) {
                if case let .invalidFormat(_, 0, reason) = $0 { return reason.contains("unsafe member path") } else { return false }
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: TestSupport.join(directory, "evil.txt")))
    }
}
