// swift-tools-version: 6.0
import PackageDescription

let grdb = Target.Dependency.product(name: "GRDB", package: "GRDB.swift")
let crypto = Target.Dependency.product(name: "Crypto", package: "swift-crypto")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let postgres = Target.Dependency.product(name: "PostgresNIO", package: "postgres-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let nioSSL = Target.Dependency.product(name: "NIOSSL", package: "swift-nio-ssl")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")

let package = Package(
    name: "lamm-store",
    products: [
        .executable(name: "lamm-store", targets: ["lamm-store"]),
        .library(name: "LAMMStore", targets: ["Formats", "Kernels", "CLIP", "Methods", "Store", "Training", "Evaluation", "Continual", "Reports", "Demo", "Images"]),
    ],
    dependencies: [
        // GRDB links the system's libsqlite3 (Debian: libsqlite3-dev).
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        // SHA-256 of checkpoints and of label-embedding contents.
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        // The PostgreSQL client of the shared store (`--db postgres://...`).
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
        // Its event loops, TLS (sslmode) and logger, named directly by the store's PostgreSQL executor.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // System libraries (installed by scripts/bootstrap).
        .systemLibrary(name: "COpenBLAS", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CJPEG", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CPNG", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),

        // File formats: CSV, NumPy .npy, safetensors, the stage files that add classes; JSON nulls.
        .target(name: "Formats", dependencies: ["Methods"]),
        // The methods a snapshot can come from, shared by the store and the trainer.
        .target(name: "Methods"),
        // Layer forward/backward functions over flat Float buffers; linear layers in fp32
        // (OpenBLAS) or bf16 (oneDNN).
        .target(name: "Kernels", dependencies: ["COpenBLAS", "CDNNL"]),
        // CLIP: configuration, checkpoint loading, tokenizer, text and vision towers, their prompts.
        // CLIP's own BPE vocabulary ships as a resource: the default when a checkpoint has none.
        .target(name: "CLIP", dependencies: ["Formats", "Kernels", "CZlib"],
                resources: [.copy("Resources/bpe_simple_vocab_16e6.txt.gz"), .copy("Resources/LICENSE-CLIP.txt")]),
        // JPEG and PNG decoding, CLIP's image preprocessing.
        .target(name: "Images", dependencies: ["CJPEG", "CPNG", "Formats"]),
        // The store of versioned label embeddings: one set of operations over SQLite (a file) and
        // PostgreSQL (a shared server).
        .target(name: "Store", dependencies: ["Formats", "Methods", grdb, crypto, postgres, nioPosix, nioSSL, logging]),
        // LAMM.md: prompts with trainable label tokens, the hierarchical loss, SGD, trainers.
        .target(name: "Training", dependencies: ["CLIP", "Kernels", "Formats", "Methods"]),
        // Accuracy of text features against image features, continual-learning metrics.
        .target(name: "Evaluation", dependencies: ["Formats", "Kernels"]),
        // Stage by stage: register, zero-shot baseline, train, snapshot, evaluate.
        .target(name: "Continual", dependencies: ["CLIP", "Kernels", "Store", "Training", "Evaluation", "Formats", "Images", "Methods"]),
        // What a store's snapshots show: comparison tables and charts (text, HTML), exported label embeddings.
        .target(name: "Reports", dependencies: ["Continual", "Evaluation", "Formats", "Store", "Training", "Methods"]),
        // The demo: a tiny CLIP checkpoint and a synthetic two-stage task (image features, and
        // pictures for the methods that train inside the image tower), made on the spot and run
        // through the whole flow.
        .target(name: "Demo", dependencies: ["CLIP", "Formats", "Kernels", "Training", "Evaluation", "Continual", "Reports", "Store", "Images", "Methods"]),

        // The command-line tool: a root command and one file per subcommand.
        .executableTarget(name: "lamm-store", dependencies: ["CLIP", "Formats", "Store", "Training", "Continual", "Reports", "Demo", "Images", "Kernels", argumentParser, "Methods"]),
        // Timed runs that print ratios against references measured in the same run.
        .executableTarget(name: "lamm-bench", dependencies: ["Kernels", "CLIP", "Formats", "Store", "Training", "Continual", argumentParser], path: "Benchmarks"),

        .testTarget(name: "FormatsTests", dependencies: ["Formats", "Methods"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
        .testTarget(name: "CLIPTests", dependencies: ["CLIP", "Formats", "Kernels"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", grdb]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "CLIP", "Kernels", "Formats", "Methods"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation"]),
        .testTarget(name: "ContinualTests", dependencies: ["Continual", "Store", "Training", "CLIP", "Formats", "Images", grdb, "Methods"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "Evaluation", "Store"]),
        .testTarget(name: "DemoTests", dependencies: ["Demo", "CLIP", "Continual", "Formats", "Reports", "Store"]),
        .testTarget(name: "ImagesTests", dependencies: ["Images", "CLIP", "Formats"]),
        .testTarget(name: "CLITests", dependencies: ["lamm-store", "Store", "Training", "Formats", grdb, "Methods"]),
    ]
)
