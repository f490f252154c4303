import Foundation
import Testing
@testable import lamm_store

/// With `--json`, every failure prints one JSON object on standard output, its message also on
/// standard error; usage errors exit 64, whether ArgumentParser or the command finds them, and
/// every other error 1.
extension StoreCommandTests {
    func expectReport(_ arguments: [String], status: Int32, kind: String, mentions: [String],
                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try run(arguments + ["--json"])
        #expect(result.status == status, "\(arguments): \(result.status) \(result.stderr)", sourceLocation: sourceLocation)
        let json = try #require(try CLI.json(result) as? [String: Any], "stdout: \(result.stdout)", sourceLocation: sourceLocation)
        let error = try #require(json["error"] as? [String: Any], sourceLocation: sourceLocation)
        #expect(json.count == 1 && error.count == 2, sourceLocation: sourceLocation)
        #expect(error["kind"] as? String == kind, "\(arguments): \(error)", sourceLocation: sourceLocation)
        let message = try #require(error["message"] as? String, sourceLocation: sourceLocation)
        for text in mentions {
            #expect(message.contains(text), "\(arguments): \(message)", sourceLocation: sourceLocation)
            #expect(result.stderr.contains(text), "\(arguments): stderr \(result.stderr)", sourceLocation: sourceLocation)
        }
    }

    @Test func jsonErrorsAreOneObjectWithKindAndExitStatus() throws {
        // Found by ArgumentParser, by a command's validation, and while the command runs.
        try expectReport(["sweep", "--shots", "1,1"], status: 64, kind: "usage", mentions: ["'1' is given twice"])
        try expectReport(["snapshots", "--no-such-option"], status: 64, kind: "usage", mentions: ["--no-such-option"])
        try expectReport(["snapshots"], status: 1, kind: "store", mentions: ["no store at"])
        try initStore()
        let (csv, rows) = try stageCSV("set1.csv", classes: ["dog", "cat"])
        let npy = try features("set1.npy", rows: rows)
        // A value out of range that only the training options' check finds, once the store is open.
        let usage = try run(["add-classes", csv, "--features", npy, "--warmup-epochs", "60", "--json"])
        #expect(usage.status == 64 && !usage.stderr.uppercased().contains("USAGE"), "\(usage.stderr)")
        try expectReport(["add-classes", csv, "--features", npy, "--warmup-epochs", "60"], status: 64, kind: "usage", mentions: ["--warmup-epochs 60"])
        try expectReport(["add-classes", csv, "--features", npy, "--dataset", "a:b"], status: 64, kind: "usage", mentions: ["holds ':'"])
        try expectReport(["add-classes", csv, "--features", try features("narrow.npy", rows: rows, width: 5)], status: 1, kind: "input",
                         mentions: ["narrow.npy", "5 wide"])
        try expectReport(["add-classes", csv, "--features", npy, "--lr", "1e6", "--epochs", "3"], status: 1, kind: "training",
                         mentions: ["diverged"])
        try expectReport(["show", "--snapshot", "9"], status: 1, kind: "store", mentions: ["snapshot 9"])
        // Help and version are no errors.
        for arguments in [["--help"], ["--version"], ["snapshots", "--help"]] {
            let result = try CLI.run(arguments + ["--json"])
            #expect(result.status == 0 && !result.stdout.contains("\"error\""), "\(arguments): \(result.stdout)")
        }
        // Every kind is listed in the README, with the exit statuses.
        let readme = try String(contentsOf: CLI.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        for kind in ErrorKind.allCases { #expect(readme.contains("`\(kind.rawValue)`"), "README lists no error kind \(kind.rawValue)") }
        #expect(readme.contains("64"))
    }
}
