import Foundation

/// A 2-D float32 matrix in row-major (C) order, as read from or written to a NumPy `.npy` file.
public struct FloatMatrix: Sendable, Equatable {
    public var rows: Int
    public var columns: Int
    public var values: [Float]

    public init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "FloatMatrix: \(values.count) values for \(rows)x\(columns)")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    public func row(_ index: Int) -> ArraySlice<Float> {
        values[(index * columns)..<((index + 1) * columns)]
    }
}

public enum NPYError: Error, Equatable, LocalizedError, CustomStringConvertible {
    case unreadable(file: String, reason: String)
    case notNPY(file: String)
    case unsupportedVersion(file: String, major: UInt8, minor: UInt8)
    case truncatedHeader(file: String)
    case malformedHeader(file: String, detail: String)
    case unsupportedDType(file: String, descr: String)
    case fortranOrder(file: String)
    case rank(file: String, shape: [Int])
    case dataSize(file: String, expected: Int, found: Int)
    case unwritable(file: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read the file (\(reason)). Check the path and permissions."
        case let .notNPY(file):
            return "\(file): not a NumPy .npy file (no \\x93NUMPY magic). Save the array with numpy.save."
        case let .unsupportedVersion(file, major, minor):
            return "\(file): .npy format version \(major).\(minor) is not supported (1.0, 2.0 and 3.0 are). Save it again with numpy.save."
        case let .truncatedHeader(file):
            return "\(file): the .npy header is cut short; the file is truncated. Write it again with numpy.save."
        case let .malformedHeader(file, detail):
            return "\(file): the .npy header cannot be read (\(detail)). Write it again with numpy.save."
        case let .unsupportedDType(file, descr):
            return "\(file): dtype '\(descr)' is not supported; use little-endian float32 ('<f4') or float16 ('<f2'), e.g. numpy.save(path, x.astype('float32'))."
        case let .fortranOrder(file):
            return "\(file): the array is stored in Fortran order; save a C-ordered array (numpy.ascontiguousarray(x))."
        case let .rank(file, shape):
            return "\(file): expected a 2-D array [rows, width], found shape \(shape). Reshape it to one row per sample."
        case let .dataSize(file, expected, found):
            return found < expected
                ? "\(file): the data is truncated: the header promises \(expected) bytes, the file holds \(found). Write it again with numpy.save."
                : "\(file): \(found - expected) unexpected bytes after the \(expected) bytes of data. Write it again with numpy.save."
        case let .unwritable(file, reason):
            return "\(file): cannot write the file (\(reason)). Check that the folder exists and is writable."
        }
    }

    public var errorDescription: String? { description }
}

/// NumPy's `.npy` format (numpy.lib.format): the magic `\x93NUMPY`, a version, a header
/// length (2 bytes in 1.0, 4 in 2.0/3.0), a Python dict literal with `descr`,
/// `fortran_order` and `shape`, then the raw data.
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

    public static func read(_ url: URL, displayName: String? = nil) throws -> FloatMatrix {
        let name = displayName ?? url.path
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw NPYError.unreadable(file: name, reason: FileManager.default.fileExists(atPath: url.path) ? "permission or I/O error" : "no such file")
        }
        return try parse(data, file: name)
    }

    public static func parse(_ data: Data, file: String) throws -> FloatMatrix {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> FloatMatrix in
            guard raw.count >= 8, Array(raw[0..<6]) == magic else {
                throw raw.count < 8 && raw.count > 0 && Array(raw.prefix(6)) == Array(magic.prefix(raw.count))
                    ? NPYError.truncatedHeader(file: file) : NPYError.notNPY(file: file)
            }
            let major = raw[6], minor = raw[7]
            let lengthBytes: Int
            switch major {
            case 1: lengthBytes = 2
            case 2, 3: lengthBytes = 4
            default: throw NPYError.unsupportedVersion(file: file, major: major, minor: minor)
            }
            guard raw.count >= 8 + lengthBytes else { throw NPYError.truncatedHeader(file: file) }
            var headerLength = 0
            for i in 0..<lengthBytes { headerLength |= Int(raw[8 + i]) << (8 * i) }
            let headerStart = 8 + lengthBytes
            guard raw.count >= headerStart + headerLength else { throw NPYError.truncatedHeader(file: file) }
            // Version 3.0 allows UTF-8 in the header; 1.0 and 2.0 are latin-1 (ASCII in practice).
            guard let header = String(bytes: raw[headerStart..<(headerStart + headerLength)], encoding: major == 3 ? .utf8 : .isoLatin1) else {
                throw NPYError.malformedHeader(file: file, detail: "not text")
            }
            let fields = try HeaderParser.parse(header, file: file)
            guard fields.fortranOrder == false else { throw NPYError.fortranOrder(file: file) }
            guard fields.shape.count == 2 else { throw NPYError.rank(file: file, shape: fields.shape) }
            let itemSize: Int
            switch fields.descr {
            case "<f4": itemSize = 4
            case "<f2": itemSize = 2
            default: throw NPYError.unsupportedDType(file: file, descr: fields.descr)
            }
            let (rows, columns) = (fields.shape[0], fields.shape[1])
            let (count, overflow) = rows.multipliedReportingOverflow(by: columns)
            guard !overflow, count.multipliedReportingOverflow(by: itemSize).overflow == false else {
                throw NPYError.malformedHeader(file: file, detail: "shape \(fields.shape) is too large")
            }
            let dataStart = headerStart + headerLength
            let found = raw.count - dataStart
            guard found == count * itemSize else {
                throw NPYError.dataSize(file: file, expected: count * itemSize, found: found)
            }
            var values = [Float](repeating: 0, count: count)
            let body = UnsafeRawBufferPointer(rebasing: raw[dataStart...])
            if itemSize == 4 {
                values.withUnsafeMutableBytes { $0.copyMemory(from: body) }
                for i in 0..<count { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) }
            } else {
                for i in 0..<count {
                    let bits = UInt16(body[2 * i]) | UInt16(body[2 * i + 1]) << 8
                    values[i] = Float(Float16(bitPattern: bits))
                }
            }
            return FloatMatrix(rows: rows, columns: columns, values: values)
        }
    }

    /// Writes version 1.0, `<f4`, C order (see `encode`).
    public static func write(_ matrix: FloatMatrix, to url: URL) throws {
        do {
            try encode(matrix).write(to: url, options: .atomic)
        } catch {
            throw NPYError.unwritable(file: url.path, reason: error.localizedDescription)
        }
    }

    /// The bytes of a version 1.0 file, `<f4`, C order; the header is padded so the data starts
    /// on a 64-byte boundary, as numpy does.
    public static func encode(_ matrix: FloatMatrix) -> Data {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(matrix.rows), \(matrix.columns)), }"
        let unpadded = magic.count + 2 + 2 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data(magic)
        data.append(contentsOf: [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        matrix.values.withUnsafeBufferPointer { buffer in
            for value in buffer {
                var bits = value.bitPattern.littleEndian
                withUnsafeBytes(of: &bits) { data.append(contentsOf: $0) }
            }
        }
        return data
    }

    /// The header dict: `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
    struct HeaderFields {
        var descr = ""
        var fortranOrder = false
        var shape: [Int] = []
    }

    enum HeaderParser {
        static func parse(_ text: String, file: String) throws -> HeaderFields {
            var scanner = Substring(text)
            func fail(_ detail: String) -> NPYError { .malformedHeader(file: file, detail: detail) }
            func skipSpace() { scanner = scanner.drop(while: { $0 == " " || $0 == "\n" || $0 == "\t" }) }
            func expect(_ c: Character) throws {
                skipSpace()
                guard scanner.first == c else { throw fail("expected '\(c)'") }
                scanner = scanner.dropFirst()
            }
            func string() throws -> String {
                skipSpace()
                guard let q = scanner.first, q == "'" || q == "\"" else { throw fail("expected a quoted key or value") }
                scanner = scanner.dropFirst()
                guard let end = scanner.firstIndex(of: q) else { throw fail("unterminated string") }
                let value = String(scanner[..<end])
                scanner = scanner[scanner.index(after: end)...]
                return value
            }
            var fields = HeaderFields()
            var seen = Set<String>()
            try expect("{")
            while true {
                skipSpace()
                if scanner.first == "}" { scanner = scanner.dropFirst(); break }
                let key = try string()
                try expect(":")
                skipSpace()
                switch key {
                case "descr":
                    fields.descr = try string()
                case "fortran_order":
                    if scanner.hasPrefix("True") { fields.fortranOrder = true; scanner = scanner.dropFirst(4) }
                    else if scanner.hasPrefix("False") { fields.fortranOrder = false; scanner = scanner.dropFirst(5) }
                    else { throw fail("fortran_order is not True or False") }
                case "shape":
                    try expect("(")
                    var shape: [Int] = []
                    while true {
                        skipSpace()
                        if scanner.first == ")" { scanner = scanner.dropFirst(); break }
                        let digits = scanner.prefix(while: \.isNumber)
                        guard let n = Int(digits) else { throw fail("shape holds a non-integer") }
                        shape.append(n)
                        scanner = scanner.dropFirst(digits.count)
                        skipSpace()
                        if scanner.first == "," { scanner = scanner.dropFirst() }
                    }
                    fields.shape = shape
                default:
                    throw fail("unknown key '\(key)'")
                }
                seen.insert(key)
                skipSpace()
                if scanner.first == "," { scanner = scanner.dropFirst() }
            }
            guard seen == ["descr", "fortran_order", "shape"] else {
                throw fail("missing \(Set(["descr", "fortran_order", "shape"]).subtracting(seen).sorted().joined(separator: ", "))")
            }
            return fields
        }
    }
}
