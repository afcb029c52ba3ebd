import Foundation
import XCTest
import OutpostData

/// Reads the real files in ../shared/data. Expected values were obtained once
/// with python3 (gzip + struct for IDX/CIFAR bytes; Pillow 11 for the photos),
/// e.g. `gzip.open('mnist/train-labels-idx1-ubyte.gz').read()[8]` → 5.
final class RealDataTests: XCTestCase {
    /// Sum of the 8-bit pixel values of image `index`.
    private func byteSum(_ dataset: ImageDataset, _ index: Int) throws -> Int {
        try dataset.image(at: index).reduce(0) { $0 + Int(($1 * 255).rounded()) }
    }

    func testMNISTTrain() throws {
        let mnist = try SharedDataCache.shared.load("mnist", .train)
        XCTAssertEqual(mnist.count, 60_000)
        XCTAssertEqual(mnist.imageShape, [1, 28, 28])
        XCTAssertEqual(mnist.images.count, 60_000 * 784)
        XCTAssertEqual(mnist.classCount, 10)
        XCTAssertEqual(Array(mnist.labels.prefix(10)), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
        XCTAssertEqual(mnist.labels.last, 8)
        XCTAssertEqual(mnist.labelHistogram(), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
        let first = try mnist.image(at: 0)
        // Row 10 of the first image, from python: list(img[10*28:11*28]).
        let row10: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 14, 1, 154, 253, 90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        XCTAssertEqual(first[280..<308].map { Int(($0 * 255).rounded()) }, row10)
        XCTAssertEqual(first[14 * 28 + 14], 240 / 255, accuracy: 1e-7)
        XCTAssertEqual(try byteSum(mnist, 0), 27525)
        XCTAssertEqual(try byteSum(mnist, 59_999), 20920)
        let (low, high) = mnist.images.withUnsafeBufferPointer { buffer -> (Float, Float) in
            var low: Float = .infinity, high: Float = -.infinity
            for v in buffer { low = min(low, v); high = max(high, v) }
            return (low, high)
        }
        XCTAssertEqual(low, 0)
        XCTAssertEqual(high, 1)
        XCTAssertEqual(mnist.normalization, .mnist)
        XCTAssertEqual(mnist.classNames?.first, "0")
    }

    func testMNISTStatisticsMatchThePublishedNormalization() throws {
        let mnist = try SharedDataCache.shared.load("mnist", .train)
        let computed = try Normalization.computed(from: mnist.images, channels: 1, planeSize: 784)
        XCTAssertEqual(computed.mean[0], 0.1307, accuracy: 5e-4)
        XCTAssertEqual(computed.std[0], 0.3081, accuracy: 5e-4)
    }

    func testMNISTTest() throws {
        let mnist = try SharedDataCache.shared.load("mnist", .test)
        XCTAssertEqual(mnist.count, 10_000)
        XCTAssertEqual(Array(mnist.labels.prefix(10)), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
        XCTAssertEqual(mnist.labels.last, 6)
        XCTAssertEqual(mnist.labelHistogram(), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
        XCTAssertEqual(try byteSum(mnist, 0), 18454)
        XCTAssertEqual(try byteSum(mnist, 9_999), 41833)
    }

    func testFashionMNIST() throws {
        let train = try SharedDataCache.shared.load("fashion-mnist", .train)
        XCTAssertEqual(train.count, 60_000)
        XCTAssertEqual(Array(train.labels.prefix(10)), [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
        XCTAssertEqual(train.labelHistogram(), [Int](repeating: 6000, count: 10))
        XCTAssertEqual(try byteSum(train, 0), 76247)
        XCTAssertEqual(train.classNames?[9], "Ankle boot")
        XCTAssertEqual(train.normalization, .fashionMNIST)
        let test = try SharedDataCache.shared.load("fashion-mnist", .test)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(Array(test.labels.prefix(10)), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7])
        XCTAssertEqual(try byteSum(test, 0), 33456)
        XCTAssertEqual(try byteSum(test, 9_999), 24390)
        XCTAssertEqual(test.labelHistogram(), [Int](repeating: 1000, count: 10))
    }

    func testPartitioningRealMNISTLabels() throws {
        let mnist = try SharedDataCache.shared.load("mnist", .train)
        // 1 % each for 100 clients.
        let fixed = try mnist.partition(clients: 100, scheme: .fixedSize(samplesPerClient: 600), seed: 2024)
        XCTAssertEqual(fixed.sizes, [Int](repeating: 600, count: 100))
        XCTAssertEqual(Set(fixed.clientIndices.flatMap { $0 }).count, 60_000)
        XCTAssertLessThan(fixed.meanLabelSkew(labels: mnist.labels, classCount: 10), 0.1)
        // McMahan et al.: 200 shards of 300, two per client, so at most 4 labels
        // (a shard can straddle a class boundary) and usually 2.
        let shards = try mnist.partition(clients: 100, scheme: .shards(perClient: 2), seed: 2024)
        let labelCounts = shards.labelHistograms(labels: mnist.labels, classCount: 10).map { $0.filter { $0 > 0 }.count }
        XCTAssertTrue(labelCounts.allSatisfy { $0 <= 4 })
        XCTAssertGreaterThan(labelCounts.filter { $0 <= 2 }.count, 50)
        let skewed = try mnist.partition(clients: 100, scheme: .dirichlet(alpha: 0.1), seed: 2024)
        XCTAssertEqual(skewed.assignedCount, 60_000)
        XCTAssertGreaterThan(skewed.meanLabelSkew(labels: mnist.labels, classCount: 10), 0.45)
        let table = skewed.summaryTable(labels: mnist.labels, classCount: 10)
        XCTAssertEqual(table.split(separator: "\n").count, 103)
    }

    func testLoadingFromTheParentDataFolderFindsTheSubfolder() throws {
        let root = try TestSupport.sharedData()
        let test = try loadDataset("mnist", split: .test, directory: root)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(test.labels.first, 7)
    }

    func testLFWSubset() throws {
        let lfw = try loadDataset("lfw-subset", split: .train, directory: TestSupport.sharedData("lfw-subset"))
        XCTAssertEqual(lfw.count, 200)
        XCTAssertEqual(lfw.imageShape, [1, 25, 25])
        XCTAssertEqual(Array(lfw.labels.prefix(100)), [Int](repeating: 1, count: 100))
        XCTAssertEqual(Array(lfw.labels.suffix(100)), [Int](repeating: 0, count: 100))
        XCTAssertEqual(lfw.classNames ?? [], ["non-face", "face"])
        XCTAssertEqual(try lfw.image(at: 0)[0], 74 / 255, accuracy: 1e-7)
        XCTAssertEqual(try byteSum(lfw, 0), 65844)
        XCTAssertEqual(try byteSum(lfw, 199), 6890)
        // No published statistics: computed from the data, so they match a direct computation.
        let mean = lfw.images.reduce(0, +) / Float(lfw.images.count)
        XCTAssertEqual(lfw.normalization.mean[0], mean, accuracy: 1e-4)
        TestSupport.expectDataError(try loadDataset("lfw-subset", split: .test, directory: TestSupport.sharedData("lfw-subset"))) {
            if case .splitUnavailable("lfw-subset", "test") = $0 { return true } else { return false }
        }
    }

    func testPhotos32() throws {
        let photos = try loadDataset("photos32", directory: TestSupport.sharedData("photos32"))
        XCTAssertEqual(photos.count, 600)
        XCTAssertEqual(photos.imageShape, [3, 32, 32])
        XCTAssertEqual(photos.classNames ?? [], ["astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "ihc"])
        XCTAssertEqual(photos.labelHistogram(), [Int](repeating: 100, count: 6))
        XCTAssertEqual(photos.labels[0], 0)
        XCTAssertEqual(photos.labels[599], 5)
        let first = try photos.image(at: 0)
        // Record 0: R plane[0] = 1, G plane[0] = 0, B plane[0] = 0, byte sum 302923.
        XCTAssertEqual(first[0], 1 / 255, accuracy: 1e-7)
        XCTAssertEqual(first[1024], 0)
        XCTAssertEqual(first[2048], 0)
        XCTAssertEqual(try byteSum(photos, 0), 302_923)
        let last = try photos.image(at: 599)
        XCTAssertEqual(last[0], 107 / 255, accuracy: 1e-7)
        XCTAssertEqual(last[1024], 78 / 255, accuracy: 1e-7)
        XCTAssertEqual(last[2048], 54 / 255, accuracy: 1e-7)
        XCTAssertEqual(try byteSum(photos, 599), 345_061)
    }

    func testPhotographsDecodeWithLibpngAndLibjpeg() throws {
        let folder = try TestSupport.sharedData("photos")
        // (file, width, height, pixel (0,0), centre pixel (w/2,h/2), last pixel, byte sum) from Pillow.
        let expected: [(String, Int, Int, [Int], [Int], [Int], Int)] = [
            ("astronaut.png", 512, 512, [154, 147, 151], [19, 14, 7], [0, 0, 0], 90_124_324),
            ("chelsea.png", 451, 300, [143, 120, 104], [190, 150, 124], [162, 138, 128], 46_802_357),
            ("coffee.png", 600, 400, [21, 13, 8], [248, 250, 255], [143, 60, 29], 71_003_487),
            ("ihc.png", 512, 512, [156, 118, 81], [227, 226, 222], [215, 210, 207], 126_084_883),
            ("motorcycle_left.png", 741, 500, [127, 79, 53], [103, 92, 82], [164, 142, 134], 119_713_739),
            ("rocket.jpg", 640, 427, [17, 33, 58], [132, 123, 114], [83, 61, 37], 53_516_744),
        ]
        for (name, width, height, corner, centre, last, sum) in expected {
            let image = try ImageCodec.read(TestSupport.join(folder, name))
            XCTAssertEqual(image.width, width, name)
            XCTAssertEqual(image.height, height, name)
            XCTAssertEqual(image.channels, 3, name)
            let plane = width * height
            func pixel(_ x: Int, _ y: Int) -> [Int] {
                (0..<3).map { Int((image.pixels[$0 * plane + y * width + x] * 255).rounded()) }
            }
            // PNG is lossless: exact. JPEG: Pillow's libjpeg-turbo may round the IDCT differently, allow ±2.
            let tolerance = name.hasSuffix(".jpg") ? 2 : 0
            for (got, want) in [(pixel(0, 0), corner), (pixel(width / 2, height / 2), centre), (pixel(width - 1, height - 1), last)] {
                for c in 0..<3 { XCTAssertLessThanOrEqual(abs(got[c] - want[c]), tolerance, "\(name) \(got) vs \(want)") }
            }
            let total = image.pixels.reduce(0) { $0 + Int(($1 * 255).rounded()) }
            XCTAssertEqual(Double(total), Double(sum), accuracy: Double(sum) * (tolerance == 0 ? 0 : 1e-3), name)
        }
    }

    func testShippedSamplesMatchTheRealData() throws {
        let sample = try SampleData.load("mnist")
        let real = try SharedDataCache.shared.load("mnist", .test)
        XCTAssertEqual(sample.labels, Array(real.labels.prefix(100)))
        XCTAssertEqual(sample.images, Array(real.images.prefix(100 * 784)))
        let fashion = try SampleData.load("fashion-mnist")
        let fashionReal = try SharedDataCache.shared.load("fashion-mnist", .test)
        XCTAssertEqual(fashion.images, Array(fashionReal.images.prefix(200 * 784)))
        let photos = try SampleData.load("photos32")
        let photosReal = try loadDataset("photos32", directory: TestSupport.sharedData("photos32"))
        // The sample holds the first 10 patches of each class; photos32 is sorted by class.
        let indices = (0..<6).flatMap { k in (0..<10).map { k * 100 + $0 } }
        XCTAssertEqual(photos.images, try photosReal.subset(indices).images)
    }
}
