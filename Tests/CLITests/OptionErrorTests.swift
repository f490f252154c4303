import Foundation
import Testing

/// Option values that parse but cannot be used are found as the command runs: a message naming the
/// option, the file and what to do, and no usage text; exit status 1, or 64 when the command line
/// alone is wrong.
extension StoreCommandTests {
    func expectRunError(_ arguments: [String], mentions: [String], status: Int32 = 1, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try expectFailure(arguments, mentions: mentions, sourceLocation: sourceLocation)
        #expect(result.status == status, "exit status of \(arguments): \(result.status)", sourceLocation: sourceLocation)
        #expect(!result.stderr.uppercased().contains("USAGE"), "usage printed for \(arguments): \(result.stderr)", sourceLocation: sourceLocation)
    }

    @Test func exportRefusesAnUnknownExtension() throws {
        let (_, second) = try storeWithSnapshots()
        let out = scratch.path("labels.txt")
        // The command line alone is wrong: a usage error, found when the command runs.
        try expectRunError(["export", "--snapshot", "\(second)", "--out", out],
                           mentions: ["--out \(out)", ".safetensors or .npy", "give a file name"], status: 64)
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func compareRefusesAPageInAMissingFolder() throws {
        try initStore()
        let page = scratch.path("missing/report.html")
        try expectRunError(["compare", "--html", page], mentions: ["--html \(page)", "the folder \(scratch.path("missing"))", "Create it"])
    }

    @Test func importSplitRefusesAMissingImageFolder() throws {
        try initStore()
        let split = try scratch.write("split_zhou_Pets.json", #"{"train": [["a.jpg", 0, "dog"]], "val": [], "test": [["b.jpg", 0, "dog"]]}"#)
        let images = scratch.path("no-images")
        try expectRunError(["import-split", split, "--images", images], mentions: ["--images \(images) is not a folder", "image paths start from"])
    }
}
