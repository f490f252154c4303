import Continual
import Foundation
import Formats
import Store

/// What a stage costs the store: registering its classes and samples, and a LAMM-style snapshot
/// that writes only the classes it trains (the others resolve through the lineage).
///
/// 1. Reference: a first stage of 1,000 classes x 20 samples x 512-d, then `repeats` stages of
///    10 more classes each; the +10 stages' per-class cost against the first stage's, measured
///    in the same run (target: within 1.5x).
/// 2. With `--classes N` above 1,000: a store of N classes (one sample each, so that its
///    features fit in memory), then the same +10 stages; their cost against the +10 stages on
///    1,000 classes (target: within 2x).
/// 3. Reading a snapshot's label rows (what eval, classify and export read first) for 1,000
///    classes in 20 stages against the same classes in 2 stages (target: within 1.2x).
/// Given a PostgreSQL store, every case runs on it too, and its times are given beside SQLite's.
struct StoreBenchmark {
    var classes = 1000
    var moreClasses = 10
    var repeats = 5
    var depth = 20
    var featureWidth = 512
    var tokenWidth = 512
    var postgres: String?

    struct Stage {
        var name: String
        var data: StageData
        var trained: [String: TokenVectors]
    }

    struct Cost {
        var register: Double
        var snapshot: Double
        var bytes: Int
    }

    func run() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lamm-bench-store-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var generator = SystemRandomNumberGenerator()

        /// A stage of `names` with `samples` rows per class, through a CSV and `.npy` as add-classes reads them.
        func stage(_ name: String, names: [String], samples: Int) throws -> Stage {
            var csv = "class,split\n"
            var values: [Float] = []
            values.reserveCapacity(names.count * samples * featureWidth)
            for className in names {
                for s in 0..<samples {
                    csv += "\(className),\(samples == 1 || s < samples * 3 / 4 ? "train" : "test")\n"
                    for _ in 0..<featureWidth { values.append(Float.random(in: -1...1, using: &generator)) }
                }
            }
            let csvURL = directory.appendingPathComponent("\(name).csv"), npyURL = directory.appendingPathComponent("\(name).npy")
            try Data(csv.utf8).write(to: csvURL)
            try NPY.write(FloatMatrix(rows: names.count * samples, columns: featureWidth, values: values), to: npyURL)
            let data = try StageFile.read(csv: csvURL, csvName: csvURL.path, features: npyURL, featuresName: npyURL.path, featureWidth: featureWidth)
            var trained: [String: TokenVectors] = [:]
            for className in names {
                trained[className] = TokenVectors(tokenCount: 2, width: tokenWidth,
                                                  values: (0..<(2 * tokenWidth)).map { _ in Float.random(in: -1...1, using: &generator) })
            }
            return Stage(name: name, data: data, trained: trained)
        }

        let first = try stage("Set1", names: (0..<1000).map { "class\($0)" }, samples: 20)
        let additions = try (0..<repeats).map { r in try stage("Set\(r + 2)", names: (0..<moreClasses).map { "new\(r)_\($0)" }, samples: 20) }
        let large = classes > 1000 ? try stage("Set1", names: (0..<classes).map { "class\($0)" }, samples: 1) : nil
        let deep = try (0..<depth).map { d in try stage("Set\(d + 1)", names: (0..<(1000 / depth)).map { "deep\(d)_\($0)" }, samples: 1) }
        let shallow = try (0..<2).map { d in try stage("Set\(d + 1)", names: (0..<(1000 / depth * depth / 2)).map { "flat\(d)_\($0)" }, samples: 1) }

        let sqlite = try LabelStore.open(path: directory.appendingPathComponent("bench.sqlite").path, access: .create)
        let sqliteFigures = try measure(sqlite, backend: "sqlite store", dataset: "bench", first: first, additions: additions,
                                        large: large, deep: deep, shallow: shallow)
        try sqlite.close()
        guard let postgres else { return }
        let server = try LabelStore.open(path: postgres, access: .create)
        defer { try? server.close() }
        // Datasets of their own each run, so that a store measured before is measured again.
        let serverFigures = try measure(server, backend: "postgresql store \(server.path)", dataset: "bench-\(UUID().uuidString.prefix(8))",
                                        first: first, additions: additions, large: large, deep: deep, shallow: shallow)
        print(String(format: "postgresql / sqlite in this run: stage 1 register %.2fx, snapshot %.2fx; +%d register %.2fx, snapshot %.2fx",
                     serverFigures.first.register / sqliteFigures.first.register, serverFigures.first.snapshot / sqliteFigures.first.snapshot,
                     moreClasses, serverFigures.addition.register / sqliteFigures.addition.register,
                     serverFigures.addition.snapshot / sqliteFigures.addition.snapshot))
    }

    struct Figures {
        var first: Cost
        var addition: Cost
    }

    func measure(_ store: LabelStore, backend: String, dataset: String, first: Stage, additions: [Stage], large: Stage?,
                 deep: [Stage], shallow: [Stage]) throws -> Figures {
        try store.bindModel(ModelRecord(name: "bench", directory: "/bench", weightsFile: "model.safetensors",
                                        weightsSha256: String(repeating: "0", count: 64), configJson: "{}",
                                        tokenEmbeddingWidth: tokenWidth, featureWidth: featureWidth))
        func add(_ stage: Stage, to dataset: String) throws -> (cost: Cost, snapshot: Int64) {
            let before = try store.executor.storedBytes()
            let start = Date()
            _ = try store.registerStage(dataset: dataset, stage: stage.name, data: stage.data)
            let registered = Date()
            let snapshot = try store.writeSnapshot(NewSnapshot(dataset: dataset, stage: stage.name, method: .lamm, trained: stage.trained))
            let done = Date()
            return (Cost(register: registered.timeIntervalSince(start), snapshot: done.timeIntervalSince(registered),
                         bytes: try store.executor.storedBytes() - before), snapshot.id!)
        }
        /// The median of the +10 stages, each on top of the ones before.
        func additionsCost(on dataset: String) throws -> Cost {
            let costs = try additions.map { try add($0, to: dataset).cost }
            func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
            return Cost(register: median(costs.map(\.register)), snapshot: median(costs.map(\.snapshot)),
                        bytes: costs.map(\.bytes).sorted()[costs.count / 2])
        }
        func mb(_ bytes: Int) -> String { String(format: "%.2f MB", Double(bytes) / 1e6) }
        func ms(_ seconds: Double) -> String { String(format: "%.1f ms", seconds * 1e3) }

        print("\(backend):")
        let firstCost = try add(first, to: dataset).cost
        // What any write pays whatever it writes: the transaction, its lock and a commit that
        // reaches the disk (one write receipt, which is not the store's content).
        var floors: [Double] = []
        for _ in 0..<7 {
            let start = Date()
            try store.executor.write(locks: ["dataset " + dataset]) {
                try $0.execute("INSERT INTO write_receipt (key, committed_at) VALUES (?, ?)", [UUID().uuidString.lowercased(), Date()])
            }
            floors.append(Date().timeIntervalSince(start))
        }
        let floor = floors.sorted()[floors.count / 2]
        let added = try additionsCost(on: dataset)
        let perClass = Double(moreClasses) / Double(first.data.classes.count)
        print("  1,000 classes x 20 samples x \(featureWidth)-d: register \(ms(firstCost.register)), snapshot \(ms(firstCost.snapshot)), database +\(mb(firstCost.bytes))")
        print("  +\(moreClasses) classes (median of \(additions.count) stages): register \(ms(added.register)), snapshot \(ms(added.snapshot)), database +\(mb(added.bytes))")
        print(String(format: "  per-class cost of +%d against the first stage: register %.2fx, snapshot %.2fx, bytes %.2fx (1.00x = proportional; target: snapshot within 1.5x)",
                     moreClasses, added.register / firstCost.register / perClass, added.snapshot / firstCost.snapshot / perClass,
                     Double(added.bytes) / Double(firstCost.bytes) / perClass))
        print(String(format: "  a write of one row (transaction, lock, commit): %@; the +%d snapshot without it: %.2fx per class",
                     ms(floor), moreClasses, max(added.snapshot - floor, 0) / (firstCost.snapshot - floor) / perClass))

        if let large {
            let start = Date()
            _ = try add(large, to: dataset + "-large")
            let largeAdded = try additionsCost(on: dataset + "-large")
            print(String(format: "  %d classes x 1 sample (%.1f s to write): +%d register %@, snapshot %@; against +%d on 1,000: register %.2fx, snapshot %.2fx (target: within 2x)",
                         large.data.classes.count, Date().timeIntervalSince(start), moreClasses, ms(largeAdded.register), ms(largeAdded.snapshot),
                         moreClasses, largeAdded.register / added.register, largeAdded.snapshot / added.snapshot))
        }

        // The same number of classes in `depth` stages and in 2: reading the last snapshot's rows,
        // the two read in turn so that drift in the machine's speed falls on both alike.
        func lastSnapshot(_ stages: [Stage], dataset: String) throws -> Int64 {
            var last: Int64 = 0
            for stage in stages { last = try add(stage, to: dataset).snapshot }
            return last
        }
        let deepSnapshot = try lastSnapshot(deep, dataset: dataset + "-deep")
        let shallowSnapshot = try lastSnapshot(shallow, dataset: dataset + "-flat")
        var deepTimes: [Double] = [], shallowTimes: [Double] = []
        for _ in 0..<21 {
            for (snapshot, isDeep) in [(deepSnapshot, true), (shallowSnapshot, false)] {
                let start = Date()
                _ = try store.labelRows(snapshot: snapshot)
                let seconds = Date().timeIntervalSince(start)
                if isDeep { deepTimes.append(seconds) } else { shallowTimes.append(seconds) }
            }
        }
        let deepTime = deepTimes.sorted()[deepTimes.count / 2], shallowTime = shallowTimes.sorted()[shallowTimes.count / 2]
        print(String(format: "  label rows of %d classes, %d stages deep %@, 2 stages %@: %.2fx (target: within 1.2x)",
                     deep.count * deep[0].data.classes.count, deep.count, ms(deepTime), ms(shallowTime), deepTime / shallowTime))
        print("  verify: \(try store.verify().ok ? "ok" : "FAILED")")
        return Figures(first: firstCost, addition: added)
    }
}
