import Foundation

/// An option's value that parsed but cannot be used, found while the command runs (a file's
/// extension, a folder that is not there). Reported with exit status 1 and without the usage
/// text, which is for arguments that do not parse.
enum OptionError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case unsupportedExtension(option: String, path: String, extensions: [String])
    case notAFolder(option: String, path: String, purpose: String)

    var description: String {
        switch self {
        case let .unsupportedExtension(option, path, extensions):
            return "\(option) \(path): the extension must be \(extensions.map { ".\($0)" }.joined(separator: " or ")) (it chooses the format); "
                + "give a file name that ends in one of them."
        case let .notAFolder(option, path, purpose):
            return "\(option) \(path) is not a folder; give \(purpose)."
        }
    }

    var errorDescription: String? { description }
}
