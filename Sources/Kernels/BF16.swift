// bf16 linear layers: the frozen weights converted to bf16 once, the activations rounded to
// bf16 on each call, the products accumulated in fp32 into fp32 outputs, through oneDNN's
// matmul (its AMX or AVX512-BF16 kernels). Everything else (LayerNorm, softmax, attention, the
// activations kept for backward, the losses and the trained vectors) stays fp32: only the
// inputs of the large products lose precision, to bf16's 8 bits of mantissa.

import CDNNL
import Foundation
import Synchronization

/// The arithmetic of a tower's linear layers.
public enum Precision: String, Sendable, CaseIterable, Codable {
    /// fp32 products through OpenBLAS's sgemm.
    case fp32
    /// bf16 inputs and weights, fp32 accumulation and outputs, through oneDNN.
    case bf16
}

/// Whether this CPU multiplies bf16 in hardware, as oneDNN sees it.
public enum BF16Support {
    /// The instruction set oneDNN dispatches to, e.g. "avx512_core_amx".
    public static let instructionSet: String = {
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_avx512_core_amx: "avx512_core_amx"
        case dnnl_cpu_isa_avx512_core_bf16: "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_vnni: "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core: "avx512_core"
        case dnnl_cpu_isa_avx2: "avx2"
        default: "older than avx2"
        }
    }()

    /// True on AVX512-BF16 and on AMX; elsewhere oneDNN would emulate bf16 more slowly than
    /// sgemm runs fp32.
    public static let isAvailable: Bool = {
        let isa = dnnl_get_effective_cpu_isa().rawValue
        let bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
        return isa & bf16 == bf16
    }()

    /// The precision to run `requested` in here, and the notice to print when it falls back.
    public static func resolve(_ requested: Precision) -> (precision: Precision, notice: String?) {
        guard requested == .bf16, !isAvailable else { return (requested, nil) }
        return (.fp32, "this CPU has no bf16 instructions (oneDNN finds \(instructionSet)); running fp32 instead")
    }
}

/// float -> bf16, rounding to nearest even; NaN stays NaN.
@inline(__always)
public func bf16Bits(_ x: Float) -> UInt16 {
    if x.isNaN { return UInt16(truncatingIfNeeded: x.bitPattern >> 16) | 0x40 }
    return nearestEvenBF16(x.bitPattern)
}

/// The bf16 nearest to a finite float's bits, ties to even.
@inline(__always)
func nearestEvenBF16(_ bits: UInt32) -> UInt16 {
    UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
}

/// bf16 -> float (exact).
@inline(__always)
public func floatOfBF16(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

/// x rounded to the nearest bf16, as a float.
@inline(__always)
public func bf16Rounded(_ x: Float) -> Float { floatOfBF16(bf16Bits(x)) }

/// out [count] = inp rounded to bf16 (finite inputs; the loop vectorises).
public func convertToBF16(_ out: UnsafeMutablePointer<UInt16>, _ inp: ConstFloatPointer, count: Int) {
    parallelChunks(count, minimumChunk: 1 << 16, on: .openMP) { r in
        for i in r { out[i] = nearestEvenBF16(inp[i].bitPattern) }
    }
}

/// A frozen weight [rows, columns] (PyTorch's nn.Linear layout, [out, in]) in bf16, kept both
/// as it is (for backward, dinp = dout @ W) and transposed (for forward, out = inp @ W^T): oneDNN
/// multiplies a row-major right-hand side faster than a transposed view of one (measured at
/// the text tower's shapes: 4.1 s against 3.2 s for fp32's forward before this copy).
public final class BF16Matrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    /// [rows, columns].
    let pointer: UnsafeMutablePointer<UInt16>
    /// [columns, rows].
    let transposed: UnsafeMutablePointer<UInt16>

    public init(_ values: [Float], rows: Int, columns: Int) {
        precondition(values.count == rows * columns, "BF16Matrix: \(values.count) values is not \(rows) x \(columns)")
        (self.rows, self.columns) = (rows, columns)
        let count = max(rows * columns, 1)
        let (pointer, transposed) = (UnsafeMutablePointer<UInt16>.allocate(capacity: count), UnsafeMutablePointer<UInt16>.allocate(capacity: count))
        values.withUnsafeBufferPointer { if let base = $0.baseAddress { convertToBF16(pointer, base, count: values.count) } }
        for r in 0..<rows { for c in 0..<columns { transposed[c * rows + r] = pointer[r * columns + c] } }
        (self.pointer, self.transposed) = (pointer, transposed)
    }

    deinit {
        pointer.deallocate()
        transposed.deallocate()
    }
}

/// out [n, oc] = residual [n, oc] + inp [n, c] @ weight [oc, c]^T + bias [oc], in bf16 with
/// fp32 accumulation (weight.rows = oc, weight.columns = c); residual may alias out.
public func matmulForward(
    out: FloatPointer, inp: ConstFloatPointer, weight: BF16Matrix, bias: ConstFloatPointer?,
    residual: ConstFloatPointer? = nil, n: Int
) {
    guard n > 0 else { return }
    let (c, oc) = (weight.columns, weight.rows)
    let accumulate = prefillOutput(out: out, bias: bias, residual: residual, n: n, oc: oc)
    BF16Products.shared.multiply(
        .init(m: n, k: c, n: oc, accumulate: accumulate),
        a: inp, b: weight.transposed, out: out)
}

/// dinp [n, c] += dout [n, oc] @ weight [oc, c], in bf16 with fp32 accumulation.
public func matmulBackward(dinp: FloatPointer, dout: ConstFloatPointer, weight: BF16Matrix, n: Int) {
    guard n > 0 else { return }
    BF16Products.shared.multiply(
        .init(m: n, k: weight.rows, n: weight.columns, accumulate: true),
        a: dout, b: weight.pointer, out: dinp)
}

/// Writes residual + bias (or bias, or the residual) into out and says whether the product is
/// then to be added to it; shared by the fp32 and bf16 linear layers.
func prefillOutput(out: FloatPointer, bias: ConstFloatPointer?, residual: ConstFloatPointer?, n: Int, oc: Int) -> Bool {
    if let residual {
        for row in 0..<n {
            let o = out + row * oc, r = residual + row * oc
            if let bias { for i in 0..<oc { o[i] = r[i] + bias[i] } } else if o != UnsafeMutablePointer(mutating: r) { o.update(from: r, count: oc) }
        }
        return true
    }
    if let bias {
        for row in 0..<n { (out + row * oc).update(from: bias, count: oc) }
        return true
    }
    return false
}

/// oneDNN's CPU engine and the matmul primitives made so far, one per shape. A primitive is
/// made once (oneDNN generates its kernel then) and run from any thread: each call brings its
/// own stream and scratchpad.
final class BF16Products: @unchecked Sendable {
    static let shared = BF16Products()

    /// out [m, n] (+)= a [m, k] @ b, b [k, n] row-major (the forward reads the weight's transposed copy).
    struct Shape: Hashable {
        var m, k, n: Int
        var accumulate: Bool
        var threads = Int(omp_get_max_threads())
    }

    private final class Primitive: @unchecked Sendable {
        let handle: dnnl_primitive_t
        let scratchpad: dnnl_memory_desc_t
        init(handle: dnnl_primitive_t, scratchpad: dnnl_memory_desc_t) { (self.handle, self.scratchpad) = (handle, scratchpad) }
        deinit { dnnl_primitive_destroy(handle) }
    }

    private let engine: dnnl_engine_t
    private let primitives = Mutex<[Shape: Primitive]>([:])

    private init() {
        var engine: dnnl_engine_t?
        check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine")
        self.engine = engine!
    }

    /// Rows of one product: a primitive is made per shape, and making one generates its kernel
    /// (milliseconds), so the rows go through in tiles of a few fixed sizes whatever their count
    /// (a batch of prompts packs to a different number of rows at every step): tiles of
    /// `tileRows`, and the last one padded to a multiple of `rowStep`.
    static let tileRows = 512, rowStep = 64

    func multiply(_ shape: Shape, a: ConstFloatPointer, b: UnsafePointer<UInt16>, out: FloatPointer) {
        let (k, n) = (shape.k, shape.n)
        let tile = Self.tileRows
        let source = UnsafeMutablePointer<UInt16>.allocate(capacity: min(shape.m, tile) * k + Self.rowStep * k)
        defer { source.deallocate() }
        // The padded last tile's output, when its rows are fewer than the tile's.
        var padOut: FloatPointer?
        defer { padOut?.deallocate() }
        var row = 0
        while row < shape.m {
            let rows = min(tile, shape.m - row)
            let paddedRows = (rows + Self.rowStep - 1) / Self.rowStep * Self.rowStep
            var tileShape = shape
            tileShape.m = paddedRows
            convertToBF16(source, a + row * k, count: rows * k)
            (source + rows * k).update(repeating: 0, count: (paddedRows - rows) * k)
            var destination = out + row * n
            if paddedRows != rows {
                if padOut == nil { padOut = .allocate(capacity: paddedRows * n) }
                if shape.accumulate { padOut!.update(from: destination, count: rows * n) }
                destination = padOut!
            }
            execute(tileShape, source: source, b: b, out: destination)
            if paddedRows != rows { (out + row * n).update(from: padOut!, count: rows * n) }
            row += rows
        }
    }

    /// out [m, n] (+)= source [m, k] @ b, source already bf16.
    private func execute(_ shape: Shape, source: UnsafeMutablePointer<UInt16>, b: UnsafePointer<UInt16>, out: FloatPointer) {
        let primitive = self.primitive(shape)
        var (aDesc, bDesc, outDesc) = Self.descriptors(shape)
        var scratchDesc = primitive.scratchpad
        let scratchBytes = dnnl_memory_desc_get_size(&scratchDesc)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(scratchBytes, 1), alignment: 64)
        defer { scratch.deallocate() }

        var memories: [dnnl_memory_t?] = [nil, nil, nil, nil]
        defer { for memory in memories where memory != nil { dnnl_memory_destroy(memory) } }
        check(dnnl_memory_create(&memories[0], &aDesc, engine, source), "source memory")
        check(dnnl_memory_create(&memories[1], &bDesc, engine, UnsafeMutableRawPointer(mutating: b)), "weights memory")
        check(dnnl_memory_create(&memories[2], &outDesc, engine, out), "destination memory")
        check(dnnl_memory_create(&memories[3], &scratchDesc, engine, scratch), "scratchpad memory")
        var arguments = [
            dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: memories[0]),
            dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: memories[1]),
            dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: memories[2]),
            dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: memories[3]),
        ]
        var stream: dnnl_stream_t?
        check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream")
        defer { dnnl_stream_destroy(stream) }
        check(dnnl_primitive_execute(primitive.handle, stream, Int32(arguments.count), &arguments), "matmul")
        check(dnnl_stream_wait(stream), "stream wait")
    }

    /// How many primitives have been made for products of inner size k and n columns, for tests.
    func primitiveCount(k: Int, n: Int) -> Int { primitives.withLock { $0.keys.filter { $0.k == k && $0.n == n }.count } }

    private func primitive(_ shape: Shape) -> Primitive {
        if let made = primitives.withLock({ $0[shape] }) { return made }
        var (aDesc, bDesc, outDesc) = Self.descriptors(shape)
        var desc = dnnl_matmul_desc_t()
        check(dnnl_matmul_desc_init(&desc, &aDesc, &bDesc, nil, &outDesc), "matmul descriptor \(shape)")
        var attributes: dnnl_primitive_attr_t?
        check(dnnl_primitive_attr_create(&attributes), "attributes")
        defer { dnnl_primitive_attr_destroy(attributes) }
        check(dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user), "scratchpad mode")
        if shape.accumulate {
            var postOps: dnnl_post_ops_t?
            check(dnnl_post_ops_create(&postOps), "post-ops")
            defer { dnnl_post_ops_destroy(postOps) }
            check(dnnl_post_ops_append_sum(postOps, 1), "sum post-op")
            check(dnnl_primitive_attr_set_post_ops(attributes, postOps), "post-ops")
        }
        var descriptor: dnnl_primitive_desc_t?
        check(dnnl_primitive_desc_create(&descriptor, &desc, attributes, engine, nil), "matmul primitive descriptor \(shape)")
        defer { dnnl_primitive_desc_destroy(descriptor) }
        var handle: dnnl_primitive_t?
        check(dnnl_primitive_create(&handle, descriptor), "matmul primitive \(shape)")
        let scratchpad = dnnl_primitive_desc_query_md(descriptor, dnnl_query_scratchpad_md, 0).pointee
        let made = Primitive(handle: handle!, scratchpad: scratchpad)
        return primitives.withLock { cache in
            if let other = cache[shape] { return other }
            cache[shape] = made
            return made
        }
    }

    /// a [m, k] bf16, b [k, n] bf16, out [m, n] f32, all row-major.
    private static func descriptors(_ s: Shape) -> (dnnl_memory_desc_t, dnnl_memory_desc_t, dnnl_memory_desc_t) {
        func matrix(_ rows: Int, _ columns: Int, _ type: dnnl_data_type_t, strides: (Int, Int)) -> dnnl_memory_desc_t {
            var desc = dnnl_memory_desc_t()
            let dims: [dnnl_dim_t] = [dnnl_dim_t(rows), dnnl_dim_t(columns)]
            let steps: [dnnl_dim_t] = [dnnl_dim_t(strides.0), dnnl_dim_t(strides.1)]
            check(dnnl_memory_desc_init_by_strides(&desc, 2, dims, type, steps), "memory descriptor")
            return desc
        }
        let a = matrix(s.m, s.k, dnnl_bf16, strides: (s.k, 1))
        let b = matrix(s.k, s.n, dnnl_bf16, strides: (s.n, 1))
        let out = matrix(s.m, s.n, dnnl_f32, strides: (s.n, 1))
        return (a, b, out)
    }
}

/// oneDNN's calls fail only on a shape or an argument this file got wrong: a programming error.
private func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) {
    precondition(status == dnnl_success, "oneDNN \(what()): status \(status.rawValue)")
}

/// Pins oneDNN's thread pool (libgomp) to `count` threads.
func setBF16ThreadCount(_ count: Int) { omp_set_num_threads(Int32(count)) }
