import Foundation

/// A row type of one table (Migrations/): Codable, with camelCase properties for snake_case
/// columns. Decoded from and encoded to rows by `RowDecoder` and `RowEncoder`, on both backends.
public protocol StoreRecord: Codable, Sendable {
    static var databaseTableName: String { get }
}

/// A record whose table has an `id` the database assigns.
public protocol IdentifiedStoreRecord: StoreRecord {
    var id: Int64? { get set }
}

/// `labelEmbeddingId` -> `label_embedding_id`, `contentSha256` -> `content_sha256`.
func snakeCase(_ key: String) -> String {
    var result = ""
    for character in key {
        if character.isUppercase {
            result += "_" + character.lowercased()
        } else {
            result.append(character)
        }
    }
    return result
}

// MARK: - Decoding

/// Decodes a record from a row: each property from the column of its snake_case name.
struct RowDecoder: Decoder {
    let row: StoreRow
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    static func decode<T: Decodable>(_ type: T.Type, from row: StoreRow) throws -> T {
        try T(from: RowDecoder(row: row))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(Keyed<Key>(row: row))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "a row is not a list"))
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        throw DecodingError.typeMismatch(Any.self, .init(codingPath: codingPath, debugDescription: "a row is not one value"))
    }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let row: StoreRow
        var codingPath: [any CodingKey] { [] }
        var allKeys: [Key] { row.columns.compactMap { Key(stringValue: $0) } }

        func value(_ key: Key) throws -> StoreValue {
            guard let value = row.value(named: snakeCase(key.stringValue)) else {
                throw DecodingError.keyNotFound(key, .init(codingPath: [key], debugDescription: "no column \(snakeCase(key.stringValue))"))
            }
            return value
        }

        func contains(_ key: Key) -> Bool { row.value(named: snakeCase(key.stringValue)) != nil }

        func decodeNil(forKey key: Key) throws -> Bool { try value(key) == .null }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            let stored = try value(key)
            if let convertible = T.self as? any StoreValueConvertible.Type {
                guard let decoded = convertible.init(storeValue: stored) else {
                    throw DecodingError.typeMismatch(T.self, .init(codingPath: [key], debugDescription: "column \(snakeCase(key.stringValue)) holds \(stored)"))
                }
                return decoded as! T
            }
            // A Codable value that is not a column type (a String-backed enum): one value.
            return try T(from: SingleValue(value: stored, key: key))
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            throw DecodingError.typeMismatch(type, .init(codingPath: [key], debugDescription: "columns hold no nested values"))
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            throw DecodingError.typeMismatch([Any].self, .init(codingPath: [key], debugDescription: "columns hold no lists"))
        }

        func superDecoder() throws -> any Decoder { RowDecoder(row: row) }
        func superDecoder(forKey key: Key) throws -> any Decoder { RowDecoder(row: row) }
    }

    /// One column's value, for types that decode from a single value.
    struct SingleValue: Decoder, SingleValueDecodingContainer {
        let value: StoreValue
        let key: any CodingKey
        var codingPath: [any CodingKey] { [key] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<K: CodingKey>(keyedBy type: K.Type) throws -> KeyedDecodingContainer<K> {
            throw DecodingError.typeMismatch(type, .init(codingPath: codingPath, debugDescription: "a column is one value"))
        }
        func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
            throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "a column is one value"))
        }
        func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

        func decodeNil() -> Bool { value == .null }

        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            if let convertible = T.self as? any StoreValueConvertible.Type, let decoded = convertible.init(storeValue: value) {
                return decoded as! T
            }
            throw DecodingError.typeMismatch(T.self, .init(codingPath: codingPath, debugDescription: "column holds \(value)"))
        }
    }
}

// MARK: - Encoding

/// Encodes a record to its columns, in property order.
final class RowEncoder: Encoder {
    var columns: [(name: String, value: StoreValue)] = []
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    static func encode(_ record: some Encodable) throws -> [(name: String, value: StoreValue)] {
        let encoder = RowEncoder()
        try record.encode(to: encoder)
        return encoder.columns
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(Keyed<Key>(encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer { fatalError("a record encodes to columns, not a list") }
    func singleValueContainer() -> any SingleValueEncodingContainer { fatalError("a record encodes to columns, not one value") }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let encoder: RowEncoder
        var codingPath: [any CodingKey] { [] }

        func set(_ key: Key, _ value: StoreValue) {
            encoder.columns.append((snakeCase(key.stringValue), value))
        }

        mutating func encodeNil(forKey key: Key) throws { set(key, .null) }

        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            if let convertible = value as? any StoreValueConvertible {
                set(key, convertible.storeValue)
                return
            }
            let single = SingleValue()
            try value.encode(to: single)
            guard let stored = single.value else {
                throw EncodingError.invalidValue(value, .init(codingPath: [key], debugDescription: "not one column value"))
            }
            set(key, stored)
        }

        // A nil optional is written as NULL (records insert every column).
        mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { set(key, .null) }
        }
        mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws {
            set(key, value.map(StoreValue.text) ?? .null)
        }
        mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws {
            set(key, value.map { .integer(Int64($0)) } ?? .null)
        }
        mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws {
            set(key, value.map(StoreValue.integer) ?? .null)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            fatalError("columns hold no nested values")
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { fatalError("columns hold no lists") }
        mutating func superEncoder() -> any Encoder { encoder }
        mutating func superEncoder(forKey key: Key) -> any Encoder { encoder }
    }

    /// Takes the one value a column type (or a String-backed enum) encodes.
    final class SingleValue: Encoder, SingleValueEncodingContainer {
        var value: StoreValue?
        var codingPath: [any CodingKey] = []
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<K: CodingKey>(keyedBy type: K.Type) -> KeyedEncodingContainer<K> { fatalError("a column is one value") }
        func unkeyedContainer() -> any UnkeyedEncodingContainer { fatalError("a column is one value") }
        func singleValueContainer() -> any SingleValueEncodingContainer { self }

        func encodeNil() throws { value = .null }
        func encode<T: Encodable>(_ value: T) throws {
            guard let convertible = value as? any StoreValueConvertible else {
                throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "not a column value"))
            }
            self.value = convertible.storeValue
        }
    }
}
