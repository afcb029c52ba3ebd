import Foundation
import XCTest
import OutpostData

/// Readers tested on small files written here in the exact official layouts.
final class FormatTests: XCTestCase {
    /// A CIFAR record's planar pixels where every value encodes (record, channel, position).
    private func cifarPixels(record: Int) -> [UInt8] {
        (0..<3072).map { i in UInt8((record * 37 + (i / 1024) * 80 + (i % 1024) % 61) % 256) }
    }

    func testCIFAR10BinaryLayoutThroughTheCatalogue() throws {
        let root = try TestSupport.temporaryDirectory(self)
        let folder = TestSupport.join(root, "cifar-10-batches-bin")
        // data_batch_1...5 with 2 records each, test_batch with 3; labels cycle through 0...9.
        var record = 0
        for batch in 1...5 {
            var bytes: [UInt8] = []
            for _ in 0..<2 {
                bytes += CIFARReader.encodeRecord(labels: [UInt8(record % 10)], pixels: cifarPixels(record: record))
                record += 1
            }
            try TestSupport.write(bytes, TestSupport.join(folder, "data_batch_\(batch).bin"))
        }
        var test: [UInt8] = []
        for r in 0..<3 { test += CIFARReader.encodeRecord(labels: [UInt8(9 - r)], pixels: cifarPixels(record: 100 + r)) }
        try TestSupport.write(test, TestSupport.join(folder, "test_batch.bin"))
        let names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        try TestSupport.write(Array((names.joined(separator: "\n") + "\n\n").utf8), TestSupport.join(folder, "batches.meta.txt"))

        // The parent directory is accepted: the official folder name is searched.
        let train = try loadDataset("cifar10", split: .train, directory: root)
        XCTAssertEqual(train.count, 10)
        XCTAssertEqual(train.imageShape, [3, 32, 32])
        XCTAssertEqual(train.labels, Array(0..<10))
        XCTAssertEqual(train.classNames ?? [], names)
        XCTAssertEqual(train.normalization, .cifar10)
        // Record 7 is the second record of data_batch_4; its planes are R, G, B.
        let seventh = try train.image(at: 7)
        let expected = cifarPixels(record: 7)
        for i in [0, 1, 1023, 1024, 2047, 2048, 3071] {
            XCTAssertEqual(seventh[i], Float(expected[i]) / 255, accuracy: 1e-7)
        }
        let testSplit = try loadDataset("cifar10", split: .test, directory: folder)
        XCTAssertEqual(testSplit.labels, [9, 8, 7])
        XCTAssertEqual(try testSplit.image(at: 2)[2048], Float(cifarPixels(record: 102)[2048]) / 255, accuracy: 1e-7)
    }

    func testCIFAR100CoarseAndFineLabels() throws {
        let root = try TestSupport.temporaryDirectory(self)
        let folder = TestSupport.join(root, "cifar-100-binary")
        let labels: [(coarse: UInt8, fine: UInt8)] = [(11, 19), (15, 29), (4, 0), (19, 99)]
        var bytes: [UInt8] = []
        for (r, pair) in labels.enumerated() {
            bytes += CIFARReader.encodeRecord(labels: [pair.coarse, pair.fine], pixels: cifarPixels(record: r))
        }
        // Gzip-compressed files are read transparently.
        try TestSupport.write(try Compression.gzip(bytes), TestSupport.join(folder, "train.bin"))
        try TestSupport.write(Array(bytes.prefix(3074)), TestSupport.join(folder, "test.bin"))
        let fine = (0..<100).map { "class\($0)" }
        try TestSupport.write(Array(fine.joined(separator: "\n").utf8), TestSupport.join(folder, "fine_label_names.txt"))

        let train = try loadDataset("cifar100", split: .train, directory: root)
        XCTAssertEqual(train.count, 4)
        XCTAssertEqual(train.classCount, 100)
        XCTAssertEqual(train.labels, [19, 29, 0, 99])
        XCTAssertEqual(train.classNames?[99], "class99")
        XCTAssertEqual(train.normalization, .cifar100)
        let image = try train.image(at: 3)
        XCTAssertEqual(image[1024], Float(cifarPixels(record: 3)[1024]) / 255, accuracy: 1e-7)

        let coarse = try CIFARReader.readCIFAR100([TestSupport.join(folder, "train.bin")], labels: .coarse)
        XCTAssertEqual(coarse.classCount, 20)
        XCTAssertEqual(coarse.labels, [11, 15, 4, 19])
        XCTAssertEqual(coarse.images, train.images)

        let test = try loadDataset("cifar-100", split: .test, directory: folder)
        XCTAssertEqual(test.labels, [19])
    }

    /// Writes an EMNIST split whose images are stored transposed, as in the official files.
    private func writeEMNIST(split: String, into folder: String, images: [[UInt8]], labels: [UInt8], mapping: String?) throws {
        var stored: [UInt8] = []
        for image in images {
            // Official EMNIST: the file holds the transpose of each 28×28 image.
            for r in 0..<28 { for c in 0..<28 { stored.append(image[c * 28 + r]) } }
        }
        let prefix = "emnist-\(split)"
        for part in ["train", "test"] {
            try TestSupport.write(try Compression.gzip(TestSupport.idxImages(stored, count: images.count, rows: 28, columns: 28)),
                                  TestSupport.join(folder, "\(prefix)-\(part)-images-idx3-ubyte.gz"))
            try TestSupport.write(try Compression.gzip(TestSupport.idxLabels(labels)),
                                  TestSupport.join(folder, "\(prefix)-\(part)-labels-idx1-ubyte.gz"))
        }
        if let mapping {
            try TestSupport.write(Array(mapping.utf8), TestSupport.join(folder, "\(prefix)-mapping.txt"))
        }
    }

    func testEMNISTImagesAreTransposedOnReadAndLettersUseTheMapping() throws {
        let root = try TestSupport.temporaryDirectory(self)
        let folder = TestSupport.join(root, "gzip")   // the folder gzip.zip extracts into
        // An asymmetric image: a horizontal bar on row 3 (columns 5...20) and one pixel at (row 20, column 2).
        var image = [UInt8](repeating: 0, count: 784)
        for c in 5...20 { image[3 * 28 + c] = 255 }
        image[20 * 28 + 2] = 128
        let mapping = (1...26).map { "\($0) \(64 + $0) \(96 + $0)" }.joined(separator: "\n") + "\n"
        try writeEMNIST(split: "letters", into: folder, images: [image, image], labels: [1, 26], mapping: mapping)

        let letters = try loadDataset("emnist-letters", split: .train, directory: root)
        XCTAssertEqual(letters.count, 2)
        XCTAssertEqual(letters.classCount, 27)
        XCTAssertEqual(letters.labels, [1, 26])
        XCTAssertEqual(letters.classNames?[1], "A")
        XCTAssertEqual(letters.classNames?[26], "Z")
        XCTAssertEqual(letters.classNames?[0], "N/A")
        let pixels = try letters.image(at: 0)
        XCTAssertEqual(pixels[3 * 28 + 5], 1)
        XCTAssertEqual(pixels[3 * 28 + 20], 1)
        XCTAssertEqual(pixels[20 * 28 + 2], 128 / 255, accuracy: 1e-7)
        // The transposed positions stay empty.
        XCTAssertEqual(pixels[5 * 28 + 3], 0)
        XCTAssertEqual(pixels[2 * 28 + 20], 0)
        XCTAssertEqual(pixels.map { Int(($0 * 255).rounded()) }, image.map(Int.init))
    }

    func testEMNISTSplitClassCountsAndMappings() throws {
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: DatasetCatalogue.emnistSplits.map { ($0.name, $0.classCount) }),
                       ["byclass": 62, "bymerge": 47, "balanced": 47, "letters": 27, "digits": 10, "mnist": 10])
        for (split, count) in DatasetCatalogue.emnistSplits {
            let entry = try DatasetCatalogue.descriptor(named: "emnist-\(split)")
            XCTAssertEqual(entry.classCount, count)
            XCTAssertEqual(entry.classNames?.count, count)
            XCTAssertEqual(entry.format, .idx(transposed: true))
            XCTAssertEqual(entry.trainFiles.first, "emnist-\(split)-train-images-idx3-ubyte.gz")
        }
        // balanced without a mapping file: default names; label 46 ("t") is valid, 47 is not.
        let root = try TestSupport.temporaryDirectory(self)
        let blank = [UInt8](repeating: 0, count: 784)
        try writeEMNIST(split: "balanced", into: root, images: [blank, blank], labels: [0, 46], mapping: nil)
        let balanced = try loadDataset("emnist-balanced", split: .test, directory: root)
        XCTAssertEqual(balanced.classCount, 47)
        XCTAssertEqual(balanced.classNames?[46], "t")
        XCTAssertEqual(balanced.classNames?[36], "a")
        // byclass mapping from the official format: "label ascii".
        let byclassMapping = (0..<62).map { i -> String in
            let code = i < 10 ? 48 + i : (i < 36 ? 55 + i : 61 + i)
            return "\(i) \(code)"
        }.joined(separator: "\n")
        try writeEMNIST(split: "byclass", into: root, images: [blank], labels: [61], mapping: byclassMapping)
        let byclass = try loadDataset("emnist-byclass", split: .train, directory: root)
        XCTAssertEqual(byclass.classNames?[10], "A")
        XCTAssertEqual(byclass.classNames?[61], "z")
        XCTAssertEqual(byclass.labels, [61])
        XCTAssertEqual(byclass.classNames, DatasetCatalogue.emnistClassNames(split: "byclass"))
        // digits: label 10 is outside 0..<10.
        try writeEMNIST(split: "digits", into: root, images: [blank], labels: [10], mapping: nil)
        TestSupport.expectDataError(try loadDataset("emnist-digits", split: .train, directory: root)) {
            if case let .labelOutOfRange(path, 0, 10, 10) = $0 { return path.hasSuffix("emnist-digits-train-labels-idx1-ubyte.gz") }
            return false
        }
    }

    func testImageFolderWithPNGAndJPEG() throws {
        let root = try TestSupport.temporaryDirectory(self)
        // Class "a": two RGB PNGs; class "b": one RGB JPEG; class "c": a grayscale PNG (converted to RGB).
        let red = try PixelImage(width: 16, height: 12, channels: 3,
                                 pixels: [Float](repeating: 1, count: 192) + [Float](repeating: 0, count: 384))
        try ImageCodec.writePNG(red, to: TestSupport.join(root, "a", "1.png"))
        let gradient = try PixelImage(width: 16, height: 12, channels: 3,
                                      pixels: (0..<576).map { Float($0 % 256) / 255 })
        try ImageCodec.writePNG(gradient, to: TestSupport.join(root, "a", "2.PNG"))
        try TestSupport.write(Fixtures.rgbJPEG, TestSupport.join(root, "b", "photo.jpg"))
        let gray = try PixelImage(width: 16, height: 12, channels: 1, pixels: (0..<192).map { Float($0) / 255 })
        try ImageCodec.writePNG(gray, to: TestSupport.join(root, "c", "g.png"))
        try TestSupport.write(Array("ignored".utf8), TestSupport.join(root, "c", "notes.txt"))
        try TestSupport.write(Array("ignored".utf8), TestSupport.join(root, "c", ".hidden.png"))

        let dataset = try loadDataset("image-folder", directory: root)
        XCTAssertEqual(dataset.classNames ?? [], ["a", "b", "c"])
        XCTAssertEqual(dataset.labels, [0, 0, 1, 2])
        XCTAssertEqual(dataset.imageShape, [3, 12, 16])
        XCTAssertEqual(try dataset.image(at: 0), red.pixels)
        XCTAssertEqual(try dataset.image(at: 1), gradient.pixels)
        // JPEG decoded values from Pillow: (0,0) = (0, 1, 119), (15,11) = (240, 219, 140), ±3.
        let jpeg = try dataset.image(at: 2)
        let plane = 192
        for (x, y, rgb) in [(0, 0, [0, 1, 119]), (15, 11, [240, 219, 140]), (8, 6, [127, 120, 128])] {
            for c in 0..<3 {
                XCTAssertEqual(jpeg[c * plane + y * 16 + x] * 255, Float(rgb[c]), accuracy: 3)
            }
        }
        // Gray replicated into three channels.
        let replicated = try dataset.image(at: 3)
        XCTAssertEqual(Array(replicated[0..<192]), gray.pixels)
        XCTAssertEqual(Array(replicated[384..<576]), gray.pixels)

        // Asking for one channel converts colour to luma.
        let single = try ImageFolderReader.load(root, channels: 1)
        XCTAssertEqual(single.channels, 1)
        XCTAssertEqual(try single.image(at: 0)[0], 0.299, accuracy: 1e-6)
    }

    func testImageFolderWithTrainAndTestSubfolders() throws {
        let root = try TestSupport.temporaryDirectory(self)
        let gray = try PixelImage(width: 4, height: 4, channels: 1, filledWith: 0.5)
        try ImageCodec.writePNG(gray, to: TestSupport.join(root, "train", "x", "1.png"))
        try ImageCodec.writePNG(gray, to: TestSupport.join(root, "train", "y", "1.png"))
        try ImageCodec.writePNG(gray, to: TestSupport.join(root, "test", "x", "1.png"))
        try ImageCodec.writePNG(gray, to: TestSupport.join(root, "test", "y", "2.png"))
        try TestSupport.write(Fixtures.grayJPEG, TestSupport.join(root, "test", "y", "3.jpg"))
        let train = try loadDataset("image-folder", split: .train, directory: root)
        XCTAssertEqual(train.count, 2)
        XCTAssertEqual(train.channels, 1)
        // The 16×12 grayscale JPEG does not match the 4×4 PNGs: a clear error naming the file.
        TestSupport.expectDataError(try loadDataset("image-folder", split: .test, directory: root)) {
            if case let .sizeMismatch(path, 2, expected, found) = $0 {
                return path.hasSuffix("3.jpg") && expected.hasPrefix("4×4") && found == "16×12"
            }
            return false
        }
        try FileManager.default.removeItem(atPath: TestSupport.join(root, "test", "y", "3.jpg"))
        XCTAssertEqual(try loadDataset("image-folder", split: .test, directory: root).labels, [0, 1])
        let flat = try TestSupport.temporaryDirectory(self)
        try ImageCodec.writePNG(gray, to: TestSupport.join(flat, "only", "1.png"))
        TestSupport.expectDataError(try loadDataset("image-folder", split: .test, directory: flat)) {
            if case .splitUnavailable = $0 { return true } else { return false }
        }
    }

    func testCatalogue() throws {
        for name in ["mnist", "fashion-mnist", "kmnist", "emnist-letters", "emnist-byclass", "cifar10", "cifar100",
                     "lfw-subset", "photos32", "image-folder"] {
            XCTAssertEqual(try DatasetCatalogue.descriptor(named: name).name, name)
        }
        XCTAssertEqual(try DatasetCatalogue.descriptor(named: "CIFAR-10").name, "cifar10")
        XCTAssertEqual(try DatasetCatalogue.descriptor(named: "fashion_mnist").name, "fashion-mnist")
        let error = TestSupport.expectDataError(try DatasetCatalogue.descriptor(named: "imagenet")) {
            if case .unknownDataset("imagenet", _) = $0 { return true } else { return false }
        }
        XCTAssertTrue(error?.description.contains("fashion-mnist") ?? false)
        let mnist = try DatasetCatalogue.descriptor(named: "mnist")
        XCTAssertEqual(mnist.trainFiles, ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"])
        XCTAssertEqual(mnist.downloads.first?.urls.first?.absoluteString,
                       "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz")
        XCTAssertEqual(mnist.downloads.first?.checksum, .md5("f68b3c2dcbeaaa9fbdd348bbdeb94873"))
        let cifar = try DatasetCatalogue.descriptor(named: "cifar10")
        XCTAssertEqual(cifar.trainFiles, ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"])
        XCTAssertEqual(cifar.testFiles, ["test_batch.bin"])
        XCTAssertEqual(cifar.archive, .tarGz)
        XCTAssertNil(try DatasetCatalogue.descriptor(named: "kmnist").downloads.first?.checksum)
        let missing = try TestSupport.temporaryDirectory(self)
        TestSupport.expectDataError(try loadDataset("mnist", split: .train, directory: missing)) {
            if case let .fileNotFound(path) = $0 { return path.hasSuffix("train-images-idx3-ubyte.gz") } else { return false }
        }
        TestSupport.expectDataError(try Downloader().download(dataset: "photos32", into: missing)) {
            if case .invalidArgument = $0 { return true } else { return false }
        }
    }

    func testShippedSamples() throws {
        let fashion = try SampleData.load("fashion-mnist")
        XCTAssertEqual(fashion.count, 200)
        XCTAssertEqual(fashion.imageShape, [1, 28, 28])
        // First Fashion-MNIST test labels (python: list(labels[8:18])).
        XCTAssertEqual(Array(fashion.labels.prefix(10)), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7])
        XCTAssertEqual(fashion.normalization, .fashionMNIST)
        XCTAssertEqual(try fashion.image(at: 0).reduce(0) { $0 + Int(($1 * 255).rounded()) }, 33456)
        let mnist = try SampleData.load("MNIST")
        XCTAssertEqual(mnist.count, 100)
        XCTAssertEqual(Array(mnist.labels.prefix(10)), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
        let photos = try SampleData.load("photos32")
        XCTAssertEqual(photos.count, 60)
        XCTAssertEqual(photos.labelHistogram(), [Int](repeating: 10, count: 6))
        XCTAssertEqual(photos.classNames?[3], "rocket")
        XCTAssertEqual(try photos.image(at: 0)[0], 1 / 255, accuracy: 1e-7)
        TestSupport.expectDataError(try SampleData.load("cifar10")) {
            if case .unknownDataset = $0 { return true } else { return false }
        }
    }

    func testDatasetSubsetBatchAndNormalization() throws {
        let pixels = (0..<(5 * 2 * 2 * 3)).map { Float($0) / 60 }
        let dataset = try ImageDataset(name: "toy", images: pixels, labels: [0, 1, 2, 1, 0], channels: 3, height: 2, width: 2,
                                       classCount: 3, classNames: ["x", "y", "z"])
        XCTAssertEqual(dataset.sampleSize, 12)
        let subset = try dataset.subset([4, 1, 1])
        XCTAssertEqual(subset.labels, [0, 1, 1])
        XCTAssertEqual(Array(subset.images[0..<12]), Array(pixels[48..<60]))
        XCTAssertEqual(Array(subset.images[12..<24]), Array(pixels[12..<24]))
        XCTAssertEqual(subset.normalization, dataset.normalization)
        let sample = try dataset.sample(at: 2)
        XCTAssertEqual(sample.label, 2)
        XCTAssertEqual(sample.pixels, Array(pixels[24..<36]))
        let batch = try dataset.batch(1..<3)
        XCTAssertEqual(batch.shape, [2, 3, 2, 2])
        XCTAssertEqual(batch.images, Array(pixels[12..<36]))
        XCTAssertEqual(try dataset.prefix(2).labels, [0, 1])
        XCTAssertEqual(dataset.className(of: 2), "z")
        XCTAssertEqual(dataset.labelHistogram(), [2, 2, 1])
        let batches = try dataset.batchIndices(size: 2, shuffleSeed: 7)
        XCTAssertEqual(batches.map(\.count), [2, 2, 1])
        XCTAssertEqual(batches.flatMap { $0 }.sorted(), [0, 1, 2, 3, 4])
        XCTAssertEqual(try dataset.batchIndices(size: 2, shuffleSeed: 7), batches)
        XCTAssertEqual(try dataset.batchIndices(size: 2), [[0, 1], [2, 3], [4]])
        TestSupport.expectDataError(try dataset.subset([5])) {
            if case .invalidArgument = $0 { return true } else { return false }
        }
        TestSupport.expectDataError(try dataset.image(at: -1)) {
            if case .invalidArgument = $0 { return true } else { return false }
        }
        TestSupport.expectDataError(try ImageDataset(name: "bad", images: [0, 0], labels: [3], channels: 1, height: 1, width: 2,
                                                     classCount: 3)) {
            if case .invalidArgument = $0 { return true } else { return false }
        }
        // Computed statistics: channel c holds values (c*4 + n*12 + p)/60.
        let stats = dataset.normalization
        for c in 0..<3 {
            var values: [Double] = []
            for n in 0..<5 {
                for p in 0..<4 { values.append(Double(n * 12 + c * 4 + p) / 60) }
            }
            let mean: Double = values.reduce(0, +) / 20
            var squares = 0.0
            for v in values { squares += (v - mean) * (v - mean) }
            let std = (squares / 20).squareRoot()
            XCTAssertEqual(Double(stats.mean[c]), mean, accuracy: 1e-5)
            XCTAssertEqual(Double(stats.std[c]), std, accuracy: 1e-5)
        }
        let normalized = dataset.normalizedImages()
        XCTAssertEqual(normalized[5], (pixels[5] - stats.mean[1]) / stats.std[1], accuracy: 1e-6)
        let restored = stats.denormalize(normalized, planeSize: 4)
        for (a, b) in zip(restored, pixels) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertEqual(Normalization.cifar10.denormalize([-10, 10, 0], planeSize: 1, clampToUnit: true), [0, 1, 0.4465])
        XCTAssertEqual(Normalization.mnist.normalize([0.1307], planeSize: 1), [0])
        XCTAssertThrowsError(try Normalization(mean: [0.5], std: [0]))
        XCTAssertThrowsError(try Normalization(mean: [0.5, 0.5], std: [1]))
    }
}

/// Small binary fixtures produced once with Pillow 11 (`Image.save(..., 'JPEG', quality=95)`).
enum Fixtures {
    /// 16×12 RGB JPEG of the pattern (x·16, y·20, 128).
    static let rgbJPEG: [UInt8] = decode("""
    /9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAIBAQEBAQIBAQECAgICAgQDAgICAgUEBAMEBgUGBgYFBgYGBwkIBgcJBwYGCAsICQoKCgoKBggLDAsKDAkKCgr/2wBDAQICAgICAgUDAwUKBwYHCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgr/wAARCAAMABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD4h+FH7FP+q/4lHp/BX0z8KP2Kf9V/xKfT+CvqT4U/CnwX+7/4lnp3H+FfTPwo+FPgv93/AMSzsO4/wrPjHxfzX3t/vPD+jb48Z1+50l06+nmf/9k=
    """)

    /// 16×12 grayscale JPEG of the pattern (x·16 + y·4) mod 256; Pillow decodes (0,0)=0, (15,11)=27, (8,6)=154.
    static let grayJPEG: [UInt8] = decode("""
    /9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAIBAQEBAQIBAQECAgICAgQDAgICAgUEBAMEBgUGBgYFBgYGBwkIBgcJBwYGCAsICQoKCgoKBggLDAsKDAkKCgr/wAALCAAMABABAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/APhf/gm38Nv+PD/R/wC72r9wPgb4r/4Ze/ZY8eftMf8ACH/25/wrv4f6v4n/ALE+2/Zv7Q+wWM119n87ZJ5XmeVs37H27s7Wxg/lX/wTb0LTf9A/c/3a/QD/AIK26Fpv/Dib4yfuf+hW/wDUn0mv/9k=
    """)

    /// A `.tar.gz` written by Python's `tarfile` (ustar): three members under
    /// `cifar-10-batches-bin/`: readme.html, batches.meta.txt ("airplane\nautomobile\n"),
    /// data.bin (bytes 0...255 three times).
    static let tarGz: [UInt8] = decode("""
    H4sIANaEBGsC/0vOTEss0jU00E1KLEnOSC3WTcrM0y9KTUzJTdXLKMnNYaACMAACMxMTMA0E6LSBgaEpgg0SNzQ2NTFmUDBgoAMoLS5JLAJazzAygU2BXUZqTk6+jX6BHRfDKBhpIBlb/oey9XJTSxL1SipKaJ3/jUzQ8r+JqaH5aP6nB0jMLCrIScxL5UosLcnPzU/KzEkdLQZGev5PSQTmeyCDSnYQyP+GJshlAaT+NzAyGs3/dAGMTMwsrGzsHJxc3Dy8fPwCgkLCIqJi4hKSUtIysnLyCopKyiqqauoamlraOrp6+gaGRsYmpmbmFpZW1ja2dvYOjk7OLq5u7h6eXt4+vn7+AYFBwSGhYeERkVHRMbFx8QmJSckpqWnpGZlZ2Tm5efkFhUXFJaVl5RWVVdU1tXX1DY1NzS2tbe0dnV3dPb19/RMmTpo8Zeq06TNmzpo9Z+68+QsWLlq8ZOmy5StWrlq9Zu269Rs2btq8Zeu27Tt27tq9Z+++/QcOHjp85Oix4ydOnjp95uy58xcuXrp85eq16zdu3rp95+69+w8ePnr85Omz5y9evnr95u279x8+fvr85eu37z9+/vr95++//6P+H+H+HwWjYBSMglEwCkbBKBgFo2AUjIJRMApGwSgYBaNgFIyCUTAKRsEoGAWjYBgBAPLK+MUAKAAA
    """)

    /// A zip written by Python's `zipfile`: `gzip/emnist-digits-mapping.txt` (deflated,
    /// lines "i 48+i" for i in 0...9), `gzip/stored.bin` (stored, bytes 0...99) and
    /// `other/skip.txt` (deflated, "not wanted").
    static let zip: [UInt8] = decode("""
    UEsDBBQAAAAIAAAAIQBcS4JOKQAAADIAAAAeAAAAZ3ppcC9lbW5pc3QtZGlnaXRzLW1hcHBpbmcudHh0BcFJAQAgDMTA/6qIBI6mgH9jzAzqZlIvC0c2zhSuiDuNlYPmYufhyQdQSwMEFAAAAAAAAAAhAPUyyVhkAAAAZAAAAA8AAABnemlwL3N0b3JlZC5iaW4AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl9gYWJjUEsDBBQAAAAIAAAAIQCtrfggDAAAAAoAAAAOAAAAb3RoZXIvc2tpcC50eHTLyy9RKE/MK0lNAQBQSwECFAMUAAAACAAAACEAXEuCTikAAAAyAAAAHgAAAAAAAAAAAAAAgAEAAAAAZ3ppcC9lbW5pc3QtZGlnaXRzLW1hcHBpbmcudHh0UEsBAhQDFAAAAAAAAAAhAPUyyVhkAAAAZAAAAA8AAAAAAAAAAAAAAIABZQAAAGd6aXAvc3RvcmVkLmJpblBLAQIUAxQAAAAIAAAAIQCtrfggDAAAAAoAAAAOAAAAAAAAAAAAAACAAfYAAABvdGhlci9za2lwLnR4dFBLBQYAAAAAAwADAMUAAAAuAQAAAAA=
    """)

    private static func decode(_ base64: String) -> [UInt8] {
        let compact = base64.filter { !$0.isWhitespace }
        guard let data = Data(base64Encoded: compact) else {
            XCTFail("fixture is not valid base64")
            return []
        }
        return [UInt8](data)
    }
}
