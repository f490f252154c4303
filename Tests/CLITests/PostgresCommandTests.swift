import Foundation
import Testing
@testable import Store

/// The commands on a PostgreSQL store of the test server (LAMM_TEST_POSTGRES, started by
/// scripts/test): `copy` both ways, credentials, and the errors a user can meet.
extension StoreCommandTests {
    /// The test server's URL for a new, empty database.
    func newPostgresDatabase() throws -> String {
        guard let server = ProcessInfo.processInfo.environment["LAMM_TEST_POSTGRES"] else {
            throw PostgresServerMissing()
        }
        return try PostgresExecutor.createScratchDatabase(prefix: "lamm_cli_", onServerOf: server)
    }

    /// `url` with its password taken out, and the password.
    func withoutPassword(_ url: String) -> (url: String, password: String) {
        var components = URLComponents(string: url)!
        let password = components.password ?? ""
        components.password = nil
        return (components.string!, password)
    }

    func runOn(_ url: String, _ arguments: [String], environment: [String: String] = [:]) throws -> CLIResult {
        try CLI.run(arguments + ["--db", url], environment: environment)
    }

    @Test(.enabled(if: postgresTestsRun)) func copyMovesAStoreToPostgresAndBackUnchanged() throws {
        try initStore()
        for (file, classes) in [("set1", ["dog", "cat"]), ("set2", ["hen", "cow"])] {
            let (csv, rows) = try stageCSV("\(file).csv", classes: classes)
            let result = try run(["add-classes", csv, "--features", try features("\(file).npy", rows: rows), "--dataset", "pets",
                                  "--epochs", "2", "--quiet"])
            #expect(result.status == 0, "\(result.stderr)")
        }
        #expect(try run(["eval", "--snapshot", "2"]).status == 0)
        let server = try newPostgresDatabase()
        let there = try CLI.run(["copy", "--from", db, "--to", server, "--json"])
        #expect(there.status == 0, "\(there.stderr)")
        let report = try #require(try CLI.json(there) as? [String: Any])
        #expect((report["rows"] as? [String: Int])?["snapshot"] == 2 && report["target_verified"] as? Bool == true)
        #expect(!there.stdout.contains(withoutPassword(server).password), "the password is never printed")
        let back = scratch.path("back.sqlite")
        let home = try CLI.run(["copy", "--from", server, "--to", back])
        #expect(home.status == 0, "\(home.stderr)")
        // The same listing, comparison and evaluation from each of the three stores.
        for arguments in [["snapshots", "--json"], ["compare", "--dataset", "pets", "--json"], ["show", "--snapshot", "2", "--json"]] {
            let outputs = try [db, server, back].map { try CLI.run(arguments + ["--db", $0]) }
            for output in outputs { #expect(output.status == 0, "\(arguments): \(output.stderr)") }
            #expect(Set(outputs.map(\.stdout)).count == 1, "\(arguments) differs between the SQLite store, its PostgreSQL copy and the copy back")
        }
        #expect(try runOn(server, ["verify"]).status == 0)
        // A new stage on the server goes on from the copied lineage.
        let (csv, rows) = try stageCSV("set3.csv", classes: ["owl"])
        #expect(try runOn(server, ["add-classes", csv, "--features", try features("set3.npy", rows: rows), "--epochs", "1", "--quiet"]).status == 0)
        let snapshots = try #require(try CLI.json(try runOn(server, ["snapshots", "--json"])) as? [[String: Any]])
        #expect(snapshots.last?["id"] as? Int == 3 && snapshots.last?["parent"] as? Int == 2)
        // Copying into a store that holds data is refused, and changes nothing.
        let refused = try CLI.run(["copy", "--from", db, "--to", server])
        #expect(refused.status != 0 && refused.stderr.contains("already holds a store with data"), "\(refused.stderr)")
        #expect(try runOn(server, ["verify"]).status == 0)
    }

    @Test(.enabled(if: postgresTestsRun)) func postgresCredentialsComeFromTheURLPGPASSWORDOrPgpassAndAreNeverPrinted() throws {
        let server = try newPostgresDatabase()
        let (bare, password) = withoutPassword(server)
        for _ in 0..<2 {
            let initialised = try runOn(server, ["init", "--model", Self.model])
            #expect(initialised.status == 0 && !initialised.stdout.contains(password) && !initialised.stderr.contains(password), "\(initialised.stdout)")
        }
        // PGPASSWORD.
        let fromEnvironment = try runOn(bare, ["snapshots"], environment: ["PGPASSWORD": password])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment.stderr)")
        // ~/.pgpass, which libpq ignores when others may read it.
        let home = scratch.url.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let components = URLComponents(string: server)!
        let pgpass = home.appendingPathComponent(".pgpass")
        try Data("# host:port:database:user:password\n\(components.host!):\(components.port!):*:\(components.user!):\(password)\n".utf8).write(to: pgpass)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: pgpass.path)
        let fromFile = try runOn(bare, ["snapshots"], environment: ["HOME": home.path, "PGPASSWORD": ""].filter { !$0.value.isEmpty })
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: pgpass.path)
        let ignored = try runOn(bare, ["snapshots"], environment: ["HOME": home.path])
        #expect(ignored.status != 0 && ignored.stderr.contains("refused user"), "\(ignored.stderr)")
        // A wrong password: refused, and neither password is shown.
        var wrong = URLComponents(string: server)!
        wrong.password = "not-the-password-42"
        let refused = try runOn(wrong.string!, ["snapshots"])
        #expect(refused.status != 0 && refused.stderr.contains("refused user '\(components.user!)'"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("not-the-password-42") && !refused.stderr.contains(password))
        // TLS: the test server has a certificate; require encrypts without checking it.
        #expect(try runOn(server + "?sslmode=require", ["snapshots"]).status == 0)
        #expect(try runOn(server + "?sslmode=disable", ["snapshots"]).status == 0)
        let untrusted = try runOn(server + "?sslmode=verify-full", ["snapshots"])
        #expect(untrusted.status != 0 && untrusted.stderr.contains("cannot reach") && !untrusted.stderr.contains(password), "\(untrusted.stderr)")
    }

    @Test(.enabled(if: postgresTestsRun)) func postgresErrorsNameTheProblemAndLeaveTheDatabaseUntouched() throws {
        let server = try newPostgresDatabase()
        let password = withoutPassword(server).password
        var components = URLComponents(string: server)!
        // Nothing listens on port 1.
        var closed = components
        closed.port = 1
        let unreachable = try runOn(closed.string!, ["snapshots"])
        #expect(unreachable.status != 0 && unreachable.stderr.contains("cannot reach the PostgreSQL server"), "\(unreachable.stderr)")
        #expect(!unreachable.stderr.contains(password))
        // A database that does not exist.
        components.path = "/no_such_database"
        let missing = try runOn(components.string!, ["init", "--model", Self.model])
        #expect(missing.status != 0 && missing.stderr.contains("has no database 'no_such_database'"), "\(missing.stderr)")
        // An empty database is no store until init makes it one.
        let empty = try runOn(server, ["snapshots"])
        #expect(empty.status != 0 && empty.stderr.contains("no store at"), "\(empty.stderr)")
        // A database of something else is refused untouched.
        let other = try newPostgresDatabase()
        let admin = try PostgresExecutor.connect(try PostgresLocation(other))
        try admin.write(locks: []) { try $0.execute("CREATE TABLE invoices (id bigint PRIMARY KEY, total numeric)") }
        for arguments in [["snapshots"], ["init", "--model", Self.model]] {
            let result = try runOn(other, arguments)
            #expect(result.status != 0 && result.stderr.contains("is not a lamm-store database; it was left untouched"), "\(result.stderr)")
        }
        #expect(try admin.read { try $0.scalars(String.self, SQLDialect.postgres.tableNamesQuery) } == ["invoices"])
        try admin.close()
        // A store written by a newer lamm-store.
        #expect(try runOn(server, ["init", "--model", Self.model]).status == 0)
        let store = try PostgresExecutor.connect(try PostgresLocation(server))
        try store.write(locks: []) { try $0.execute("INSERT INTO lamm_store_migration (identifier, applied_at) VALUES ('9999_future', '')") }
        try store.close()
        let newer = try runOn(server, ["snapshots"])
        #expect(newer.status != 0 && newer.stderr.contains("newer lamm-store") && newer.stderr.contains("9999_future"), "\(newer.stderr)")
        // A URL that is not one.
        let bad = try runOn("postgres://lamm:pw@127.0.0.1:99999/x", ["snapshots"])
        #expect(bad.status != 0 && bad.stderr.contains("port") && !bad.stderr.contains(":pw@"), "\(bad.stderr)")
    }
}

extension StoreCommandTests {
    /// Needs no server: nothing listens on port 1, and the other URLs do not parse.
    @Test func urlPasswordsAreNeverPrintedEvenWhenTheURLIsMalformed() throws {
        for url in ["postgres://lamm:Qz7@Wx9@127.0.0.1:1/lamm", "postgres://lamm:Qz7@Wx9@127.0.0.1:99999/lamm",
                    "postgres://lamm:Qz7/Wx9@127.0.0.1:1/lamm", "postgres://lamm:Qz7?Wx9@Kv3@127.0.0.1:1/lamm",
                    "postgres://lamm:Qz7%2FWx9@127.0.0.1:1/lamm?nonsense=1"] {
            let result = try runOn(url, ["snapshots"], environment: ["PGPASSWORD": "", "HOME": scratch.url.path])
            #expect(result.status == 1 && result.stderr.contains("lamm"), "\(url): \(result.stderr)")
            for secret in ["Qz7", "Wx9", "Kv3"] {
                #expect(!result.stderr.contains(secret) && !result.stdout.contains(secret), "\(url): \(result.stderr)")
            }
        }
    }
}

/// The PostgreSQL tests run where a test server is named, and always in CI (where a missing
/// server is a failure, not a skip).
let postgresTestsRun = ProcessInfo.processInfo.environment["LAMM_TEST_POSTGRES"] != nil || ProcessInfo.processInfo.environment["CI"] != nil

struct PostgresServerMissing: Error, CustomStringConvertible {
    var description: String { "LAMM_TEST_POSTGRES names no PostgreSQL server; run the tests with scripts/test, which starts one" }
}
