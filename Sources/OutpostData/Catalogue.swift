import Foundation

/// The two conventional splits of a data set.
public enum Split: String, Sendable, CaseIterable {
    /// The training split (for single-split data sets, all of the data).
    case train
    /// The held-out test split.
    case test
}

/// A checksum of a downloadable file.
public enum Checksum: Sendable, Equatable, CustomStringConvertible {
    /// MD5, lowercase hex (the form most data set authors publish).
    case md5(String)
    /// SHA-256, lowercase hex.
    case sha256(String)

    /// The algorithm name (`"md5"` or `"sha256"`).
    public var algorithm: String {
        switch self {
        case .md5: return "md5"
        case .sha256: return "sha256"
        }
    }

    /// The expected digest in lowercase hex.
    public var hex: String {
        switch self {
        case let .md5(value), let .sha256(value): return value.lowercased()
        }
    }

    /// `algorithm:hex`, e.g. `md5:f68b…`.
    public var description: String { "\(algorithm):\(hex)" }
}

/// A file that can be downloaded: its local name, mirror URLs tried in order, and
/// its checksum when it is known exactly (`nil` otherwise: the file is then
/// accepted unverified).
public struct RemoteFile: Sendable, Equatable {
    /// Local file name.
    public let name: String
    /// Mirror URLs (http, https or file), tried in order.
    public let urls: [URL]
    /// The published checksum, if known.
    public let checksum: Checksum?

    /// Creates a remote file description.
    public init(name: String, urls: [URL], checksum: Checksum?) {
        self.name = name
        self.urls = urls
        self.checksum = checksum
    }
}

/// How a catalogue entry stores its data on disk.
public enum DatasetFormat: Sendable, Equatable {
    /// IDX image + label files (`transposed` for EMNIST).
    case idx(transposed: Bool)
    /// CIFAR-10 binary layout (1 label byte + 3072 pixel bytes).
    case cifar10Binary
    /// CIFAR-100 binary layout (coarse byte, fine byte, 3072 pixel bytes); fine labels are used.
    case cifar100Binary
    /// One subfolder per class with PNG / JPEG files.
    case imageFolder
}

/// An archive that a download unpacks.
public enum ArchiveKind: Sendable, Equatable {
    /// A gzip-compressed tar archive (CIFAR).
    case tarGz
    /// A zip archive with stored or deflated entries (EMNIST `gzip.zip`).
    case zip
}

/// Everything needed to find, read and download one named data set.
public struct DatasetDescriptor: Sendable {
    /// Catalogue name, e.g. `"fashion-mnist"`.
    public let name: String
    /// One line of description.
    public let summary: String
    /// On-disk layout.
    public let format: DatasetFormat
    /// Files of the train split, in reading order. For IDX: images, labels.
    public let trainFiles: [String]
    /// Files of the test split (empty when the data set has a single split).
    public let testFiles: [String]
    /// Optional class-name file (one name per line) or EMNIST mapping file.
    public let classNamesFile: String?
    /// Subfolders (relative to the data directory) also searched for the files,
    /// e.g. the folder an archive extracts into.
    public let subdirectories: [String]
    /// Image shape (0 when only known after reading, e.g. image folders).
    public let channels: Int, height: Int, width: Int
    /// Number of classes (0 when only known after reading).
    public let classCount: Int
    /// Default class names when no class-name file is present.
    public let classNames: [String]?
    /// Published statistics; `nil` means "computed from the loaded data".
    public let normalization: Normalization?
    /// Files the ``Downloader`` fetches (empty: local-only data set).
    public let downloads: [RemoteFile]
    /// Set when the single download is an archive that must be unpacked.
    public let archive: ArchiveKind?
    /// Archive members to extract (prefix match on the member path); empty = all.
    public let archiveMembers: [String]

    /// Whether the data set has a test split.
    public var hasTestSplit: Bool { !testFiles.isEmpty || format == .imageFolder }
}

/// The catalogue of named data sets and the loader ``load(_:split:directory:)``.
public enum DatasetCatalogue {
    /// The EMNIST splits and their class counts (`letters` stores labels 1...26,
    /// so it has 27 classes with class 0 unused, as in the official files).
    public static let emnistSplits: [(name: String, classCount: Int)] = [
        ("byclass", 62), ("bymerge", 47), ("balanced", 47), ("letters", 27), ("digits", 10), ("mnist", 10),
    ]

    static let digits = (0...9).map(String.init)
    static let upper = (65...90).map { String(UnicodeScalar(UInt8($0))) }
    static let lower = (97...122).map { String(UnicodeScalar(UInt8($0))) }

    /// Default EMNIST class names for a split (used when the mapping file is absent).
    public static func emnistClassNames(split: String) -> [String]? {
        switch split {
        case "byclass": return digits + upper + lower
        case "bymerge", "balanced": return digits + upper + ["a", "b", "d", "e", "f", "g", "h", "n", "q", "r", "t"]
        case "letters": return ["N/A"] + upper
        case "digits", "mnist": return digits
        default: return nil
        }
    }

    private static func url(_ string: String) -> URL {
        // All strings below are literal, well-formed URLs.
        URL(string: string) ?? URL(fileURLWithPath: "/")
    }

    private static func idxFiles(base mirrors: [String], md5: [String: String]?) -> [RemoteFile] {
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
            .map { file in
                RemoteFile(name: file, urls: mirrors.map { url($0 + file) }, checksum: md5?[file].map(Checksum.md5))
            }
    }

    static let idxTrain = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    static let idxTest = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]

    /// Every catalogue entry.
    public static let all: [DatasetDescriptor] = {
        var entries: [DatasetDescriptor] = []
        // MNIST: MD5s of the original files as published with torchvision.
        entries.append(DatasetDescriptor(
            name: "mnist", summary: "MNIST handwritten digits, 60k/10k, 28×28 grayscale (Y. LeCun, C. Cortes)",
            format: .idx(transposed: false), trainFiles: idxTrain, testFiles: idxTest, classNamesFile: nil,
            subdirectories: ["mnist", "MNIST/raw"], channels: 1, height: 28, width: 28, classCount: 10,
            classNames: digits, normalization: .mnist,
            downloads: idxFiles(base: ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
                                md5: ["train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                                      "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
                                      "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                                      "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"]),
            archive: nil, archiveMembers: []))
        entries.append(DatasetDescriptor(
            name: "fashion-mnist", summary: "Fashion-MNIST clothing, 60k/10k, 28×28 grayscale (Zalando Research, MIT)",
            format: .idx(transposed: false), trainFiles: idxTrain, testFiles: idxTest, classNamesFile: nil,
            subdirectories: ["fashion-mnist", "FashionMNIST/raw"], channels: 1, height: 28, width: 28, classCount: 10,
            classNames: ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
            normalization: .fashionMNIST,
            downloads: idxFiles(base: ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
                                md5: ["train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                      "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                                      "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                                      "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"]),
            archive: nil, archiveMembers: []))
        // KMNIST: public code disagrees on the MD5s of these files, so none is recorded.
        entries.append(DatasetDescriptor(
            name: "kmnist", summary: "Kuzushiji-MNIST cursive Japanese, 60k/10k, 28×28 grayscale (CODH, CC BY-SA 4.0)",
            format: .idx(transposed: false), trainFiles: idxTrain, testFiles: idxTest, classNamesFile: nil,
            subdirectories: ["kmnist", "KMNIST/raw"], channels: 1, height: 28, width: 28, classCount: 10,
            classNames: ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"], normalization: nil,
            downloads: idxFiles(base: ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"], md5: nil),
            archive: nil, archiveMembers: []))
        for (split, classCount) in emnistSplits {
            let prefix = "emnist-\(split)"
            entries.append(DatasetDescriptor(
                name: prefix, summary: "EMNIST \(split) split, 28×28 grayscale, \(classCount) classes (NIST); images stored transposed",
                format: .idx(transposed: true),
                trainFiles: ["\(prefix)-train-images-idx3-ubyte.gz", "\(prefix)-train-labels-idx1-ubyte.gz"],
                testFiles: ["\(prefix)-test-images-idx3-ubyte.gz", "\(prefix)-test-labels-idx1-ubyte.gz"],
                classNamesFile: "\(prefix)-mapping.txt", subdirectories: ["gzip", "emnist", "emnist/gzip", "EMNIST/raw"],
                channels: 1, height: 28, width: 28, classCount: classCount,
                classNames: emnistClassNames(split: split), normalization: nil,
                downloads: [RemoteFile(name: "gzip.zip", urls: [url("https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip")],
                                       checksum: .md5("58c8d27c78d21e728a6bc7b3cc06412e"))],
                archive: .zip, archiveMembers: ["gzip/\(prefix)-"]))
        }
        entries.append(DatasetDescriptor(
            name: "cifar10", summary: "CIFAR-10, 50k/10k, 32×32 RGB, 10 classes (A. Krizhevsky)",
            format: .cifar10Binary, trainFiles: (1...5).map { "data_batch_\($0).bin" }, testFiles: ["test_batch.bin"],
            classNamesFile: "batches.meta.txt", subdirectories: ["cifar-10-batches-bin", "cifar10/cifar-10-batches-bin"],
            channels: 3, height: 32, width: 32, classCount: 10,
            classNames: ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
            normalization: .cifar10,
            downloads: [RemoteFile(name: "cifar-10-binary.tar.gz", urls: [url("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz")],
                                   checksum: .md5("c32a1d4ab5d03f1284b67883e8d87530"))],
            archive: .tarGz, archiveMembers: []))
        entries.append(DatasetDescriptor(
            name: "cifar100", summary: "CIFAR-100, 50k/10k, 32×32 RGB, 100 fine classes (A. Krizhevsky)",
            format: .cifar100Binary, trainFiles: ["train.bin"], testFiles: ["test.bin"],
            classNamesFile: "fine_label_names.txt", subdirectories: ["cifar-100-binary", "cifar100/cifar-100-binary"],
            channels: 3, height: 32, width: 32, classCount: 100, classNames: nil, normalization: .cifar100,
            downloads: [RemoteFile(name: "cifar-100-binary.tar.gz", urls: [url("https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz")],
                                   checksum: .md5("03b5dce01913d631647c71ecec9e9cb8"))],
            archive: .tarGz, archiveMembers: []))
        entries.append(DatasetDescriptor(
            name: "lfw-subset", summary: "200 25×25 grayscale crops from LFW as shipped with scikit-image: 100 faces (1), 100 non-faces (0)",
            format: .idx(transposed: false),
            trainFiles: ["lfw-subset-images-idx3-ubyte", "lfw-subset-labels-idx1-ubyte"], testFiles: [],
            classNamesFile: nil, subdirectories: ["lfw-subset"], channels: 1, height: 25, width: 25, classCount: 2,
            classNames: ["non-face", "face"], normalization: nil, downloads: [], archive: nil, archiveMembers: []))
        entries.append(DatasetDescriptor(
            name: "photos32", summary: "600 32×32 RGB patches of 6 scikit-image photographs, CIFAR-10 binary layout",
            format: .cifar10Binary, trainFiles: ["photos32.bin"], testFiles: [], classNamesFile: "classes.txt",
            subdirectories: ["photos32"], channels: 3, height: 32, width: 32, classCount: 6,
            classNames: ["astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "ihc"], normalization: nil,
            downloads: [], archive: nil, archiveMembers: []))
        entries.append(DatasetDescriptor(
            name: "image-folder", summary: "any folder with one subfolder of PNG/JPEG images per class (optionally under train/ and test/)",
            format: .imageFolder, trainFiles: [], testFiles: [], classNamesFile: nil, subdirectories: [],
            channels: 0, height: 0, width: 0, classCount: 0, classNames: nil, normalization: nil,
            downloads: [], archive: nil, archiveMembers: []))
        return entries
    }()

    /// The names of all catalogue entries.
    public static var names: [String] { all.map(\.name) }

    /// The entry called `name` (case-insensitive; `_` is accepted for `-`, and
    /// `cifar-10` / `cifar-100` for `cifar10` / `cifar100`).
    public static func descriptor(named name: String) throws -> DatasetDescriptor {
        let key = name.lowercased().replacingOccurrences(of: "_", with: "-")
            .replacingOccurrences(of: "cifar-10", with: "cifar10")
        guard let entry = all.first(where: { $0.name == key }) else {
            throw DataError.unknownDataset(name: name, known: names)
        }
        return entry
    }

    /// Loads split `split` of the named data set from `directory`.
    ///
    /// `directory` may be the data set's own folder (holding e.g.
    /// `train-images-idx3-ubyte.gz`) or a parent folder holding it under one of
    /// the descriptor's ``DatasetDescriptor/subdirectories`` (e.g. `mnist/`).
    /// Files are found with or without the `.gz` suffix; gzip is detected by magic number.
    ///
    /// For `image-folder`, `directory/train` and `directory/test` are used when they
    /// exist; otherwise `directory` itself is the (train-only) data set.
    public static func load(_ name: String, split: Split, directory: String) throws -> ImageDataset {
        let entry = try descriptor(named: name)
        switch entry.format {
        case .imageFolder:
            return try loadImageFolder(directory, split: split, name: entry.name)
        case let .idx(transposed):
            let files = try splitFiles(entry, split)
            let imagesPath = try FileIO.require(files[0], in: directory, subdirectories: entry.subdirectories)
            let labelsPath = try FileIO.require(files[1], in: directory, subdirectories: entry.subdirectories)
            var classNames = entry.classNames
            var classCount = entry.classCount
            if let mappingName = entry.classNamesFile,
               let mappingPath = FileIO.locate(mappingName, in: directory, subdirectories: entry.subdirectories) {
                let names = try readEMNISTMapping(mappingPath, classCount: classCount)
                classNames = names
                classCount = names.count
            }
            return try IDXReader.load(images: imagesPath, labels: labelsPath, name: entry.name, classCount: classCount,
                                      classNames: classNames, transposed: transposed, normalization: entry.normalization)
        case .cifar10Binary, .cifar100Binary:
            let files = try splitFiles(entry, split)
            let paths = try files.map { try FileIO.require($0, in: directory, subdirectories: entry.subdirectories) }
            var classNames = entry.classNames
            if let namesFile = entry.classNamesFile,
               let path = FileIO.locate(namesFile, in: directory, subdirectories: entry.subdirectories) {
                let names = try CIFARReader.readClassNames(path)
                guard names.count == entry.classCount else {
                    throw DataError.countMismatch(path: path, expected: entry.classCount, found: names.count)
                }
                classNames = names
            }
            if entry.format == .cifar100Binary {
                return try CIFARReader.readCIFAR100(paths, labels: .fine, name: entry.name, classNames: classNames,
                                                    normalization: entry.normalization)
            }
            return try CIFARReader.readCIFAR10(paths, name: entry.name, classCount: entry.classCount,
                                               classNames: classNames, normalization: entry.normalization)
        }
    }

    private static func splitFiles(_ entry: DatasetDescriptor, _ split: Split) throws -> [String] {
        let files = split == .train ? entry.trainFiles : entry.testFiles
        guard !files.isEmpty else { throw DataError.splitUnavailable(dataset: entry.name, split: split.rawValue) }
        return files
    }

    private static func loadImageFolder(_ directory: String, split: Split, name: String) throws -> ImageDataset {
        let trainDirectory = (directory as NSString).appendingPathComponent(Split.train.rawValue)
        let testDirectory = (directory as NSString).appendingPathComponent(Split.test.rawValue)
        if FileIO.isDirectory(trainDirectory) || FileIO.isDirectory(testDirectory) {
            let chosen = split == .train ? trainDirectory : testDirectory
            guard FileIO.isDirectory(chosen) else { throw DataError.splitUnavailable(dataset: name, split: split.rawValue) }
            return try ImageFolderReader.load(chosen, name: name)
        }
        guard split == .train else { throw DataError.splitUnavailable(dataset: name, split: split.rawValue) }
        return try ImageFolderReader.load(directory, name: name)
    }

    /// Reads an EMNIST `*-mapping.txt` file (lines `label ascii [ascii…]`) into class
    /// names indexed by label; labels without a line (class 0 of `letters`) are
    /// named `"N/A"`. The first code of each line gives the name.
    ///
    /// - Throws: ``DataError/invalidFormat(path:record:reason:)`` for a malformed
    ///   line (the record is the 0-based line number), ``DataError/labelOutOfRange(path:record:label:classCount:)``.
    public static func readEMNISTMapping(_ path: String, classCount: Int) throws -> [String] {
        let text = String(decoding: try FileIO.readMaybeGzip(path), as: UTF8.self)
        var names = [String](repeating: "N/A", count: classCount)
        var seen = 0
        for (lineNumber, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            guard fields.count >= 2, let label = Int(fields[0]), let code = UInt32(fields[1]),
                  let scalar = UnicodeScalar(code), code >= 32 else {
                throw DataError.invalidFormat(path: path, record: lineNumber,
                                              reason: "expected 'label ascii-code', found '\(line.prefix(40))'")
            }
            guard label >= 0 && label < classCount else {
                throw DataError.labelOutOfRange(path: path, record: lineNumber, label: label, classCount: classCount)
            }
            names[label] = String(Character(scalar))
            seen += 1
        }
        guard seen > 0 else {
            throw DataError.invalidFormat(path: path, record: nil, reason: "mapping file has no entries")
        }
        return names
    }
}

/// Loads split `split` of the named data set from `directory`; see
/// ``DatasetCatalogue/load(_:split:directory:)``.
public func loadDataset(_ name: String, split: Split = .train, directory: String) throws -> ImageDataset {
    try DatasetCatalogue.load(name, split: split, directory: directory)
}
