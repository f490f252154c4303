import Crypto
import Foundation

/// Float vectors as SQLite BLOBs: float32, little-endian, row-major.
public enum FloatBlob {
    public static func encode(_ values: some Collection<Float>) -> Data {
        #if _endian(little)
        if let data = values.withContiguousStorageIfAvailable({ Data(buffer: $0) }) { return data }
        #endif
        var data = Data(capacity: values.count * 4)
        for value in values {
            var bits = value.bitPattern.littleEndian
            withUnsafeBytes(of: &bits) { data.append(contentsOf: $0) }
        }
        return data
    }

    /// A blob read from the store as `count` floats; any other length is damage, named by its
    /// table, row and column instead of trapping later on a wrong-sized buffer.
    public static func decode(_ data: Data, count: Int, path: String, table: String, row: String, column: String) throws -> [Float] {
        guard count >= 0, data.count == 4 * count else {
            throw StoreError.damagedBlob(path: path, table: table, row: row, column: column, bytes: data.count, expected: 4 * max(count, 0))
        }
        return decode(data)
    }

    public static func decode(_ data: Data) -> [Float] {
        precondition(data.count % 4 == 0, "a float32 blob has a multiple of 4 bytes")
        var values = [Float](repeating: 0, count: data.count / 4)
        _ = values.withUnsafeMutableBytes { data.copyBytes(to: $0) }
        #if !_endian(little)
        for i in values.indices { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) }
        #endif
        return values
    }

    /// Lower-case hex SHA-256 of the bytes, as stored in `content_sha256`.
    public static func sha256(_ data: Data) -> String {
        hex(SHA256.hash(data: data))
    }

    /// Bytes as lowercase hexadecimal, two digits each: how the store writes every SHA-256
    /// (a table lookup; formatting each byte through `String(format:)` cost more than hashing
    /// a label row).
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// Hashes a file in chunks, for checkpoints of hundreds of MB.
public func sha256(ofFile url: URL) throws -> String {
    let handle = try FileHandle(forReadingFrom: url)
    defer { try? handle.close() }
    var hasher = SHA256()
    while let chunk = try handle.read(upToCount: 8 << 20), !chunk.isEmpty {
        hasher.update(data: chunk)
    }
    return FloatBlob.hex(hasher.finalize())
}
