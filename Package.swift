// swift-tools-version:6.0
import PackageDescription

// Small modules with one purpose each; system libraries come in through
// system-library targets found with pkg-config (Debian: libopenblas-dev,
// zlib1g-dev, libpng-dev, libjpeg62-turbo-dev, libjemalloc-dev).
let package = Package(
    name: "Outpost",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "OutpostTensor", targets: ["OutpostTensor"]),
        .library(name: "OutpostNN", targets: ["OutpostNN"]),
        .library(name: "OutpostData", targets: ["OutpostData"]),
        .library(name: "OutpostThreatModel", targets: ["OutpostThreatModel"]),
        .library(name: "OutpostAttacks", targets: ["OutpostAttacks"]),
        .library(name: "OutpostDefenses", targets: ["OutpostDefenses"]),
        .library(name: "OutpostExperiments", targets: ["OutpostExperiments"]),
        .executable(name: "outpost", targets: ["OutpostCLI"]),
        .library(name: "OutpostMetrics", targets: ["OutpostMetrics"]),
        .library(name: "OutpostSafetensors", targets: ["OutpostSafetensors"]),
        .library(name: "OutpostFederated", targets: ["OutpostFederated"]),
        .executable(name: "outpost-bench", targets: ["OutpostBench"]),
        .library(name: "OutpostLPIPS", targets: ["OutpostLPIPS"]),
        .library(name: "OutpostResults", targets: ["OutpostResults"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"]), .brew(["jpeg-turbo"])]),
        // The executables' allocator on Linux: the engine's graph makes many small, short-lived
        // allocations; with jemalloc W1 and W4 of docs/performance.md take 0.89 of the time
        // they take with glibc's malloc, W3 0.97.
        .systemLibrary(name: "CJemalloc", pkgConfig: "jemalloc", providers: [.apt(["libjemalloc-dev"])]),

        // The tensor engine: tensors, higher-order reverse-mode autodiff, CPU kernels.
        .target(
            name: "OutpostTensor",
            dependencies: [.target(name: "COpenBLAS", condition: .when(platforms: [.linux])), "COutpostSIMD"],
            // Kernels hand raw pointers to worker threads, which Swift 6's Sendable
            // checking cannot express; they are race-free by construction (disjoint ranges).
            swiftSettings: [.swiftLanguageMode(.v5)]),
        // Layers, models, initializers, optimizers.
        .target(name: "OutpostNN", dependencies: ["OutpostTensor", "OutpostSafetensors", "COutpostSIMD"]),
        // Vector loops (AVX2 where the CPU has it, chosen at run time) that Swift's generic
        // x86-64 code generation cannot emit: dot products, axpy, sigmoid.
        .target(name: "COutpostSIMD"),
        // What crosses from a client to the server, and what the server is assumed to know.
        .target(name: "OutpostThreatModel", dependencies: ["OutpostTensor"]),
        // Gradient-leakage attacks. Depends on the threat model, never on data or clients.
        .target(name: "OutpostAttacks", dependencies: ["OutpostTensor", "OutpostNN", "OutpostThreatModel"]),
        // Defenses: per-step, update-level and server-side hooks and their implementations.
        .target(name: "OutpostDefenses", dependencies: ["OutpostTensor", "OutpostNN"]),
        // Typed YAML configuration: key paths in errors, unknown keys, grids, overrides.
        .target(name: "OutpostConfig", dependencies: [.product(name: "Yams", package: "Yams")]),
        // Experiments: configurations, workflows and their outputs; what the CLI runs.
        .target(name: "OutpostExperiments", dependencies: [
            "OutpostConfig", "OutpostTensor", "OutpostNN", "OutpostData", "OutpostMetrics", "OutpostSafetensors",
            "OutpostThreatModel", "OutpostAttacks", "OutpostDefenses", "OutpostFederated", "OutpostResults",
        ]),
        // The `outpost` command line: a thin layer over OutpostExperiments.
        .executableTarget(name: "OutpostCLI", dependencies: [
            "OutpostExperiments", "OutpostConfig", "OutpostData", "OutpostMetrics", "OutpostAttacks", "OutpostTensor", "OutpostResults", "OutpostBenchmarks",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .target(name: "CJemalloc", condition: .when(platforms: [.linux])),
        ]),
        // Data set readers, federated partitions, image input/output.
        .target(name: "OutpostData", dependencies: ["CZlib", "CPNG", "CJPEG", "CJPEGSafe"],
                resources: [.copy("Samples")]),
        // libjpeg decoding with a setjmp/longjmp error manager kept inside C.
        .target(name: "CJPEGSafe", dependencies: ["CJPEG"]),
        // Leakage metrics: MSE, PSNR, SSIM, pairing, label accuracy.
        .target(name: "OutpostMetrics"),
        // The safetensors weight format (read and write).
        .target(name: "OutpostSafetensors"),
        // Federated learning simulation (FedAvg, FedSGD) with defense hooks and attack capture.
        .target(name: "OutpostFederated", dependencies: ["OutpostTensor", "OutpostNN", "OutpostData", "OutpostThreatModel", "OutpostDefenses"]),
        // Benchmarks beside PyTorch (docs/performance.md); kept out of `swift test`.
        // The benchmark workloads (docs/performance.md), for `outpost-bench` and `outpost bench`.
        .target(name: "OutpostBenchmarks", dependencies: ["OutpostTensor", "OutpostNN", "OutpostAttacks", "OutpostThreatModel", "OutpostDefenses"]),
        .executableTarget(name: "OutpostBench", dependencies: [
            "OutpostBenchmarks", "OutpostTensor", .target(name: "CJemalloc", condition: .when(platforms: [.linux])),
        ]),
        .target(name: "OutpostLPIPS", dependencies: ["OutpostTensor", "OutpostSafetensors", "OutpostMetrics"]),
        // Results database (SQLite through GRDB) and the self-contained HTML report.
        .target(name: "OutpostResults", dependencies: [.product(name: "GRDB", package: "GRDB.swift"), "OutpostData"]),

        .testTarget(name: "OutpostTensorTests", dependencies: ["OutpostTensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "OutpostNNTests", dependencies: ["OutpostNN", "OutpostData"], resources: [.copy("Fixtures")]),
        // Helpers shared by the test targets (the real data beside the checkout, SSIM of tensors).
        .target(name: "OutpostTestSupport", dependencies: ["OutpostData", "OutpostMetrics", "OutpostTensor"], path: "Tests/OutpostTestSupport"),
        .testTarget(name: "OutpostAttacksTests", dependencies: ["OutpostAttacks", "OutpostData", "OutpostMetrics", "OutpostTestSupport"]),
        .testTarget(name: "OutpostDefensesTests", dependencies: ["OutpostDefenses", "OutpostAttacks", "OutpostData", "OutpostMetrics", "OutpostTestSupport"]),
        .testTarget(name: "OutpostConfigTests", dependencies: ["OutpostConfig"]),
        .testTarget(name: "OutpostExperimentsTests", dependencies: [
            "OutpostExperiments", "OutpostConfig", "OutpostAttacks", "OutpostResults", .product(name: "GRDB", package: "GRDB.swift"),
        ], resources: [.copy("Fixtures")]),
        .testTarget(name: "OutpostDataTests", dependencies: ["OutpostData"]),
        .testTarget(name: "OutpostMetricsTests", dependencies: ["OutpostMetrics"], resources: [.copy("Fixtures")]),
        .testTarget(name: "OutpostSafetensorsTests", dependencies: ["OutpostSafetensors"], resources: [.copy("Fixtures")]),
        .testTarget(name: "OutpostFederatedTests", dependencies: ["OutpostFederated", "OutpostAttacks", "OutpostTestSupport"]),
        .testTarget(name: "OutpostLPIPSTests", dependencies: ["OutpostLPIPS"], resources: [.copy("Fixtures")]),
        .testTarget(name: "OutpostResultsTests", dependencies: ["OutpostResults"]),
        // Runs the `outpost` executable itself (kill with SIGKILL, resume).
        .testTarget(name: "OutpostCLITests", dependencies: ["OutpostCLI", "OutpostResults"]),
    ]
)
