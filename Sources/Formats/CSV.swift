import Foundation

/// A CSV file read as RFC 4180 text: a header row, then records whose fields may be
/// quoted ("..." with "" for a quote) and may then hold commas, quotes and line breaks.
/// UTF-8, an optional byte-order mark, CRLF or LF line ends. Lines with no characters at
/// all are skipped; every other record must have as many fields as the header.
public struct CSVTable: Sendable, Equatable {
    public var header: [String]
    public var records: [CSVRecord]

    /// The index of a header name, if present.
    public func column(_ name: String) -> Int? { header.firstIndex(of: name) }
}

public struct CSVRecord: Sendable, Equatable {
    /// 1-based line of the file on which the record starts (records may span lines).
    public var line: Int
    /// 1-based position among the data records (the header is not counted).
    public var row: Int
    public var fields: [String]
}

public enum CSVError: Error, Equatable, LocalizedError, CustomStringConvertible {
    case unreadable(file: String, reason: String)
    case notUTF8(file: String, line: Int)
    case empty(file: String)
    case unterminatedQuote(file: String, line: Int)
    case characterAfterQuote(file: String, line: Int)
    case quoteInUnquotedField(file: String, line: Int)
    case fieldCount(file: String, line: Int, row: Int, expected: Int, found: Int)
    case duplicateColumn(file: String, name: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read the file (\(reason)). Check the path and permissions."
        case let .notUTF8(file, line):
            return "\(file), line \(line): the text is not valid UTF-8. Save the file as UTF-8."
        case let .empty(file):
            return "\(file): the file is empty. It needs a header row (e.g. `class,split`) and at least one data row."
        case let .unterminatedQuote(file, line):
            return "\(file), line \(line): a quoted field is never closed. Add the closing \" (a quote inside a quoted field is written \"\")."
        case let .characterAfterQuote(file, line):
            return "\(file), line \(line): a closing quote is followed by more text in the same field. Quote the whole field and write inner quotes as \"\"."
        case let .quoteInUnquotedField(file, line):
            return "\(file), line \(line): a field that does not start with a quote contains one. Quote the whole field and write inner quotes as \"\"."
        case let .fieldCount(file, line, row, expected, found):
            return "\(file), line \(line) (data row \(row)): expected \(expected) fields as in the header, found \(found). Quote fields that contain commas."
        case let .duplicateColumn(file, name):
            return "\(file): the header names the column `\(name)` twice. Keep one."
        }
    }

    public var errorDescription: String? { description }
}

public enum CSV {
    /// Reads and parses a CSV file; `file` in errors is the path as the user gave it.
    public static func read(_ url: URL, displayName: String? = nil) throws -> CSVTable {
        let name = displayName ?? url.path
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw CSVError.unreadable(file: name, reason: FileManager.default.fileExists(atPath: url.path) ? "permission or I/O error" : "no such file")
        }
        return try parse(data, file: name)
    }

    public static func parse(_ data: Data, file: String) throws -> CSVTable {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var records: [(line: Int, fields: [String])] = []
        var parser = Parser(bytes: bytes, file: file)
        while let record = try parser.nextRecord() {
            records.append(record)
        }
        guard let header = records.first else { throw CSVError.empty(file: file) }
        var seen = Set<String>()
        for name in header.fields where !seen.insert(name).inserted {
            throw CSVError.duplicateColumn(file: file, name: name)
        }
        var table = CSVTable(header: header.fields, records: [])
        table.records.reserveCapacity(records.count - 1)
        for (index, record) in records.dropFirst().enumerated() {
            guard record.fields.count == header.fields.count else {
                throw CSVError.fieldCount(file: file, line: record.line, row: index + 1,
                                          expected: header.fields.count, found: record.fields.count)
            }
            table.records.append(CSVRecord(line: record.line, row: index + 1, fields: record.fields))
        }
        return table
    }

    private struct Parser {
        let bytes: [UInt8]
        let file: String
        var position = 0
        var line = 1

        static let quote: UInt8 = 0x22, comma: UInt8 = 0x2C, cr: UInt8 = 0x0D, lf: UInt8 = 0x0A

        init(bytes: [UInt8], file: String) {
            self.bytes = bytes
            self.file = file
        }

        /// Consumes a line end (CRLF, LF or a lone CR) at `position`, if there is one.
        mutating func consumeLineEnd() -> Bool {
            guard position < bytes.count else { return false }
            if bytes[position] == Self.lf {
                position += 1
            } else if bytes[position] == Self.cr {
                position += 1
                if position < bytes.count, bytes[position] == Self.lf { position += 1 }
            } else {
                return false
            }
            line += 1
            return true
        }

        mutating func nextRecord() throws -> (line: Int, fields: [String])? {
            // Skip lines that hold no characters at all.
            while position < bytes.count, consumeLineEnd() {}
            guard position < bytes.count else { return nil }
            let startLine = line
            var fields: [String] = []
            while true {
                fields.append(try nextField())
                if position >= bytes.count { break }
                if bytes[position] == Self.comma {
                    position += 1
                    continue
                }
                _ = consumeLineEnd()
                break
            }
            return (startLine, fields)
        }

        mutating func nextField() throws -> String {
            var field: [UInt8] = []
            let fieldLine = line
            if position < bytes.count, bytes[position] == Self.quote {
                position += 1
                while true {
                    guard position < bytes.count else { throw CSVError.unterminatedQuote(file: file, line: fieldLine) }
                    let byte = bytes[position]
                    if byte == Self.quote {
                        if position + 1 < bytes.count, bytes[position + 1] == Self.quote {
                            field.append(Self.quote)
                            position += 2
                            continue
                        }
                        position += 1
                        break
                    }
                    if byte == Self.lf || (byte == Self.cr && !(position + 1 < bytes.count && bytes[position + 1] == Self.lf)) {
                        line += 1
                    }
                    field.append(byte)
                    position += 1
                }
                if position < bytes.count, ![Self.comma, Self.cr, Self.lf].contains(bytes[position]) {
                    throw CSVError.characterAfterQuote(file: file, line: line)
                }
            } else {
                while position < bytes.count {
                    let byte = bytes[position]
                    if byte == Self.comma || byte == Self.cr || byte == Self.lf { break }
                    if byte == Self.quote { throw CSVError.quoteInUnquotedField(file: file, line: line) }
                    field.append(byte)
                    position += 1
                }
            }
            guard let text = String(validating: field, as: UTF8.self) else {
                throw CSVError.notUTF8(file: file, line: fieldLine)
            }
            return text
        }
    }
}
