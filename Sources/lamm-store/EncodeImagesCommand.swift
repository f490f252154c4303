import ArgumentParser
import CLIP
import Foundation
import Images
import Kernels

/// `lamm-store encode-images`: CLIP's L2-normalised image features (centre crop), for users and
/// for parity checks against other implementations.
struct EncodeImagesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode-images",
        abstract: "Print CLIP's L2-normalised image features of JPEG or PNG files.",
        discussion: "With --json, one array of {\"file\", \"feature\"} objects."
    )

    @OptionGroup var checkpoint: CheckpointOptions

    @OptionGroup var precision: PrecisionOptions

    @OptionGroup var output: OutputOptions

    @Argument(help: "The image files.")
    var files: [String] = []

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("Give at least one image file.") }
    }

    func run() throws {
        let tower = try VisionTower(directory: checkpoint.directory, precision: precision.resolved)
        let preprocessing = CLIPPreprocessing(imageSize: tower.imageSize)
        let printer = ProgressPrinter(quiet: output.json || files.count < 32)
        let d = tower.projectionDim
        var features: [Float] = []
        let start = Date()
        for chunk in stride(from: 0, to: files.count, by: 16).map({ Array(files[$0..<min($0 + 16, files.count)]) }) {
            let pixels = try chunk.flatMap { preprocessing.pixels(try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: $0))) }
            features += try tower.encode(pixels: pixels, count: chunk.count, normalized: true)
            let done = features.count / d, elapsed = Date().timeIntervalSince(start)
            printer.images(done: done, total: files.count, imagesPerSecond: Double(done) / elapsed,
                           remaining: elapsed / Double(done) * Double(files.count - done))
        }
        try printFeatures(files, features, dimension: d, nameKey: "file", json: output.json)
    }
}
