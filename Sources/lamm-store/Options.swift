import ArgumentParser
import CLIP
import Formats
import Foundation
import Kernels
import Methods
import Reports
import Store

/// Where the store is: --db, else LAMM_STORE_DB, else ./lamm.sqlite. A postgres:// URL names a
/// database on a PostgreSQL server (the shared store of a team).
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The store: an SQLite file, or a PostgreSQL database as postgres://user@host:5432/lamm (default: $LAMM_STORE_DB, else ./lamm.sqlite).", valueName: "path|url"))
    var db: String?

    var path: String {
        db ?? ProcessInfo.processInfo.environment["LAMM_STORE_DB"].flatMap { $0.isEmpty ? nil : $0 } ?? "lamm.sqlite"
    }

    /// Where the store's path came from, for messages.
    var source: String {
        if db != nil { return "--db" }
        return ProcessInfo.processInfo.environment["LAMM_STORE_DB"].flatMap { $0.isEmpty ? nil : $0 } != nil ? "LAMM_STORE_DB" : "--db, by default"
    }

    /// The store's own files, which no output may replace (none on PostgreSQL).
    var protectedFiles: [OutputFile.Protected] {
        PostgresLocation.isPostgresURL(path) ? [] : OutputFile.Protected.sqliteDatabase(path, option: source)
    }

    /// Opens the store for the body and closes it afterwards, on success or error, so that no
    /// write-ahead log is left beside the file. An error closing it is the command's error
    /// (unless the body failed first: its error is the one to report).
    func withStore<T>(_ access: LabelStore.Access, _ body: (LabelStore) throws -> T) throws -> T {
        let store = try LabelStore.open(path: path, access: access)
        let result: T
        do {
            result = try body(store)
        } catch {
            try? store.close()
            throw error
        }
        try store.close()
        return result
    }
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false
}

/// The dataset a command works on; each command's discussion says what it does without one.
struct DatasetOptions: ParsableArguments {
    @Option(name: .customLong("dataset"), help: "The dataset, by name.", transform: Names.normalised)
    var name: String?

    func validate() throws {
        if let name { try validateName(name, as: .dataset, option: "--dataset") }
    }
}

/// The CLIP checkpoint a command reads directly, without a store.
struct CheckpointOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The CLIP checkpoint directory (Hugging Face or open_clip layout).", valueName: "dir"))
    var model: String

    var directory: URL { URL(fileURLWithPath: model) }
}

/// The store's CLIP checkpoint, for a store whose checkpoint folder moved after `init`.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The store's CLIP checkpoint directory, if it moved since init.", valueName: "dir"))
    var model: String?

    var directory: URL? { model.map { URL(fileURLWithPath: $0) } }
}

/// The label space, for training and for evaluation alike.
struct ProtocolOptions: ParsableArguments {
    @Option(name: .long, help: "Label space: task (each stage's own classes, as the paper) or class (all classes seen so far; in training, the earlier classes' rows stay frozen).")
    var `protocol`: Protocol = .task
}

/// Progress of long commands, on standard error.
struct ProgressOptions: ParsableArguments {
    @Flag(name: .long, help: "Print no progress.")
    var quiet = false

    /// JSON output is read by programs: it comes without progress.
    func printer(json: Bool) -> ProgressPrinter { ProgressPrinter(quiet: quiet || json) }
}

/// A usage error when `name`, given to `option`, breaks the rules for names the store keeps.
func validateName(_ name: String, as kind: Names.Kind, option: String) throws {
    do { _ = try Names.checked(name, as: kind, option: option) } catch let error as NameError { throw ValidationError(error.description) }
}

/// A usage error naming the first value of a list option given twice (`--methods lamm,lamm`): a
/// repeated value would run or count the same thing twice.
func requireDistinct<T: Hashable>(_ values: [T], option: String, spelling: (T) -> String) throws {
    var seen = Set<T>()
    for value in values where !seen.insert(value).inserted {
        throw ValidationError("\(option): '\(spelling(value))' is given twice; give each value once.")
    }
}

/// The files of the checkpoint in `directory` that loading it reads, which no output may replace.
func checkpointFiles(_ directory: URL) -> [OutputFile.Protected] {
    CLIPCheckpointFiles.namesRead.map {
        OutputFile.Protected(directory.appendingPathComponent($0).path, what: "a file of the CLIP checkpoint \(directory.path), which this command reads")
    }
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

/// `--precision`: the towers' arithmetic.
struct PrecisionOptions: ParsableArguments {
    @Option(help: "The towers' arithmetic: fp32, or bf16 (bf16 products with fp32 accumulation, on CPUs with AVX512-BF16 or AMX; elsewhere fp32, with a note). A snapshot records the precision it trained in; the features and evaluations the store keeps are computed in fp32 either way.")
    var precision: Precision = .fp32

    /// The precision the towers run in here; says so on standard error when bf16 falls back.
    var resolved: Precision {
        let (precision, notice) = BF16Support.resolve(precision)
        if let notice { FileHandle.standardError.write(Data("note: --precision \(self.precision.rawValue): \(notice)\n".utf8)) }
        return precision
    }
}
