import Foundation

/// A CoOp/Dassl split file (`split_zhou_OxfordPets.json`): `{"train" | "val" | "test":
/// [[relative image path, label, classname], ...]}`.
public struct DasslSplit: Sendable, Equatable {
    public struct Item: Sendable, Equatable {
        public var path: String
        public var label: Int
        public var className: String

        public init(path: String, label: Int, className: String) {
            (self.path, self.label, self.className) = (path, label, className)
        }
    }

    /// Items per split name ("train", "val", "test"), in file order.
    public var items: [String: [Item]]
    /// Class name of each label, labels sorted.
    public var classNames: [Int: String]

    public init(items: [String: [Item]], classNames: [Int: String]) {
        self.items = items
        self.classNames = classNames
    }

    public var labels: [Int] { classNames.keys.sorted() }

    /// Dassl's base/new subsampling (LAMM.md, incremental setting): labels sorted, Set1 = the
    /// first ceil(K/2), Set2 = the rest.
    public var stages: (set1: [Int], set2: [Int]) {
        let sorted = labels
        let half = (sorted.count + 1) / 2
        return (Array(sorted.prefix(half)), Array(sorted.dropFirst(half)))
    }
}

public enum DasslSplitError: Error, Equatable, LocalizedError, CustomStringConvertible {
    case unreadable(file: String, reason: String)
    case malformed(file: String, detail: String)
    case labelMismatch(file: String, split: String, index: Int, label: Int, className: String, expected: String)
    case classNameMismatch(file: String, split: String, index: Int, className: String, label: Int, expected: Int)
    case empty(file: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read the split file (\(reason)). Check the path."
        case let .malformed(file, detail):
            return "\(file): not a CoOp/Dassl split file (\(detail)). Expected {\"train\": [[path, label, classname], ...], \"val\": [...], \"test\": [...]}."
        case let .labelMismatch(file, split, index, label, className, expected):
            return "\(file): \(split)[\(index)] gives label \(label) the class name '\(className)', but earlier items call it '\(expected)'. Fix the split file so each label has one class name."
        case let .classNameMismatch(file, split, index, className, label, expected):
            return "\(file): \(split)[\(index)] gives class '\(className)' label \(label), but earlier items give it label \(expected). Fix the split file so each class has one label."
        case let .empty(file):
            return "\(file): the split file lists no images."
        }
    }

    public var errorDescription: String? { description }
}

extension DasslSplit {
    public static func read(_ url: URL, displayName: String? = nil) throws -> DasslSplit {
        let name = displayName ?? url.path
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DasslSplitError.unreadable(file: name, reason: FileManager.default.fileExists(atPath: url.path) ? "permission or I/O error" : "no such file")
        }
        return try parse(data, file: name)
    }

    /// Whether JSON text stops inside a string, an object or a list (a file cut short).
    static func endsEarly(_ data: Data) -> Bool {
        var depth = 0, inString = false, escaped = false, sawValue = false
        for byte in data {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true; sawValue = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1; sawValue = true
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default: break
            }
        }
        return inString || depth > 0 || !sawValue
    }

    public static func parse(_ data: Data, file: String) throws -> DasslSplit {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw DasslSplitError.malformed(file: file, detail: endsEarly(data)
                ? "not valid JSON (ends early at byte \(data.count)); the file looks cut short, copy it again"
                : "not valid JSON")
        }
        guard let splits = object as? [String: Any] else {
            throw DasslSplitError.malformed(file: file, detail: "the top level is not a JSON object")
        }
        var result = DasslSplit(items: [:], classNames: [:])
        var labelOf: [String: Int] = [:]
        for split in ["train", "val", "test"] {
            guard let value = splits[split] else { continue }
            guard let entries = value as? [Any] else { throw DasslSplitError.malformed(file: file, detail: "\"\(split)\" is not a list") }
            var items: [Item] = []
            for (index, entry) in entries.enumerated() {
                guard let triple = entry as? [Any], triple.count == 3, let path = triple[0] as? String,
                      let label = nonNegativeJSONInteger(triple[1]), let givenName = triple[2] as? String else {
                    throw DasslSplitError.malformed(file: file, detail: "\(split)[\(index)] is not [path, label, classname]")
                }
                let className = Names.normalised(givenName)
                if let known = result.classNames[label], known != className {
                    throw DasslSplitError.labelMismatch(file: file, split: split, index: index, label: label, className: className, expected: known)
                }
                if let known = labelOf[className], known != label {
                    throw DasslSplitError.classNameMismatch(file: file, split: split, index: index, className: className, label: label, expected: known)
                }
                result.classNames[label] = className
                labelOf[className] = label
                items.append(Item(path: path, label: label, className: className))
            }
            result.items[split] = items
        }
        let unknown = Set(splits.keys).subtracting(["train", "val", "test"])
        guard unknown.isEmpty else { throw DasslSplitError.malformed(file: file, detail: "unknown key \(unknown.sorted().map { "\"\($0)\"" }.joined(separator: ", "))") }
        guard result.items.values.contains(where: { !$0.isEmpty }) else { throw DasslSplitError.empty(file: file) }
        return result
    }
}
