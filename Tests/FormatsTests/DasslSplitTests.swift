import Foundation
import Testing
@testable import Formats

@Suite struct DasslSplitTests {
    func parse(_ text: String) throws -> DasslSplit { try DasslSplit.parse(Data(text.utf8), file: "split.json") }

    @Test func readsItemsAndSplitsBaseFromNew() throws {
        let split = try parse("""
            {"train": [["a/1.jpg", 2, "cat"], ["b/1.jpg", 0, "abyssinian"], ["c/1.jpg", 4, "pug"]],
             "val": [["a/2.jpg", 2, "cat"]],
             "test": [["d/1.jpg", 1, "beagle"], ["e/1.jpg", 3, "boxer"]]}
            """)
        #expect(split.items["train"]?.map(\.path) == ["a/1.jpg", "b/1.jpg", "c/1.jpg"])
        #expect(split.labels == [0, 1, 2, 3, 4])
        #expect(split.classNames[3] == "boxer")
        // K = 5: Set1 = the first ceil(5/2) = 3 labels.
        #expect(split.stages.set1 == [0, 1, 2] && split.stages.set2 == [3, 4])
    }

    @Test func refusesMismatchesAndMalformedFiles() {
        #expect(throws: DasslSplitError.labelMismatch(file: "split.json", split: "test", index: 0, label: 1, className: "dog", expected: "cat")) {
            try parse(#"{"train": [["x", 1, "cat"]], "test": [["y", 1, "dog"]]}"#)
        }
        #expect(throws: DasslSplitError.classNameMismatch(file: "split.json", split: "train", index: 1, className: "cat", label: 2, expected: 1)) {
            try parse(#"{"train": [["x", 1, "cat"], ["y", 2, "cat"]]}"#)
        }
        #expect(throws: DasslSplitError.malformed(file: "split.json", detail: "train[0] is not [path, label, classname]")) {
            try parse(#"{"train": [["x", "one", "cat"]]}"#)
        }
        #expect(throws: DasslSplitError.malformed(file: "split.json", detail: "the top level is not a JSON object")) { try parse("[1, 2]") }
        #expect(throws: DasslSplitError.malformed(file: "split.json", detail: "unknown key \"holdout\"")) {
            try parse(#"{"train": [["x", 1, "cat"]], "holdout": []}"#)
        }
        #expect(throws: DasslSplitError.empty(file: "split.json")) { try parse(#"{"train": [], "test": []}"#) }
        #expect(throws: DasslSplitError.unreadable(file: "/nonexistent/split.json", reason: "no such file")) {
            try DasslSplit.read(URL(fileURLWithPath: "/nonexistent/split.json"))
        }
    }
}
