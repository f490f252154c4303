/// Encodes every stored property under its own name and writes a missing value as null rather
/// than leaving its key out (what synthesised `Encodable` does), so that JSON readers always
/// find every field of a result.
public protocol EncodesNilAsNull: Encodable {}

extension EncodesNilAsNull {
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: PropertyKey.self)
        for child in Mirror(reflecting: self).children {
            guard let label = child.label else { continue }
            let key = PropertyKey(stringValue: label)
            if Mirror(reflecting: child.value).displayStyle == .optional, Mirror(reflecting: child.value).children.isEmpty {
                try container.encodeNil(forKey: key)
            } else if let value = child.value as? any Encodable {
                try container.encode(value, forKey: key)
            } else {
                throw EncodingError.invalidValue(child.value, .init(codingPath: encoder.codingPath + [key],
                                                                    debugDescription: "\(label) is not Encodable"))
            }
        }
    }
}

struct PropertyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
