import Foundation
import Testing

@testable import Continual

/// Class-incremental scenarios: numpy's seeded class orders reproduced exactly (against
/// Tools/class_order_fixture.py's output), stage sizes, class-order files, and import-split
/// writing a many-stage scenario as one lineage.
@Suite struct ClassIncrementsTests {
    static let fixture = tinyModel.deletingLastPathComponent().appendingPathComponent("class-orders/numpy_permutations.json")

    @Test func seededOrdersAreNumPysPermutations() throws {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixture)) as? [String: Any])
        let cases = try #require(json["cases"] as? [[String: Any]])
        #expect(cases.count == 8)
        for item in cases {
            let (seed, count) = (UInt32(item["seed"] as! Int), item["classes"] as! Int)
            var random = NumPyRandomState(seed: seed)
            #expect(random.permutation(count) == item["permutation"] as! [Int], "seed \(seed), \(count) classes")
        }
        // The order is the sorted classes taken at the permutation's positions.
        let names = (0..<10).map { "class\($0)" }
        #expect(try ClassOrder(argument: "seed:1993").apply(to: names) { $0 } == [4, 2, 7, 6, 0, 3, 5, 8, 9, 1].map { "class\($0)" })
        #expect(try ClassOrder(argument: "sorted").apply(to: names) { $0 } == names)
        #expect(throws: ClassOrderError.badSeed(argument: "seed:-1")) { try ClassOrder(argument: "seed:-1") }
    }

    @Test func stagesHaveTheAskedSizes() throws {
        #expect(try ClassIncrements.steps(2).sizes(classes: 5) == [3, 2], "Dassl's base/new: ceil(K/2) first")
        #expect(try ClassIncrements.steps(3).sizes(classes: 10) == [4, 3, 3])
        #expect(try ClassIncrements.increments(base: 10, increment: 10).sizes(classes: 100) == Array(repeating: 10, count: 10))
        #expect(try ClassIncrements.increments(base: 50, increment: 5).sizes(classes: 100) == [50] + Array(repeating: 5, count: 10))
        #expect(try ClassIncrements.increments(base: 4, increment: 2).stages(Array(0..<8)) == [[0, 1, 2, 3], [4, 5], [6, 7]])
        #expect(throws: ClassOrderError.increments(base: 10, increment: 7, classes: 100)) {
            try ClassIncrements.increments(base: 10, increment: 7).sizes(classes: 100)
        }
        #expect(throws: ClassOrderError.steps(steps: 4, classes: 3)) { try ClassIncrements.steps(4).sizes(classes: 3) }
        #expect("\(ClassOrderError.increments(base: 10, increment: 7, classes: 100))".contains("--increments 10,7"))
    }

    @Test func aClassOrderFileNamesEachClassOnce() throws {
        let w = try Workspace()
        func order(_ text: String) throws -> [String] {
            let url = w.directory.appendingPathComponent("order-\(UUID()).txt")
            try Data(text.utf8).write(to: url)
            return try ClassOrder(argument: url.path).apply(to: ["apple", "boat", "car"]) { $0 }
        }
        #expect(try order("car\napple\n\nboat\n") == ["car", "apple", "boat"])
        for (text, expected) in [("car\napple\n", "leaves out 1 class ('boat')"), ("car\napple\nboat\ncar\n", "line 4: 'car' is named a second time"),
                                 ("car\nplane\n", "line 2: 'plane' is not a class")] {
            do {
                _ = try order(text)
                Issue.record("accepted \(text)")
            } catch let error as ClassOrderError {
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
    }

    @Test func importSplitWritesEveryStageOfAScenarioAsOneLineage() throws {
        let w = try Workspace()
        let tests = ImportSplitTests()
        let file = try tests.splitFile(w, "split_zhou_Tiny.json", train: tests.train, test: tests.test)
        var request = tests.request(file)
        request.increments = .steps(3)
        request.classOrder = try ClassOrder(argument: "seed:1993")
        let before = try w.store.contentDump()
        var refused = request
        refused.increments = .increments(base: 2, increment: 2)
        #expect(throws: ClassOrderError.self) { _ = try w.session.writer.importSplit(refused) }
        #expect(try w.store.contentDump() == before)
        let results = try w.session.writer.importSplit(request)
        // numpy: np.random.seed(1993); np.random.permutation(3) == [0, 2, 1].
        #expect(results.map(\.registration.stage) == ["Set1", "Set2", "Set3"])
        let classes = try results.map { try w.store.classes(ofStage: $0.registration.stageId).map(\.name) }
        #expect(classes == [["apple"], ["car"], ["boat"]])
        #expect(results[1].snapshot.parent == results[0].snapshot.id && results[2].snapshot.parent == results[1].snapshot.id)
        #expect(try w.store.verify().ok)
    }
}
