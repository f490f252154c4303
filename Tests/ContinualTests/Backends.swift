import Foundation
@testable import Store
import Testing

/// The two backends the store runs on. Tests that take a `Backend` run once on each: SQLite in
/// a file, and PostgreSQL in a new database of the server `LAMM_TEST_POSTGRES` names (which
/// scripts/test starts). Without that server the PostgreSQL cases fail in CI and are left out
/// elsewhere, saying so.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    var testDescription: String { rawValue }

    static var underTest: [Backend] {
        let environment = ProcessInfo.processInfo.environment
        if environment["LAMM_TEST_POSTGRES"] != nil || environment["CI"] != nil { return allCases }
        FileHandle.standardError.write(Data("note: LAMM_TEST_POSTGRES is not set, so the continual tests run on SQLite only (scripts/test starts a server)\n".utf8))
        return [.sqlite]
    }
}

/// The URL of a new, empty database on the test server.
func newPostgresDatabase() throws -> String {
    guard let server = ProcessInfo.processInfo.environment["LAMM_TEST_POSTGRES"] else { throw TestServerMissing() }
    return try PostgresExecutor.createScratchDatabase(prefix: "lamm_continual_", onServerOf: server)
}

struct TestServerMissing: Error, CustomStringConvertible {
    var description: String { "LAMM_TEST_POSTGRES names no PostgreSQL server; run the tests with scripts/test, which starts one" }
}
