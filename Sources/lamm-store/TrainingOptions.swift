import ArgumentParser
import Continual
import Kernels
import Methods
import Store
import Training

/// `--method` takes the methods a stage can be trained with; any other value is refused while
/// the arguments are parsed, with the valid values listed.
extension Method: ExpressibleByArgument {
    public init?(argument: String) {
        guard let method = Method(rawValue: argument), StageWriter.trainableMethods.contains(method) else { return nil }
        self = method
    }

    public static var allValueStrings: [String] { StageWriter.trainableMethods.map(\.rawValue) }
}

extension Protocol: ExpressibleByArgument {}
extension Split: ExpressibleByArgument {}
extension LabelTokens: ExpressibleByArgument {}
extension LabelInitialisation: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}

/// The method, the shots and the seed of one run, and the hyper-parameters (HyperParameterOptions).
struct TrainingOptions: ParsableArguments {
    private static let defaults = LAMMConfiguration()

    @Option(name: .long, help: "lamm (the new classes' label vectors), coop (the shared context), coop+lamm (both), maple (prompts in both towers, trained through the images), maple+lamm (both), or zeroshot (CLIP's word embeddings).")
    var method: Method = .lamm

    @Option(name: .long, parsing: .unconditional, help: "Training rows sampled per class with --seed (default: all given).")
    var shots: Int?

    @Option(name: .long, parsing: .unconditional, help: "Seed of shot sampling, batch order and random initialisation; the same seed reproduces a run.")
    var seed: UInt64 = Self.defaults.seed

    @OptionGroup var hyperParameters: HyperParameterOptions

    func validate() throws {
        if let shots, shots < 1 { throw ValidationError("--shots must be at least 1.") }
    }

    var configuration: LAMMConfiguration {
        var c = hyperParameters.configuration(for: method)
        c.shots = shots
        c.seed = seed
        return c
    }
}

/// LAMM's hyper-parameters. The defaults are `LAMMConfiguration`'s (the official code's,
/// LAMM.md), read from it so that the help cannot disagree with what a run uses; the options
/// MaPLe sets otherwise (its official config) default per method.
struct HyperParameterOptions: ParsableArguments {
    private static let defaults = LAMMConfiguration()
    private static let maple = LAMMConfiguration.defaults(for: .maple)

    @Option(name: .long, parsing: .unconditional, help: "Epochs (default \(Self.defaults.epochs); MaPLe \(Self.maple.epochs)).")
    var epochs: Int?

    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Samples per step (default \(Self.defaults.batchSize); MaPLe \(Self.maple.batchSize)).")
    var batchSize: Int?

    @Option(name: .customLong("lr"), parsing: .unconditional, help: "Base learning rate of SGD, cosine schedule (default \(Self.defaults.learningRate); MaPLe \(Self.maple.learningRate)).")
    var learningRate: Float?

    @Option(name: .long, parsing: .unconditional, help: "SGD momentum.")
    var momentum: Float = Self.defaults.momentum

    @Option(name: .customLong("weight-decay"), parsing: .unconditional, help: "SGD weight decay.")
    var weightDecay: Float = Self.defaults.weightDecay

    @Option(name: .customLong("warmup-epochs"), parsing: .unconditional, help: "Epochs at the constant warm-up learning rate.")
    var warmupEpochs: Int = Self.defaults.warmupEpochs

    @Option(name: .customLong("warmup-lr"), parsing: .unconditional, help: "The warm-up learning rate.")
    var warmupLearningRate: Float = Self.defaults.warmupLearningRate

    @Option(name: .customLong("lambda-wc"), parsing: .unconditional, help: "Weight of L_WC, parameter space (default 1/n, n = shots per class; 0 disables).")
    var lambdaWC: Float?

    @Option(name: .customLong("lambda-cos"), parsing: .unconditional, help: "Weight of L_COS, feature space (0 disables).")
    var lambdaCOS: Float = Self.defaults.lambdaCOS

    @Option(name: .customLong("lambda-kd"), parsing: .unconditional, help: "Weight of L_KD, logit space (0 disables).")
    var lambdaKD: Float = Self.defaults.lambdaKD

    @Option(name: .long, parsing: .unconditional, help: "Temperature T of L_KD.")
    var temperature: Float = Self.defaults.temperature

    @Option(name: .customLong("label-tokens"), help: "Which class-name tokens to train: all, or first (as the official code).")
    var labelTokens: LabelTokens = Self.defaults.labelTokens

    @Option(name: .customLong("label-init"), help: "Initialise the label vectors from the class name (classname) or randomly (random).")
    var labelInitialisation: LabelInitialisation = Self.defaults.labelInitialisation

    @Option(name: .customLong("n-ctx"), parsing: .unconditional, help: "Context vectors: CoOp's (default \(Self.defaults.contextLength), from the words `a photo of a`) or MaPLe's (default \(Self.maple.contextLength), from `a photo`); a length beyond the words starts from N(0, 0.02^2).")
    var contextLength: Int?

    @Option(name: .customLong("prompt-depth"), parsing: .unconditional, help: "MaPLe's prompt depth J: prompts enter both towers' inputs and blocks 1 ... J-1 (1 = shallow MaPLe; at most the towers' block count).")
    var promptDepth: Int = Self.defaults.promptDepth

    @OptionGroup var precision: PrecisionOptions

    func validate() throws {
        if let contextLength, contextLength < 1 || contextLength > 60 { throw ValidationError("--n-ctx must be between 1 and 60.") }
        if promptDepth < 1 { throw ValidationError("--prompt-depth must be at least 1.") }
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1.") }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1.") }
        if warmupEpochs < 0 { throw ValidationError("--warmup-epochs must not be negative.") }
        for (name, value) in [("--lr", learningRate ?? 0), ("--momentum", momentum), ("--weight-decay", weightDecay),
                              ("--warmup-lr", warmupLearningRate), ("--lambda-cos", lambdaCOS), ("--lambda-kd", lambdaKD),
                              ("--lambda-wc", lambdaWC ?? 0)] where !(value.isFinite && value >= 0) {
            throw ValidationError("\(name) must be a finite number >= 0.")
        }
        if !(temperature.isFinite && temperature > 0) { throw ValidationError("--temperature must be > 0.") }
    }

    /// The method's defaults with every option given here.
    func configuration(for method: Method) -> LAMMConfiguration {
        var c = LAMMConfiguration.defaults(for: method)
        if let epochs { c.epochs = epochs }
        if let batchSize { c.batchSize = batchSize }
        if let learningRate { c.learningRate = learningRate }
        c.momentum = momentum
        c.weightDecay = weightDecay
        c.warmupEpochs = warmupEpochs
        c.warmupLearningRate = warmupLearningRate
        c.lambdaWC = lambdaWC
        c.lambdaCOS = lambdaCOS
        c.lambdaKD = lambdaKD
        c.temperature = temperature
        c.labelTokens = labelTokens
        c.labelInitialisation = labelInitialisation
        if let contextLength { c.contextLength = contextLength }
        c.promptDepth = promptDepth
        c.precision = precision.resolved == .bf16 ? .bf16 : nil
        return c
    }
}
