import CJPEG
import Foundation

/// JPEG decoding with libjpeg-turbo's jpeglib.h API, giving what PIL gives for
/// `Image.open(path).convert("RGB")`: libjpeg's defaults (ISLOW IDCT, fancy upsampling), gray
/// replicated to RGB, EXIF orientation ignored, and CMYK/YCCK converted as PIL converts them.
///
/// Error handling: libjpeg's `error_exit` must not return and Swift cannot `longjmp`, so a stream
/// reaches libjpeg only after `JPEGStructure.check` has refused every header-level condition on
/// which libjpeg-turbo 2.1 calls `error_exit`, and every stream that ends before its EOI marker
/// (PIL reports those as truncated). The source manager still turns an end of data into a fake
/// EOI, as jdatasrc.c does, and records it, as a second guard against decoding grey rows. Two fatal conditions remain that no structure check can exclude:
/// malloc failure (JERR_OUT_OF_MEMORY) and a progressive DC coefficient overflowing an int
/// (JERR_BAD_DCT_COEF, jdphuff.c, only in crafted files). For those `error_exit` stops the
/// process with libjpeg's message and the file's name rather than return into libjpeg.
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
        let session = JPEGSession(bytes, name: name)
        defer { session.close() }
        let image = session.decode(cmyk: structure.componentCount == 4)
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
    let errorManager = UnsafeMutablePointer<jpeg_error_mgr>.allocate(capacity: 1)
    let source = UnsafeMutablePointer<jpeg_source_mgr>.allocate(capacity: 1)
    /// The two bytes handed to libjpeg once the data is exhausted (FF D9, EOI).
    let fakeEOI = UnsafeMutablePointer<JOCTET>.allocate(capacity: 2)
    var reachedEndOfData = false
    private var open = true

    init(_ bytes: UnsafeRawBufferPointer, name: String) {
        self.name = name
        cinfo.initialize(to: jpeg_decompress_struct())
        errorManager.initialize(to: jpeg_error_mgr())
        source.initialize(to: jpeg_source_mgr())
        fakeEOI[0] = 0xFF
        fakeEOI[1] = 0xD9

        cinfo.pointee.err = jpeg_std_error(errorManager)
        errorManager.pointee.error_exit = { common in
            // Reached only for the conditions listed on JPEGDecoding; returning would let
            // libjpeg continue on a broken state.
            let session = Unmanaged<JPEGSession>.fromOpaque(common!.pointee.client_data).takeUnretainedValue()
            fatalError("libjpeg could not decode \(session.name): \(JPEGSession.message(common!)) (a condition the structure check cannot rule out; remove the file and retry)")
        }
        // Warnings (corrupt entropy data, extraneous bytes) are ignored, as PIL ignores them;
        // the one that matters, the end of the data, is seen by the source manager.
        errorManager.pointee.emit_message = { _, _ in }
        errorManager.pointee.output_message = { _ in }
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

    static func message(_ common: j_common_ptr) -> String {
        var buffer = [CChar](repeating: 0, count: Int(JMSG_LENGTH_MAX))
        common.pointee.err.pointee.format_message(common, &buffer)
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Decodes the whole image to RGB8. The stream has passed JPEGStructure.check.
    func decode(cmyk: Bool) -> RGBImage {
        _ = jpeg_read_header(cinfo, 1)
        // CMYK and YCCK come out as CMYK (jdcolor.c has no CMYK -> RGB); the rest as RGB
        // (YCbCr -> RGB, and gray -> RGB by replication, like PIL's L -> RGB).
        cinfo.pointee.out_color_space = cmyk ? JCS_CMYK : JCS_RGB
        _ = jpeg_start_decompress(cinfo)
        let width = Int(cinfo.pointee.output_width), height = Int(cinfo.pointee.output_height)
        let channels = Int(cinfo.pointee.output_components)
        var row = [JSAMPLE](repeating: 0, count: width * channels)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        while Int(cinfo.pointee.output_scanline) < height {
            let y = Int(cinfo.pointee.output_scanline)
            row.withUnsafeMutableBufferPointer { buffer in
                var rowPointer: JSAMPROW? = buffer.baseAddress
                _ = jpeg_read_scanlines(cinfo, &rowPointer, 1)
            }
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
