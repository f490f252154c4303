import CJPEG
import Foundation

/// JPEG decoding with libjpeg-turbo's jpeglib.h API, giving what PIL gives for
/// `Image.open(path).convert("RGB")`: libjpeg's defaults (ISLOW IDCT, fancy upsampling), gray
/// replicated to RGB, EXIF orientation ignored, and CMYK/YCCK converted as PIL converts them.
///
/// Error handling: a stream reaches libjpeg only after `JPEGStructure.check` has refused every
/// header-level condition on which libjpeg-turbo 2.1 calls `error_exit`, and every stream that
/// ends before its EOI marker (PIL reports those as truncated), so that those get PIL's kind of
/// message. The source manager still turns an end of data into a fake EOI, as jdatasrc.c does,
/// and records it, as a second guard against decoding grey rows. Whatever fatal error remains
/// (malloc failure, a progressive DC coefficient overflowing an int in a crafted file) is caught
/// by the jump points of the C shim (CJPEG/shim.h: lamm_jpeg_start, lamm_jpeg_read_row) and
/// becomes a `corrupt` error naming the file.
enum JPEGDecoding {
    static func decode(_ bytes: UnsafeRawBufferPointer, name: String, maxPixels: Int) throws -> RGBImage {
        let structure: JPEGStructure
        do {
            structure = try JPEGStructure.check(bytes)
        } catch {
            switch error {
            case .truncated: throw ImageError(file: name, reason: .truncated)
            case let .corrupt(detail): throw ImageError(file: name, reason: .corrupt(detail))
            case let .unsupported(detail): throw ImageError(file: name, reason: .unsupported(detail))
            }
        }
        if ImageDecoder.exceeds(width: structure.width, height: structure.height, maxPixels: maxPixels) {
            throw ImageError(file: name, reason: .tooLarge(width: structure.width, height: structure.height, maxPixels: maxPixels))
        }
        return try decodeChecked(bytes, name: name, cmyk: structure.componentCount == 4)
    }

    /// libjpeg's part of `decode`, for a stream that passed the structure check (tests call it
    /// directly to reach libjpeg's own fatal errors).
    static func decodeChecked(_ bytes: UnsafeRawBufferPointer, name: String, cmyk: Bool) throws -> RGBImage {
        let session = JPEGSession(bytes, name: name)
        defer { session.close() }
        guard let image = session.decode(cmyk: cmyk) else {
            throw ImageError(file: name, reason: .corrupt(session.failure))
        }
        if session.reachedEndOfData {
            throw ImageError(file: name, reason: .truncated)
        }
        return image
    }
}

/// One decompression: libjpeg's structs live at fixed heap addresses (libjpeg keeps pointers
/// between them) and `client_data` points back at this object for the C callbacks.
private final class JPEGSession {
    let name: String
    let cinfo = UnsafeMutablePointer<jpeg_decompress_struct>.allocate(capacity: 1)
    let errorManager = UnsafeMutablePointer<lamm_jpeg_error_mgr>.allocate(capacity: 1)
    let source = UnsafeMutablePointer<jpeg_source_mgr>.allocate(capacity: 1)
    /// The two bytes handed to libjpeg once the data is exhausted (FF D9, EOI).
    let fakeEOI = UnsafeMutablePointer<JOCTET>.allocate(capacity: 2)
    var reachedEndOfData = false
    private var open = true

    init(_ bytes: UnsafeRawBufferPointer, name: String) {
        self.name = name
        cinfo.initialize(to: jpeg_decompress_struct())
        errorManager.initialize(to: lamm_jpeg_error_mgr())
        source.initialize(to: jpeg_source_mgr())
        fakeEOI[0] = 0xFF
        fakeEOI[1] = 0xD9

        // Fatal errors jump back into the shim's functions (lamm_jpeg_start, lamm_jpeg_read_row).
        cinfo.pointee.err = jpeg_std_error(&errorManager.pointee.pub)
        lamm_jpeg_recoverable_errors(errorManager)
        // Warnings (corrupt entropy data, extraneous bytes) are ignored, as PIL ignores them;
        // the one that matters, the end of the data, is seen by the source manager.
        errorManager.pointee.pub.emit_message = { _, _ in }
        errorManager.pointee.pub.output_message = { _ in }
        jpeg_CreateDecompress(cinfo, JPEG_LIB_VERSION, MemoryLayout<jpeg_decompress_struct>.size)
        cinfo.pointee.client_data = Unmanaged.passUnretained(self).toOpaque()

        source.pointee.next_input_byte = bytes.baseAddress?.assumingMemoryBound(to: JOCTET.self)
        source.pointee.bytes_in_buffer = bytes.count
        source.pointee.init_source = { _ in }
        source.pointee.term_source = { _ in }
        source.pointee.resync_to_restart = jpeg_resync_to_restart
        source.pointee.fill_input_buffer = { cinfo in
            // jdatasrc.c's behaviour at the end of the data: insert an EOI and carry on.
            let session = Unmanaged<JPEGSession>.fromOpaque(cinfo!.pointee.client_data).takeUnretainedValue()
            session.reachedEndOfData = true
            cinfo!.pointee.src.pointee.next_input_byte = UnsafePointer(session.fakeEOI)
            cinfo!.pointee.src.pointee.bytes_in_buffer = 2
            return 1
        }
        source.pointee.skip_input_data = { cinfo, count in
            guard let cinfo, count > 0 else { return }
            let src = cinfo.pointee.src!
            if count > src.pointee.bytes_in_buffer {
                _ = src.pointee.fill_input_buffer(cinfo)
            } else {
                src.pointee.next_input_byte += count
                src.pointee.bytes_in_buffer -= count
            }
        }
        cinfo.pointee.src = source
    }

    /// libjpeg's message for the fatal error that stopped decoding.
    var failure: String {
        withUnsafeBytes(of: errorManager.pointee.message) { bytes in
            "libjpeg: " + String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    /// Decodes the whole image to RGB8, or nil after a fatal libjpeg error (see `failure`). The
    /// stream has passed JPEGStructure.check.
    func decode(cmyk: Bool) -> RGBImage? {
        // CMYK and YCCK come out as CMYK (jdcolor.c has no CMYK -> RGB); the rest as RGB
        // (YCbCr -> RGB, and gray -> RGB by replication, like PIL's L -> RGB).
        guard lamm_jpeg_start(cinfo, cmyk ? JCS_CMYK : JCS_RGB) == 0 else { return nil }
        let width = Int(cinfo.pointee.output_width), height = Int(cinfo.pointee.output_height)
        let channels = Int(cinfo.pointee.output_components)
        var row = [JSAMPLE](repeating: 0, count: width * channels)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        while Int(cinfo.pointee.output_scanline) < height {
            let y = Int(cinfo.pointee.output_scanline)
            let status = row.withUnsafeMutableBufferPointer { buffer in lamm_jpeg_read_row(cinfo, buffer.baseAddress) }
            guard status == 0 else { return nil }
            if cmyk {
                Self.convertCMYK(row, into: &pixels, at: y * width * 3)
            } else {
                pixels.replaceSubrange((y * width * 3)..<((y + 1) * width * 3), with: row)
            }
        }
        // No jpeg_finish_decompress: it would read past the image (trailing segments are not
        // needed, and a second SOS after a single-scan image is a fatal error there).
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// PIL reads 4-component JPEGs as Adobe-inverted CMYK (JpegImagePlugin: rawmode "CMYK;I",
    /// stored = 255 - libjpeg's value) and converts to RGB with Convert.c's cmyk2rgb:
    /// nk = 255 - k, out = nk - round(c * nk / 255) with MULDIV255's rounding.
    static func convertCMYK(_ row: [JSAMPLE], into pixels: inout [UInt8], at offset: Int) {
        for x in 0..<(row.count / 4) {
            let k = 255 - Int(row[4 * x + 3])
            let nk = 255 - k
            for c in 0..<3 {
                let value = 255 - Int(row[4 * x + c])
                let product = value * nk + 128
                let scaled = ((product >> 8) + product) >> 8
                pixels[offset + 3 * x + c] = UInt8(clamping: nk - scaled)
            }
        }
    }

    func close() {
        guard open else { return }
        open = false
        jpeg_destroy_decompress(cinfo)
        cinfo.deallocate()
        errorManager.deallocate()
        source.deallocate()
        fakeEOI.deallocate()
    }
}
