import Foundation

/// The rules every name the store keeps obeys: class, dataset and stage names. A name is kept in
/// Unicode's composed form (NFC), so that "café" typed as one code point or as "e" and a combining
/// accent is one name in every file, option and query; SQLite and PostgreSQL compare bytes.
public enum Names {
    /// Longer than any real name; a prompt holds fewer tokens anyway.
    public static let maximumLength = 200
    /// Separates a dataset from a stage in `--on DATASET:STAGE`.
    public static let stageSeparator: Character = ":"

    public enum Kind: String, Sendable {
        case `class`, dataset, stage
        /// A name on a snapshot (`lamm-store tag`): also not a number, which `--snapshot` reads as an id.
        case tag
    }

    /// `name` in NFC.
    public static func normalised(_ name: String) -> String {
        name.precomposedStringWithCanonicalMapping
    }

    /// The first control character of `name` (a newline, a tab, an escape), if any.
    public static func controlCharacter(in name: String) -> Unicode.Scalar? {
        name.unicodeScalars.first { $0.properties.generalCategory == .control }
    }

    /// What is wrong with `name` as a name of `kind`, as a message says it, or nil. Every name is
    /// non-empty, at most `maximumLength` characters and free of control characters; dataset and
    /// stage names, typed on command lines, also have no leading or trailing white space and no
    /// `:`.
    public static func problem(with name: String, as kind: Kind) -> String? {
        if name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return "is empty" }
        if name.unicodeScalars.count > maximumLength { return "is longer than \(maximumLength) characters" }
        if let control = controlCharacter(in: name) {
            return "holds the control character U+\(String(format: "%04X", control.value))"
        }
        guard kind != .class else { return nil }
        if name.first!.isWhitespace || name.last!.isWhitespace { return "starts or ends with white space" }
        if name.contains(stageSeparator) { return "holds ':', which separates a dataset from a stage in --on DATASET:STAGE" }
        if kind == .tag, name.allSatisfy(\.isASCIIDigitLike) { return "is a number, which --snapshot reads as a snapshot id" }
        return nil
    }

    /// `name` in NFC, or a `NameError` naming `option` when it breaks a rule.
    public static func checked(_ name: String, as kind: Kind, option: String) throws -> String {
        if let problem = problem(with: name, as: kind) { throw NameError(option: option, name: name, kind: kind, problem: problem) }
        return normalised(name)
    }
}

/// A dataset or stage name that breaks `Names`' rules.
public struct NameError: Error, Equatable, LocalizedError, CustomStringConvertible {
    public var option: String
    public var name: String
    public var kind: Names.Kind
    public var problem: String

    public var description: String {
        "\(option) '\(displayName(name))': the \(kind.rawValue) name \(problem); give a name such as \(kind == .stage ? "Set2" : kind == .tag ? "best-16shot" : "pets")."
    }

    public var errorDescription: String? { description }
}

extension Character {
    /// 0-9 only (not other scripts' digits, which a snapshot id never has).
    var isASCIIDigitLike: Bool { isASCII && isNumber }
}
