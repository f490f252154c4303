import Foundation
import Synchronization
import Testing

/// Many `lamm-store sweep` processes on one store (SQLite file, PostgreSQL database) split one
/// grid: every run trained exactly once, each lineage linear, and the run of a worker killed
/// mid-run (SIGKILL, after it committed its run's first stage) taken over once its lease ends
/// and completed once.
extension StoreCommandTests {
    static let workerGrid = ["sweep", "--datasets", "pets,farm", "--methods", "lamm,coop", "--shots", "1,2", "--seeds", "1,2",
                             "--epochs", "2", "--lease", "3"]

    @Test(arguments: ["sqlite", "postgres"]) func threeWorkersSplitAGridAndTakeOverAKilledWorkersRun(backend: String) throws {
        guard backend == "sqlite" || postgresTestsRun else { return }
        let url = backend == "sqlite" ? db : try newPostgresDatabase()
        #expect(try runOn(url, ["init", "--model", Self.model]).status == 0)
        for (dataset, stages) in [("pets", [["dog", "cat"], ["fish", "frog"]]), ("farm", [["hen", "cow"], ["pig", "goat"]])] {
            for (k, classes) in stages.enumerated() {
                let (csv, rows) = try stageCSV("\(dataset)\(k).csv", classes: classes, perClass: 4)
                let added = try runOn(url, ["add-classes", csv, "--features", try features("\(dataset)\(k).npy", rows: rows), "--dataset", dataset,
                                            "--epochs", "2", "--quiet"])
                #expect(added.status == 0, "\(added.stderr)")
            }
        }

        // A worker that commits its first run's Set1, then stops answering and is killed.
        let victim = Process()
        victim.executableURL = try CLI.binary()
        victim.arguments = Self.workerGrid + ["--quiet", "--db", url]
        var environment = ProcessInfo.processInfo.environment
        environment["LAMM_STORE_TEST_HOOK"] = "sweep-stall-after-commit"
        victim.environment = environment
        let victimErrors = Pipe()
        victim.standardError = victimErrors
        victim.standardOutput = FileHandle.nullDevice
        try victim.run()
        var said = ""
        let deadline = Date().addingTimeInterval(120)
        while !said.contains("stalled"), Date() < deadline, victim.isRunning {
            said += String(decoding: victimErrors.fileHandleForReading.availableData, as: UTF8.self)
        }
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        #expect(said.contains("stalled after pets: lamm, shots 1, seed 1, Set1"), "\(said)")

        // Three workers at once, the grid's 16 runs shared.
        let outputs = Mutex<[CLIResult]>([])
        DispatchQueue.concurrentPerform(iterations: 3) { _ in
            let result = (try? CLI.run(Self.workerGrid + ["--json", "--quiet", "--db", url], timeout: 300))
                ?? CLIResult(status: -1, stdout: "", stderr: "did not run")
            outputs.withLock { $0.append(result) }
        }
        let results = outputs.withLock { $0 }
        for result in results { #expect(result.status == 0, "\(result.stderr)") }
        let reports = try results.map { try #require(try CLI.json($0) as? [String: Any]) }
        let runs = reports.map { $0["runs"] as! [[String: Any]] }
        #expect(runs.allSatisfy { $0.count == 16 })
        var takenOver = 0
        for index in 0..<16 {
            let statuses = runs.map { $0[index]["status"] as? String }
            // Trained by one worker; to the others, trained elsewhere (or complete before they started).
            #expect(statuses.filter { $0 == "trained" }.count == 1 && statuses.allSatisfy { ["trained", "elsewhere", "skipped"].contains($0 ?? "") },
                    "run \(index): \(statuses)")
            let trainer = try #require(runs.first { $0[index]["status"] as? String == "trained" })[index]
            let snapshots = try #require(trainer["snapshots"] as? [Int])
            #expect(snapshots.count == 2 && Set(runs.map { $0[index]["snapshots"] as? [Int] ?? [] }).count == 1)
            // No worker trained a stage that another committed first.
            #expect(runs.allSatisfy { $0[index]["message"] == nil || $0[index]["message"] is NSNull }, "run \(index)")
            if index == 0 {
                // The killed worker's run: its Set1 kept, its Set2 trained by the worker that took it over.
                #expect(trainer["trained_stages"] as? [String] == ["Set2"] && (trainer["taken_over_from"] as? String)?.hasSuffix(":\(victim.processIdentifier)") == true,
                        "\(trainer)")
                takenOver += 1
            } else {
                #expect(trainer["trained_stages"] as? [String] == ["Set1", "Set2"])
            }
        }
        #expect(takenOver == 1)

        // Snapshots: 4 of add-classes and exactly runs x stages; each lineage linear; verify clean.
        let all = try #require(try CLI.json(try runOn(url, ["snapshots", "--json"])) as? [[String: Any]])
        #expect(all.count == 4 + 16 * 2)
        let byId = Dictionary(uniqueKeysWithValues: all.map { ($0["id"] as! Int, $0) })
        for run in runs[0] {
            let ids = run["snapshots"] as! [Int]
            #expect(byId[ids[0]]?["parent"] is NSNull && byId[ids[1]]?["parent"] as? Int == ids[0])
        }
        #expect(try runOn(url, ["verify"]).status == 0)
        let status = try #require(try CLI.json(try runOn(url, Self.workerGrid + ["--status", "--json"])) as? [String: Any])
        #expect(status["done"] as? Int == 16 && status["running"] as? Int == 0 && status["waiting"] as? Int == 0)
        let first = try #require((status["runs"] as? [[String: Any]])?.first)
        #expect(first["attempts"] as? Int == 2)
        // Done: another sweep of the grid finds nothing to train.
        let again = try #require(try CLI.json(try runOn(url, Self.workerGrid + ["--json", "--quiet"])) as? [String: Any])
        #expect((again["runs"] as? [[String: Any]])?.allSatisfy { $0["status"] as? String == "skipped" } == true)
    }
}
