import ArgumentParser
import Foundation
import Store

/// What an evaluation reads and how: shared by eval and compare.
struct EvaluationOptions: ParsableArguments {
    @Option(name: .long, help: "Which samples: train, val or test.")
    var split: Split = .test

    @Option(name: .long, help: "Label space: task (each stage's own classes, as the paper) or class (all classes seen so far).")
    var `protocol`: Protocol = .task

    @Option(name: .long, help: ArgumentHelp("The store's CLIP checkpoint directory, if it moved since init.", valueName: "dir"))
    var model: String?

    var modelDirectory: URL? { model.map { URL(fileURLWithPath: $0) } }
}
