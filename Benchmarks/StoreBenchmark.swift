import Continual
import Foundation
import Formats
import Store

/// Registering a large stage, then a small one: the second must cost in proportion to its
/// own classes, not to what the store already holds. Also a LAMM-style snapshot of each
/// stage (the second writes only the new classes' rows and points at the old ones).
/// Reference: the first stage, measured in the same run; the ratios are per class. Given a
/// PostgreSQL store, the same stages are written to it too, and its times are given as ratios
/// against SQLite's in the same run.
func runStoreBenchmark(classes: Int = 1000, moreClasses: Int = 10, samplesPerClass: Int = 20, featureWidth: Int = 512,
                       tokenWidth: Int = 512, postgres: String? = nil) throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lamm-bench-store-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    var generator = SystemRandomNumberGenerator()

    func writeStage(_ name: String, classNames: [String]) throws -> (URL, URL) {
        var csv = "class,split\n"
        var values: [Float] = []
        values.reserveCapacity(classNames.count * samplesPerClass * featureWidth)
        for className in classNames {
            for s in 0..<samplesPerClass {
                csv += "\(className),\(s < samplesPerClass * 3 / 4 ? "train" : "test")\n"
                for _ in 0..<featureWidth { values.append(Float.random(in: -1...1, using: &generator)) }
            }
        }
        let csvURL = directory.appendingPathComponent("\(name).csv"), npyURL = directory.appendingPathComponent("\(name).npy")
        try Data(csv.utf8).write(to: csvURL)
        try NPY.write(FloatMatrix(rows: classNames.count * samplesPerClass, columns: featureWidth, values: values), to: npyURL)
        return (csvURL, npyURL)
    }
    // The same stages for both backends.
    let bigFiles = try writeStage("Set1", classNames: (0..<classes).map { "class\($0)" })
    let smallFiles = try writeStage("Set2", classNames: (0..<moreClasses).map { "new\($0)" })
    let bigData = try StageFile.read(csv: bigFiles.0, csvName: bigFiles.0.path, features: bigFiles.1, featuresName: bigFiles.1.path, featureWidth: featureWidth)
    let smallData = try StageFile.read(csv: smallFiles.0, csvName: smallFiles.0.path, features: smallFiles.1, featuresName: smallFiles.1.path, featureWidth: featureWidth)
    func labelVectors(_ data: StageData) -> [String: TokenVectors] {
        var trained: [String: TokenVectors] = [:]
        for className in data.classes {
            trained[className] = TokenVectors(tokenCount: 2, width: tokenWidth,
                                              values: (0..<(2 * tokenWidth)).map { _ in Float.random(in: -1...1, using: &generator) })
        }
        return trained
    }
    let bigVectors = labelVectors(bigData), smallVectors = labelVectors(smallData)

    struct Measure { var register: Double; var snapshot: Double; var bytes: Int }
    struct Run { var big: Measure; var small: Measure; var verified: Bool }

    /// Both stages into `store` as dataset `dataset`; `size` is the bytes the store takes.
    func measure(_ store: LabelStore, dataset: String, size: () throws -> Int) throws -> Run {
        try store.bindModel(ModelRecord(name: "bench", directory: "/bench", weightsFile: "model.safetensors",
                                        weightsSha256: String(repeating: "0", count: 64), configJson: "{}",
                                        tokenEmbeddingWidth: tokenWidth, featureWidth: featureWidth))
        func stage(_ name: String, _ data: StageData, _ trained: [String: TokenVectors]) throws -> Measure {
            let before = try size()
            let start = Date()
            _ = try store.registerStage(dataset: dataset, stage: name, data: data)
            let registered = Date()
            _ = try store.writeSnapshot(NewSnapshot(dataset: dataset, stage: name, method: .lamm, trained: trained))
            let done = Date()
            return Measure(register: registered.timeIntervalSince(start), snapshot: done.timeIntervalSince(registered),
                           bytes: try size() - before)
        }
        let big = try stage("Set1", bigData, bigVectors)
        let small = try stage("Set2", smallData, smallVectors)
        return Run(big: big, small: small, verified: try store.verify().ok)
    }

    func mb(_ bytes: Int) -> String { String(format: "%.2f MB", Double(bytes) / 1e6) }
    func ms(_ seconds: Double) -> String { String(format: "%.1f ms", seconds * 1e3) }
    func report(_ name: String, _ run: Run) {
        print("\(name): \(classes) classes x \(samplesPerClass) samples x \(featureWidth)-d, then \(moreClasses) more classes")
        print("  stage 1: register \(ms(run.big.register)), snapshot \(ms(run.big.snapshot)), database +\(mb(run.big.bytes))")
        print("  stage 2: register \(ms(run.small.register)), snapshot \(ms(run.small.snapshot)), database +\(mb(run.small.bytes))")
        let expected = Double(moreClasses) / Double(classes)
        print(String(format: "  ratios stage2/stage1 (proportional = %.4f): register %.4f, snapshot %.4f, bytes %.4f",
                     expected, run.small.register / run.big.register, run.small.snapshot / run.big.snapshot,
                     Double(run.small.bytes) / Double(run.big.bytes)))
        print(String(format: "  per-class cost stage2 vs stage1: register %.2fx, snapshot %.2fx, bytes %.2fx (1.00x = proportional)",
                     run.small.register / run.big.register / expected, run.small.snapshot / run.big.snapshot / expected,
                     Double(run.small.bytes) / Double(run.big.bytes) / expected))
        print("  verify: \(run.verified ? "ok" : "FAILED")")
    }

    let dbPath = directory.appendingPathComponent("bench.sqlite").path
    let sqlite = try LabelStore.open(path: dbPath, access: .create)
    let sqliteRun = try measure(sqlite, dataset: "bench") { try sqlite.executor.storedBytes() }
    try sqlite.close()
    report("sqlite store", sqliteRun)

    guard let postgres else { return }
    let server = try LabelStore.open(path: postgres, access: .create)
    defer { try? server.close() }
    // A dataset of its own each run, so that a store measured before is measured again.
    let serverRun = try measure(server, dataset: "bench-\(UUID().uuidString.prefix(8))") { try server.executor.storedBytes() }
    report("postgresql store \(server.path)", serverRun)
    print(String(format: "  postgresql / sqlite in this run: register %.2fx, snapshot %.2fx (stage 1); register %.2fx, snapshot %.2fx (stage 2); target: stage 1 register within 2x",
                 serverRun.big.register / sqliteRun.big.register, serverRun.big.snapshot / sqliteRun.big.snapshot,
                 serverRun.small.register / sqliteRun.small.register, serverRun.small.snapshot / sqliteRun.small.snapshot))
}
