import Foundation

/// One value bound to or read from a statement, the same on both backends: SQLite's storage
/// classes, which PostgreSQL's column types map onto (bigint, double precision, text, bytea).
public enum StoreValue: Sendable, Equatable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)

    public var description: String {
        switch self {
        case .null: return "NULL"
        case let .integer(value): return String(value)
        case let .real(value): return String(value)
        case let .text(value): return "'" + value.replacingOccurrences(of: "'", with: "''") + "'"
        case let .blob(data): return "x'" + FloatBlob.hex(data) + "'"
        }
    }
}

/// A Swift type stored in one column.
public protocol StoreValueConvertible: Sendable {
    var storeValue: StoreValue { get }
    /// Nil when the stored value is not one of this type.
    init?(storeValue: StoreValue)
}

extension Int64: StoreValueConvertible {
    public var storeValue: StoreValue { .integer(self) }
    public init?(storeValue: StoreValue) {
        switch storeValue {
        case let .integer(value): self = value
        case let .real(value) where value.rounded() == value && abs(value) < 0x1p63: self = Int64(value)
        default: return nil
        }
    }
}

extension Int: StoreValueConvertible {
    public var storeValue: StoreValue { .integer(Int64(self)) }
    public init?(storeValue: StoreValue) {
        guard let value = Int64(storeValue: storeValue) else { return nil }
        self = Int(value)
    }
}

extension Int32: StoreValueConvertible {
    public var storeValue: StoreValue { .integer(Int64(self)) }
    public init?(storeValue: StoreValue) {
        guard let value = Int64(storeValue: storeValue), let exact = Int32(exactly: value) else { return nil }
        self = exact
    }
}

extension UInt64: StoreValueConvertible {
    /// Stored as the signed integer of the same bits, as GRDB does.
    public var storeValue: StoreValue { .integer(Int64(bitPattern: self)) }
    public init?(storeValue: StoreValue) {
        guard let value = Int64(storeValue: storeValue) else { return nil }
        self = UInt64(bitPattern: value)
    }
}

extension Bool: StoreValueConvertible {
    public var storeValue: StoreValue { .integer(self ? 1 : 0) }
    public init?(storeValue: StoreValue) {
        guard let value = Int64(storeValue: storeValue) else { return nil }
        self = value != 0
    }
}

extension Double: StoreValueConvertible {
    public var storeValue: StoreValue { .real(self) }
    public init?(storeValue: StoreValue) {
        switch storeValue {
        case let .real(value): self = value
        case let .integer(value): self = Double(value)
        default: return nil
        }
    }
}

extension String: StoreValueConvertible {
    public var storeValue: StoreValue { .text(self) }
    public init?(storeValue: StoreValue) {
        guard case let .text(value) = storeValue else { return nil }
        self = value
    }
}

extension Data: StoreValueConvertible {
    public var storeValue: StoreValue { .blob(self) }
    public init?(storeValue: StoreValue) {
        switch storeValue {
        case let .blob(value): self = value
        // SQLite hands back an empty blob as an empty string in some paths.
        case let .text(value) where value.isEmpty: self = Data()
        default: return nil
        }
    }
}

extension Date: StoreValueConvertible {
    /// UTC text `yyyy-MM-dd HH:mm:ss.SSS`, the form earlier stores were written in.
    public var storeValue: StoreValue { .text(StoreDateFormat.string(from: self)) }
    public init?(storeValue: StoreValue) {
        guard case let .text(value) = storeValue, let date = StoreDateFormat.date(from: value) else { return nil }
        self = date
    }
}

extension Optional: StoreValueConvertible where Wrapped: StoreValueConvertible {
    public var storeValue: StoreValue { self?.storeValue ?? .null }
    public init?(storeValue: StoreValue) {
        if storeValue == .null {
            self = .none
        } else if let value = Wrapped(storeValue: storeValue) {
            self = .some(value)
        } else {
            return nil
        }
    }
}

extension StoreValueConvertible where Self: RawRepresentable, RawValue == String {
    public var storeValue: StoreValue { .text(rawValue) }
    public init?(storeValue: StoreValue) {
        guard let raw = String(storeValue: storeValue) else { return nil }
        self.init(rawValue: raw)
    }
}

/// Dates as stored: UTC, millisecond text, sortable.
enum StoreDateFormat {
    static func string(from date: Date) -> String {
        // Whole milliseconds, rounded down, as GRDB wrote them.
        let seconds = date.timeIntervalSince1970
        let milliseconds = Int64((seconds * 1000).rounded(.down))
        var time = time_t(milliseconds.quotientAndRemainder(dividingBy: 1000).quotient)
        var millis = milliseconds % 1000
        if millis < 0 { millis += 1000; time -= 1 }
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d.%03d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(millis))
    }

    /// `yyyy-MM-dd HH:mm[:ss[.SSS]]`, also with a `T` between date and time.
    static func date(from text: String) -> Date? {
        let scalars = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= scalars.count else { return nil }
            var value = 0
            for byte in scalars[range] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard scalars.count >= 16, let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16) else { return nil }
        var second = 0, millis = 0
        if scalars.count >= 19 {
            guard let s = number(17..<19) else { return nil }
            second = s
        }
        if scalars.count > 20 {
            let digits = scalars[20...].prefix(3)
            guard let m = number(20..<(20 + digits.count)) else { return nil }
            millis = m * [1, 100, 10, 1][digits.count]
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let time = timegm(&parts)
        return Date(timeIntervalSince1970: Double(time) + Double(millis) / 1000)
    }
}

/// One result row: column names and values, in the statement's order.
public struct StoreRow: Sendable, CustomStringConvertible {
    public let columns: [String]
    public let values: [StoreValue]

    public init(columns: [String], values: [StoreValue]) {
        self.columns = columns
        self.values = values
    }

    public func value(named name: String) -> StoreValue? {
        columns.firstIndex(of: name).map { values[$0] }
    }

    /// The column named `name` as `T`. A missing column or a value of another type is a
    /// programming error (the statements are the store's own), as in GRDB.
    public subscript<T: StoreValueConvertible>(_ name: String) -> T {
        guard let index = columns.firstIndex(of: name) else { fatalError("no column \(name) among \(columns)") }
        return self[index]
    }

    public subscript<T: StoreValueConvertible>(_ index: Int) -> T {
        guard let value = T(storeValue: values[index]) else {
            fatalError("column \(columns[index]) holds \(values[index]), not a \(T.self)")
        }
        return value
    }

    /// `[name:value ...]`, for dumps that compare whole stores.
    public var description: String {
        "[" + zip(columns, values).map { "\($0):\($1)" }.joined(separator: " ") + "]"
    }
}
