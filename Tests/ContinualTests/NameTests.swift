@testable import Continual
import Formats
import Foundation
@testable import Store
import Testing

/// Names are kept in NFC, whatever form they were typed in; two classes CLIP cannot tell apart,
/// and dataset or stage names that a command line would misread, are refused before training,
/// and the store is left as it was.
@Suite struct NameTests {
    static let composed = "caf\u{E9}", decomposed = "cafe\u{301}"

    func expectRefused(_ w: Workspace, _ request: AddStageRequest, sourceLocation: SourceLocation = #_sourceLocation,
                       _ check: (any Error) -> Bool) throws {
        let before = try w.store.contentDump()
        do {
            _ = try w.session.writer.addStage(request)
            Issue.record("the stage was written", sourceLocation: sourceLocation)
        } catch {
            #expect(check(error), "\(error)", sourceLocation: sourceLocation)
        }
        #expect(try w.store.contentDump() == before, sourceLocation: sourceLocation)
    }

    @Test func aClassTypedInAnotherUnicodeFormIsTheSameClass() throws {
        #expect(Array(Self.composed.utf8) != Array(Self.decomposed.utf8))
        let w = try Workspace()
        let first = try w.session.writer.addStage(try w.stage("set1", classes: [Self.decomposed, "dog"]))
        // Stored in NFC: the bytes of the composed form.
        let stored = try w.store.labelRows(snapshot: first.snapshot.id).map(\.classRecord.name)
        #expect(stored.map { Array($0.utf8) } == [Array(Self.composed.utf8), Array("dog".utf8)])
        try expectRefused(w, try w.stage("set2", classes: [Self.composed, "owl"], seed: 2)) {
            guard case let StoreError.classRegisteredEarlier(_, _, className, _, stage) = $0 else { return false }
            return Array(className.utf8) == Array(Self.composed.utf8) && stage == "Set1"
        }
        let second = try w.session.writer.addStage(try w.stage("set2", classes: ["owl", "bee"], seed: 2))
        // diff and export see one café.
        let diff = try w.store.diff(first.snapshot.id, second.snapshot.id)
        #expect(diff.unchanged == 2 && diff.changed.map(\.className).sorted() == ["bee", "owl"])
        #expect(try w.store.labelRows(snapshot: second.snapshot.id).count == 4)
    }

    @Test func classesCLIPReadsAsTheSameWordsAreRefusedNamingBoth() throws {
        let w = try Workspace()
        try expectRefused(w, try w.stage("cats", classes: ["cat", "dog", "Cat"])) { error in
            "\(error)".contains("class 'Cat' is the same words to CLIP as class 'cat' earlier in the file") && "\(error)".contains("cats.csv, line")
        }
        _ = try w.session.writer.addStage(try w.stage("set1", classes: ["cat", "dog"]))
        try expectRefused(w, try w.stage("set2", classes: ["owl", " CAT  "], seed: 2)) { error in
            guard case let ContinualError.sameTokens(_, _, className, other, stage) = error else { return false }
            return className == " CAT  " && other == "cat" && stage == "Set1"
        }
    }

    @Test func datasetAndStageNamesFollowTheRulesAndAreKeptInNFC() throws {
        let w = try Workspace()
        for (dataset, problem) in [("pets\n", "control character U+000A"), ("pets ", "white space"), (" pets", "white space"),
                                   ("x:b", "holds ':'"), ("", "is empty"), ("pe\tts", "U+0009"),
                                   (String(repeating: "a", count: 201), "longer than 200")] {
            var request = try w.stage("set1", classes: ["dog", "cat"])
            request.dataset = dataset
            try expectRefused(w, request) { error in
                guard let error = error as? NameError else { return false }
                return error.option == "--dataset" && error.problem.contains(problem)
            }
        }
        var request = try w.stage("set1", classes: ["dog", "cat"])
        request.stage = "Set 1 "
        try expectRefused(w, request) { ($0 as? NameError)?.option == "--stage" }
        request.dataset = "ble\u{301}"
        request.stage = "S\u{E9}t1"
        let result = try w.session.writer.addStage(request)
        #expect(Array(result.registration.dataset.utf8) == Array("bl\u{E9}".utf8))
        #expect(try w.store.datasetNames().map { Array($0.utf8) } == [Array("bl\u{E9}".utf8)])
        #expect(Names.problem(with: "Set2", as: .stage) == nil && Names.problem(with: "a: b", as: .class) == nil)
    }

    @Test func theSameClassesWithOtherFeaturesAreThatStageChanged() throws {
        let w = try Workspace()
        _ = try w.session.writer.addStage(try w.stage("set1", classes: ["dog", "cat"], seed: 1))
        // The same CSV, features drawn with another seed.
        try expectRefused(w, try w.stage("set1", classes: ["dog", "cat"], seed: 7)) { error in
            let message = "\(error)"
            return message.contains("the image features differ from stage Set1's, first at sample 0")
                && message.contains("set1.csv has the classes of stage Set1") && !message.contains("already registered")
        }
    }
}
