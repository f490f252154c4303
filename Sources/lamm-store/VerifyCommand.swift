import ArgumentParser
import Store

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the store: SQLite integrity, foreign keys, content hashes and snapshot invariants.",
        discussion: "Exits with status 1 when any check finds a problem."
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let report = try store.withStore(.read) { try $0.verify() }
        if output.json {
            try printJSON(report)
        } else {
            for check in report.checks {
                print("\(check.ok ? "ok  " : "FAIL") \(check.name)")
                check.problems.forEach { print("     \($0)") }
            }
        }
        if !report.ok { throw ExitCode.failure }
    }
}
