import Formats
import Foundation
import Store

/// A stage file (Formats' `StageFile`) as the samples the store registers.
public enum StageImport {
    public static func load(csv: URL, csvName: String, features: URL?, featuresName: String?, featureWidth: Int) throws -> StageData {
        StageData(try StageFile.read(csv: csv, csvName: csvName, features: features, featuresName: featuresName, featureWidth: featureWidth))
    }
}

extension StageData {
    public init(_ file: StageFile) {
        self.init(sourceFile: file.sourceFile, classes: file.classes, samples: file.rows.map {
            NewSample(classIndex: $0.classIndex, split: $0.split, feature: $0.feature, imagePath: $0.imagePath,
                      featureFile: $0.featureFile, featureRow: $0.featureRow)
        }, firstLine: file.firstLine)
    }
}
