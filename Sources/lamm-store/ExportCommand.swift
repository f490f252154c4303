import ArgumentParser
import Continual
import Formats
import Foundation
import Reports
import Store

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a snapshot's classifier to a .safetensors file, or its label rows to a .npy file.",
        discussion: """
            .safetensors holds what using the snapshot outside lamm-store needs, F32 unless said: per \
            class `label_embedding.<class>` [tokens, width], `prompt_ids.<class>` (I32, the prompt from \
            SOT to EOT, 0 where a vector goes) and `label_positions.<class>` (I32, where its label vectors \
            go); `context` [n, width] for CoOp and MaPLe (at positions 1 ... n); MaPLe's other tensors as \
            `prompt.<name>`; `text_features` [classes, D] (L2-normalised, in class order) and \
            `logit_scale` [1] (the multiplier tau of the cosines). The metadata names the snapshot, \
            dataset, method, stage, the class order, the template, the context positions and the prompt \
            tensors. Tools/use_export.py rebuilds the text features with transformers and classifies. \
            .npy: every class's token rows stacked in label order, [total tokens, width]; the command \
            prints which rows belong to which class (--json: `classes[].first_row` and `tokens`).
            """
    )

    @Option(name: .customLong("snapshot"), parsing: .unconditional, help: "The snapshot: its id (see `lamm-store snapshots`) or a name it has (`lamm-store tag`).")
    var snapshotReference: SnapshotReference

    @Option(name: .long, help: ArgumentHelp("Output file; its extension (.safetensors or .npy) chooses the format.", valueName: "file"))
    var out: String

    @OptionGroup var model: ModelOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        guard let format = ExportFormat(path: out) else {
            throw OptionError.unsupportedExtension(option: "--out", path: out, extensions: ["safetensors", "npy"])
        }
        let file = try OutputFile(option: "--out", path: out, protecting: store.protectedFiles)
        let (exported, snapshot) = try store.withStore(.read) { labelStore in
            let snapshot = try labelStore.resolveSnapshot(snapshotReference)
            // The label rows alone need no model; the classifier needs the store's checkpoint.
            guard format == .safetensors else { return (try labelStore.exportLabelRows(snapshot: snapshot, to: file), snapshot) }
            let session = try ContinualSession(store: labelStore, modelDirectory: model.directory)
            return (try session.classifier.export(snapshot: snapshot, to: file.protecting(checkpointFiles(session.modelDirectory)), format: format), snapshot)
        }
        let prompts = exported.promptTensors ?? []
        if output.json {
            try printJSON(exported)
        } else {
            let tensors = format != .safetensors ? "" : ", their prompts and text features" + (prompts.isEmpty ? "" : ", \(prompts.count) prompt tensors")
            print("wrote \(exported.classes.count) classes (\(exported.rows) token rows x \(exported.width))\(tensors) of snapshot \(snapshot) to \(out)")
        }
        if !prompts.isEmpty, format != .safetensors {
            FileHandle.standardError.write(Data("note: the \(prompts.count) prompt tensors of snapshot \(snapshot) are not in \(out) (.npy holds label rows only); export to .safetensors to include them\n".utf8))
        }
    }
}
