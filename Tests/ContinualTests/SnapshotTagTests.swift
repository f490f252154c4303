import Formats
import Foundation
@testable import Store
import Testing

/// Names on snapshots, on both backends: a name points at one snapshot, moves when tagged again,
/// resolves wherever an id does, is never a number (the schema refuses one too), and leaves the
/// snapshots as they were.
@Suite struct SnapshotTagTests {
    @Test(arguments: Backend.underTest) func namesPointAtSnapshotsAndMove(backend: Backend) throws {
        let w = try Workspace(backend: backend)
        let first = try w.session.writer.addStage(try w.stage("set1", classes: ["dog", "cat"])).snapshot.id
        let second = try w.session.writer.addStage(try w.stage("set2", classes: ["fish", "frog"], seed: 2)).snapshot.id
        let snapshotsBefore = try w.store.snapshots().map { "\($0.id) \($0.parent ?? 0) \($0.classes)" }

        #expect(try w.store.tag("best-16shot", snapshot: first) == TagChange(name: "best-16shot", snapshot: first, previous: nil))
        #expect(try w.store.resolveSnapshot(.tag("best-16shot")) == first)
        #expect(try w.store.resolveSnapshot(SnapshotReference("\(second)")) == second)
        // Another Unicode form of the same name is the same name.
        #expect(try w.store.tag("cafe\u{301}", snapshot: first).name == "caf\u{e9}")
        #expect(try w.store.resolveSnapshot(SnapshotReference("caf\u{e9}")) == first)
        // Tagging again moves the name.
        #expect(try w.store.tag("best-16shot", snapshot: second).previous == first)
        #expect(try w.store.resolveSnapshot(.tag("best-16shot")) == second)
        #expect(try w.store.snapshotSummary(second).tags == ["best-16shot"] && w.store.snapshotSummary(first).tags == ["caf\u{e9}"])
        #expect(try w.store.snapshots().map(\.tags) == [["caf\u{e9}"], ["best-16shot"]])

        let dump = try w.store.contentDump()
        #expect(throws: StoreError.unknownSnapshot(id: 99, latest: second)) { try w.store.tag("x", snapshot: 99) }
        #expect(throws: NameError.self) { try w.store.tag("42", snapshot: first) }
        #expect(throws: StoreError.unknownTag(name: "nope", known: ["best-16shot", "caf\u{e9}"])) { try w.store.resolveSnapshot(.tag("nope")) }
        #expect(try w.store.contentDump() == dump)
        // The schema itself refuses a number for a name.
        #expect(throws: (any Error).self) {
            try w.store.write(datasets: []) { db in
                try db.execute("INSERT INTO snapshot_tag (name, snapshot_id, tagged_at) VALUES ('17', ?, '2026-01-01 00:00:00.000')", [first])
            }
        }
        #expect(try w.store.untag("best-16shot") == second)
        #expect(throws: StoreError.self) { try w.store.untag("best-16shot") }
        #expect(try w.store.snapshots().map { "\($0.id) \($0.parent ?? 0) \($0.classes)" } == snapshotsBefore)
        #expect(try w.store.verify().ok)
    }
}
