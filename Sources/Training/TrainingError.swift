import Formats
import Foundation
import Methods

/// Errors a user can cause through training options or data; nothing is written after any.
public enum TrainingError: Error, Equatable, LocalizedError, CustomStringConvertible {
    /// An option's value is outside what can train: `option` is its command-line name.
    case outOfRange(option: String, value: String, allowed: String)
    /// The loss or a trained vector stopped being a finite number.
    case diverged(epoch: Int, epochs: Int, step: Int, term: String, value: Float, learningRate: Float)
    /// The loss stayed finite but grew past `LAMMConfiguration.divergenceFactor` times its value
    /// at the first step; `term` grew the most.
    case lossGrew(epoch: Int, epochs: Int, step: Int, total: Float, first: Float, term: String, value: Float, learningRate: Float)
    /// A class's prompt with the context vectors does not fit the text tower's positions.
    case promptTooLong(className: String, tokens: Int, maximum: Int, contextVectors: Int)
    /// A method the trainer has no training for.
    case untrainableMethod(Method)
    /// A stage continues a snapshot whose MaPLe prompts have another shape than the options ask for.
    case promptShapeDiffers(parentContext: Int, parentDepth: Int, contextLength: Int, depth: Int)

    public var description: String {
        switch self {
        case let .untrainableMethod(method):
            return "the trainer cannot train method \(method.rawValue); it trains \(Trainer.methods.map(\.rawValue).joined(separator: ", "))."
        case let .promptShapeDiffers(parentContext, parentDepth, contextLength, depth):
            return "the stage continues MaPLe prompts of \(parentContext) context vectors and depth \(parentDepth), but --n-ctx \(contextLength) "
                + "and --prompt-depth \(depth) were asked for; pass --n-ctx \(parentContext) --prompt-depth \(parentDepth), or start a new dataset."
        case let .outOfRange(option, value, allowed):
            return "\(option) \(value) is out of range: use \(allowed)."
        case let .diverged(epoch, epochs, step, term, value, learningRate):
            return "training diverged in epoch \(epoch)/\(epochs), step \(step): \(term) is \(value). Nothing was written. "
                + "Try a lower --lr (it was \(learningRate)), or a smaller weight of that term."
        case let .lossGrew(epoch, epochs, step, total, first, term, value, learningRate):
            return "training diverged in epoch \(epoch)/\(epochs), step \(step): the total loss is \(total), more than "
                + "\(Int(LAMMConfiguration.divergenceFactor))x its \(first) at the first step (\(term) grew most, to \(value)). Nothing was written. "
                + "Try a lower --lr (it was \(learningRate))."
        case let .promptTooLong(className, tokens, maximum, contextVectors):
            return "class '\(displayName(className))' needs a prompt of \(tokens) tokens with --n-ctx \(contextVectors) context vectors, "
                + "but the text tower has \(maximum) positions; use a smaller --n-ctx or a shorter class name."
        }
    }

    public var errorDescription: String? { description }
}

extension LAMMConfiguration {
    /// The largest counts accepted: far beyond any real run, small enough that step counts and
    /// buffer sizes cannot overflow.
    public static let maximumEpochs = 100_000
    public static let maximumBatchSize = 1_000_000
    public static let maximumShots = 1_000_000
    public static let maximumContextLength = 64

    /// Checks every option before any work, naming the option of the command line.
    public func validate() throws {
        func require(_ ok: Bool, _ option: String, _ value: some CustomStringConvertible, _ allowed: String) throws {
            guard ok else { throw TrainingError.outOfRange(option: option, value: "\(value)", allowed: allowed) }
        }
        try require((1...Self.maximumEpochs).contains(epochs), "--epochs", epochs, "1 to \(Self.maximumEpochs)")
        try require((1...Self.maximumBatchSize).contains(batchSize), "--batch-size", batchSize, "1 to \(Self.maximumBatchSize)")
        try require((0...epochs).contains(warmupEpochs), "--warmup-epochs", warmupEpochs, "0 to --epochs (\(epochs))")
        if let shots {
            try require((1...Self.maximumShots).contains(shots), "--shots", shots, "1 to \(Self.maximumShots)")
        }
        try require((1...Self.maximumContextLength).contains(contextLength), "--n-ctx", contextLength, "1 to \(Self.maximumContextLength)")
        try require((1...Self.maximumContextLength).contains(promptDepth), "--prompt-depth", promptDepth, "1 to the towers' block count")
        try require(learningRate.isFinite && learningRate > 0, "--lr", learningRate, "a finite number above 0")
        try require(warmupLearningRate.isFinite && warmupLearningRate >= 0, "--warmup-lr", warmupLearningRate, "a finite number, 0 or more")
        try require(momentum.isFinite && momentum >= 0 && momentum < 1, "--momentum", momentum, "0 or more and below 1")
        try require(weightDecay.isFinite && weightDecay >= 0, "--weight-decay", weightDecay, "a finite number, 0 or more")
        if let lambdaWC { try require(lambdaWC.isFinite && lambdaWC >= 0, "--lambda-wc", lambdaWC, "a finite number, 0 or more") }
        try require(lambdaCOS.isFinite && lambdaCOS >= 0, "--lambda-cos", lambdaCOS, "a finite number, 0 or more")
        try require(lambdaKD.isFinite && lambdaKD >= 0, "--lambda-kd", lambdaKD, "a finite number, 0 or more")
        try require(temperature.isFinite && temperature > 0, "--temperature", temperature, "a finite number above 0")
    }
}

extension LAMMConfiguration {
    /// Training whose loss grows this many times past its first step's (at least 1) has diverged,
    /// even while every number stays finite: a stage trained so is worse than CLIP's words.
    public static let divergenceFactor: Float = 100

    /// Stops training whose total loss grew past `divergenceFactor` times the first step's,
    /// naming the term that grew the most.
    func requireBounded(_ terms: LossTerms, first: LossTerms, epoch: Int, step: Int) throws {
        guard terms.total > Self.divergenceFactor * max(first.total, 1) else { return }
        let (term, value, _) = zip(terms.named, first.named).map { ($0.0, $0.1, $1.1) }.max { $0.1 - $0.2 < $1.1 - $1.2 }!
        throw TrainingError.lossGrew(epoch: epoch + 1, epochs: epochs, step: step + 1, total: terms.total, first: first.total,
                                     term: term, value: value, learningRate: learningRate)
    }

    /// A diverged run stops at once: a NaN or infinite loss term, or a trained vector that is no
    /// longer finite (the step after a huge gradient), names the first term that went.
    func requireFinite(_ terms: LossTerms, _ values: [Float], epoch: Int, step: Int) throws {
        var bad = (terms.named + [("the total loss", terms.total)]).first { !$0.1.isFinite }
        if bad == nil, !values.allSatisfy(\.isFinite) {
            bad = ("a trained vector", values.first { !$0.isFinite }!)
        }
        if let (term, value) = bad {
            throw TrainingError.diverged(epoch: epoch + 1, epochs: epochs, step: step + 1, term: term, value: value,
                                         learningRate: learningRate)
        }
    }
}

extension LossTerms {
    /// The four terms by the names messages give them.
    var named: [(String, Float)] { [("L_CE", ce), ("L_WC", wc), ("L_COS", cos), ("L_KD", kd)] }
}
