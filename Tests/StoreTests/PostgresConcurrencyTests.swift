import Foundation
import Synchronization
import Testing
@testable import Store

/// Several writers and readers on one PostgreSQL store, each with a connection of its own as
/// separate processes have: writers of one dataset take turns, writers of different datasets
/// and readers never wait for each other, and a write whose connection is lost commits nothing.
@Suite(.enabled(if: Backend.underTest.contains(.postgres))) struct PostgresConcurrencyTests {
    /// Runs `body` on its own thread; `wait` gives its result, or nil after `timeout` seconds.
    final class Background<T: Sendable>: Sendable {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<T, any Error>?>(nil)

        init(_ body: @escaping @Sendable () throws -> T) {
            Thread.detachNewThread { [self] in
                let outcome = Result { try body() }
                result.withLock { $0 = outcome }
                done.signal()
            }
        }

        var finished: Bool { result.withLock { $0 != nil } }

        func wait(timeout: Double = 60) throws -> T? {
            guard done.wait(timeout: .now() + timeout) == .success else { return nil }
            return try result.withLock { $0! }.get()
        }
    }

    @Test func writersOfOneDatasetTakeTurnsOthersAndReadersDoNotWaitPostgres() throws {
        let url = try newDatabase()
        let setup = try LabelStore.open(path: url, access: .create)
        try setup.bindModel(testModel)
        _ = try setup.registerStage(dataset: "pets", stage: "Set1", data: stageData(["cat"]))
        let open = { @Sendable in try LabelStore.open(path: url, access: .write) }

        // One writer holds the lock of dataset pets inside an uncommitted transaction.
        let holding = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let holder = Background { () -> Bool in
            let store = try open()
            return try store.write(datasets: ["pets"]) { db in
                try db.execute("INSERT INTO dataset (name, created_at) VALUES ('pending', '')")
                holding.signal()
                return release.wait(timeout: .now() + 60) == .success
            }
        }
        #expect(holding.wait(timeout: .now() + 30) == .success)
        // Another dataset's writer and a reader go ahead meanwhile.
        let farm = Background { try open().registerStage(dataset: "farm", stage: nil, data: stageData(["hen"])).stage }
        #expect(try farm.wait(timeout: 30) == "Set1", "a writer of another dataset waited for the lock of pets")
        let reader = Background { try open().datasetNames() }
        #expect(try reader.wait(timeout: 30) == ["pets", "farm"], "a reader waited, or saw an uncommitted row")
        // A second writer of pets waits its turn.
        let second = Background { try open().registerStage(dataset: "pets", stage: nil, data: stageData(["dog"])).stage }
        // It waits on the server for pets' advisory lock, which the first writer holds.
        var waiting = 0
        for _ in 0..<300 where waiting == 0 {
            waiting = try setup.read { try $0.scalar(Int.self, """
                SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                """) } ?? 0
            if waiting == 0 { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(waiting == 1, "a second writer of pets did not wait for the pets lock")
        #expect(!second.finished, "a second writer of pets did not wait for the first")
        release.signal()
        #expect(try holder.wait(timeout: 30) == true)
        #expect(try second.wait(timeout: 30) == "Set2")
        #expect(try setup.verify().ok)
    }

    @Test func manyWritersOfOneDatasetKeepItsStagesAndLineageLinearPostgres() throws {
        let url = try newDatabase()
        let setup = try LabelStore.open(path: url, access: .create)
        try setup.bindModel(testModel)
        let writers = 6, rounds = 4
        let workers = (0..<writers).map { w in
            Background { () -> Int in
                let store = try LabelStore.open(path: url, access: .write)
                for r in 0..<rounds {
                    let name = "w\(w)r\(r)"
                    // Each writer commits a stage and its snapshot; the parent is whatever
                    // snapshot of the lineage is latest when the lock is held.
                    let data = stageData([name + "a", name + "b"])
                    _ = try store.commit(StageCommit(dataset: "pets", stage: name, data: data, baseline: nil,
                                                     snapshot: NewSnapshot(dataset: "pets", stage: name, method: .lamm,
                                                                           trained: [name + "a": vectors(Float(w)), name + "b": vectors(Float(r))])))
                }
                return rounds
            }
        }
        let committed = try workers.map { try #require(try $0.wait(timeout: 120)) }.reduce(0, +)
        let stages = try setup.stages(of: try setup.resolveDataset("pets").id!)
        #expect(stages.count == committed && committed == writers * rounds, "a stage was lost")
        #expect(stages.map(\.position) == Array(0..<committed), "stage positions are not 0, 1, ...")
        let snapshots = try setup.snapshots(dataset: "pets")
        // One linear lineage: each snapshot's parent is the one before it, and it covers every
        // class registered up to its stage.
        #expect(snapshots.map(\.parent) == [nil] + snapshots.dropLast().map { Optional($0.id) })
        #expect(snapshots.map(\.classes) == Array(1...committed).map { 2 * $0 })
        #expect(try setup.verify().ok)
    }

    @Test func aWriteWhoseConnectionIsLostCommitsNothingPostgres() throws {
        let url = try newDatabase()
        let store = try LabelStore.open(path: url, access: .create)
        try store.bindModel(testModel)
        let before = try store.contentDump()
        let admin = try LabelStore.open(path: url, access: .write)
        #expect {
            try store.write(datasets: ["pets"]) { db in
                _ = try store.registerStage(db, dataset: "pets", stage: nil, data: stageData(["cat", "dog"]))
                let pid = try #require(try db.scalar(Int.self, "SELECT pg_backend_pid()"))
                // The server goes away mid-transaction (as when a machine or the network fails).
                try admin.executor.write(locks: []) { try $0.execute("SELECT pg_terminate_backend(CAST(? AS integer), 10000)", [pid]) }
                // Once the server has closed it, as a dead network would leave it.
                for _ in 0..<500 where !((db as? PostgresDatabaseConnection)?.connection.isClosed ?? true) {
                    Thread.sleep(forTimeInterval: 0.01)
                }
                _ = try store.registerStage(db, dataset: "pets", stage: nil, data: stageData(["hen"]))
            }
        } throws: { error in
            guard case StoreError.connectionLost(_, writing: true) = error else { return false }
            return "\(error)".contains("nothing was written") && "\(error)".contains("Run the command again")
        }
        #expect(try admin.contentDump() == before, "a lost write left rows behind")
        // Run again on a new connection, the write succeeds.
        let again = try LabelStore.open(path: url, access: .write)
        #expect(try again.registerStage(dataset: "pets", stage: nil, data: stageData(["cat", "dog"])).stage == "Set1")
        #expect(try again.verify().ok)
    }
}
