import Formats
import Foundation
import Testing
@testable import Store

let testModel = ModelRecord(name: "tiny", directory: "/models/tiny", weightsFile: "model.safetensors",
                            weightsSha256: String(repeating: "ab", count: 32), configJson: "{}",
                            tokenEmbeddingWidth: 3, featureWidth: 4)

/// The two backends the store runs on. Tests that take a `Backend` run once on each: SQLite in
/// memory, and PostgreSQL in a new database of the server `LAMM_TEST_POSTGRES` names (which
/// scripts/test starts). Without that server the PostgreSQL cases fail in CI and are left out
/// elsewhere, saying so.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    var testDescription: String { rawValue }

    static var underTest: [Backend] {
        let environment = ProcessInfo.processInfo.environment
        if environment["LAMM_TEST_POSTGRES"] != nil || environment["CI"] != nil { return allCases }
        FileHandle.standardError.write(Data("note: LAMM_TEST_POSTGRES is not set, so the store's tests run on SQLite only (scripts/test starts a server)\n".utf8))
        return [.sqlite]
    }

    /// A new, empty store.
    func emptyStore() throws -> LabelStore {
        switch self {
        case .sqlite:
            return try LabelStore.inMemory()
        case .postgres:
            return try LabelStore.open(path: try newDatabase(), access: .create)
        }
    }
}

/// The URL of a new, empty database on the test server.
func newDatabase() throws -> String {
    guard let server = ProcessInfo.processInfo.environment["LAMM_TEST_POSTGRES"] else {
        throw TestServerMissing()
    }
    return try PostgresExecutor.createScratchDatabase(prefix: "lamm_test_", onServerOf: server)
}

struct TestServerMissing: Error, CustomStringConvertible {
    var description: String { "LAMM_TEST_POSTGRES names no PostgreSQL server; run the tests with scripts/test, which starts one" }
}

func boundStore(_ backend: Backend = .sqlite) throws -> LabelStore {
    let store = try backend.emptyStore()
    try store.bindModel(testModel)
    return store
}

/// Runs raw SQL in a write transaction, as a broken tool writing the database directly might.
func rawWrite(_ store: LabelStore, _ sql: String) throws {
    try store.executor.write(locks: []) { try $0.execute(sql) }
}

/// A stage of `classes`, with `perClass` train and one test sample each; features depend on
/// the class index so that they are distinct.
func stageData(_ classes: [String], perClass: Int = 2, file: String = "stage.csv") -> StageData {
    var data = StageData(sourceFile: file, classes: classes, samples: [], firstLine: [:])
    for (i, name) in classes.enumerated() {
        data.firstLine[name] = 2 + i * (perClass + 1)
        for s in 0...perClass {
            data.samples.append(Sample(classIndex: i, split: s == perClass ? .test : .train,
                                          feature: [Float(i + 1), Float(s), 1, -1], imagePath: nil,
                                          featureFile: "f.npy", featureRow: i * (perClass + 1) + s))
        }
    }
    return data
}

func vectors(_ seed: Float, tokens: Int = 2) -> TokenVectors {
    TokenVectors(tokenCount: tokens, width: 3, values: (0..<(tokens * 3)).map { seed + Float($0) / 10 })
}

func dump(_ store: LabelStore) throws -> String { try store.contentDump() }
