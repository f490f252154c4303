import Continual
import Formats
import Foundation
import Methods
import Store
import Testing

@Suite struct StageImportTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("stage-import-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func write(_ csv: String, features: [[Float]]? = nil, width: Int = 4) throws -> (URL, URL?) {
        let csvURL = directory.appendingPathComponent("stage.csv")
        try Data(csv.utf8).write(to: csvURL)
        guard let features else { return (csvURL, nil) }
        let npyURL = directory.appendingPathComponent("stage.npy")
        try NPY.write(FloatMatrix(rows: features.count, columns: width, values: features.flatMap { $0 }), to: npyURL)
        return (csvURL, npyURL)
    }

    func load(_ csv: String, features: [[Float]]?, width: Int = 4, featureWidth: Int = 4) throws -> StageData {
        let (csvURL, npyURL) = try write(csv, features: features, width: width)
        return try StageFile.read(csv: csvURL, csvName: "stage.csv", features: npyURL,
                                    featuresName: npyURL == nil ? nil : "stage.npy", featureWidth: featureWidth)
    }

    func rows(_ n: Int) -> [[Float]] { (0..<n).map { [Float($0 + 1), 0.5, -1, 2] } }

    @Test func readsClassesInOrderOfFirstAppearance() throws {
        let data = try load("split,class,image\ntrain,dog,img/d1.png\ntest,\"cat, tabby\",img/c1.png\ntrain,dog,img/d2.png\nval,cat,x.png\n",
                            features: rows(4))
        #expect(data.classes == ["dog", "cat, tabby", "cat"])
        #expect(data.samples.map(\.classIndex) == [0, 1, 0, 2])
        #expect(data.samples.map(\.split) == [.train, .test, .train, .val])
        #expect(data.samples.map(\.featureRow) == [0, 1, 2, 3])
        #expect(data.samples[2].feature == [3, 0.5, -1, 2])
        #expect(data.samples[0].imagePath == directory.appendingPathComponent("img/d1.png").standardizedFileURL.path)
        #expect(data.firstLine == ["dog": 2, "cat, tabby": 3, "cat": 5])
    }

    @Test func badInputNamesTheFileAndRow() throws {
        #expect(throws: StageImportError.missingColumn(file: "stage.csv", column: "class", header: ["label", "split"])) {
            try load("label,split\ndog,train\n", features: rows(1))
        }
        #expect(throws: StageImportError.unknownColumns(file: "stage.csv", names: ["label", "note"])) {
            try load("class,split,label,note\ndog,train,1,x\n", features: rows(1))
        }
        #expect(throws: StageImportError.unknownSplit(file: "stage.csv", line: 3, value: "training")) {
            try load("class,split\ndog,train\ncat,training\n", features: rows(2))
        }
        #expect(throws: StageImportError.emptyClassName(file: "stage.csv", line: 3)) {
            try load("class,split\ndog,train\n \t,test\n", features: rows(2))
        }
        #expect(throws: StageImportError.noDataRows(file: "stage.csv")) { try load("class,split\n", features: rows(1)) }
        #expect(throws: CSVError.empty(file: "stage.csv")) { try load("", features: rows(1)) }
        #expect(throws: CSVError.fieldCount(file: "stage.csv", line: 3, row: 2, expected: 2, found: 3)) {
            try load("class,split\ndog,train\ncat,test,extra\n", features: rows(2))
        }
        #expect(throws: StageImportError.rowCountMismatch(csv: "stage.csv", csvRows: 2, features: "stage.npy", featureRows: 3)) {
            try load("class,split\ndog,train\ncat,test\n", features: rows(3))
        }
        #expect(throws: StageImportError.featureWidth(file: "stage.npy", found: 3, expected: 4)) {
            try load("class,split\ndog,train\n", features: [[1, 2, 3]], width: 3)
        }
        #expect(throws: StageImportError.nonFinite(file: "stage.npy", row: 1, column: 2, value: .infinity)) {
            try load("class,split\ndog,train\ncat,test\n", features: [[1, 1, 1, 1], [1, 1, .infinity, 1]])
        }
        #expect(throws: StageImportError.zeroFeature(file: "stage.npy", row: 0)) {
            try load("class,split\ndog,train\n", features: [[0, 0, 0, 0]])
        }
        #expect(throws: StageImportError.missingColumn(file: "stage.csv", column: "image", header: ["class", "split"])) {
            try load("class,split\ndog,train\n", features: nil)
        }
    }

    @Test func withoutFeaturesTheImagesAreToBeEncoded() throws {
        let data = try load("class,split,image\ndog,train,img/d.png\ncat,test,c.jpg\n", features: nil)
        #expect(data.needsImageFeatures)
        #expect(data.samples.map(\.imagePath) == ["img/d.png", "c.jpg"].map { directory.appendingPathComponent($0).standardizedFileURL.path })
        #expect(data.samples.allSatisfy { $0.feature.isEmpty && $0.featureFile == nil })
        #expect(try !load("class,split\ndog,train\n", features: rows(1)).needsImageFeatures)
    }

    @Test func theSplitColumnTakesTheStoresSplits() {
        #expect(StageFile.splits == Split.allCases.map(\.rawValue))
    }

    @Test func nanIsRefused() throws {
        do {
            _ = try load("class,split\ndog,train\n", features: [[1, .nan, 1, 1]])
            Issue.record("NaN was accepted")
        } catch let error as StageImportError {
            guard case let .nonFinite(file, row, column, value) = error else { Issue.record("\(error)"); return }
            #expect(file == "stage.npy" && row == 0 && column == 1 && value.isNaN)
            #expect(error.description.contains("stage.npy, row 0"))
        }
    }
}
