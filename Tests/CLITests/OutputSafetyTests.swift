import Foundation
import Testing

/// `compare --html/--csv` and `export --out` never write over the store, its SQLite files, the
/// files they read, or anything that is not a regular file.
extension StoreCommandTests {
    func fileType(_ path: String) -> FileAttributeType? {
        try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType
    }

    @Test func outputsNeverReplaceTheStoreOrItsFiles() throws {
        let (_, second) = try storeWithSnapshots()
        let link = scratch.path("report-link.html")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: db)
        let dotted = scratch.url.path + "/./store.sqlite"
        for option in ["--html", "--csv"] {
            for path in [db, dotted, link] {
                try expectRunError(["compare", option, path], mentions: ["\(option) \(path) is the store itself (--db); choose another file name"])
            }
            for (suffix, what) in [("-wal", "write-ahead log"), ("-shm", "shared-memory file"), ("-journal", "rollback journal")] {
                try expectRunError(["compare", option, db + suffix], mentions: ["\(option) \(db + suffix) is the store's \(what) (--db \(db))"])
                // A reader may leave SQLite's own (empty) files; never a page or a table.
                let left = (try? Data(contentsOf: URL(fileURLWithPath: db + suffix))) ?? Data()
                #expect(!left.starts(with: Data("<!DOCTYPE".utf8)) && !left.starts(with: Data("dataset,".utf8)), "\(option) \(db + suffix) was written")
            }
        }
        #expect(fileType(link) == .typeSymbolicLink)
        // The same page twice.
        let page = scratch.path("report.html")
        try expectRunError(["compare", "--html", page, "--csv", page], mentions: ["--csv \(page) is also the --html file"])
        #expect(!exists(page))
        // A store whose name export would accept, named by a hard link too; and the store from LAMM_STORE_DB.
        let npyStore = scratch.path("store.npy")
        try FileManager.default.copyItem(atPath: db, toPath: npyStore)
        let hardLink = scratch.path("other-name.npy")
        try FileManager.default.linkItem(atPath: npyStore, toPath: hardLink)
        let before = try Data(contentsOf: URL(fileURLWithPath: npyStore))
        for path in [npyStore, hardLink] {
            let result = try CLI.run(["export", "--snapshot", "\(second)", "--out", path, "--db", npyStore])
            #expect(result.status == 1 && result.stderr.contains("--out \(path) is the store itself (--db)"), "\(result.stderr)")
        }
        let fromEnvironment = try CLI.run(["export", "--snapshot", "\(second)", "--out", npyStore], environment: ["LAMM_STORE_DB": npyStore])
        #expect(fromEnvironment.status == 1 && fromEnvironment.stderr.contains("is the store itself (LAMM_STORE_DB)"), "\(fromEnvironment.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: npyStore)) == before)
        // What is written is written whole, through a symbolic link too, and leaves no temporary file.
        let target = scratch.path("labels.npy")
        try Data("old".utf8).write(to: URL(fileURLWithPath: target))
        let labels = scratch.path("labels-link.npy")
        try FileManager.default.createSymbolicLink(atPath: labels, withDestinationPath: target)
        let export = try run(["export", "--snapshot", "\(second)", "--out", labels])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(fileType(labels) == .typeSymbolicLink)
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)).starts(with: [0x93] + Array("NUMPY".utf8)))
        let written = try run(["compare", "--html", page, "--csv", scratch.path("runs.csv")])
        #expect(written.status == 0 && written.stdout.contains("wrote \(page)"), "\(written.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).filter { $0.contains(".tmp") }.isEmpty)
    }

    @Test func outputsNeverReplaceTheCheckpointTheCommandReads() throws {
        let (_, second) = try storeWithSnapshots()
        let model = scratch.path("model")
        try FileManager.default.copyItem(atPath: Self.model, toPath: model)
        for (option, name, command) in [("--out", "model.safetensors", ["export", "--snapshot", "\(second)"]), ("--csv", "config.json", ["compare"])] {
            let file = model + "/" + name
            let before = try Data(contentsOf: URL(fileURLWithPath: file))
            try expectRunError(command + [option, file, "--model", model],
                               mentions: ["\(option) \(file) is a file of the CLIP checkpoint \(model), which this command reads"])
            #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == before, "\(name) changed")
        }
    }

    @Test func outputsAreRegularFilesOnly() throws {
        let (_, second) = try storeWithSnapshots()
        let fifo = scratch.path("pipe.html")
        #expect(mkfifo(fifo, 0o644) == 0)
        try expectRunError(["compare", "--html", fifo], mentions: ["--html \(fifo) is a FIFO (named pipe), not a regular file"])
        var info = stat()
        #expect(stat(fifo, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO, "the FIFO was replaced")
        // A folder: one clean message.
        let folder = scratch.path("out.npy")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let refused = try expectFailure(["export", "--snapshot", "\(second)", "--out", folder], mentions: ["--out \(folder) is a folder, not a file"])
        #expect(refused.stderr.components(separatedBy: folder).count == 2 && !refused.stderr.contains("NSCocoaErrorDomain"), "\(refused.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
        if getuid() == 0 {
            // A device node of this test's own, like /dev/full (char 1:7).
            let device = scratch.path("full")
            #expect(mknod(device, S_IFCHR | 0o666, dev_t(0x107)) == 0)
            try expectRunError(["compare", "--html", device], mentions: ["--html \(device) is a character device, not a regular file"])
            #expect(stat(device, &info) == 0 && info.st_mode & S_IFMT == S_IFCHR, "the device node was replaced")
        }
    }
}
