import Foundation

/// A user-given name as shown in a message: control, format (bidirectional overrides) and
/// separator characters escaped as \u{...}, cut to `limit` characters with the full length said.
public func displayName(_ name: String, limit: Int = 80) -> String {
    var shown = ""
    var count = 0
    for scalar in name.unicodeScalars {
        if count == limit {
            return shown + "... (\(name.unicodeScalars.count) characters)"
        }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned:
            shown += "\\u{\(String(scalar.value, radix: 16))}"
        default:
            shown.unicodeScalars.append(scalar)
        }
        count += 1
    }
    return shown
}
