import Foundation
import Testing

@testable import Formats

/// Output files are written whole, through a temporary file and a rename, and never over a
/// protected file or anything that is not a regular file.
@Suite struct OutputFileTests {
    let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("output-file-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    func text(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    func isSymbolicLink(_ path: String) -> Bool {
        (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeSymbolicLink
    }

    @Test func writesWholeFilesKeepingPermissionsAndLinks() throws {
        let report = path("report.html")
        try OutputFile(option: "--html", path: report).write("first")
        #expect(try text(report) == "first")
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: report)
        try OutputFile(option: "--html", path: report).write("second")
        #expect(try text(report) == "second")
        let permissions = try FileManager.default.attributesOfItem(atPath: report)[.posixPermissions] as? NSNumber
        #expect(permissions?.intValue == 0o640, "the replaced file's permissions are kept")
        // A symbolic link is written through: the file it points at changes, the link stays.
        let link = path("latest.html")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: report)
        try OutputFile(option: "--html", path: link).write("third")
        #expect(isSymbolicLink(link))
        #expect(try text(report) == "third")
        // No temporary file is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == ["latest.html", "report.html"])
    }

    @Test func refusesTheProtectedFilesUnderAnyName() throws {
        let store = path("s.sqlite")
        try Data("SQLite format 3\0".utf8).write(to: URL(fileURLWithPath: store))
        let protected = OutputFile.Protected.sqliteDatabase(store, option: "--db")
        try FileManager.default.createSymbolicLink(atPath: path("link.sqlite"), withDestinationPath: store)
        #expect(link(store, path("second-name.sqlite")) == 0)
        try FileManager.default.createDirectory(atPath: path("sub"), withIntermediateDirectories: true)
        let names = [store, folder.path + "/./s.sqlite", path("sub") + "/../s.sqlite", path("link.sqlite"), path("second-name.sqlite")]
        for name in names {
            #expect(throws: OutputFileError.protected(option: "--html", path: name, what: "the store itself (--db)"), "\(name)") {
                try OutputFile(option: "--html", path: name, protecting: protected)
            }
        }
        // SQLite's files beside the store, whether they exist yet or not.
        try Data().write(to: URL(fileURLWithPath: store + "-shm"))
        for (suffix, what) in [("-wal", "write-ahead log"), ("-shm", "shared-memory file"), ("-journal", "rollback journal")] {
            let error = #expect(throws: OutputFileError.self) { try OutputFile(option: "--csv", path: store + suffix, protecting: protected) }
            #expect(error?.description == "--csv \(store + suffix) is the store's \(what) (--db \(store)); choose another file name.")
        }
        // A store named through a symbolic link has its companions beside the file it points at.
        let throughLink = OutputFile.Protected.sqliteDatabase(path("link.sqlite"), option: "--db")
        #expect(throws: OutputFileError.self) { try OutputFile(option: "--csv", path: store + "-wal", protecting: throughLink) }
        // Files known later are refused by `protecting`, and again by `write`.
        let output = try OutputFile(option: "--out", path: path("labels.npy"))
        #expect(throws: OutputFileError.self) { try output.protecting([.init(path("labels.npy"), what: "an input")]) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: store)) == Data("SQLite format 3\0".utf8))
        #expect(isSymbolicLink(path("link.sqlite")))
    }

    @Test func refusesWhatIsNotARegularFile() throws {
        let fifo = path("pipe.html")
        #expect(mkfifo(fifo, 0o644) == 0)
        let error = #expect(throws: OutputFileError.self) { try OutputFile(option: "--html", path: fifo) }
        #expect(error?.description == "--html \(fifo) is a FIFO (named pipe), not a regular file; lamm-store writes its output only as a regular file, so choose a file name.")
        #expect(FileKind(path: fifo) == .fifo)
        let inside = path("reports")
        try FileManager.default.createDirectory(atPath: inside, withIntermediateDirectories: true)
        for name in [inside, inside + "/", path("new") + "/"] {
            #expect(throws: OutputFileError.notARegularFile(option: "--out", path: name, kind: .folder)) { try OutputFile(option: "--out", path: name) }
        }
        try FileManager.default.createSymbolicLink(atPath: path("dangling.csv"), withDestinationPath: path("gone.csv"))
        #expect(throws: OutputFileError.danglingLink(option: "--csv", path: path("dangling.csv"), target: path("gone.csv"))) {
            try OutputFile(option: "--csv", path: path("dangling.csv"))
        }
        #expect(throws: OutputFileError.missingFolder(option: "--csv", path: path("missing/runs.csv"), folder: path("missing"))) {
            try OutputFile(option: "--csv", path: path("missing/runs.csv"))
        }
        #expect(throws: OutputFileError.empty(option: "--csv")) { try OutputFile(option: "--csv", path: "") }
        if getuid() == 0 {
            // A device node of its own, like /dev/full (char 1:7), so that none of the system's is at risk.
            let device = path("full")
            #expect(mknod(device, S_IFCHR | 0o666, dev_t(0x107)) == 0)
            #expect(throws: OutputFileError.notARegularFile(option: "--html", path: device, kind: .characterDevice)) {
                try OutputFile(option: "--html", path: device)
            }
            #expect(FileKind(path: device) == .characterDevice)
        }
    }
}
