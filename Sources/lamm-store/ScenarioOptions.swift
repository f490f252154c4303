import ArgumentParser
import Continual

/// How a dataset's classes become stages: the class-incremental scenario of `import-split`.
struct ScenarioOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Cut the classes into N stages (default 2).", valueName: "N"))
    var steps: Int?

    @Option(name: .long, help: ArgumentHelp("B classes in the first stage, then I per stage (B0 Inc10: 10,10).", valueName: "B,I"))
    var increments: String?

    @Option(name: .long, help: ArgumentHelp("The order classes are taken in: sorted, seed:S (numpy's permutation, as PyCIL), or a file of class names.",
                                            valueName: "sorted|seed:1993|FILE"))
    var classOrder: String = "sorted"

    func validate() throws { _ = try scenario() }

    func scenario() throws -> (ClassIncrements, ClassOrder) {
        if steps != nil && increments != nil { throw ValidationError("give --steps or --increments, not both.") }
        var cut = ClassIncrements.steps(steps ?? 2)
        if let steps, steps < 1 { throw ValidationError("--steps \(steps): give at least 1 stage.") }
        if let increments {
            let parts = increments.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, let base = parts[0], let increment = parts[1], base >= 1, increment >= 1 else {
                throw ValidationError("--increments \(increments): give two whole numbers B,I of at least 1: B classes first, then I per stage (B0 Inc10 is 10,10).")
            }
            cut = .increments(base: base, increment: increment)
        }
        do {
            return (cut, try ClassOrder(argument: classOrder))
        } catch let error as ClassOrderError {
            throw ValidationError(error.description)
        }
    }
}
