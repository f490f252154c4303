// Reader and writer of the safetensors layout
// (https://github.com/huggingface/safetensors, "Format" section):
//   8 bytes   N, the header length, unsigned 64-bit little-endian
//   N bytes   a JSON object: tensor name -> {"dtype", "shape", "data_offsets": [begin, end]},
//             plus an optional "__metadata__" object of string -> string
//   rest      the tensors' raw little-endian bytes; offsets are relative to the start of this part
// The reader memory-maps the file so that a 600 MB checkpoint is not copied to read its text tower.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Element types this project reads and writes.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case i64 = "I64"
    case u8 = "U8"

    public var byteCount: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16: 2
        case .i64: 8
        case .u8: 1
        }
    }

    public var isFloatingPoint: Bool { self == .f32 || self == .f16 || self == .bf16 }

    /// The bytes a tensor of `shape` takes, or nil when a header claims more than an Int counts.
    func byteCount(ofShape shape: [Int]) -> Int? {
        shape.reduce(Optional(byteCount)) { bytes, dimension in
            bytes.flatMap { bytes in
                let (product, overflow) = bytes.multipliedReportingOverflow(by: dimension)
                return overflow ? nil : product
            }
        }
    }
}

/// One tensor's entry in the header.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public var dtype: SafetensorsDType
    public var shape: [Int]
    /// Byte range inside the data part (after the header).
    public var dataOffsets: Range<Int>

    public var elementCount: Int { shape.reduce(1, *) }
}

public enum SafetensorsError: Error, LocalizedError, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case tooShort(path: String, size: Int)
    case headerLengthBeyondFile(path: String, headerLength: UInt64, fileSize: Int)
    case malformedHeader(path: String, reason: String)
    case unsupportedDType(path: String, tensor: String, dtype: String)
    case invalidOffsets(path: String, tensor: String, begin: Int, end: Int)
    case truncated(path: String, tensor: String, end: Int, dataSize: Int)
    case overlapping(path: String, tensor: String, other: String)
    case uncoveredData(path: String, covered: Int, dataSize: Int)
    case sizeMismatch(path: String, tensor: String, shape: [Int], dtype: SafetensorsDType, byteCount: Int)
    case missingTensor(path: String, tensor: String)
    case wrongDType(path: String, tensor: String, dtype: SafetensorsDType, expected: String)
    case duplicateTensor(name: String)
    case invalidTensor(name: String, reason: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            "cannot open safetensors file \(path): \(reason); check the path and permissions"
        case let .tooShort(path, size):
            "\(path) is \(size) bytes, too short for a safetensors file (8-byte header length missing); the file is truncated or not safetensors"
        case let .headerLengthBeyondFile(path, headerLength, fileSize):
            "\(path): header length \(headerLength) goes beyond the file size \(fileSize); the file is truncated or not safetensors"
        case let .malformedHeader(path, reason):
            "\(path): malformed safetensors header: \(reason); regenerate the file"
        case let .unsupportedDType(path, tensor, dtype):
            "\(path): tensor '\(tensor)' has dtype \(dtype), which is not supported (use F32, F16, BF16, I32, I64 or U8)"
        case let .invalidOffsets(path, tensor, begin, end):
            "\(path): tensor '\(tensor)' has invalid data offsets [\(begin), \(end)]; regenerate the file"
        case let .truncated(path, tensor, end, dataSize):
            "\(path): tensor '\(tensor)' ends at byte \(end) of the data but the file holds only \(dataSize) data bytes; the file is truncated"
        case let .overlapping(path, tensor, other):
            "\(path): tensors '\(other)' and '\(tensor)' overlap in the data; regenerate the file"
        case let .uncoveredData(path, covered, dataSize):
            "\(path): tensors cover \(covered) of \(dataSize) data bytes (gaps or trailing bytes); regenerate the file"
        case let .sizeMismatch(path, tensor, shape, dtype, byteCount):
            "\(path): tensor '\(tensor)' of shape \(shape) and dtype \(dtype.rawValue) should take \(dtype.byteCount(ofShape: shape).map(String.init) ?? "more than 2^63") bytes but its offsets span \(byteCount); regenerate the file"
        case let .missingTensor(path, tensor):
            "\(path) has no tensor named '\(tensor)'"
        case let .wrongDType(path, tensor, dtype, expected):
            "\(path): tensor '\(tensor)' has dtype \(dtype.rawValue), expected \(expected)"
        case let .duplicateTensor(name):
            "safetensors writer: tensor '\(name)' was added twice; give each tensor a unique name"
        case let .invalidTensor(name, reason):
            "safetensors writer: tensor '\(name)': \(reason)"
        case let .cannotWrite(path, reason):
            "cannot write safetensors file \(path): \(reason)"
        }
    }

    public var errorDescription: String? { description }
}

/// A memory-mapped, validated safetensors file.
public final class SafetensorsFile: @unchecked Sendable {
    // Immutable after init; the mapping is read-only, so sharing across threads is safe.
    public let url: URL
    public let metadata: [String: String]
    private let infos: [String: SafetensorsTensorInfo]
    private let base: UnsafeRawPointer?
    private let mappedSize: Int
    private let dataStart: Int

    public init(url: URL) throws {
        self.url = url
        let path = url.path
        // Opening a FIFO would wait for a writer forever; a device or a folder holds no tensors.
        let kind = FileKind(path: path)
        guard kind == .regular || kind == .missing else {
            throw SafetensorsError.cannotOpen(path: path, reason: "it is \(kind), not a regular file")
        }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SafetensorsError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SafetensorsError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        let size = Int(st.st_size)
        guard size >= 8 else { throw SafetensorsError.tooShort(path: path, size: size) }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw SafetensorsError.cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        let raw = UnsafeRawPointer(mapped)
        do {
            let headerLength = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
            guard headerLength <= UInt64(size - 8) else {
                throw SafetensorsError.headerLengthBeyondFile(path: path, headerLength: headerLength, fileSize: size)
            }
            let header = Data(bytes: raw + 8, count: Int(headerLength))
            let dataSize = size - 8 - Int(headerLength)
            let (infos, metadata) = try Self.parseHeader(header, dataSize: dataSize, path: path)
            self.infos = infos
            self.metadata = metadata
            self.base = raw
            self.mappedSize = size
            self.dataStart = 8 + Int(headerLength)
        } catch {
            munmap(mapped, size)
            throw error
        }
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), mappedSize) }
    }

    /// Tensor names in the order of their data offsets.
    public var tensorNames: [String] {
        infos.sorted { $0.value.dataOffsets.lowerBound < $1.value.dataOffsets.lowerBound }.map(\.key)
    }

    public func contains(_ name: String) -> Bool { infos[name] != nil }

    public func info(_ name: String) throws -> SafetensorsTensorInfo {
        guard let info = infos[name] else { throw SafetensorsError.missingTensor(path: url.path, tensor: name) }
        return info
    }

    /// The tensor's raw little-endian bytes, valid while this file object lives.
    public func withBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let info = try info(name)
        let start = base! + dataStart + info.dataOffsets.lowerBound
        return try body(UnsafeRawBufferPointer(start: start, count: info.dataOffsets.count))
    }

    /// A floating-point tensor as Float, upcasting F16 and BF16.
    public func floats(_ name: String) throws -> [Float] {
        let info = try info(name)
        guard info.dtype.isFloatingPoint else {
            throw SafetensorsError.wrongDType(path: url.path, tensor: name, dtype: info.dtype, expected: "F32, F16 or BF16")
        }
        let count = info.elementCount
        return try withBytes(name) { bytes in
            [Float](unsafeUninitializedCapacity: count) { out, initialized in
                switch info.dtype {
                case .f32:
                    if count > 0 { memcpy(out.baseAddress!, bytes.baseAddress!, count * 4) }
                case .f16:
                    for i in 0..<count {
                        out[i] = Float(Float16(bitPattern: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                    }
                case .bf16:
                    // bfloat16 is the upper half of a float32.
                    for i in 0..<count {
                        let bits = UInt32(bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16
                        out[i] = Float(bitPattern: bits)
                    }
                default: break
                }
                initialized = count
            }
        }
    }

    /// An integer tensor (I32, I64 or U8) as Int.
    public func integers(_ name: String) throws -> [Int] {
        let info = try info(name)
        let count = info.elementCount
        return try withBytes(name) { bytes in
            switch info.dtype {
            case .i32: return (0..<count).map { Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
            case .i64: return (0..<count).map { Int(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
            case .u8: return (0..<count).map { Int(bytes[$0]) }
            default:
                throw SafetensorsError.wrongDType(path: url.path, tensor: name, dtype: info.dtype, expected: "I32, I64 or U8")
            }
        }
    }

    private static func parseHeader(_ header: Data, dataSize: Int, path: String)
        throws -> ([String: SafetensorsTensorInfo], [String: String])
    {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: header)
        } catch {
            throw SafetensorsError.malformedHeader(path: path, reason: "the header is not valid JSON")
        }
        guard let entries = object as? [String: Any] else {
            throw SafetensorsError.malformedHeader(path: path, reason: "the header is not a JSON object")
        }
        var infos: [String: SafetensorsTensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in entries {
            if name == "__metadata__" {
                guard let dict = value as? [String: Any] else {
                    throw SafetensorsError.malformedHeader(path: path, reason: "__metadata__ is not an object")
                }
                for (key, item) in dict {
                    guard let text = item as? String else {
                        throw SafetensorsError.malformedHeader(path: path, reason: "__metadata__ value of '\(key)' is not a string")
                    }
                    metadata[key] = text
                }
                continue
            }
            guard let entry = value as? [String: Any],
                  let dtypeName = entry["dtype"] as? String,
                  let shapeValues = entry["shape"] as? [Any],
                  let offsetValues = entry["data_offsets"] as? [Any], offsetValues.count == 2
            else {
                throw SafetensorsError.malformedHeader(path: path, reason: "entry of tensor '\(name)' needs dtype, shape and two data_offsets")
            }
            guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
                throw SafetensorsError.unsupportedDType(path: path, tensor: name, dtype: dtypeName)
            }
            let shape = try shapeValues.map { try nonNegativeInteger($0, path: path, what: "shape of '\(name)'") }
            let begin = try nonNegativeInteger(offsetValues[0], path: path, what: "data_offsets of '\(name)'")
            let end = try nonNegativeInteger(offsetValues[1], path: path, what: "data_offsets of '\(name)'")
            guard begin <= end else { throw SafetensorsError.invalidOffsets(path: path, tensor: name, begin: begin, end: end) }
            guard end <= dataSize else { throw SafetensorsError.truncated(path: path, tensor: name, end: end, dataSize: dataSize) }
            guard dtype.byteCount(ofShape: shape) == end - begin else {
                throw SafetensorsError.sizeMismatch(path: path, tensor: name, shape: shape, dtype: dtype, byteCount: end - begin)
            }
            infos[name] = SafetensorsTensorInfo(dtype: dtype, shape: shape, dataOffsets: begin..<end)
        }
        // Strict layout, as the reference implementation checks: tensors tile the data part
        // exactly, without overlaps, gaps or trailing bytes.
        let ordered = infos.sorted {
            ($0.value.dataOffsets.lowerBound, $0.value.dataOffsets.upperBound, $0.key)
                < ($1.value.dataOffsets.lowerBound, $1.value.dataOffsets.upperBound, $1.key)
        }
        var covered = 0
        var previous = ""
        for (name, info) in ordered {
            if info.dataOffsets.lowerBound < covered {
                throw SafetensorsError.overlapping(path: path, tensor: name, other: previous)
            }
            if info.dataOffsets.lowerBound > covered {
                throw SafetensorsError.uncoveredData(path: path, covered: covered, dataSize: dataSize)
            }
            covered = info.dataOffsets.upperBound
            previous = name
        }
        guard covered == dataSize else { throw SafetensorsError.uncoveredData(path: path, covered: covered, dataSize: dataSize) }
        return (infos, metadata)
    }

    private static func nonNegativeInteger(_ value: Any, path: String, what: String) throws -> Int {
        guard let integer = nonNegativeJSONInteger(value) else {
            throw SafetensorsError.malformedHeader(path: path, reason: "\(what) must be non-negative integers")
        }
        return integer
    }
}

/// Builds a safetensors file: tensors are laid out in the order they are added.
public struct SafetensorsWriter: Sendable {
    private struct Entry: Sendable {
        var name: String
        var dtype: SafetensorsDType
        var shape: [Int]
        var bytes: [UInt8]
    }

    public var metadata: [String: String]
    private var entries: [Entry] = []
    private var names: Set<String> = []

    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// Adds a tensor from its raw little-endian bytes.
    public mutating func add(_ name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8]) throws {
        guard name != "__metadata__", !name.isEmpty else {
            throw SafetensorsError.invalidTensor(name: name, reason: "the name is reserved or empty")
        }
        guard !names.contains(name) else { throw SafetensorsError.duplicateTensor(name: name) }
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) * dtype.byteCount == bytes.count else {
            throw SafetensorsError.invalidTensor(
                name: name, reason: "shape \(shape) of \(dtype.rawValue) needs \(shape.reduce(1, *) * dtype.byteCount) bytes, got \(bytes.count)")
        }
        names.insert(name)
        entries.append(Entry(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// Adds Float values stored as F32, F16 or BF16 (rounded to nearest even).
    public mutating func add(_ name: String, floats: [Float], shape: [Int], as dtype: SafetensorsDType = .f32) throws {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(floats.count * dtype.byteCount)
        switch dtype {
        case .f32:
            for v in floats { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        case .f16:
            for v in floats { withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        case .bf16:
            for v in floats { withUnsafeBytes(of: bfloat16Bits(v).littleEndian) { bytes.append(contentsOf: $0) } }
        default:
            throw SafetensorsError.invalidTensor(name: name, reason: "Float values cannot be stored as \(dtype.rawValue)")
        }
        try add(name, dtype: dtype, shape: shape, bytes: bytes)
    }

    /// Adds integer values stored as I32, I64 or U8 (each must fit).
    public mutating func add(_ name: String, integers: [Int], shape: [Int], as dtype: SafetensorsDType) throws {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(integers.count * dtype.byteCount)
        for v in integers {
            switch dtype {
            case .i32:
                guard let x = Int32(exactly: v) else { throw SafetensorsError.invalidTensor(name: name, reason: "\(v) does not fit I32") }
                withUnsafeBytes(of: x.littleEndian) { bytes.append(contentsOf: $0) }
            case .i64:
                withUnsafeBytes(of: Int64(v).littleEndian) { bytes.append(contentsOf: $0) }
            case .u8:
                guard let x = UInt8(exactly: v) else { throw SafetensorsError.invalidTensor(name: name, reason: "\(v) does not fit U8") }
                bytes.append(x)
            default:
                throw SafetensorsError.invalidTensor(name: name, reason: "integers cannot be stored as \(dtype.rawValue)")
            }
        }
        try add(name, dtype: dtype, shape: shape, bytes: bytes)
    }

    /// The whole file's bytes.
    public func serialized() -> [UInt8] {
        var json = "{"
        var fields: [String] = []
        if !metadata.isEmpty {
            let items = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            fields.append("\"__metadata__\":{\(items.joined(separator: ","))}")
        }
        var offset = 0
        for entry in entries {
            let shape = entry.shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonString(entry.name)):{\"dtype\":\"\(entry.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + entry.bytes.count)]}")
            offset += entry.bytes.count
        }
        json += fields.joined(separator: ",") + "}"
        var header = Array(json.utf8)
        // The format recommends padding the header with spaces so the data starts 8-byte aligned.
        while header.count % 8 != 0 { header.append(0x20) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for entry in entries { out.append(contentsOf: entry.bytes) }
        return out
    }

    public func write(to url: URL) throws {
        do {
            try Data(serialized()).write(to: url, options: .atomic)
        } catch {
            throw SafetensorsError.cannotWrite(path: url.path, reason: error.localizedDescription)
        }
    }
}

/// bfloat16 bits of a Float, rounded to nearest even (NaN stays NaN).
func bfloat16Bits(_ value: Float) -> UInt16 {
    if value.isNaN { return 0x7FC0 }
    let bits = value.bitPattern
    let rounding = 0x7FFF + ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
}

private func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                out += String(format: "\\u%04x", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
