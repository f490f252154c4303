import Foundation
import Testing

@testable import Formats

/// A fresh temporary file path, removed by the caller.
private func temporaryURL(_ name: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-\(UUID().uuidString)-\(name)")
}

/// Raw bytes of a file with the given header text and data part.
private func rawFile(header: String, data: [UInt8], headerLength: UInt64? = nil) -> [UInt8] {
    let json = Array(header.utf8)
    var bytes: [UInt8] = []
    withUnsafeBytes(of: (headerLength ?? UInt64(json.count)).littleEndian) { bytes.append(contentsOf: $0) }
    return bytes + json + data
}

private func open(_ bytes: [UInt8]) throws -> SafetensorsFile {
    let url = temporaryURL("raw.safetensors")
    try Data(bytes).write(to: url)
    defer { try? FileManager.default.removeItem(at: url) }
    return try SafetensorsFile(url: url)
}

@Test func roundTripOfEveryDType() throws {
    var writer = SafetensorsWriter(metadata: ["format": "pt", "note": "quote \" and \\ slash"])
    try writer.add("f32", floats: [1.5, -2.25, 3e-8, 0], shape: [2, 2])
    try writer.add("f16", floats: [1.5, -2.25, 65504, 0.000061035156], shape: [4], as: .f16)
    try writer.add("bf16", floats: [1.5, -2.25, 3.0e38, 1.0 / 3.0], shape: [2, 2], as: .bf16)
    try writer.add("i32", integers: [-7, 0, 2_000_000_000], shape: [3], as: .i32)
    try writer.add("i64", integers: [-(1 << 40), 5], shape: [2], as: .i64)
    try writer.add("u8", integers: [0, 1, 255], shape: [3, 1], as: .u8)
    try writer.add("scalar", floats: [4.6052], shape: [])
    let url = temporaryURL("all.safetensors")
    try writer.write(to: url)
    defer { try? FileManager.default.removeItem(at: url) }

    // The header is padded with spaces so the data starts on an 8-byte boundary.
    let bytes = try [UInt8](Data(contentsOf: url))
    let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
    #expect(headerLength % 8 == 0)
    #expect(bytes[8 + headerLength - 1] == 0x20 || bytes[8 + headerLength - 1] == UInt8(ascii: "}"))

    let file = try SafetensorsFile(url: url)
    #expect(file.metadata == ["format": "pt", "note": "quote \" and \\ slash"])
    #expect(file.tensorNames == ["f32", "f16", "bf16", "i32", "i64", "u8", "scalar"])
    #expect(try file.info("f32").shape == [2, 2])
    #expect(try file.info("bf16").dtype == .bf16)
    #expect(try file.floats("f32") == [1.5, -2.25, 3e-8, 0])
    #expect(try file.floats("f16") == [1.5, -2.25, 65504, 0.000061035156])
    let bf16 = try file.floats("bf16")
    #expect(bf16[0] == 1.5 && bf16[1] == -2.25)
    // bfloat16 keeps 8 significant bits: relative error at most 2^-9.
    #expect(abs(bf16[2] - 3.0e38) / 3.0e38 <= 1.0 / 512)
    #expect(abs(bf16[3] - 1.0 / 3.0) / (1.0 / 3.0) <= 1.0 / 512)
    #expect(try file.integers("i32") == [-7, 0, 2_000_000_000])
    #expect(try file.integers("i64") == [-(1 << 40), 5])
    #expect(try file.integers("u8") == [0, 1, 255])
    #expect(try file.floats("scalar") == [4.6052])
}

@Test func bfloat16RoundsToNearestEven() {
    // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
    #expect(bfloat16Bits(1 + 1.0 / 256) == 0x3F80)
    // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: ties go to 1 + 2^-6.
    #expect(bfloat16Bits(1 + 3.0 / 256) == 0x3F82)
    #expect(bfloat16Bits(-2) == 0xC000)
}

@Test func readerRejectsWrongTypesAndNames() throws {
    var writer = SafetensorsWriter()
    try writer.add("ids", integers: [1, 2], shape: [2], as: .i32)
    try writer.add("x", floats: [1], shape: [1])
    let file = try open(writer.serialized())
    #expect(throws: SafetensorsError.self) { try file.floats("ids") }
    #expect(throws: SafetensorsError.self) { try file.integers("x") }
    #expect {
        try file.floats("missing")
    } throws: { error in
        "\(error)".contains("'missing'")
    }
}

@Test func writerRejectsBadTensors() throws {
    var writer = SafetensorsWriter()
    try writer.add("a", floats: [1, 2], shape: [2])
    #expect(throws: SafetensorsError.duplicateTensor(name: "a")) { try writer.add("a", floats: [1, 2], shape: [2]) }
    #expect(throws: SafetensorsError.self) { try writer.add("b", floats: [1, 2, 3], shape: [2]) }
    #expect(throws: SafetensorsError.self) { try writer.add("c", integers: [300], shape: [1], as: .u8) }
    #expect(throws: SafetensorsError.self) { try writer.add("__metadata__", floats: [1], shape: [1]) }
}

/// Each malformed file and the error it must raise (path fields are checked separately).
@Test func readerValidatesStrictly() throws {
    let eight = [UInt8](repeating: 0, count: 8)
    func expectError(_ bytes: [UInt8], _ matches: (SafetensorsError) -> Bool, _ comment: Comment) {
        do {
            _ = try open(bytes)
            Issue.record("no error for \(comment)")
        } catch let error as SafetensorsError {
            #expect(matches(error), comment)
            #expect(error.description.contains("safetensors-"), "message names the file: \(error)")
        } catch {
            Issue.record("unexpected error \(error) for \(comment)")
        }
    }
    expectError([1, 2, 3], { if case .tooShort = $0 { true } else { false } }, "file shorter than 8 bytes")
    expectError(rawFile(header: "{}", data: [], headerLength: 1000), {
        if case .headerLengthBeyondFile = $0 { true } else { false }
    }, "header length beyond the file")
    expectError(rawFile(header: "{\"a\": ", data: []), {
        if case .malformedHeader = $0 { true } else { false }
    }, "bad JSON")
    expectError(rawFile(header: "[1, 2]", data: []), {
        if case .malformedHeader = $0 { true } else { false }
    }, "header not an object")
    expectError(rawFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0]), {
        if case let .truncated(_, tensor, end, dataSize) = $0 { tensor == "a" && end == 8 && dataSize == 4 } else { false }
    }, "truncated data")
    expectError(rawFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, data: eight), {
        if case let .invalidOffsets(_, tensor, _, _) = $0 { tensor == "a" } else { false }
    }, "end before begin")
    expectError(rawFile(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: eight), {
        if case let .sizeMismatch(_, tensor, shape, _, _) = $0 { tensor == "a" && shape == [3] } else { false }
    }, "shape does not match the byte count")
    expectError(rawFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: eight), {
        if case .overlapping = $0 { true } else { false }
    }, "overlapping tensors")
    expectError(rawFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: eight), {
        if case .uncoveredData = $0 { true } else { false }
    }, "trailing bytes")
    expectError(rawFile(header: #"{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#, data: eight), {
        if case let .unsupportedDType(_, tensor, dtype) = $0 { tensor == "a" && dtype == "C64" } else { false }
    }, "unsupported dtype")
    expectError(rawFile(header: #"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: eight), {
        if case .malformedHeader = $0 { true } else { false }
    }, "negative dimension")
    expectError(rawFile(header: #"{"__metadata__":{"k":1}}"#, data: []), {
        if case .malformedHeader = $0 { true } else { false }
    }, "non-string metadata")
}

@Test func truncatedWrittenFileIsRejected() throws {
    var writer = SafetensorsWriter()
    try writer.add("w", floats: [Float](repeating: 0.5, count: 64), shape: [8, 8])
    let bytes = writer.serialized()
    #expect(throws: SafetensorsError.self) { try open(Array(bytes.dropLast(10))) }
    #expect(try open(bytes).floats("w").count == 64)
}

@Test func missingFileIsATypedError() {
    #expect {
        try SafetensorsFile(url: URL(fileURLWithPath: "/nonexistent/model.safetensors"))
    } throws: { error in
        "\(error)".contains("/nonexistent/model.safetensors")
    }
}
