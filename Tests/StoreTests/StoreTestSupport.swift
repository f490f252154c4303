import Foundation
import GRDB
@testable import Store

let testModel = ModelRecord(name: "tiny", directory: "/models/tiny", weightsFile: "model.safetensors",
                            weightsSha256: String(repeating: "ab", count: 32), configJson: "{}",
                            tokenEmbeddingWidth: 3, featureWidth: 4)

func boundStore() throws -> LabelStore {
    let store = try LabelStore.inMemory()
    try store.bindModel(testModel)
    return store
}

/// A stage of `classes`, with `perClass` train and one test sample each; features depend on
/// the class index so that they are distinct.
func stageData(_ classes: [String], perClass: Int = 2, file: String = "stage.csv") -> StageData {
    var data = StageData(sourceFile: file, classes: classes, samples: [], firstLine: [:])
    for (i, name) in classes.enumerated() {
        data.firstLine[name] = 2 + i * (perClass + 1)
        for s in 0...perClass {
            data.samples.append(NewSample(classIndex: i, split: s == perClass ? .test : .train,
                                          feature: [Float(i + 1), Float(s), 1, -1], imagePath: nil,
                                          featureFile: "f.npy", featureRow: i * (perClass + 1) + s))
        }
    }
    return data
}

func vectors(_ seed: Float, tokens: Int = 2) -> TokenVectors {
    TokenVectors(tokenCount: tokens, width: 3, values: (0..<(tokens * 3)).map { seed + Float($0) / 10 })
}

func dump(_ store: LabelStore) throws -> String { try store.contentDump() }
