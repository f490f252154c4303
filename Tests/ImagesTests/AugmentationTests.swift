import CLIP
import Foundation
import Images
import Testing

/// RandomResizedCrop + horizontal flip: determinism, bounds, and the sampling distribution.
struct AugmentationTests {
    static let preprocessing = CLIPPreprocessing(imageSize: 32)

    @Test func sameSeedSameViews() throws {
        let image = try ImageFixtures.pilRGB("baseline_88x60.jpg")
        var a = SplitMix64(seed: 11), b = SplitMix64(seed: 11), c = SplitMix64(seed: 12)
        let first = (0..<4).map { _ in Self.preprocessing.augmentedPixels(image, random: &a) }
        let second = (0..<4).map { _ in Self.preprocessing.augmentedPixels(image, random: &b) }
        let other = (0..<4).map { _ in Self.preprocessing.augmentedPixels(image, random: &c) }
        #expect(first == second)
        #expect(first != other)
        #expect(first.allSatisfy { $0.count == 3 * 32 * 32 })
        #expect(first[0] != first[1])
    }

    /// Crops lie inside the image, and their areas and aspect ratios follow torchvision's
    /// get_params: on a 300x200 image, 200,000 draws of torchvision 0.29's
    /// RandomResizedCrop.get_params((0.08, 1), (3/4, 4/3)) give an area fraction of mean 0.3908
    /// (sd 0.1907) and a log aspect ratio of mean 0.0309 (sd 0.1642). 4,000 draws here must land
    /// within 4 standard errors of both means.
    @Test func cropsInsideTheImageWithTorchvisionsDistribution() {
        var random = SplitMix64(seed: 5)
        let (width, height) = (300, 200), draws = 4000
        var areaSum = 0.0, logRatioSum = 0.0
        for _ in 0..<draws {
            let crop = RandomResizedCrop.sample(width: width, height: height, scale: 0.08...1, ratio: (3.0 / 4)...(4.0 / 3), random: &random)
            #expect(crop.left >= 0 && crop.top >= 0 && crop.width > 0 && crop.height > 0)
            #expect(crop.left + crop.width <= width && crop.top + crop.height <= height)
            areaSum += Double(crop.width * crop.height) / Double(width * height)
            logRatioSum += log(Double(crop.width) / Double(crop.height))
        }
        let area = areaSum / Double(draws), logRatio = logRatioSum / Double(draws)
        print("RandomResizedCrop 300x200: mean area fraction \(area) (torchvision 0.3908), mean log ratio \(logRatio) (torchvision 0.0309)")
        #expect(abs(area - 0.3908) < 4 * 0.1907 / Double(draws).squareRoot())
        #expect(abs(logRatio - 0.0309) < 4 * 0.1642 / Double(draws).squareRoot())
    }

    /// A 1000x10 strip: no box with ratio in [3/4, 4/3] and area >= 8% fits, so every draw
    /// falls back to the centred box of ratio 4/3 (13x10).
    @Test func fallbackIsTheCentredClampedBox() {
        var random = SplitMix64(seed: 9)
        for _ in 0..<20 {
            let crop = RandomResizedCrop.sample(width: 1000, height: 10, scale: 0.08...1, ratio: (3.0 / 4)...(4.0 / 3), random: &random)
            #expect(crop == RandomResizedCrop(left: (1000 - 13) / 2, top: 0, width: 13, height: 10))
        }
    }

    @Test func flipMirrorsRows() {
        let image = RGBImage(width: 3, height: 1, pixels: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        #expect(image.flippedHorizontally().pixels == [7, 8, 9, 4, 5, 6, 1, 2, 3])
        #expect(image.flippedHorizontally().flippedHorizontally() == image)
    }
}
