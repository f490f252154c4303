import ArgumentParser
import Store
import Testing
import Training
@testable import lamm_store

/// Parses a command line and requires it to give the subcommand `C`.
func parsed<C: ParsableCommand>(_ arguments: [String], as type: C.Type) throws -> C {
    let command = try LAMMStoreCommand.parseAsRoot(arguments)
    return try #require(command as? C, "\(arguments) parsed as \(Swift.type(of: command))")
}

/// Each subcommand's options as parsed: the defaults when only the required ones are given,
/// then every option given a value other than its default.
@Suite struct SubcommandParsingTests {
    /// Every training option with a value other than its default, and the configuration they give.
    static let trainingArguments = [
        "--shots", "4", "--epochs", "7", "--batch-size", "8", "--lr", "0.01", "--momentum", "0.8", "--weight-decay", "0.001",
        "--warmup-epochs", "2", "--warmup-lr", "0.0001", "--lambda-wc", "0", "--lambda-cos", "0.5", "--lambda-kd", "0.2",
        "--temperature", "3", "--seed", "9", "--label-tokens", "first", "--label-init", "random", "--n-ctx", "8",
    ]
    static var trainingConfiguration: LAMMConfiguration {
        var c = LAMMConfiguration()
        (c.shots, c.epochs, c.batchSize, c.learningRate, c.momentum, c.weightDecay) = (4, 7, 8, 0.01, 0.8, 0.001)
        (c.warmupEpochs, c.warmupLearningRate, c.lambdaWC, c.lambdaCOS, c.lambdaKD, c.temperature) = (2, 0.0001, 0, 0.5, 0.2, 3)
        (c.seed, c.labelTokens, c.labelInitialisation, c.contextLength) = (9, .first, .random, 8)
        return c
    }
    static let storeArguments = ["--db", "x.sqlite", "--json"]

    @Test func initOptions() throws {
        let defaults = try parsed(["init", "--model", "dir"], as: InitCommand.self)
        #expect(defaults.checkpoint.model == "dir" && defaults.name == nil)
        #expect(defaults.store.db == nil && !defaults.output.json)
        let given = try parsed(["init", "--model", "dir", "--name", "tiny"] + Self.storeArguments, as: InitCommand.self)
        #expect(given.checkpoint.model == "dir" && given.name == "tiny")
        #expect(given.store.db == "x.sqlite" && given.output.json)
    }

    @Test func addClassesOptions() throws {
        let defaults = try parsed(["add-classes", "s.csv"], as: AddClassesCommand.self)
        #expect(defaults.csv == "s.csv" && defaults.features == nil && defaults.dataset.name == nil && defaults.stage == nil)
        #expect(defaults.training.method == .lamm && defaults.labelSpace.protocol == .task && defaults.model.model == nil && !defaults.progress.quiet)
        #expect(defaults.images.views == 0 && !defaults.images.skipBadImages)
        #expect(defaults.training.configuration == LAMMConfiguration())
        #expect(defaults.store.db == nil && !defaults.output.json)
        let given = try parsed(["add-classes", "s.csv", "--features", "f.npy", "--dataset", "pets", "--stage", "Set2", "--method", "coop+lamm",
                                "--protocol", "class", "--model", "m", "--views", "3", "--skip-bad-images", "--quiet"]
                               + Self.trainingArguments + Self.storeArguments, as: AddClassesCommand.self)
        #expect(given.csv == "s.csv" && given.features == "f.npy" && given.dataset.name == "pets" && given.stage == "Set2")
        #expect(given.training.method == .coopLAMM && given.labelSpace.protocol == .class && given.model.model == "m" && given.progress.quiet)
        #expect(given.images.views == 3 && given.images.skipBadImages)
        #expect(given.training.configuration == Self.trainingConfiguration)
        #expect(given.store.db == "x.sqlite" && given.output.json)
    }

    @Test func importSplitOptions() throws {
        let defaults = try parsed(["import-split", "split.json", "--images", "imgs"], as: ImportSplitCommand.self)
        #expect(defaults.file == "split.json" && defaults.images == "imgs" && defaults.dataset.name == nil)
        #expect(defaults.training.method == .lamm && defaults.labelSpace.protocol == .task && defaults.model.model == nil && !defaults.progress.quiet)
        #expect(defaults.imageOptions.views == 0 && !defaults.imageOptions.skipBadImages)
        #expect(defaults.training.configuration == LAMMConfiguration())
        #expect(defaults.store.db == nil && !defaults.output.json)
        let given = try parsed(["import-split", "split.json", "--images", "imgs", "--dataset", "pets", "--method", "coop", "--protocol", "class",
                                "--model", "m", "--quiet", "--views", "2", "--skip-bad-images"]
                               + Self.trainingArguments + Self.storeArguments, as: ImportSplitCommand.self)
        #expect(given.dataset.name == "pets" && given.training.method == .coop && given.labelSpace.protocol == .class && given.model.model == "m" && given.progress.quiet)
        #expect(given.imageOptions.views == 2 && given.imageOptions.skipBadImages)
        #expect(given.training.configuration == Self.trainingConfiguration)
        #expect(given.store.db == "x.sqlite" && given.output.json)
    }

    @Test func snapshotsOptions() throws {
        let defaults = try parsed(["snapshots"], as: SnapshotsCommand.self)
        #expect(defaults.dataset.name == nil && defaults.store.db == nil && !defaults.output.json)
        let given = try parsed(["snapshots", "--dataset", "pets"] + Self.storeArguments, as: SnapshotsCommand.self)
        #expect(given.dataset.name == "pets" && given.store.db == "x.sqlite" && given.output.json)
    }

    @Test func showOptions() throws {
        let defaults = try parsed(["show", "--snapshot", "3"], as: ShowCommand.self)
        #expect(defaults.snapshotReference == .id(3) && defaults.store.db == nil && !defaults.output.json)
        let given = try parsed(["show", "--snapshot", "4"] + Self.storeArguments, as: ShowCommand.self)
        #expect(given.snapshotReference == .id(4) && given.store.db == "x.sqlite" && given.output.json)
    }

    @Test func diffOptions() throws {
        let defaults = try parsed(["diff", "1", "2"], as: DiffCommand.self)
        #expect(defaults.first == .id(1) && defaults.second == .id(2) && defaults.store.db == nil && !defaults.output.json)
        let given = try parsed(["diff", "5", "3"] + Self.storeArguments, as: DiffCommand.self)
        #expect(given.first == .id(5) && given.second == .id(3) && given.store.db == "x.sqlite" && given.output.json)
    }

    @Test func exportOptions() throws {
        let defaults = try parsed(["export", "--snapshot", "3", "--out", "x.npy"], as: ExportCommand.self)
        #expect(defaults.snapshotReference == .id(3) && defaults.out == "x.npy" && defaults.store.db == nil && !defaults.output.json)
        let given = try parsed(["export", "--out", "y.safetensors", "--snapshot", "7"] + Self.storeArguments, as: ExportCommand.self)
        #expect(given.snapshotReference == .id(7) && given.out == "y.safetensors" && given.store.db == "x.sqlite" && given.output.json)
    }

    @Test func verifyOptions() throws {
        let defaults = try parsed(["verify"], as: VerifyCommand.self)
        #expect(defaults.store.db == nil && !defaults.output.json)
        let given = try parsed(["verify"] + Self.storeArguments, as: VerifyCommand.self)
        #expect(given.store.db == "x.sqlite" && given.output.json)
    }

    @Test func evalOptions() throws {
        let defaults = try parsed(["eval", "--snapshot", "3"], as: EvalCommand.self)
        #expect(defaults.snapshotReference == .id(3) && defaults.dataset.name == nil)
        #expect(defaults.options.split == .test && defaults.options.labelSpace.protocol == .task && defaults.options.model.model == nil)
        #expect(defaults.store.db == nil && !defaults.output.json)
        let given = try parsed(["eval", "--snapshot", "4", "--dataset", "pets", "--split", "val", "--protocol", "class", "--model", "m"]
                               + Self.storeArguments, as: EvalCommand.self)
        #expect(given.snapshotReference == .id(4) && given.dataset.name == "pets")
        #expect(given.options.split == .val && given.options.labelSpace.protocol == .class && given.options.model.model == "m")
        #expect(given.store.db == "x.sqlite" && given.output.json)
    }

    @Test func compareOptions() throws {
        let defaults = try parsed(["compare"], as: CompareCommand.self)
        #expect(defaults.dataset.name == nil && defaults.html == nil)
        #expect(defaults.options.split == .test && defaults.options.labelSpace.protocol == .task && defaults.options.model.model == nil)
        #expect(defaults.store.db == nil && !defaults.output.json)
        let given = try parsed(["compare", "--dataset", "pets", "--html", "c.html", "--split", "train", "--protocol", "class", "--model", "m"]
                               + Self.storeArguments, as: CompareCommand.self)
        #expect(given.dataset.name == "pets" && given.html == "c.html")
        #expect(given.options.split == .train && given.options.labelSpace.protocol == .class && given.options.model.model == "m")
        #expect(given.store.db == "x.sqlite" && given.output.json)
    }

    @Test func demoOptions() throws {
        let defaults = try parsed(["demo"], as: DemoCommand.self)
        #expect(defaults.dir == "lamm-demo" && defaults.methods == [.lamm, .coop, .coopLAMM, .maple, .mapleLAMM])
        #expect(defaults.seed == 1 && defaults.epochs == 50 && !defaults.progress.quiet && !defaults.output.json)
        let given = try parsed(["demo", "--dir", "out", "--methods", "coop+lamm", "lamm", "--seed", "3", "--epochs", "2", "--quiet", "--json"],
                               as: DemoCommand.self)
        #expect(given.dir == "out" && given.methods == [.coopLAMM, .lamm])
        #expect(given.seed == 3 && given.epochs == 2 && given.progress.quiet && given.output.json)
    }

    @Test func encodeTextOptions() throws {
        let defaults = try parsed(["encode-text", "--model", "m", "a dog"], as: EncodeTextCommand.self)
        #expect(defaults.checkpoint.model == "m" && defaults.texts == ["a dog"] && !defaults.truncate && !defaults.output.json)
        let given = try parsed(["encode-text", "--model", "n", "--truncate", "--json", "a dog", "a cat"], as: EncodeTextCommand.self)
        #expect(given.checkpoint.model == "n" && given.texts == ["a dog", "a cat"] && given.truncate && given.output.json)
    }

    @Test func encodeImagesOptions() throws {
        let defaults = try parsed(["encode-images", "--model", "m", "a.jpg"], as: EncodeImagesCommand.self)
        #expect(defaults.checkpoint.model == "m" && defaults.files == ["a.jpg"] && !defaults.output.json)
        let given = try parsed(["encode-images", "--model", "n", "--json", "a.jpg", "b.png"], as: EncodeImagesCommand.self)
        #expect(given.checkpoint.model == "n" && given.files == ["a.jpg", "b.png"] && given.output.json)
    }
}
