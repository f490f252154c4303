import Foundation
import Testing
@testable import Store

/// The connection to the PostgreSQL server fails at chosen moments (through a `FaultyLink`): a
/// write whose COMMIT's outcome was not seen is looked up by its idempotency key and reported
/// truly, and a server that restarted between two transactions (while a command trained) is
/// reconnected to before the next one.
@Suite(.enabled(if: Backend.underTest.contains(.postgres))) struct PostgresReconnectTests {
    /// A bound store on a new database, opened directly, and the same store through a link.
    func stores() throws -> (direct: LabelStore, linked: LabelStore, link: FaultyLink) {
        let url = try newDatabase()
        let direct = try LabelStore.open(path: url, access: .create)
        try direct.bindModel(testModel)
        let link = try FaultyLink(targetPort: UInt16(try PostgresLocation(url).port))
        return (direct, try LabelStore.open(path: link.url(of: url), access: .write), link)
    }

    func receipts(_ store: LabelStore) throws -> Int {
        try store.read { try $0.scalar(Int.self, "SELECT COUNT(*) FROM write_receipt") ?? -1 }
    }

    @Test func aWriteWhoseCommitReplyIsLostIsFoundWrittenPostgres() throws {
        let (direct, linked, link) = try stores()
        defer { link.stop() }
        let receiptsBefore = try receipts(direct)
        link.failNextCommit(.loseReply)
        // The server committed, the client saw its connection go: it asks, and it was written.
        let registered = try linked.registerStage(dataset: "pets", stage: nil, data: stageData(["cat", "dog"]))
        #expect(link.faults == 1)
        #expect(registered.stage == "Set1")
        #expect(try direct.stages(of: try direct.resolveDataset("pets").id!).map(\.name) == ["Set1"])
        #expect(try receipts(direct) == receiptsBefore + 1)
        // The store goes on, on the new connection.
        #expect(try linked.registerStage(dataset: "pets", stage: nil, data: stageData(["owl"])).stage == "Set2")
        #expect(try direct.verify().ok)
    }

    @Test func aCommitThatNeverReachedTheServerIsFoundNotWrittenPostgres() throws {
        let (direct, linked, link) = try stores()
        defer { link.stop() }
        let before = try direct.contentDump()
        link.failNextCommit(.loseCommit)
        #expect {
            try linked.registerStage(dataset: "pets", stage: nil, data: stageData(["cat", "dog"]))
        } throws: { error in
            guard case StoreError.commitNotWritten = error else { return false }
            return "\(error)".contains("nothing was written") && "\(error)".contains("Run the command again")
        }
        #expect(link.faults == 1)
        #expect(try direct.contentDump() == before)
        // Run again, it is written once.
        #expect(try linked.registerStage(dataset: "pets", stage: nil, data: stageData(["cat", "dog"])).stage == "Set1")
        #expect(try direct.stages(of: try direct.resolveDataset("pets").id!).count == 1)
    }

    /// The issue's `copy` with the server going away at its COMMIT: the copy reports what
    /// happened, and a copy that was written is not refused as a second one.
    @Test func aCopyWhoseCommitReplyIsLostReportsItsCopyPostgres() throws {
        let source = try boundStore()
        _ = try source.registerStage(dataset: "pets", stage: nil, data: stageData(["cat", "dog"]))
        let url = try newDatabase()
        let link = try FaultyLink(targetPort: UInt16(try PostgresLocation(url).port))
        defer { link.stop() }
        let target = try LabelStore.open(path: link.url(of: url), access: .create)
        link.failNextCommit(.loseReply)
        let report = try source.copy(to: target)
        #expect(link.faults == 1)
        #expect(report.rows["stage"] == 1)
        let direct = try LabelStore.open(path: url, access: .read)
        #expect(try direct.stages(of: try direct.resolveDataset("pets").id!).map(\.name) == ["Set1"])
        #expect(try direct.registeredClasses(dataset: "pets").map(\.className) == ["cat", "dog"])
        #expect(try receipts(direct) == 1 && direct.verify().ok)
    }

    @Test func aCommitWhoseOutcomeCannotBeAskedSaysSoAndNamesItsKeyPostgres() throws {
        let (direct, linked, link) = try stores()
        defer { link.stop() }
        try #require(linked.executor as? PostgresExecutor).reconnectWindow.withLock { $0 = 0.5 }
        // The reply is lost and the server stays out of reach longer than the executor waits.
        link.failNextCommit(.loseReply, thenDownFor: 3)
        var key = ""
        #expect {
            try linked.registerStage(dataset: "pets", stage: nil, data: stageData(["cat", "dog"]))
        } throws: { error in
            guard case let StoreError.commitOutcomeUnknown(_, written?, _) = error else { return false }
            key = written
            return "\(error)".contains("whether it was written is not known") && "\(error)".contains(written)
        }
        // It was in fact written, under that key.
        #expect(try direct.read { try $0.scalar(Int.self, "SELECT COUNT(*) FROM write_receipt WHERE key = ?", [key]) } == 1)
        #expect(try direct.stages(of: try direct.resolveDataset("pets").id!).map(\.name) == ["Set1"])
    }

    /// A server restart while a command trains (between its plan and its commit): the commit
    /// reconnects, waiting for the server, and writes.
    @Test func aServerRestartBetweenTransactionsIsReconnectedToPostgres() throws {
        let (direct, linked, link) = try stores()
        defer { link.stop() }
        _ = try linked.registerStage(dataset: "pets", stage: nil, data: stageData(["cat", "dog"]))
        link.restart(downFor: 1.5)
        // Whether or not the client has seen the close yet.
        let registered = try linked.registerStage(dataset: "pets", stage: nil, data: stageData(["owl"]))
        #expect(registered.stage == "Set2")
        link.restart(downFor: 0)
        Thread.sleep(forTimeInterval: 0.2)
        #expect(try linked.snapshots(dataset: "pets").isEmpty)
        #expect(try direct.stages(of: try direct.resolveDataset("pets").id!).map(\.name) == ["Set1", "Set2"])
        #expect(try direct.verify().ok)
    }
}
