import Foundation

/// An option's value that parsed but cannot be used, found while the command runs (a file's
/// extension, a folder that is not there). Reported with exit status 1 and without the usage
/// text, which is for arguments that do not parse.
enum OptionError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case unsupportedExtension(option: String, path: String, extensions: [String])
    case missingFolder(option: String, path: String, folder: String)
    case notAFolder(option: String, path: String, purpose: String)
    case unwritable(option: String, path: String, reason: String)

    var description: String {
        switch self {
        case let .unsupportedExtension(option, path, extensions):
            return "\(option) \(path): the extension must be \(extensions.map { ".\($0)" }.joined(separator: " or ")) (it chooses the format); "
                + "give a file name that ends in one of them."
        case let .missingFolder(option, path, folder):
            return "\(option) \(path): the folder \(folder) does not exist or is not writable. Create it, or choose a file in another folder."
        case let .notAFolder(option, path, purpose):
            return "\(option) \(path) is not a folder; give \(purpose)."
        case let .unwritable(option, path, reason):
            return "\(option) \(path): cannot write the file (\(reason)). Check that its folder is writable and has space."
        }
    }

    var errorDescription: String? { description }
}
