import Formats
import Foundation
import GRDB
import Testing

/// Who may open a store and how: files that are not stores are left untouched, readers never
/// need the write lock, and a full disk or a read-only file is a clear error.
extension StoreCommandTests {
    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// A stage file and its features, for commands that need one.
    func smallStage(_ name: String = "set1", classes: [String] = ["dog", "cat"]) throws -> (csv: String, npy: String) {
        let (csv, rows) = try stageCSV("\(name).csv", classes: classes)
        return (csv, try features("\(name).npy", rows: rows))
    }

    @Test func filesThatAreNotStoresAreRefusedUntouched() throws {
        let stage = try smallStage()
        let other = scratch.path("users.db")
        let queue = try DatabaseQueue(path: other)
        try queue.write { try $0.execute(sql: "CREATE TABLE users(id INTEGER PRIMARY KEY); INSERT INTO users VALUES (7)") }
        try queue.close()
        let empty = try scratch.write("empty.db", Data())
        let commands = [["snapshots"], ["verify"], ["show", "--snapshot", "1"], ["init", "--model", Self.model],
                        ["add-classes", stage.csv, "--features", stage.npy, "--epochs", "1"]]
        for path in [other, empty] {
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            for command in commands {
                let result = try CLI.run(command + ["--db", path])
                #expect(result.status != 0, "\(command) on \(path)")
                #expect(result.stderr.contains("\(path) is not a lamm-store database"), "\(command): \(result.stderr)")
                #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "\(command) changed \(path)")
                #expect(!exists(path + "-wal") && !exists(path + "-shm"), "\(command) left SQLite's files beside \(path)")
            }
        }
        let folder = scratch.path("stores")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for command in commands {
            let inFolder = try CLI.run(command + ["--db", folder])
            #expect(inFolder.status != 0 && inFolder.stderr.contains("\(folder) is a folder"), "\(inFolder.stderr)")
            let unnamed = try CLI.run(command + ["--db", ""])
            #expect(unnamed.status != 0 && unnamed.stderr.contains("--db") && unnamed.stderr.contains("is empty"), "\(unnamed.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }

    /// SQLite reads `file:...` as a URI, which could name another file with parameters of its
    /// own, and `:memory:` as no file: both are refused. A name holding `?`, `#` or `%` is the
    /// file of that name.
    @Test func sqliteURIsAreRefusedAndOddNamesArePlainPaths() throws {
        let other = scratch.path("users.db")
        let queue = try DatabaseQueue(path: other)
        try queue.write { try $0.execute(sql: "CREATE TABLE users(id INTEGER PRIMARY KEY); INSERT INTO users VALUES (7)") }
        try queue.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: other))
        try initStore()
        for uri in ["file:users.db", "file:\(other)", "file://\(other)", "file:users.db?mode=rwc", "file:new.sqlite"] {
            for command in [["init", "--model", Self.model, "--db", uri], ["copy", "--from", db, "--to", uri]] {
                let result = try CLI.run(command, in: scratch.url)
                #expect(result.status == 1, "\(command): \(result.stdout)")
                #expect(result.stderr.contains("the store \(uri) is an SQLite URI (it starts with file:)") && result.stderr.contains("./\(uri)"),
                        "\(command): \(result.stderr)")
                #expect(try Data(contentsOf: URL(fileURLWithPath: other)) == before, "\(command) changed \(other)")
            }
        }
        #expect(!exists(scratch.path("new.sqlite")))
        let memory = try CLI.run(["init", "--model", Self.model, "--db", ":memory:"], in: scratch.url)
        #expect(memory.status == 1 && memory.stderr.contains("the store ':memory:' would be no file at all"), "\(memory.stderr)")
        // Plain paths, whatever their characters.
        let plain = try CLI.run(["init", "--model", Self.model, "--db", "./file:users.db"], in: scratch.url)
        #expect(plain.status == 0 && exists(scratch.path("file:users.db")), "\(plain.stderr)")
        let odd = scratch.path("a?b#c%41.sqlite")
        let stage = try smallStage()
        for command in [["init", "--model", Self.model], ["add-classes", stage.csv, "--features", stage.npy, "--epochs", "1", "--quiet"], ["verify"]] {
            let result = try CLI.run(command + ["--db", odd])
            #expect(result.status == 0, "\(command): \(result.stderr)")
        }
        #expect(exists(odd) && !exists(scratch.path("a")) && !exists(scratch.path("aA.sqlite")))
        #expect(try Data(contentsOf: URL(fileURLWithPath: other)) == before)
    }

    /// Two hard-linked names of one store file would each get their own write-ahead log: no
    /// command writes through either (the other is named), reading still works.
    @Test func aStoreWithTwoNamesIsReadButNotWritten() throws {
        try initStore()
        let first = try smallStage()
        #expect(try run(["add-classes", first.csv, "--features", first.npy, "--epochs", "1", "--quiet"]).status == 0)
        let other = scratch.path("other-name.sqlite")
        try FileManager.default.linkItem(atPath: db, toPath: other)
        let second = try smallStage("set2", classes: ["fish", "frog"])
        let add = ["add-classes", second.csv, "--features", second.npy, "--epochs", "1", "--quiet"]
        try expectFailure(add, mentions: ["the store \(db) has 2 names (hard links): it is also \(other)", "nothing was written",
                                          "cp \(db) NEW.sqlite", "rm \(other)"])
        try expectFailure(["init", "--model", Self.model], mentions: ["has 2 names (hard links)"])
        let before = try contents()
        let throughOther = try CLI.run(add + ["--db", other])
        #expect(throughOther.status == 1 && throughOther.stderr.contains("the store \(other) has 2 names (hard links): it is also \(db)"),
                "\(throughOther.stderr)")
        // Reading works, and stores nothing on the side (an evaluation, cached features).
        for command in [["snapshots"], ["verify"], ["show", "--snapshot", "1"], ["compare"], ["eval", "--snapshot", "1"]] {
            let result = try run(command)
            #expect(result.status == 0, "\(command): \(result.stderr)")
        }
        #expect(try contents() == before, "a reading command wrote into the store through one of its two names")
        try FileManager.default.removeItem(atPath: other)
        #expect(try run(add).status == 0)
    }

    /// Another process holds `BEGIN IMMEDIATE` (this test, through its own connection): every
    /// reading command runs meanwhile; a writer says it waits, and finishes once it is released.
    @Test func readersRunWhileAnotherProcessHoldsTheWriteLock() throws {
        try initStore()
        let first = try smallStage()
        #expect(try run(["add-classes", first.csv, "--features", first.npy, "--epochs", "1", "--quiet"]).status == 0)
        let second = try smallStage("set2", classes: ["fish", "frog"])
        let waiting = scratch.path("writer.err")
        let writer = Process()
        let holder = try DatabaseQueue(path: db)
        try holder.inDatabase { db in
            try db.execute(sql: "BEGIN IMMEDIATE")
            for command in [["snapshots"], ["show", "--snapshot", "1"], ["eval", "--snapshot", "1"], ["verify"], ["compare"],
                            ["diff", "1", "1"], ["export", "--snapshot", "1", "--out", scratch.path("labels.npy")]] {
                let result = try run(command)
                #expect(result.status == 0, "\(command) while the write lock is held: \(result.stderr)")
            }
            let eval = try CLI.json(try run(["eval", "--snapshot", "1", "--json"])) as? [String: Any]
            #expect(eval?["stored"] as? Bool == false)

            writer.executableURL = try CLI.binary()
            writer.arguments = ["add-classes", second.csv, "--features", second.npy, "--epochs", "1", "--db", self.db]
            FileManager.default.createFile(atPath: waiting, contents: nil)
            writer.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: waiting))
            writer.standardOutput = FileHandle.nullDevice
            try writer.run()
            let deadline = Date().addingTimeInterval(120)
            func said() throws -> Bool { try String(contentsOfFile: waiting, encoding: .utf8).contains("waiting for another process") }
            while Date() < deadline, writer.isRunning, try !said() {
                usleep(100_000)
            }
            #expect(writer.isRunning, "the writer gave up instead of waiting")
            try db.execute(sql: "ROLLBACK")
        }
        try holder.close()
        writer.waitUntilExit()
        let writerSaid = try String(contentsOfFile: waiting, encoding: .utf8)
        #expect(writer.terminationStatus == 0, "\(writerSaid)")
        #expect(writerSaid.contains("waiting for another process to finish writing \(db)"))
        let snapshots = try #require(try CLI.json(try run(["snapshots", "--json"])) as? [[String: Any]])
        #expect(snapshots.count == 2)
        #expect(try run(["verify"]).status == 0)
    }
}

/// Read-only file systems and full disks, made for real in a private mount namespace
/// (`unshare -m`, as root): the mounts vanish with the script.
@Suite(.enabled(if: getuid() == 0, "mounting file systems needs root"))
struct MountedStoreTests {
    let scratch: Scratch
    let bin: String

    init() throws {
        scratch = try Scratch()
        bin = try CLI.binary().path
    }

    /// Runs a bash script under `unshare -m`; `$BIN`, `$MODEL` and `$HERE` are set.
    func script(_ body: String) throws -> CLIResult {
        let file = try scratch.write("script.sh", """
            set -u
            BIN='\(bin)'; MODEL='\(StoreCommandTests.model)'; HERE='\(scratch.url.path)'
            \(body)
            """)
        return try CLI.runProgram("/usr/bin/unshare", ["-m", "/bin/bash", file])
    }

    /// A store with one snapshot, and a second stage, in the scratch folder.
    func makeStore() throws {
        var csv = "class,split\n"
        for c in ["dog", "cat", "fish"] { for k in 0..<4 { csv += "\(c),\(k < 3 ? "train" : "test")\n" } }
        try scratch.write("set.csv", csv)
        let result = try script("""
            printf 'class,split\\n' > "$HERE/set2.csv"
            for i in $(seq 1 400); do printf 'bird%d,train\\nbird%d,test\\n' $i $i >> "$HERE/set2.csv"; done
            "$BIN" init --model "$MODEL" --db "$HERE/s.sqlite" > /dev/null
            """)
        #expect(result.status == 0, "\(result.stderr)")
        try writeFeatures("set.npy", rows: 12)
        try writeFeatures("set2.npy", rows: 800)
        let add = try CLI.run(["add-classes", scratch.path("set.csv"), "--features", scratch.path("set.npy"), "--epochs", "1",
                               "--quiet", "--db", scratch.path("s.sqlite")])
        #expect(add.status == 0, "\(add.stderr)")
    }

    func writeFeatures(_ name: String, rows: Int) throws {
        let values = (0..<(rows * StoreCommandTests.width)).map { (i: Int) -> Float in Float((i * 7919) % 101) / 50 - 1 + 0.001 }
        try NPY.write(FloatMatrix(rows: rows, columns: StoreCommandTests.width, values: values), to: scratch.url.appendingPathComponent(name))
    }

    @Test func aReadOnlyStoreCanBeReadNotWritten() throws {
        try makeStore()
        let result = try script("""
            mkdir "$HERE/ro" && mount -t tmpfs tmpfs "$HERE/ro" && cp "$HERE/s.sqlite" "$HERE/ro/" && mount -o remount,ro "$HERE/ro"
            for c in "snapshots" "verify" "show --snapshot 1" "eval --snapshot 1" "compare" "export --snapshot 1 --out $HERE/out.npy"; do
                $BIN $c --db "$HERE/ro/s.sqlite" > /dev/null 2> "$HERE/err" && echo "read ok: $c" || { echo "read failed: $c"; cat "$HERE/err"; }
            done
            "$BIN" add-classes "$HERE/set2.csv" --features "$HERE/set2.npy" --epochs 1 --db "$HERE/ro/s.sqlite" 2>&1; echo "write rc=$?"
            cmp "$HERE/s.sqlite" "$HERE/ro/s.sqlite" && echo unchanged
            """)
        #expect(result.stdout.components(separatedBy: "read ok:").count == 7, "\(result.stdout)")
        #expect(!result.stdout.contains("read failed"), "\(result.stdout)")
        #expect(result.stdout.contains("cannot be written") && result.stdout.contains("write rc=1"), "\(result.stdout)")
        #expect(result.stdout.contains("unchanged"))
    }

    /// A store in a folder that cannot be written is read as immutable, through a URI that
    /// takes a `?`, `#` or `%` in its name as part of the name.
    @Test func aStoreWhoseNameHoldsURICharactersIsReadFromAReadOnlyFolder() throws {
        try makeStore()
        let result = try script("""
            mkdir "$HERE/ro" && mount -t tmpfs tmpfs "$HERE/ro" && cp "$HERE/s.sqlite" "$HERE/ro/a?b#c%41.sqlite" && mount -o remount,ro "$HERE/ro"
            for c in "snapshots" "verify" "show --snapshot 1"; do
                $BIN $c --db "$HERE/ro/a?b#c%41.sqlite" > /dev/null 2> "$HERE/err" && echo "read ok: $c" || { echo "read failed: $c"; cat "$HERE/err"; }
            done
            """)
        #expect(result.stdout.components(separatedBy: "read ok:").count == 4, "\(result.stdout)")
        #expect(!result.stdout.contains("read failed"), "\(result.stdout)")
    }

    @Test func aFullDiskIsAClearErrorAndLeavesAWorkingStore() throws {
        try makeStore()
        let result = try script("""
            mkdir "$HERE/small" "$HERE/full"
            mount -t tmpfs -o size=64k tmpfs "$HERE/small"
            "$BIN" init --model "$MODEL" --db "$HERE/small/new.sqlite" 2>&1; echo "init rc=$?"
            ls -A "$HERE/small" | sed 's/^/left: /'
            mount -t tmpfs -o size=2m tmpfs "$HERE/full" && cp "$HERE/s.sqlite" "$HERE/full/"
            "$BIN" snapshots --db "$HERE/full/s.sqlite" > /dev/null
            dd if=/dev/zero of="$HERE/full/filler" bs=4k 2> /dev/null
            "$BIN" add-classes "$HERE/set2.csv" --features "$HERE/set2.npy" --epochs 1 --quiet --db "$HERE/full/s.sqlite" 2>&1; echo "add rc=$?"
            "$BIN" snapshots --db "$HERE/full/s.sqlite" 2>&1 | grep -c default | sed 's/^/full snapshots: /'
            "$BIN" verify --db "$HERE/full/s.sqlite" > /dev/null 2>&1; echo "verify rc=$?"
            "$BIN" show --snapshot 1 --db "$HERE/full/s.sqlite" > /dev/null 2>&1; echo "show rc=$?"
            cp "$HERE/full/s.sqlite" "$HERE/alone.sqlite"
            "$BIN" snapshots --db "$HERE/alone.sqlite" 2>&1 | grep -c default | sed 's/^/alone snapshots: /'
            rm "$HERE/full/filler"
            "$BIN" add-classes "$HERE/set2.csv" --features "$HERE/set2.npy" --epochs 1 --quiet --db "$HERE/full/s.sqlite" > /dev/null 2>&1; echo "again rc=$?"
            """)
        let out = result.stdout
        #expect(out.contains("no space left on the device holding \(scratch.path("small/new.sqlite")); nothing was written"), "\(out)")
        #expect(out.contains("init rc=1") && !out.contains("left: "), "\(out)")
        #expect(out.contains("no space left on the device holding \(scratch.path("full/s.sqlite"))") && out.contains("add rc=1"), "\(out)")
        #expect(out.contains("full snapshots: 1") && out.contains("verify rc=0") && out.contains("show rc=0"), "\(out)")
        #expect(out.contains("alone snapshots: 1"), "\(out)")
        #expect(out.contains("again rc=0"), "\(out)")
    }
}
