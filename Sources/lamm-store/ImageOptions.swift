import ArgumentParser
import Continual

/// How images named by a stage are encoded (add-classes, import-split).
struct ImageOptions: ParsableArguments {
    @Option(name: .long, parsing: .unconditional, help: "Augmented views (random resized crop and flip) stored per training image instead of its centre crop; 0 keeps the centre crop.")
    var views: Int = 0

    @Flag(name: .customLong("skip-bad-images"), help: "Report a corrupt or unsupported image and leave its rows out instead of failing.")
    var skipBadImages = false

    func validate() throws {
        if views < 0 || views > 64 { throw ValidationError("--views must be between 0 and 64.") }
    }

    func options(seed: UInt64) -> ImageEncodingOptions {
        ImageEncodingOptions(views: views, seed: seed, skipBadImages: skipBadImages)
    }
}
