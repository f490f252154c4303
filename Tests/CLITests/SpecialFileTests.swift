import Foundation
import Testing

/// Where a command reads a file (the store, a checkpoint's files, an image), a FIFO, a folder or
/// a device is refused at once, named, and said what it is. Opening a FIFO would wait for a
/// writer forever, so every command here runs with a timeout: a hang fails the test.
extension StoreCommandTests {
    static let hangTimeout: TimeInterval = 60

    func fifo(_ name: String) throws -> String {
        let path = scratch.path(name)
        #expect(mkfifo(path, 0o644) == 0, "mkfifo \(path)")
        return path
    }

    func expectRefused(_ arguments: [String], mentions: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try CLI.run(arguments, timeout: Self.hangTimeout)
        #expect(result.status == 1, "\(arguments) exited with \(result.status) (9: killed after hanging): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(mentions), "\(arguments): \(result.stderr)", sourceLocation: sourceLocation)
    }

    @Test func aStoreThatIsNoFileIsRefusedAtOnce() throws {
        let pipe = try fifo("pipe.sqlite")
        for command in [["init", "--model", Self.model], ["snapshots"], ["verify"], ["show", "--snapshot", "1"]] {
            try expectRefused(command + ["--db", pipe], mentions: "\(pipe) is a FIFO (named pipe), not a store file")
        }
        try initStore()
        try expectRefused(["copy", "--from", db, "--to", pipe], mentions: "\(pipe) is a FIFO (named pipe), not a store file")
        if getuid() == 0 {
            // A device node of this test's own, like /dev/zero (char 1:5).
            let device = scratch.path("zero.sqlite")
            #expect(mknod(device, S_IFCHR | 0o666, dev_t(0x105)) == 0)
            try expectRefused(["snapshots", "--db", device], mentions: "\(device) is a character device, not a store file")
        }
    }

    @Test func checkpointFilesThatAreNoFilesAreRefusedAtOnce() throws {
        // Each file of the checkpoint in turn, and open_clip's vocabulary where the checkpoint has no other.
        let cases: [(name: String, remove: [String])] = [("config.json", []), ("model.safetensors", []), ("vocab.json", []), ("merges.txt", []),
                                                         ("bpe_simple_vocab_16e6.txt.gz", ["vocab.json", "merges.txt"])]
        for (name, remove) in cases {
            let model = scratch.path("model-\(name)")
            try FileManager.default.copyItem(atPath: Self.model, toPath: model)
            for file in remove + [name] { try? FileManager.default.removeItem(atPath: model + "/" + file) }
            #expect(mkfifo(model + "/" + name, 0o644) == 0)
            let what = "is a FIFO (named pipe), not a regular file; nothing was read from it"
            try expectRefused(["encode-text", "--model", model, "a dog"], mentions: "\(model)/\(name) \(what)")
            if !remove.isEmpty || name == "vocab.json" || name == "merges.txt" {
                try expectRefused(["tokenize", "--model", model, "a dog"], mentions: "\(model)/\(name) \(what)")
            } else {
                try expectRefused(["init", "--model", model, "--db", scratch.path("s.sqlite")], mentions: "\(model)/\(name) \(what)")
                #expect(!exists(scratch.path("s.sqlite")))
            }
        }
        // A folder in place of the weights.
        let model = scratch.path("model-folder")
        try FileManager.default.copyItem(atPath: Self.model, toPath: model)
        try FileManager.default.removeItem(atPath: model + "/model.safetensors")
        try FileManager.default.createDirectory(atPath: model + "/model.safetensors", withIntermediateDirectories: true)
        try expectRefused(["encode-text", "--model", model, "a dog"], mentions: "\(model)/model.safetensors is a folder, not a regular file")
    }

    @Test func imagesThatAreNoFilesAreNamedForWhatTheyAre() throws {
        try initStore()
        try copyImages([("rgb_64x48.png", "ok.png"), ("gray_64x48.jpg", "ok2.jpg")])
        let pipe = try fifo("img/pipe.png")
        try FileManager.default.createDirectory(atPath: scratch.path("img/folder.png"), withIntermediateDirectories: true)
        var bad = [("pipe.png", "is a FIFO (named pipe), not a regular file"), ("folder.png", "is a folder, not a regular file")]
        if getuid() == 0 {
            #expect(mknod(scratch.path("img/zero.png"), S_IFCHR | 0o666, dev_t(0x105)) == 0)
            bad.append(("zero.png", "is a character device, not a regular file"))
        }
        for (name, what) in bad {
            let file = scratch.path("img/\(name)")
            try expectRefused(["encode-images", "--model", Self.model, scratch.path("img/ok.png"), file], mentions: "image \(file) \(what)")
            let csv = try scratch.write("bad.csv", "class,split,image\nok,train,img/ok.png\nok,test,img/\(name)\n")
            try expectRefused(["add-classes", csv, "--dataset", "bad", "--epochs", "1", "--db", db], mentions: "image \(file) \(what)")
            // Skipped, with its reason, when bad images may be skipped.
            let skipping = try scratch.write("skip.csv", "class,split,image\nok,train,img/ok.png\nok,test,img/ok2.jpg\nok,test,img/\(name)\n")
            let skipped = try CLI.run(["add-classes", skipping, "--dataset", "d-\(name.prefix(4))", "--epochs", "1", "--skip-bad-images", "--db", db],
                                      timeout: Self.hangTimeout)
            #expect(skipped.status == 0 && skipped.stderr.contains("\(file) \(what)"), "\(skipped.stderr)")
        }
        #expect(FileManager.default.fileExists(atPath: pipe))
    }
}
