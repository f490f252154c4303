import ArgumentParser
import Foundation
import Reports
import Store

/// Where the store is: --db, else LAMM_STORE_DB, else ./lamm.sqlite.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The store's SQLite file (default: $LAMM_STORE_DB, else ./lamm.sqlite).", valueName: "path"))
    var db: String?

    var path: String {
        db ?? ProcessInfo.processInfo.environment["LAMM_STORE_DB"].flatMap { $0.isEmpty ? nil : $0 } ?? "lamm.sqlite"
    }

    /// Opens the store for the body and closes it afterwards, on success or error, so that no
    /// write-ahead log is left beside the file.
    func withStore<T>(_ mode: LabelStore.OpenMode = .existing, _ body: (LabelStore) throws -> T) throws -> T {
        let store = try LabelStore.open(path: path, mode: mode)
        defer {
            do { try store.close() } catch { FileHandle.standardError.write(Data("close: \(error)\n".utf8)) }
        }
        return try body(store)
    }
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false
}

/// JSON as every command prints it: snake_case keys, ISO 8601 dates, sorted keys.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.dateEncodingStrategy = .iso8601
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Left-aligned text columns for the plain output.
func printTable(_ header: [String], _ rows: [[String]]) {
    print(TextTable(header, rows).text, terminator: "")
}

extension Date {
    var display: String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: self)
    }
}

/// Features of named inputs (texts, image files), one per row of `features` [N, dimension]:
/// a JSON array of {nameKey: name, "feature": [...]}, or one line each.
func printFeatures(_ names: [String], _ features: [Float], dimension: Int, nameKey: String, json: Bool) throws {
    struct Line: Encodable {
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        let nameKey: String
        let name: String
        let feature: ArraySlice<Float>

        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(name, forKey: Key(stringValue: nameKey))
            try container.encode(Array(feature), forKey: Key(stringValue: "feature"))
        }
    }
    let lines = names.enumerated().map { Line(nameKey: nameKey, name: $1, feature: features[($0 * dimension)..<(($0 + 1) * dimension)]) }
    if json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(lines), as: UTF8.self))
    } else {
        for line in lines {
            print("\(line.name): [" + line.feature.map { String(format: "%.6f", $0) }.joined(separator: ", ") + "]")
        }
    }
}
