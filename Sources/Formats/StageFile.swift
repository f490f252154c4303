import Foundation
import Methods

/// A stage file: a CSV of `class,split[,image]` rows, one per sample, and optionally a `.npy`
/// of the samples' image features in the same order; read and checked before a stage is
/// added, so that a bad file leaves the store unchanged.
public enum StageFile {
    /// The values of the `split` column.
    public static let splits = Split.allCases.map(\.rawValue)
    static let allowedColumns = ["class", "split", "image"]
    public static let maximumClassNameLength = Names.maximumLength

    /// Reads and checks a stage file. `csvName`/`featuresName` are the paths as the user gave
    /// them, for messages.
    public static func read(csv: URL, csvName: String, features: URL?, featuresName: String?,
                            featureWidth: Int) throws -> StageData {
        let table = try CSV.read(csv, displayName: csvName)
        guard let classColumn = table.column("class") else {
            throw StageImportError.missingColumn(file: csvName, column: "class", header: table.header)
        }
        guard let splitColumn = table.column("split") else {
            throw StageImportError.missingColumn(file: csvName, column: "split", header: table.header)
        }
        let unknown = table.header.filter { !allowedColumns.contains($0) }
        guard unknown.isEmpty else { throw StageImportError.unknownColumns(file: csvName, names: unknown) }
        let imageColumn = table.column("image")
        guard !table.records.isEmpty else { throw StageImportError.noDataRows(file: csvName) }

        var matrix: FloatMatrix?
        if let features, let featuresName {
            let m = try NPY.read(features, displayName: featuresName)
            guard m.rows == table.records.count else {
                throw StageImportError.rowCountMismatch(csv: csvName, csvRows: table.records.count,
                                                        features: featuresName, featureRows: m.rows)
            }
            try m.checkImageFeatures(file: featuresName, width: featureWidth)
            matrix = m
        } else if imageColumn == nil {
            throw StageImportError.missingColumn(file: csvName, column: "image", header: table.header)
        }

        let csvDirectory = csv.deletingLastPathComponent()
        var file = StageData(sourceFile: csvName, classes: [], samples: [], firstLine: [:])
        var classIndex: [String: Int] = [:]
        for (r, record) in table.records.enumerated() {
            let name = Names.normalised(record.fields[classColumn])
            guard !name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw StageImportError.emptyClassName(file: csvName, line: record.line)
            }
            // A class name becomes a prompt, a label in the store and a word in every message.
            guard name.unicodeScalars.count <= Self.maximumClassNameLength else {
                throw StageImportError.classNameTooLong(file: csvName, line: record.line, name: name)
            }
            if let control = Names.controlCharacter(in: name) {
                throw StageImportError.controlCharacter(file: csvName, line: record.line, name: name, scalar: control.value)
            }
            guard let split = Split(rawValue: record.fields[splitColumn]) else {
                throw StageImportError.unknownSplit(file: csvName, line: record.line, value: record.fields[splitColumn])
            }
            var imagePath: String?
            if let imageColumn {
                let relative = record.fields[imageColumn]
                guard !relative.isEmpty else { throw StageImportError.emptyImagePath(file: csvName, line: record.line) }
                imagePath = URL(fileURLWithPath: relative, relativeTo: csvDirectory).standardizedFileURL.path
            }
            let index: Int
            if let known = classIndex[name] {
                index = known
            } else {
                index = file.classes.count
                classIndex[name] = index
                file.classes.append(name)
                file.firstLine[name] = record.line
            }
            var feature: [Float] = []
            if let matrix {
                feature = Array(matrix.row(r))
            }
            file.samples.append(Sample(classIndex: index, split: split, feature: feature, imagePath: imagePath,
                                       featureFile: matrix == nil ? nil : features?.standardizedFileURL.path, featureRow: matrix == nil ? nil : r))
        }
        return file
    }
}

extension FloatMatrix {
    /// Checks image features read from a `.npy` (a stage's, or the ones `classify` is given):
    /// as wide as the model's features, finite, and no row all zeros, since each row is
    /// L2-normalised before it is compared with text features.
    public func checkImageFeatures(file: String, width: Int) throws {
        guard columns == width else { throw StageImportError.featureWidth(file: file, found: columns, expected: width) }
        for r in 0..<rows {
            var normSquared: Float = 0
            for (c, value) in row(r).enumerated() {
                guard value.isFinite else { throw StageImportError.nonFinite(file: file, row: r, column: c, value: value) }
                normSquared += value * value
            }
            guard normSquared > 0 else { throw StageImportError.zeroFeature(file: file, row: r) }
        }
    }
}

public enum StageImportError: Error, Equatable, LocalizedError, CustomStringConvertible {
    case missingColumn(file: String, column: String, header: [String])
    case unknownColumns(file: String, names: [String])
    case noDataRows(file: String)
    case emptyClassName(file: String, line: Int)
    case classNameTooLong(file: String, line: Int, name: String)
    case controlCharacter(file: String, line: Int, name: String, scalar: UInt32)
    case unknownSplit(file: String, line: Int, value: String)
    case emptyImagePath(file: String, line: Int)
    case rowCountMismatch(csv: String, csvRows: Int, features: String, featureRows: Int)
    case featureWidth(file: String, found: Int, expected: Int)
    case nonFinite(file: String, row: Int, column: Int, value: Float)
    case zeroFeature(file: String, row: Int)

    public var description: String {
        switch self {
        case let .missingColumn(file, column, header):
            return "\(file): the header has no `\(column)` column (it has: \(header.joined(separator: ", "))). Columns are class, split and, without --features, image."
        case let .unknownColumns(file, names):
            return "\(file): unknown column\(names.count == 1 ? "" : "s") \(names.map { "`\($0)`" }.joined(separator: ", ")). Allowed columns are class, split and image; remove or rename the others."
        case let .noDataRows(file):
            return "\(file): the CSV has a header but no data rows. Add one row per sample."
        case let .emptyClassName(file, line):
            return "\(file), line \(line): the class name is empty. Every row needs a class."
        case let .classNameTooLong(file, line, name):
            return "\(file), line \(line): the class name '\(displayName(name, limit: 40))' is too long; class names are at most \(StageFile.maximumClassNameLength) characters."
        case let .controlCharacter(file, line, name, scalar):
            return "\(file), line \(line): the class name '\(displayName(name))' holds the control character U+\(String(format: "%04X", scalar)); remove it."
        case let .unknownSplit(file, line, value):
            return "\(file), line \(line): unknown split '\(displayName(value))'. Use train, val or test."
        case let .emptyImagePath(file, line):
            return "\(file), line \(line): the image path is empty. Give a path relative to the CSV, or pass --features."
        case let .rowCountMismatch(csv, csvRows, features, featureRows):
            return "\(features) has \(featureRows) rows but \(csv) has \(csvRows) data rows. --features needs exactly one row per CSV data row, in the same order."
        case let .featureWidth(file, found, expected):
            return "\(file): features are \(found) wide, but the store's model produces \(expected)-wide image features. Encode the images with the store's model."
        case let .nonFinite(file, row, column, value):
            return "\(file), row \(row) (0-based), column \(column): the feature holds \(value). Features must be finite; re-encode that image."
        case let .zeroFeature(file, row):
            return "\(file), row \(row) (0-based): the feature is all zeros and cannot be normalised. Re-encode that image."
        }
    }

    public var errorDescription: String? { description }
}
