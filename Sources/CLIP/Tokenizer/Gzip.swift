import CZlib
import Foundation

/// Inflates a gzip file with zlib (the open_clip vocabulary is `.txt.gz`).
enum Gzip {
    /// A merges file inflates to 3.2 MB (CLIP's); a small file that claims far more is a
    /// compression bomb, refused before it takes the memory.
    static let largestInflatedSize = 64 << 20

    static func inflate(_ compressed: Data, file: URL) throws -> Data {
        var stream = z_stream()
        // 16 + MAX_WBITS: expect a gzip header and trailer (zlib.h, inflateInit2).
        var status = inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw TokenizerError.badGzip(file, reason: "zlib could not start (status \(status))") }
        defer { inflateEnd(&stream) }

        var output = Data()
        let chunkSize = 1 << 18
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        try compressed.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                let produced: Int = chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(chunkSize)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return chunkSize - Int(stream.avail_out)
                }
                switch status {
                case Z_OK, Z_STREAM_END:
                    guard output.count + produced <= largestInflatedSize else {
                        throw TokenizerError.badGzip(file, reason: "it inflates to more than \(largestInflatedSize >> 20) MB, far more than a merges file")
                    }
                    output.append(contentsOf: chunk[0..<produced])
                case Z_BUF_ERROR where stream.avail_in == 0:
                    throw TokenizerError.badGzip(file, reason: "the file is empty or ends in the middle of the compressed data")
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "status \(status)"
                    throw TokenizerError.badGzip(file, reason: "not gzip data (\(message))")
                }
                if status == Z_OK && stream.avail_in == 0 && produced < chunkSize {
                    throw TokenizerError.badGzip(file, reason: "the file is empty or ends in the middle of the compressed data")
                }
            } while status != Z_STREAM_END
        }
        return output
    }
}
