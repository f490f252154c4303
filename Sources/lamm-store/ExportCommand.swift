import ArgumentParser
import Foundation
import Reports
import Store

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a snapshot's label embeddings to a .safetensors or .npy file.",
        discussion: """
            .safetensors: one F32 tensor per class, `label_embedding.<class>` [tokens, width], and for a \
            MaPLe snapshot one per prompt tensor, `prompt.<name>` with its shape, with the snapshot's id, \
            dataset, method and stage, the class order and the prompt tensors' order (`prompt_tensors`) in \
            the metadata. \
            .npy: every class's token rows stacked in label order, [total tokens, width]; the command \
            prints which rows belong to which class (--json: `classes[].first_row` and `tokens`).
            """
    )

    @Option(name: .long, parsing: .unconditional, help: "The snapshot id (see `lamm-store snapshots`).")
    var snapshot: Int64

    @Option(name: .long, help: ArgumentHelp("Output file; its extension (.safetensors or .npy) chooses the format.", valueName: "file"))
    var out: String

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        guard let format = ExportFormat(path: out) else {
            throw OptionError.unsupportedExtension(option: "--out", path: out, extensions: ["safetensors", "npy"])
        }
        let exported = try store.withStore(.read) { labelStore in try labelStore.export(snapshot: snapshot, to: out, format: format) }
        let prompts = exported.promptTensors ?? []
        if output.json {
            try printJSON(exported)
        } else {
            let tensors = prompts.isEmpty || format != .safetensors ? "" : " and \(prompts.count) prompt tensors"
            print("wrote \(exported.classes.count) classes (\(exported.rows) token rows x \(exported.width))\(tensors) of snapshot \(snapshot) to \(out)")
        }
        if !prompts.isEmpty, format != .safetensors {
            FileHandle.standardError.write(Data("note: the \(prompts.count) prompt tensors of snapshot \(snapshot) are not in \(out) (.npy holds label rows only); export to .safetensors to include them\n".utf8))
        }
    }
}
