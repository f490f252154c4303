import Foundation
import Testing
@testable import Store

@Suite struct StoreTests {
    /// Every SHA-256 the store writes is lowercase hex of the digest (FIPS 180-2's test vectors).
    @Test func sha256IsWrittenAsLowercaseHex() {
        #expect(FloatBlob.sha256(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(FloatBlob.sha256(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(FloatBlob.hex([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
    }

    @Test(arguments: Backend.underTest) func bindingTheSameModelTwiceIsANoOpAndAnotherModelIsRefused(backend: Backend) throws {
        let store = try boundStore(backend)
        #expect(try store.bindModel(testModel) == false)
        var other = testModel
        other.weightsSha256 = String(repeating: "cd", count: 32)
        other.directory = "/models/other"
        let before = try dump(store)
        #expect(throws: StoreError.self) { try store.bindModel(other) }
        #expect(try dump(store) == before)
        do {
            try store.bindModel(other)
        } catch {
            #expect("\(error)".contains("/models/tiny") && "\(error)".contains("/models/other"))
        }
    }

    @Test(arguments: Backend.underTest) func stagesAreNumberedAndClassesIndexedInLabelOrder(backend: Backend) throws {
        let store = try boundStore(backend)
        let first = try store.registerStage(dataset: "pets", stage: nil, data: stageData(["cat", "dog"]))
        let second = try store.registerStage(dataset: "pets", stage: nil, data: stageData(["hen", "cow", "pig"]))
        #expect(first.stage == "Set1" && first.position == 0 && first.classes == 2 && first.train == 4 && first.test == 2)
        #expect(second.stage == "Set2" && second.position == 1 && second.classes == 3)
        let third = try store.registerStage(dataset: "pets", stage: "extra", data: stageData(["owl"]))
        #expect(third.position == 2)
        let labels = try store.executor.read { db in
            try db.rows("SELECT name, label_index FROM class WHERE stage_id = ? ORDER BY label_index",
                        [second.stageId]).map { "\($0["name"] as String)=\($0["label_index"] as Int)" }
        }
        #expect(labels == ["hen=0", "cow=1", "pig=2"])
    }

    @Test(arguments: Backend.underTest) func aClassOfAnEarlierStageIsRefusedAndNothingIsWritten(backend: Backend) throws {
        let store = try boundStore(backend)
        _ = try store.registerStage(dataset: "pets", stage: nil, data: stageData(["cat", "dog"]))
        let before = try dump(store)
        var data = stageData(["hen", "dog"], file: "set2.csv")
        data.firstLine["dog"] = 9
        #expect(throws: StoreError.classRegisteredEarlier(file: "set2.csv", line: 9, className: "dog", dataset: "pets", stage: "Set1")) {
            try store.registerStage(dataset: "pets", stage: nil, data: data)
        }
        #expect(try dump(store) == before)
        // The same class name in another dataset is a different class.
        _ = try store.registerStage(dataset: "farm", stage: nil, data: stageData(["dog"]))
    }

    @Test(arguments: Backend.underTest) func anExistingStageNameIsRefused(backend: Backend) throws {
        let store = try boundStore(backend)
        _ = try store.registerStage(dataset: "pets", stage: "base", data: stageData(["cat"]))
        #expect(throws: StoreError.stageExists(dataset: "pets", name: "base")) {
            try store.registerStage(dataset: "pets", stage: "base", data: stageData(["dog"]))
        }
    }

    @Test(arguments: Backend.underTest) func aStoreWithoutAModelRegistersNothing(backend: Backend) throws {
        let store = try backend.emptyStore()
        #expect(throws: StoreError.noModel(path: store.path)) {
            try store.registerStage(dataset: "pets", stage: nil, data: stageData(["cat"]))
        }
    }

    @Test(arguments: Backend.underTest) func theSchemaRefusesSampleFeaturesOfTheWrongWidth(backend: Backend) throws {
        let store = try boundStore(backend)
        var data = stageData(["cat"])
        data.samples[0].feature = [1, 2, 3]
        #expect {
            try store.registerStage(dataset: "pets", stage: nil, data: data)
        } throws: { error in
            "\(error)".contains("a sample feature must have the model's feature width")
        }
        #expect(try store.datasetNames().isEmpty)
    }
}
