import Formats
import Foundation

// Names on snapshots (Migrations/0011_snapshot_tag.sql): `tag` points a name at a snapshot (or
// moves it), `untag` removes it, and `--snapshot NAME` reads it wherever an id is taken.

/// A name on a snapshot, as stored.
public struct SnapshotTagRecord: StoreRecord, Equatable {
    public static let databaseTableName = "snapshot_tag"
    public var name: String
    public var snapshotId: Int64
    public var taggedAt: Date
}

/// What `--snapshot` names: an id, or a tag.
public enum SnapshotReference: Sendable, Equatable, CustomStringConvertible {
    case id(Int64)
    case tag(String)

    /// A number is an id; anything else is a tag's name (in NFC, as tags are stored).
    public init(_ text: String) {
        if let id = Int64(text) { self = .id(id) } else { self = .tag(Names.normalised(text)) }
    }

    public var description: String {
        switch self {
        case .id(let id): return "\(id)"
        case .tag(let name): return name
        }
    }
}

/// What `tag` did.
public struct TagChange: Codable, Sendable, Equatable {
    public var name: String
    public var snapshot: Int64
    /// The snapshot the name pointed at before (nil for a new name).
    public var previous: Int64?
}

extension LabelStore {
    /// Points `name` at snapshot `id`, moving it from the snapshot it named before, if any.
    public func tag(_ name: String, snapshot id: Int64) throws -> TagChange {
        let name = try Names.checked(name, as: .tag, option: "NAME")
        return try write(datasets: []) { db in
            _ = try Self.requireSnapshot(db, id)
            let previous = try db.scalar(Int64.self, "SELECT snapshot_id FROM snapshot_tag WHERE name = ?", [name])
            try db.execute("DELETE FROM snapshot_tag WHERE name = ?", [name])
            try db.insert(SnapshotTagRecord(name: name, snapshotId: id, taggedAt: Date()))
            return TagChange(name: name, snapshot: id, previous: previous)
        }
    }

    /// Removes `name`; returns the snapshot it named.
    public func untag(_ name: String) throws -> Int64 {
        let name = Names.normalised(name)
        return try write(datasets: []) { db in
            guard let id = try db.scalar(Int64.self, "SELECT snapshot_id FROM snapshot_tag WHERE name = ?", [name]) else {
                throw StoreError.unknownTag(name: name, known: try db.scalars(String.self, "SELECT name FROM snapshot_tag ORDER BY name"))
            }
            try db.execute("DELETE FROM snapshot_tag WHERE name = ?", [name])
            return id
        }
    }

    /// Every name on the store's snapshots, by name.
    public func tags() throws -> [SnapshotTagRecord] {
        try read { db in try db.fetchAll(SnapshotTagRecord.self, "SELECT * FROM snapshot_tag ORDER BY name") }
    }

    /// The names on snapshot `id`.
    public func tags(of id: Int64) throws -> [String] {
        try read { db in try db.scalars(String.self, "SELECT name FROM snapshot_tag WHERE snapshot_id = ? ORDER BY name", [id]) }
    }

    /// The snapshot id `reference` names: an id that exists, or a tag's snapshot.
    public func resolveSnapshot(_ reference: SnapshotReference) throws -> Int64 {
        try read { db in
            switch reference {
            case .id(let id):
                return try Self.requireSnapshot(db, id).id!
            case .tag(let name):
                guard let id = try db.scalar(Int64.self, "SELECT snapshot_id FROM snapshot_tag WHERE name = ?", [name]) else {
                    throw StoreError.unknownTag(name: name, known: try db.scalars(String.self, "SELECT name FROM snapshot_tag ORDER BY name"))
                }
                return id
            }
        }
    }
}
