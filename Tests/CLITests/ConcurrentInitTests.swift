import Foundation
import Synchronization
import Testing

/// Several `init`s of one new store at once, as a team's scripts starting together do: the store
/// is made once, whole, and every one of them succeeds (the same checkpoint) instead of one
/// seeing a half-made file.
extension StoreCommandTests {
    @Test func initsOfOneNewStoreAtOnceAllSucceed() throws {
        for round in 0..<4 {
            let path = scratch.path("race\(round).sqlite")
            let results = Mutex<[CLIResult]>([])
            DispatchQueue.concurrentPerform(iterations: 3) { _ in
                let result = try? CLI.run(["init", "--model", Self.model, "--db", path])
                results.withLock { $0.append(result ?? CLIResult(status: -1, stdout: "", stderr: "did not run")) }
            }
            let all = results.withLock { $0 }
            for result in all { #expect(result.status == 0, "round \(round): \(result.stderr)") }
            #expect(all.filter { $0.stdout.contains("created store") }.count == 1, "\(all.map(\.stdout))")
            #expect(all.filter { $0.stdout.contains("already bound") }.count == 2)
            #expect(try CLI.run(["verify", "--db", path]).status == 0)
        }
        // No temporary store is left in the folder.
        let left = try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).filter { $0.contains(".new-") }
        #expect(left.isEmpty, "\(left)")
    }
}
