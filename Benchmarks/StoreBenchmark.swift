import Continual
import Foundation
import Formats
import Store

/// Registering a large stage, then a small one: the second must cost in proportion to its
/// own classes, not to what the store already holds. Also a LAMM-style snapshot of each
/// stage (the second writes only the new classes' rows and points at the old ones).
/// Reference: the first stage, measured in the same run; the ratios are per class.
func runStoreBenchmark(classes: Int = 1000, moreClasses: Int = 10, samplesPerClass: Int = 20, featureWidth: Int = 512,
                       tokenWidth: Int = 512) throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lamm-bench-store-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let dbPath = directory.appendingPathComponent("bench.sqlite").path
    let store = try LabelStore.open(path: dbPath, access: .create)
    try store.bindModel(ModelRecord(name: "bench", directory: "/bench", weightsFile: "model.safetensors",
                                    weightsSha256: String(repeating: "0", count: 64), configJson: "{}",
                                    tokenEmbeddingWidth: tokenWidth, featureWidth: featureWidth))
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

    func fileSize() throws -> Int {
        // Checkpoint the WAL so the main file holds everything written.
        try store.writer.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        return (try FileManager.default.attributesOfItem(atPath: dbPath)[.size] as? Int) ?? 0
    }

    struct Measure { var register: Double; var snapshot: Double; var bytes: Int }
    func stage(_ name: String, _ classNames: [String]) throws -> Measure {
        let (csv, npy) = try writeStage(name, classNames: classNames)
        let before = try fileSize()
        let start = Date()
        let data = try StageImport.load(csv: csv, csvName: csv.path, features: npy, featuresName: npy.path, featureWidth: featureWidth)
        _ = try store.registerStage(dataset: "bench", stage: name, data: data)
        let registered = Date()
        var trained: [String: TokenVectors] = [:]
        for className in classNames {
            trained[className] = TokenVectors(tokenCount: 2, width: tokenWidth,
                                              values: (0..<(2 * tokenWidth)).map { _ in Float.random(in: -1...1, using: &generator) })
        }
        _ = try store.writeSnapshot(NewSnapshot(dataset: "bench", stage: name, method: .lamm, trained: trained))
        let done = Date()
        return Measure(register: registered.timeIntervalSince(start), snapshot: done.timeIntervalSince(registered),
                       bytes: try fileSize() - before)
    }

    let big = try stage("Set1", (0..<classes).map { "class\($0)" })
    let small = try stage("Set2", (0..<moreClasses).map { "new\($0)" })
    let report = try store.verify()
    func mb(_ bytes: Int) -> String { String(format: "%.2f MB", Double(bytes) / 1e6) }
    func ms(_ seconds: Double) -> String { String(format: "%.1f ms", seconds * 1e3) }
    print("store: \(classes) classes x \(samplesPerClass) samples x \(featureWidth)-d, then \(moreClasses) more classes")
    print("  stage 1: register \(ms(big.register)), snapshot \(ms(big.snapshot)), database +\(mb(big.bytes))")
    print("  stage 2: register \(ms(small.register)), snapshot \(ms(small.snapshot)), database +\(mb(small.bytes))")
    let expected = Double(moreClasses) / Double(classes)
    print(String(format: "  ratios stage2/stage1 (proportional = %.4f): register %.4f, snapshot %.4f, bytes %.4f",
                 expected, small.register / big.register, small.snapshot / big.snapshot, Double(small.bytes) / Double(big.bytes)))
    print(String(format: "  per-class cost stage2 vs stage1: register %.2fx, snapshot %.2fx, bytes %.2fx (1.00x = proportional)",
                 small.register / big.register / expected, small.snapshot / big.snapshot / expected,
                 Double(small.bytes) / Double(big.bytes) / expected))
    print("  verify: \(report.ok ? "ok" : "FAILED")")
}
