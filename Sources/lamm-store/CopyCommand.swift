import ArgumentParser
import Foundation
import Store

struct CopyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy a whole store into a new one: an SQLite file to a PostgreSQL database, or back.",
        discussion: """
            --to must be a new file or an empty PostgreSQL database (create it with `createdb`); \
            every row keeps its id, so snapshots keep their numbers. The copy is one transaction: \
            if it fails, --to is left as it was. Both stores are checked with `verify` afterwards, \
            and the command fails when either check does.

            Example: lamm-store copy --from lamm.sqlite --to postgres://me@db.lab:5432/lamm
            """
    )

    @Option(help: ArgumentHelp("The store to copy: an SQLite file or a postgres:// URL.", valueName: "store"))
    var from: String

    @Option(help: ArgumentHelp("The new store: an SQLite file that does not exist yet, or an empty PostgreSQL database.", valueName: "store"))
    var to: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        let source = try LabelStore.open(path: from, access: .read)
        defer { try? source.close() }
        let createdFile = !PostgresLocation.isPostgresURL(to) && !FileManager.default.fileExists(atPath: to)
        let target = try LabelStore.open(path: to, access: .create)
        let report: CopyReport
        do {
            report = try source.copy(to: target)
            try target.close()
        } catch {
            try? target.close()
            // A new file that received nothing is not left behind.
            if createdFile { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: to + suffix) } }
            throw error
        }
        if output.json {
            try printJSON(report)
        } else {
            print("copied \(report.from) to \(report.to):")
            for (table, count) in report.rows.sorted(by: { $0.key < $1.key }) where count > 0 {
                print("  \(table): \(count) rows")
            }
            print("verify: \(report.from) \(report.sourceVerified ? "ok" : "FAILED"), \(report.to) \(report.targetVerified ? "ok" : "FAILED")")
        }
        if !report.sourceVerified || !report.targetVerified { throw ExitCode.failure }
    }
}
