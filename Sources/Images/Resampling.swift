/// PIL's `Image.resize` for 8-bit images (Pillow src/libImaging/Resample.c), reproduced in its
/// arithmetic so the result is PIL's, byte for byte: a separable convolution, horizontal pass
/// first, whose filter support is widened by the downscale factor (antialiasing); the weights
/// of each output pixel are normalised to sum 1 in double precision, then rounded to 22-bit
/// fixed point, and each pass rounds and clips its output to 8 bits.
public enum ResampleFilter: Sendable {
    /// PIL's BILINEAR (triangle, support 1).
    case bilinear
    /// PIL's BICUBIC (Keys' cubic with a = -0.5, support 2): what CLIP's preprocessing uses.
    case bicubic

    var support: Double {
        switch self {
        case .bilinear: 1
        case .bicubic: 2
        }
    }

    func weight(_ t: Double) -> Double {
        let x = abs(t)
        switch self {
        case .bilinear:
            return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }
}

extension RGBImage {
    /// The image resized to `width` x `height`, as PIL's `Image.resize((width, height), filter)`.
    public func resized(width outWidth: Int, height outHeight: Int, filter: ResampleFilter) -> RGBImage {
        precondition(outWidth > 0 && outHeight > 0)
        var image = self
        // ImagingResampleInner: a pass runs only when its size changes.
        if outWidth != width {
            let taps = ResampleTaps(inSize: width, outSize: outWidth, filter: filter)
            image = image.convolvedHorizontally(taps)
        }
        if outHeight != height {
            let taps = ResampleTaps(inSize: height, outSize: outHeight, filter: filter)
            image = image.convolvedVertically(taps)
        }
        return image
    }

    /// The `cropWidth` x `cropHeight` region whose top-left corner is (`left`, `top`); it must
    /// lie inside the image.
    public func cropped(left: Int, top: Int, width cropWidth: Int, height cropHeight: Int) -> RGBImage {
        precondition(left >= 0 && top >= 0 && left + cropWidth <= width && top + cropHeight <= height)
        var out = [UInt8]()
        out.reserveCapacity(cropWidth * cropHeight * 3)
        for y in top..<(top + cropHeight) {
            let start = (y * width + left) * 3
            out.append(contentsOf: pixels[start..<(start + cropWidth * 3)])
        }
        return RGBImage(width: cropWidth, height: cropHeight, pixels: out)
    }

    private func convolvedHorizontally(_ taps: ResampleTaps) -> RGBImage {
        var out = [UInt8](repeating: 0, count: taps.outSize * height * 3)
        pixels.withUnsafeBufferPointer { src in
            taps.weights.withUnsafeBufferPointer { weights in
                out.withUnsafeMutableBufferPointer { dst in
                    for y in 0..<height {
                        let row = y * width * 3
                        for xx in 0..<taps.outSize {
                            let first = taps.first[xx], count = taps.count[xx], k = xx * taps.stride
                            // Int32 as in Resample.c; |sum| <= 255 * 1.3 * 2^22 < 2^31 cannot wrap.
                            var s0 = ResampleTaps.half, s1 = ResampleTaps.half, s2 = ResampleTaps.half
                            for i in 0..<count {
                                let w = weights[k + i], p = row + (first + i) * 3
                                s0 &+= Int32(src[p]) &* w
                                s1 &+= Int32(src[p + 1]) &* w
                                s2 &+= Int32(src[p + 2]) &* w
                            }
                            let o = (y * taps.outSize + xx) * 3
                            dst[o] = ResampleTaps.clip8(s0)
                            dst[o + 1] = ResampleTaps.clip8(s1)
                            dst[o + 2] = ResampleTaps.clip8(s2)
                        }
                    }
                }
            }
        }
        return RGBImage(width: taps.outSize, height: height, pixels: out)
    }

    private func convolvedVertically(_ taps: ResampleTaps) -> RGBImage {
        let rowLength = width * 3
        var out = [UInt8](repeating: 0, count: taps.outSize * rowLength)
        var sums = [Int32](repeating: 0, count: rowLength)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                sums.withUnsafeMutableBufferPointer { sums in
                    for yy in 0..<taps.outSize {
                        let first = taps.first[yy], count = taps.count[yy], k = yy * taps.stride
                        for j in 0..<rowLength { sums[j] = ResampleTaps.half }
                        for i in 0..<count {
                            let w = taps.weights[k + i], row = (first + i) * rowLength
                            for j in 0..<rowLength { sums[j] &+= Int32(src[row + j]) &* w }
                        }
                        for j in 0..<rowLength { dst[yy * rowLength + j] = ResampleTaps.clip8(sums[j]) }
                    }
                }
            }
        }
        return RGBImage(width: width, height: taps.outSize, pixels: out)
    }
}

/// The fixed-point weights of one resampling pass (Resample.c: precompute_coeffs followed by
/// normalize_coeffs_8bpc), over the whole input [0, inSize).
struct ResampleTaps {
    /// PRECISION_BITS = 32 - 8 - 2: weights may sum above 1 or go negative, so two spare bits.
    static let precisionBits: Int32 = 22
    static let half: Int32 = 1 << (precisionBits - 1)

    let outSize: Int
    /// Room per output pixel in `weights` (ksize = 2 * ceil(support) + 1).
    let stride: Int
    /// First input index and number of taps of each output pixel.
    var first: [Int]
    var count: [Int]
    var weights: [Int32]

    init(inSize: Int, outSize: Int, filter: ResampleFilter) {
        self.outSize = outSize
        let scale = Double(inSize) / Double(outSize)
        // Downscaling widens the kernel by the scale: the antialiasing.
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        stride = Int(support.rounded(.up)) * 2 + 1
        first = [Int](repeating: 0, count: outSize)
        count = [Int](repeating: 0, count: outSize)
        weights = [Int32](repeating: 0, count: outSize * stride)
        var k = [Double](repeating: 0, count: stride)
        let inverseScale = 1.0 / filterScale
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            // C's (int) cast truncates toward zero; a negative xmin is then clamped to 0 anyway.
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var total = 0.0
            for x in 0..<xmax {
                k[x] = filter.weight((Double(x + xmin) - center + 0.5) * inverseScale)
                total += k[x]
            }
            for x in 0..<xmax {
                var w = k[x]
                if total != 0 { w /= total }
                // Rounded half away from zero, as normalize_coeffs_8bpc does.
                let fixed = w * Double(1 << Self.precisionBits)
                weights[xx * stride + x] = Int32(w < 0 ? fixed - 0.5 : fixed + 0.5)
            }
            first[xx] = xmin
            count[xx] = xmax
        }
    }

    /// clip8: the accumulator's integer part, clamped to 0...255.
    @inline(__always)
    static func clip8(_ value: Int32) -> UInt8 {
        UInt8(clamping: value >> precisionBits)
    }
}
