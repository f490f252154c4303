import ArgumentParser
import Methods
import Store

/// What an evaluation reads and how: shared by eval and compare.
struct EvaluationOptions: ParsableArguments {
    @Option(name: .long, help: "Which samples: train, val or test.")
    var split: Split = .test

    @OptionGroup var labelSpace: ProtocolOptions
    @OptionGroup var model: ModelOptions
}
