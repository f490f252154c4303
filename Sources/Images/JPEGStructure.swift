/// A walk over a JPEG stream's markers that refuses, before libjpeg sees the data, every
/// stream on which libjpeg would call `error_exit`.
///
/// Why: libjpeg reports fatal errors through `error_exit`, which must not return; C callers
/// `longjmp` out of it, which Swift cannot do. So the decoder only hands libjpeg streams whose
/// header-level structure this walk has checked, with the same conditions libjpeg-turbo 2.1
/// checks (jdmarker.c: get_sof, get_sos, get_dht, get_dqt, get_dri, get_dac, read_markers;
/// jdinput.c: initial_setup, per_scan_setup, latch_quant_tables; jdhuff.c:
/// jpeg_make_d_derived_tbl; jdphuff.c: start_pass_phuff_decoder; jdsample.c: jinit_upsampler;
/// jdapimin.c: JERR_NO_IMAGE). Where libjpeg would only warn (corrupt entropy data, bad
/// restart markers, odd progressions) the walk lets the stream through, as PIL decodes such
/// files too. Where libjpeg is more lenient than this walk (a DQT segment with a partial
/// table), the walk refuses: refusing is safe, missing an error is not.
struct JPEGStructure {
    /// What the decoder needs from the frame header.
    var width = 0
    var height = 0
    var componentCount = 0
    var progressive = false

    enum Problem: Error, Equatable {
        case truncated
        case corrupt(String)
        case unsupported(String)
    }

    private struct Component {
        var id: UInt8
        var h: Int
        var v: Int
        var quantTable: Int
        var quantLatched = false
    }

    /// Huffman tables defined so far: [class 0 = DC, 1 = AC][index 0..3] -> (bits, values).
    private var huffman: [[(counts: [Int], values: [UInt8])?]] = Array(repeating: Array(repeating: nil, count: 4), count: 2)
    private var quantDefined = [Bool](repeating: false, count: 4)
    private var components: [Component] = []
    private var sawSOF = false
    private var scanCount = 0

    static let maxDimension = 65500          // JPEG_MAX_DIMENSION
    static let maxComponents = 10            // MAX_COMPONENTS
    static let maxBlocksInMCU = 10           // D_MAX_BLOCKS_IN_MCU

    /// Walks `bytes` (which starts with FF D8) up to EOI; data after EOI is not looked at.
    static func check(_ bytes: UnsafeRawBufferPointer) throws(Problem) -> JPEGStructure {
        var s = JPEGStructure()
        try s.walk(bytes)
        return s
    }

    private mutating func walk(_ b: UnsafeRawBufferPointer) throws(Problem) {
        let n = b.count
        var pos = 2  // after SOI (the caller checked FF D8)
        while true {
            // next_marker(): skip anything up to 0xFF, fill bytes 0xFF, a 0x00 after 0xFF is
            // data, not a marker (stuffed byte inside entropy-coded data).
            var marker: UInt8 = 0
            while marker == 0 {
                while pos < n && b[pos] != 0xFF { pos += 1 }
                while pos < n && b[pos] == 0xFF { pos += 1 }
                guard pos < n else { return try endOfData() }
                marker = b[pos]
                pos += 1
            }
            switch marker {
            case 0xD8:
                throw .corrupt("a second SOI marker")
            case 0xD9:
                if scanCount == 0 { throw .corrupt("EOI before any image data (no SOS marker)") }
                return
            case 0xD0...0xD7, 0x01:
                continue  // RSTn, TEM: no length (read_markers only traces them)
            default:
                break
            }
            guard pos + 2 <= n else { return try endOfData() }
            let length = Int(b[pos]) << 8 | Int(b[pos + 1])
            guard length >= 2 else { throw .corrupt(String(format: "marker 0x%02X has length %d", marker, length)) }
            guard pos + length <= n else { return try endOfData() }
            let segment = UnsafeRawBufferPointer(rebasing: b[(pos + 2)..<(pos + length)])
            pos += length
            switch marker {
            case 0xC0, 0xC1, 0xC2:
                try readSOF(segment, progressive: marker == 0xC2)
            case 0xC9, 0xCA:
                throw .unsupported("arithmetic-coded JPEG (SOF\(marker - 0xC0))")
            case 0xC3, 0xC5, 0xC6, 0xC7, 0xC8, 0xCB, 0xCD, 0xCE, 0xCF:
                throw .unsupported("lossless or hierarchical JPEG (SOF\(marker - 0xC0))")
            case 0xC4:
                try readDHT(segment)
            case 0xCC:
                try readDAC(segment)
            case 0xDB:
                try readDQT(segment)
            case 0xDD:
                if segment.count != 2 { throw .corrupt("DRI segment of length \(length)") }
            case 0xDA:
                try readSOS(segment)
            case 0xE0...0xEF, 0xFE, 0xDC:
                break  // APPn, COM, DNL: skipped by length
            default:
                throw .corrupt(String(format: "unknown marker 0xFF%02X", marker))
            }
        }
    }

    /// The data ends before EOI. libjpeg's source would then feed fake EOI markers, and if the
    /// end falls inside a marker segment, libjpeg parses those bytes as the segment's contents
    /// and may fail fatally (a DHT cut short gives JERR_BAD_HUFF_TABLE). PIL reports such a
    /// file as truncated, so it is refused here, before libjpeg sees it.
    private func endOfData() throws(Problem) {
        throw .truncated
    }

    private mutating func readSOF(_ s: UnsafeRawBufferPointer, progressive: Bool) throws(Problem) {
        if sawSOF { throw .corrupt("a second frame header (SOF)") }
        sawSOF = true
        guard s.count >= 6 else { throw .corrupt("SOF segment too short") }
        let precision = Int(s[0])
        height = Int(s[1]) << 8 | Int(s[2])
        width = Int(s[3]) << 8 | Int(s[4])
        componentCount = Int(s[5])
        self.progressive = progressive
        // get_sof
        if height == 0 || width == 0 || componentCount == 0 {
            throw .corrupt("frame header gives an empty image (\(width)x\(height), \(componentCount) components)")
        }
        if s.count != 6 + 3 * componentCount { throw .corrupt("SOF length does not match its \(componentCount) components") }
        // initial_setup
        if height > Self.maxDimension || width > Self.maxDimension {
            throw .unsupported("\(width)x\(height) is above JPEG's \(Self.maxDimension) pixel side")
        }
        if precision != 8 { throw .unsupported("\(precision)-bit samples (only 8-bit JPEG is read)") }
        if componentCount > Self.maxComponents { throw .corrupt("\(componentCount) components") }
        // Colour conversion (jdcolor.c) exists for 1 (gray), 3 (YCbCr/RGB) and 4 (CMYK/YCCK).
        if ![1, 3, 4].contains(componentCount) {
            throw .unsupported("\(componentCount) colour components (1, 3 or 4 are read)")
        }
        for c in 0..<componentCount {
            let id = s[6 + 3 * c], sampling = Int(s[7 + 3 * c]), q = Int(s[8 + 3 * c])
            let h = sampling >> 4, v = sampling & 15
            if !(1...4).contains(h) || !(1...4).contains(v) { throw .corrupt("sampling factors \(h)x\(v)") }
            components.append(Component(id: id, h: h, v: v, quantTable: q))
        }
        // jinit_upsampler: only integral upsampling ratios are implemented.
        let maxH = components.map(\.h).max()!, maxV = components.map(\.v).max()!
        for c in components where maxH % c.h != 0 || maxV % c.v != 0 {
            throw .unsupported("fractional chroma sampling (\(c.h)x\(c.v) against \(maxH)x\(maxV))")
        }
    }

    private mutating func readDHT(_ s: UnsafeRawBufferPointer) throws(Problem) {
        var p = 0
        while s.count - p > 16 {
            let index = Int(s[p])
            var counts = [Int](repeating: 0, count: 16)
            for l in 0..<16 { counts[l] = Int(s[p + 1 + l]) }
            let count = counts.reduce(0, +)
            p += 17
            if count > 256 || count > s.count - p { throw .corrupt("Huffman table with \(count) symbols") }
            let values = Array(s[p..<(p + count)])
            p += count
            let tableClass = index >> 4, slot = index & 15
            if tableClass > 1 || slot >= 4 { throw .corrupt(String(format: "Huffman table index 0x%02X", index)) }
            // jpeg_make_d_derived_tbl: the canonical codes of each length must fit in that many
            // bits without using the all-ones code.
            var code = 0
            for l in 1...16 {
                code += counts[l - 1]
                if code >= 1 << l { throw .corrupt("Huffman table \(slot) has more codes than its lengths allow") }
                code <<= 1
            }
            huffman[tableClass][slot] = (counts, values)
        }
        if p != s.count { throw .corrupt("DHT segment length does not match its tables") }
    }

    private mutating func readDQT(_ s: UnsafeRawBufferPointer) throws(Problem) {
        var p = 0
        while p < s.count {
            let precision = Int(s[p] >> 4), slot = Int(s[p] & 15)
            if slot >= 4 { throw .corrupt("quantisation table index \(slot)") }
            let size = 1 + 64 * (precision == 0 ? 1 : 2)
            if s.count - p < size { throw .corrupt("DQT segment length does not match its tables") }
            quantDefined[slot] = true
            p += size
        }
    }

    private func readDAC(_ s: UnsafeRawBufferPointer) throws(Problem) {
        // get_dac runs for any frame type (arithmetic-coded frames are refused at their SOF).
        if s.count % 2 != 0 { throw .corrupt("DAC segment of odd length") }
        for p in stride(from: 0, to: s.count, by: 2) {
            let index = Int(s[p]), value = s[p + 1]
            if index >= 32 { throw .corrupt("arithmetic conditioning table index \(index)") }
            if index < 16 && value & 15 > value >> 4 { throw .corrupt("arithmetic conditioning value \(value)") }
        }
    }

    private mutating func readSOS(_ s: UnsafeRawBufferPointer) throws(Problem) {
        guard sawSOF else { throw .corrupt("scan (SOS) before the frame header (SOF)") }
        guard s.count >= 1 else { throw .corrupt("empty SOS segment") }
        let n = Int(s[0])
        if n < 1 || n > 4 || s.count != 4 + 2 * n { throw .corrupt("SOS length does not match its \(n) components") }
        // get_sos's lookup, kept as it is: slot i of the scan records the component found, and a
        // component is skipped when the slot with *its* index is taken; naming a component twice
        // is an error.
        var slots = [Int?](repeating: nil, count: 4)
        var inScan: [Int] = []
        for i in 0..<n {
            let id = s[1 + 2 * i]
            guard let ci = (0..<min(componentCount, 4)).first(where: { components[$0].id == id && slots[$0] == nil }) else {
                throw .corrupt("scan names component \(id), which the frame does not have (or names twice)")
            }
            if inScan.contains(ci) { throw .corrupt("scan names component \(id) twice") }
            slots[i] = ci
            inScan.append(ci)
        }
        let ss = Int(s[1 + 2 * n]), se = Int(s[2 + 2 * n])
        let ah = Int(s[3 + 2 * n] >> 4), al = Int(s[3 + 2 * n] & 15)
        // per_scan_setup
        if n > 1 {
            let blocks = inScan.reduce(0) { $0 + components[$1].h * components[$1].v }
            if blocks > Self.maxBlocksInMCU { throw .corrupt("\(blocks) blocks in an MCU") }
        }
        // latch_quant_tables: each component's table must exist at its first scan.
        for ci in inScan where !components[ci].quantLatched {
            let q = components[ci].quantTable
            if q >= 4 || !quantDefined[q] { throw .corrupt("component \(components[ci].id) uses undefined quantisation table \(q)") }
            components[ci].quantLatched = true
        }
        // Which Huffman tables the scan derives (jdhuff.c start_pass_huff_decoder,
        // jdphuff.c start_pass_phuff_decoder).
        var needDC = true, needAC = true
        if progressive {
            let dcBand = ss == 0
            var bad = dcBand ? se != 0 : (ss > se || se >= 64 || n != 1)
            if ah != 0 && al != ah - 1 { bad = true }
            if al > 13 { bad = true }
            if bad { throw .corrupt("invalid progressive scan (Ss=\(ss) Se=\(se) Ah=\(ah) Al=\(al))") }
            needDC = dcBand && ah == 0
            needAC = !dcBand
        }
        for i in 0..<n {
            let tables = s[2 + 2 * i]
            let dc = Int(tables >> 4), ac = Int(tables & 15)
            if needDC { try checkTable(class: 0, slot: dc) }
            if needAC { try checkTable(class: 1, slot: ac) }
        }
        scanCount += 1
    }

    private func checkTable(class tableClass: Int, slot: Int) throws(Problem) {
        let kind = tableClass == 0 ? "DC" : "AC"
        guard slot < 4 else { throw .corrupt("scan uses \(kind) Huffman table \(slot)") }
        guard let table = huffman[tableClass][slot] else {
            // jinit_huff_decoder (sequential only, not jinit_phuff_decoder) loads the standard
            // tables into empty slots 0 and 1, for Motion-JPEG frames that leave them out.
            if slot < 2 && !progressive { return }
            throw .corrupt("scan uses undefined \(kind) Huffman table \(slot)")
        }
        // jpeg_make_d_derived_tbl: DC symbols are magnitude categories 0...15.
        if tableClass == 0, table.values.contains(where: { $0 > 15 }) {
            throw .corrupt("DC Huffman table \(slot) has a symbol above 15")
        }
    }
}
