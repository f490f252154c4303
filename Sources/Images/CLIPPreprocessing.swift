import Foundation

/// CLIP's image preprocessing: the pixel tensor the image tower takes, [3, S, S] channel-first.
///
/// `pixels` follows the PIL path of CLIP's reference preprocessing (OpenAI's clip.py
/// `_transform`, open_clip's eval transform, transformers' CLIPImageProcessorPil): the shorter
/// side resized to S with PIL's BICUBIC (antialiased when shrinking; see Resampling.swift),
/// a centre crop to S x S, values / 255, then (x - mean) / std per channel in Float32.
/// The crop offsets are transformers' `(size - S) // 2`; torchvision's CenterCrop (open_clip)
/// rounds `(size - S) / 2` to nearest-even instead, which moves the crop by one pixel when the
/// resized long side minus S is odd.
public struct CLIPPreprocessing: Sendable {
    /// OpenAI CLIP's normalisation (OPENAI_CLIP_MEAN / OPENAI_CLIP_STD).
    public static let clipMean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public static let clipStd: [Float] = [0.26862954, 0.26130258, 0.27577711]

    public let imageSize: Int
    public let mean: [Float]
    public let std: [Float]

    public init(imageSize: Int, mean: [Float] = clipMean, std: [Float] = clipStd) {
        precondition(imageSize > 0 && mean.count == 3 && std.count == 3)
        self.imageSize = imageSize
        self.mean = mean
        self.std = std
    }

    /// The model's input for `image`: Float [3, S, S].
    public func pixels(_ image: RGBImage) -> [Float] {
        normalized(centreCropped(resizedShorterSide(image)))
    }

    /// The image with its shorter side resized to S and the other side scaled in proportion,
    /// truncated as transformers' get_resize_output_image_size does: int(S * long / short).
    public func resizedShorterSide(_ image: RGBImage) -> RGBImage {
        let (width, height) = (image.width, image.height)
        let short = min(width, height), long = max(width, height)
        let newLong = Int(Double(imageSize * long) / Double(short))
        let (newWidth, newHeight) = width <= height ? (imageSize, newLong) : (newLong, imageSize)
        return image.resized(width: newWidth, height: newHeight, filter: .bicubic)
    }

    /// The central S x S region (image_transforms.center_crop: top = (height - S) // 2).
    /// An image smaller than S on a side is not produced by `resizedShorterSide`.
    public func centreCropped(_ image: RGBImage) -> RGBImage {
        precondition(image.width >= imageSize && image.height >= imageSize)
        return image.cropped(left: (image.width - imageSize) / 2, top: (image.height - imageSize) / 2,
                             width: imageSize, height: imageSize)
    }

    /// An S x S image as the model's input: channel-first, x / 255 (computed in double and
    /// rounded to Float, as rescale does), then (x - mean) / std in Float (as normalize does).
    public func normalized(_ image: RGBImage) -> [Float] {
        precondition(image.width == imageSize && image.height == imageSize)
        let plane = imageSize * imageSize
        var out = [Float](repeating: 0, count: 3 * plane)
        let rescale = 1.0 / 255.0
        for i in 0..<plane {
            for c in 0..<3 {
                let x = Float(Double(image.pixels[3 * i + c]) * rescale)
                out[c * plane + i] = (x - mean[c]) / std[c]
            }
        }
        return out
    }

    /// A training view as CoOp's configs (Dassl) build it: torchvision's RandomResizedCrop(S,
    /// scale, ratio) resampled with `filter` (the configs set INTERPOLATION "bicubic";
    /// torchvision's own default is bilinear), then a horizontal flip with probability 1/2, then
    /// `normalized`. Deterministic for a given generator state.
    public func augmentedPixels(_ image: RGBImage, random: inout some RandomNumberGenerator,
                                scale: ClosedRange<Double> = 0.08...1, ratio: ClosedRange<Double> = (3.0 / 4)...(4.0 / 3),
                                filter: ResampleFilter = .bicubic) -> [Float] {
        let crop = RandomResizedCrop.sample(width: image.width, height: image.height, scale: scale, ratio: ratio, random: &random)
        var view = image.cropped(left: crop.left, top: crop.top, width: crop.width, height: crop.height)
            .resized(width: imageSize, height: imageSize, filter: filter)
        if Bool.random(using: &random) { view = view.flippedHorizontally() }
        return normalized(view)
    }
}

/// torchvision.transforms.RandomResizedCrop.get_params: up to 10 tries of an area fraction
/// uniform in `scale` and an aspect ratio log-uniform in `ratio`, keeping the first box that
/// fits; otherwise the largest centred box whose ratio is clamped into `ratio`.
public struct RandomResizedCrop: Sendable, Equatable {
    public var left: Int
    public var top: Int
    public var width: Int
    public var height: Int

    public init(left: Int, top: Int, width: Int, height: Int) {
        self.left = left
        self.top = top
        self.width = width
        self.height = height
    }

    public static func sample(width: Int, height: Int, scale: ClosedRange<Double>, ratio: ClosedRange<Double>,
                              random: inout some RandomNumberGenerator) -> RandomResizedCrop {
        let area = Double(width * height)
        let logRatio = log(ratio.lowerBound)...log(ratio.upperBound)
        for _ in 0..<10 {
            let targetArea = area * Double.random(in: scale, using: &random)
            let aspect = exp(Double.random(in: logRatio, using: &random))
            // Python's round() is half-to-even.
            let w = Int((targetArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((targetArea / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= width && h > 0 && h <= height {
                let top = Int.random(in: 0...(height - h), using: &random)
                let left = Int.random(in: 0...(width - w), using: &random)
                return RandomResizedCrop(left: left, top: top, width: w, height: h)
            }
        }
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < ratio.lowerBound {
            h = Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven))
        } else if inRatio > ratio.upperBound {
            w = Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven))
        }
        return RandomResizedCrop(left: (width - w) / 2, top: (height - h) / 2, width: w, height: h)
    }
}

extension RGBImage {
    /// The mirror image (left and right swapped).
    public func flippedHorizontally() -> RGBImage {
        var out = pixels
        for y in 0..<height {
            for x in 0..<width {
                let from = (y * width + (width - 1 - x)) * 3, to = (y * width + x) * 3
                out[to] = pixels[from]
                out[to + 1] = pixels[from + 1]
                out[to + 2] = pixels[from + 2]
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}
