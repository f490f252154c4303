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
        abstract: "Print CLIP's L2-normalised image features of JPEG or PNG files."
    )

    @Option(name: .long, help: ArgumentHelp("The CLIP checkpoint directory.", valueName: "dir"))
    var model: String

    @Flag(name: .long, help: "Print one JSON array of {\"file\", \"feature\"} objects.")
    var json = false

    @Argument(help: "The image files.")
    var files: [String] = []

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("Give at least one image file.") }
    }

    struct Line: Encodable {
        let file: String
        let feature: [Float]
    }

    func run() throws {
        let tower = try VisionTower(directory: URL(fileURLWithPath: model))
        let preprocessing = CLIPPreprocessing(imageSize: tower.imageSize)
        let printer = ProgressPrinter(quiet: json || files.count < 32)
        let d = tower.projectionDim
        var lines: [Line] = []
        let start = Date()
        for chunk in stride(from: 0, to: files.count, by: 16).map({ Array(files[$0..<min($0 + 16, files.count)]) }) {
            let pixels = try chunk.flatMap { preprocessing.pixels(try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: $0))) }
            let features = try tower.encode(pixels: pixels, count: chunk.count, normalized: true)
            lines += chunk.enumerated().map { Line(file: $1, feature: Array(features[($0 * d)..<(($0 + 1) * d)])) }
            let elapsed = Date().timeIntervalSince(start)
            printer.images(done: lines.count, total: files.count, imagesPerSecond: Double(lines.count) / elapsed,
                           remaining: elapsed / Double(lines.count) * Double(files.count - lines.count))
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(lines), as: UTF8.self))
        } else {
            for line in lines {
                print("\(line.file): [" + line.feature.map { String(format: "%.6f", $0) }.joined(separator: ", ") + "]")
            }
        }
    }
}
