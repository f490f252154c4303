import ArgumentParser
import CLIP
import Continual
import Formats
import Foundation
import Images
import Store
import Training

/// How a failed command is reported: its message on standard error, and, with `--json`, one
/// object on standard output too, `{"error": {"message": ..., "kind": ...}}`, so that a script
/// can parse every outcome. Exit status 64 for a usage error, 1 for any other (README, "Exit
/// status and errors").
enum ErrorKind: String, Codable, CaseIterable {
    /// The command line is wrong whatever the files and the store hold: fix it.
    case usage
    /// Nothing was written, and running the command again may succeed: another writer changed
    /// what it planned on, held the store, or the connection was lost before the write committed.
    case retry
    /// The connection was lost while a write committed, and could not be regained to ask the
    /// server whether it was written.
    case outcomeUnknown = "outcome-unknown"
    /// The store: missing, damaged, of another model, or without what was asked for.
    case store
    /// A file the command reads: a CSV, features, a split file, an image, a checkpoint.
    case input
    /// Training stopped (it diverged, or a prompt does not fit).
    case training
    /// Anything else.
    case runtime

    init(_ error: any Error) {
        switch error {
        case _ where LAMMStoreCommand.exitCode(for: error) == .validationFailure,
             is NameError, TrainingError.outOfRange, OptionError.unsupportedExtension:
            self = .usage
        case StoreError.planChangedMeanwhile, StoreError.stageChangedMeanwhile, StoreError.locked, StoreError.commitNotWritten,
             StoreError.connectionLost:
            self = .retry
        case StoreError.commitOutcomeUnknown:
            self = .outcomeUnknown
        case is StoreError:
            self = .store
        case is StageImportError, is CSVError, is NPYError, is DasslSplitError, is SafetensorsError, is CLIPCheckpointError,
             is CLIPConfigurationError, is ImageError, is TokenizerError, is OutputFileError, is OptionError, is ContinualError:
            self = .input
        case is TrainingError, is PromptError, is MaPLePromptError:
            self = .training
        default:
            self = .runtime
        }
    }

    var exitCode: Int32 { self == .usage ? ExitCode.validationFailure.rawValue : ExitCode.failure.rawValue }
}

struct ErrorReport: Encodable {
    struct Body: Encodable {
        var message: String
        var kind: ErrorKind
    }
    var error: Body
}

extension LAMMStoreCommand {
    /// Reports `error` and exits. `--help` and `--version` (clean exits) and ArgumentParser's own
    /// usage errors are printed by ArgumentParser, as without `--json`.
    static func fail(_ error: any Error, json: Bool) -> Never {
        guard exitCode(for: error) != .success else { exit(withError: error) }
        let kind = ErrorKind(error)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let report = ErrorReport(error: .init(message: message(for: error), kind: kind))
            FileHandle.standardOutput.write((try? encoder.encode(report)).map { $0 + Data("\n".utf8) } ?? Data())
        }
        // ArgumentParser prints a usage error with the command's usage; a usage error found
        // while the command runs (an option out of range) is printed alone, with the same status.
        if kind == .usage, exitCode(for: error) != .validationFailure {
            FileHandle.standardError.write(Data("Error: \(message(for: error))\n".utf8))
            Foundation.exit(kind.exitCode)
        }
        exit(withError: error)
    }
}
