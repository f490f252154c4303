import Formats
import Foundation
import GRDB
import Synchronization

/// Tells once that a writer is waiting for another process's write lock, and gives up after
/// `LabelStore.writeLockTimeout`.
final class WaitNotice: Sendable {
    let path: String
    let started = Mutex<Date?>(nil)

    init(path: String) { self.path = path }

    /// SQLite's busy handler: true to try again (after a short sleep), false to give up.
    func waiting(retries: Int) -> Bool {
        let (since, first) = started.withLock { started -> (Date, Bool) in
            if let started { return (started, false) }
            let now = Date()
            started = now
            return (now, true)
        }
        if first {
            FileHandle.standardError.write(Data("waiting for another process to finish writing \(path)...\n".utf8))
        }
        guard Date().timeIntervalSince(since) < LabelStore.writeLockTimeout else { return false }
        usleep(20_000)
        return true
    }
}

/// The read transaction `LabelStore.consistentRead` holds open on this thread, which the store's
/// reads inside it reuse.
final class PinnedRead: @unchecked Sendable {
    let store: ObjectIdentifier
    let db: any StoreDatabase

    init(store: ObjectIdentifier, db: any StoreDatabase) {
        self.store = store
        self.db = db
    }

    @TaskLocal static var current: PinnedRead?
}

/// The one type that owns a lamm-store database, in an SQLite file or on a PostgreSQL server
/// (`postgres://...`): it opens it, applies the embedded migrations of its backend, and offers
/// write methods named after what they do, each one transaction. Every operation is written
/// once, against `StoreDatabase`; the backends differ only in their executor and `SQLDialect`.
///
/// A store opened to read (`Access.read`) takes no write lock: it reads through a read-only
/// connection, never migrates unless the schema is behind, and never checkpoints. Writes it
/// makes on the side (cached text features, evaluation results) are skipped when the store
/// cannot be written or another process holds the write lock.
public final class LabelStore: Sendable {
    /// The database as the user named it, without a password (for messages).
    public let path: String
    public let executor: any StoreExecutor
    public let access: Access
    /// The GRDB connection of a store in an SQLite file; nil on PostgreSQL.
    public let sqliteWriter: (any DatabaseWriter)?
    public var dialect: SQLDialect { executor.dialect }

    /// `PRAGMA application_id` of a lamm-store database ("LAMM").
    public static let applicationID: Int32 = 0x4C41_4D4D

    /// What a command does with the store.
    public enum Access: Sendable {
        /// Read only; the file must be a store.
        case read
        /// Read and write; the file must be a store.
        case write
        /// Read and write; a file that does not exist yet becomes a new store.
        case create
    }

    /// The SQLite schema, from the migrations embedded in the binary (Migrations/*.sql).
    public static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in embeddedMigrations {
            migrator.registerMigration(migration.identifier) { db in
                try db.execute(sql: migration.sql)
            }
        }
        return migrator
    }

    /// Wraps an open SQLite database and brings its schema up to date. Refuses a store written
    /// by a newer lamm-store, before writing anything.
    public init(writer: any DatabaseWriter, path: String, access: Access = .write) throws {
        self.path = path
        self.sqliteWriter = writer
        self.executor = SQLiteExecutor(writer: writer, path: path)
        self.access = access
        let migrator = Self.migrator
        let unknown = try writer.read { db -> [String] in
            guard try migrator.hasBeenSuperseded(db) else { return [] }
            let known = Set(migrator.migrations)
            return try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier")
                .filter { !known.contains($0) }
        }
        guard unknown.isEmpty else { throw StoreError.newerSchema(path: path, unknown: unknown) }
        if access != .read {
            try Self.mapped(path) {
                if try !writer.read(migrator.hasCompletedMigrations) { try migrator.migrate(writer) }
                try writer.writeWithoutTransaction { db in
                    if try Int32.fetchOne(db, sql: "PRAGMA application_id") != Self.applicationID {
                        try db.execute(sql: "PRAGMA application_id = \(Self.applicationID)")
                    }
                }
            }
        }
    }

    /// Wraps a PostgreSQL store whose schema `PostgresSchema.prepare` has checked.
    init(postgres executor: PostgresExecutor, access: Access) {
        self.path = executor.location.redacted
        self.executor = executor
        self.sqliteWriter = nil
        self.access = access
    }

    /// A fresh store in memory, for tests.
    public static func inMemory() throws -> LabelStore {
        try LabelStore(writer: DatabaseQueue(configuration: configuration(access: .create, path: ":memory:")), path: ":memory:")
    }

    /// Opens the store at `path`: a `postgres://` URL names a database on a PostgreSQL server,
    /// anything else an SQLite file. Only `.create` makes a new store, and only in a file that
    /// does not exist or a database that holds no tables; anything else is refused untouched
    /// unless it is a lamm-store.
    public static func open(path: String, access: Access) throws -> LabelStore {
        guard !path.isEmpty else { throw StoreError.emptyPath }
        if PostgresLocation.isPostgresURL(path) {
            return try PostgresSchema.open(PostgresLocation(path), access: access)
        }
        // SQLite would read these as no file, or as a URI naming another file with its own
        // parameters: a store is named by its plain path, which is all SQLite is ever given.
        if path.hasPrefix("file:") || path == ":memory:" { throw StoreError.sqliteSpecialName(path: path) }
        let fileManager = FileManager.default
        // Told before anything opens the path: opening a FIFO waits for a writer forever.
        switch FileKind(path: path) {
        case .regular:
            break
        case .missing:
            guard access == .create else { throw StoreError.noStore(path: path) }
            return try create(path: path)
        case .folder:
            throw StoreError.isFolder(path: path)
        case let .unreachable(reason):
            throw StoreError.unopenable(path: path, reason: reason)
        case let kind:
            throw StoreError.notAFile(path: path, kind: kind)
        }
        try checkSQLiteHeader(path: path)
        let behind = try inspect(path: path)
        if access != .read { try requireSingleName(path) }
        do {
            if access == .read {
                if behind {
                    // An older store is brought up to date once, by a short write.
                    guard fileManager.isWritableFile(atPath: path) else { throw StoreError.schemaBehindReadOnly(path: path) }
                    try requireSingleName(path)
                    try LabelStore(writer: DatabaseQueue(path: path, configuration: configuration(access: .write, path: path)),
                                   path: path, access: .write).close()
                }
                return try LabelStore(writer: readOnlyConnection(path: path), path: path, access: .read)
            }
            guard fileManager.isWritableFile(atPath: path),
                  fileManager.isWritableFile(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path)
            else { throw StoreError.readOnly(path: path) }
            return try LabelStore(writer: DatabasePool(path: path, configuration: configuration(access: access, path: path)),
                                  path: path, access: access)
        } catch let error as StoreError {
            throw error
        } catch let error as DatabaseError {
            throw StoreError(error, path: path)
        } catch {
            throw StoreError.unopenable(path: path, reason: "\(error)")
        }
    }

    /// A new store. It is made whole under a temporary name in the same folder and then given
    /// its name in one step that never replaces a file, so that no process ever sees a store half
    /// made: when two processes create one store at once, one names it and the other opens it.
    /// If making it fails (a full disk, say), no file is left behind.
    static func create(path: String) throws -> LabelStore {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).new-\(UUID().uuidString)").path
        func removeTemporary() {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: temporary + suffix) }
        }
        do {
            try LabelStore(writer: DatabasePool(path: temporary, configuration: configuration(access: .create, path: path)),
                           path: path, access: .create).close()
        } catch {
            removeTemporary()
            if let error = error as? DatabaseError { throw StoreError(error, path: path) }
            throw error
        }
        defer { removeTemporary() }
        // Written through, the log is in the main file: the store is that one file. When another
        // process made the store meanwhile (or a file appeared), what is there is opened.
        if !renameWithoutReplacing(temporary, path), errno != EEXIST {
            throw StoreError.unopenable(path: path, reason: String(cString: strerror(errno)))
        }
        return try open(path: path, access: .create)
    }

    /// Renames `from` to `to` unless `to` exists, in one step (Linux's renameat2 with
    /// RENAME_NOREPLACE; where the file system has no such rename, a hard link then the removal
    /// of the old name, which fails alike when `to` exists). False with errno set otherwise.
    static func renameWithoutReplacing(_ from: String, _ to: String) -> Bool {
        typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
        if let symbol = dlsym(nil, "renameat2") {
            let renameat2 = unsafeBitCast(symbol, to: RenameAt2.self)
            if renameat2(AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */) == 0 { return true }
            guard errno == EINVAL || errno == ENOSYS else { return false }
        }
        guard link(from, to) == 0 else { return false }
        unlink(from)
        return true
    }

    /// Reads the file's marks without changing it: a lamm-store has our application id, or
    /// (written before stores were marked) the migrations table with our first migration.
    /// Returns whether its schema is behind this binary's.
    static func inspect(path: String) throws -> Bool {
        let queue: DatabaseQueue
        do {
            queue = try readOnlyConnection(path: path)
        } catch let error as DatabaseError {
            throw StoreError(error, path: path)
        }
        defer { try? queue.close() }
        do {
            return try queue.read { db in
                let applicationID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
                let hasMigrations = try db.tableExists("grdb_migrations")
                var ours = applicationID == LabelStore.applicationID
                if !ours, applicationID == 0, hasMigrations {
                    ours = try Bool.fetchOne(db, sql: "SELECT COUNT(*) > 0 FROM grdb_migrations WHERE identifier = ?",
                                             arguments: [embeddedMigrations[0].identifier]) ?? false
                }
                guard ours else { throw StoreError.notAStore(path: path) }
                return try !migrator.hasCompletedMigrations(db)
            }
        } catch let error as DatabaseError {
            throw StoreError(error, path: path)
        }
    }

    /// A connection that never writes, nor takes the write lock. A WAL store in a folder that
    /// cannot be written (where SQLite cannot make the shared-memory file) is read as immutable.
    static func readOnlyConnection(path: String) throws -> DatabaseQueue {
        do {
            return try DatabaseQueue(path: path, configuration: configuration(access: .read, path: path))
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CANTOPEN || error.resultCode == .SQLITE_READONLY {
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
            guard !FileManager.default.isWritableFile(atPath: folder) else { throw error }
            return try DatabaseQueue(path: immutableURI(path), configuration: configuration(access: .read, path: path))
        }
    }

    /// The URI that opens the file at `path` as immutable: `file:` and the absolute path with
    /// every byte but letters, digits, `/`, `-`, `.`, `_` and `~` percent-encoded, so that a `?`,
    /// `#` or `%` in a file name is part of the name, not the start of parameters.
    static func immutableURI(_ path: String) -> String {
        var absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        // `file://` would start an authority.
        while absolute.hasPrefix("//") { absolute.removeFirst() }
        let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-._~".utf8)
        let encoded = absolute.utf8.map { plain.contains($0) ? String(UnicodeScalar($0)) : String(format: "%%%02X", $0) }.joined()
        return "file:\(encoded)?immutable=1"
    }

    /// Closes the database. A writer first checkpoints the write-ahead log into the main file
    /// and truncates it, so that the file holds everything on its own, unless readers are
    /// still reading it (they are never made to wait). Any other error closing is thrown.
    public func close() throws {
        try Self.mapped(path) { try executor.close() }
    }

    /// Moves the write-ahead log into the main file and truncates it, unless readers hold it:
    /// they are never made to wait, and the next writer checkpoints it instead.
    static func checkpointUnlessRead(_ db: Database) throws {
        do {
            try db.execute(sql: "PRAGMA busy_timeout = 0")
            try db.checkpoint(.truncate)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED {
        }
    }

    /// How long a writer waits for another process's write lock before giving up.
    public static let writeLockTimeout: TimeInterval = 600

    static func configuration(access: Access, path: String) -> Configuration {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.readonly = access == .read
        if access == .read {
            configuration.busyMode = .timeout(10)
        } else {
            // A writer waits its turn (training is not lost to a lock), and says so once.
            let notice = WaitNotice(path: path)
            configuration.busyMode = .callback { retries in
                notice.waiting(retries: Int(retries))
            }
        }
        return configuration
    }

    /// Runs `body`, turning SQLite's errors into the store's (a full disk, a read-only file, a
    /// lock held too long).
    static func mapped<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DatabaseError
                    where [.SQLITE_FULL, .SQLITE_READONLY, .SQLITE_BUSY, .SQLITE_LOCKED].contains(error.resultCode)
                        || (error.resultCode == .SQLITE_IOERR && StoreError.deviceIsFull(holding: path)) {
            throw StoreError(error, path: path)
        }
    }

    /// A read transaction, with SQLite's errors turned into the store's. Inside
    /// `consistentRead`, it is that read's transaction.
    func read<T>(_ body: (any StoreDatabase) throws -> T) throws -> T {
        if let pinned = PinnedRead.current, pinned.store == ObjectIdentifier(self) { return try body(pinned.db) }
        return try Self.mapped(path) { try executor.read(body) }
    }

    /// Runs `body` with every read of this store in it made in one read transaction, so that
    /// what it reads is one state of the store, whatever other writers commit meanwhile (a
    /// snapshot on SQLite's WAL, REPEATABLE READ on PostgreSQL). `body` must not write.
    public func consistentRead<T>(_ body: () throws -> T) throws -> T {
        if let pinned = PinnedRead.current, pinned.store == ObjectIdentifier(self) { return try body() }
        return try read { db in
            try PinnedRead.$current.withValue(PinnedRead(store: ObjectIdentifier(self), db: db)) { try body() }
        }
    }

    /// A write transaction, with SQLite's errors turned into the store's. Writers of the same
    /// `datasets` run one after the other (on PostgreSQL, others run at the same time).
    func write<T>(datasets: [String], _ updates: (any StoreDatabase) throws -> T) throws -> T {
        guard access != .read else { throw StoreError.readOnly(path: path) }
        precondition(PinnedRead.current?.store != ObjectIdentifier(self), "a store is written inside its own consistentRead")
        return try Self.mapped(path) { try executor.write(locks: datasets.map { "dataset " + $0 }, updates) }
    }

    /// A write made on the side of a read (cached features, evaluation results): made when the
    /// file can be written and no other process holds the write lock, else skipped. Returns
    /// whether it was made.
    func writeIfFree(_ updates: (any StoreDatabase) throws -> Void) throws -> Bool {
        // Inside a consistent read, the cache is left to be written next time.
        if PinnedRead.current?.store == ObjectIdentifier(self) { return false }
        if access != .read { return try write(datasets: []) { try updates($0); return true } }
        if executor.dialect == .postgres {
            // The server lets readers and writers run at once; a role that may not write skips.
            do {
                try executor.write(locks: [], updates)
                return true
            } catch let error as StoreError where error.isReadOnlyRefusal {
                return false
            }
        }
        // A file with two names may be written through the other at the same time (see requireSingleName).
        guard FileManager.default.isWritableFile(atPath: path), !Self.hasOtherNames(path) else { return false }
        var configuration = Self.configuration(access: .write, path: path)
        configuration.busyMode = .immediateError
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? queue.close() }
            try queue.write { try updates(SQLiteDatabase(db: $0)) }
            // This connection closes before the reader's, which cannot checkpoint.
            try queue.writeWithoutTransaction(Self.checkpointUnlessRead)
            return true
        } catch let error as DatabaseError where [.SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_READONLY, .SQLITE_CANTOPEN].contains(error.resultCode) {
            return false
        } catch let error as DatabaseError {
            throw StoreError(error, path: path)
        }
    }

    /// Refuses to write a store file that has more than one name (hard links): SQLite keeps
    /// the write-ahead log and its index beside the name a database is opened by, so two
    /// processes writing through two names each keep their own log, and corrupt the file.
    static func requireSingleName(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0, info.st_nlink > 1 else { return }
        throw StoreError.hardLinked(path: path, names: Int(info.st_nlink), others: otherNames(of: path, info: info))
    }

    /// Whether the store file has more than one name (see `requireSingleName`).
    static func hasOtherNames(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_nlink > 1
    }

    /// The other names of the file `path` in its own folder (the same device and inode), as
    /// paths beside the one given; names in other folders are not searched for.
    static func otherNames(of path: String, info: stat) -> [String] {
        let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil
        let file = link ? URL(fileURLWithPath: path).resolvingSymlinksInPath().path : path
        let folder = (file as NSString).deletingLastPathComponent
        let own = (file as NSString).lastPathComponent
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder) else { return [] }
        return names.filter { name in
            var other = stat()
            return name != own && lstat((folder as NSString).appendingPathComponent(name), &other) == 0
                && other.st_dev == info.st_dev && other.st_ino == info.st_ino
        }.sorted().map { (folder as NSString).appendingPathComponent($0) }
    }

    /// Refuses a file that is not SQLite before SQLite touches it, an empty one included (it
    /// is no store, and SQLite would make one of it).
    static func checkSQLiteHeader(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw StoreError.unopenable(path: path, reason: "the file cannot be read; check its permissions")
        }
        defer { try? handle.close() }
        let header = (try? handle.read(upToCount: 16)) ?? Data()
        guard header == Data("SQLite format 3\0".utf8) else {
            throw header.isEmpty ? StoreError.notAStore(path: path) : StoreError.notSQLite(path: path)
        }
    }
}

// MARK: - Writes

extension LabelStore {
    /// Binds the store to a CLIP checkpoint. Binding again to the same weights is a no-op
    /// (returns false); any other checkpoint is an error.
    @discardableResult
    public func bindModel(_ model: ModelRecord) throws -> Bool {
        try write(datasets: [" model"]) { db in
            if let bound = try Self.boundModel(db) {
                guard bound.weightsSha256 == model.weightsSha256, bound.configJson == model.configJson else {
                    throw StoreError.modelMismatch(path: path, bound: bound.directory, boundSha256: bound.weightsSha256,
                                                   given: model.directory, givenSha256: model.weightsSha256)
                }
                return false
            }
            var record = model
            record.id = 1
            try db.insert(record)
            return true
        }
    }

    static func boundModel(_ db: any StoreDatabase) throws -> ModelRecord? {
        try db.fetchOne(ModelRecord.self, "SELECT * FROM model WHERE id = 1")
    }

    static func dataset(_ db: any StoreDatabase, named name: String) throws -> DatasetRecord? {
        try db.fetchOne(DatasetRecord.self, "SELECT * FROM dataset WHERE name = ?", [name])
    }

    static func datasetNames(_ db: any StoreDatabase) throws -> [String] {
        try db.scalars(String.self, "SELECT name FROM dataset ORDER BY id")
    }

    /// A stage's classes, in label order.
    static func labelSpace(_ db: any StoreDatabase, stage stageId: Int64) throws -> [ClassRecord] {
        try db.fetchAll(ClassRecord.self, "SELECT * FROM class WHERE stage_id = ? ORDER BY label_index", [stageId])
    }

    /// Registers a new stage of `dataset` (created if new) with its classes and samples, in
    /// one transaction. `stage` nil names it Set<n+1>. A class may be introduced only once
    /// per dataset.
    public func registerStage(dataset datasetName: String, stage stageName: String?, data: StageData) throws -> RegisteredStage {
        try write(datasets: [datasetName]) { db in try registerStage(db, dataset: datasetName, stage: stageName, data: data) }
    }

    func registerStage(_ db: any StoreDatabase, dataset datasetName: String, stage stageName: String?, data: StageData) throws -> RegisteredStage {
        guard try Self.boundModel(db) != nil else { throw StoreError.noModel(path: path) }
        var dataset: DatasetRecord
        if let existing = try Self.dataset(db, named: datasetName) {
            dataset = existing
        } else {
            dataset = DatasetRecord(name: datasetName, createdAt: Date())
            try db.insert(&dataset)
        }
        let datasetId = dataset.id!
        let stages = try db.fetchAll(StageRecord.self, "SELECT * FROM stage WHERE dataset_id = ?", [datasetId])
        let name = stageName ?? "Set\(stages.count + 1)"
        guard !stages.contains(where: { $0.name == name }) else {
            throw StoreError.stageExists(dataset: datasetName, name: name)
        }
        try Self.requireNewClasses(db, datasetId: datasetId, datasetName: datasetName, data: data)
        var stage = StageRecord(datasetId: datasetId, name: name, position: (stages.map(\.position).max() ?? -1) + 1,
                                sourceFile: data.sourceFile, createdAt: Date())
        try db.insert(&stage)
        let classIdByIndex = Dictionary(uniqueKeysWithValues: try db.insertRows(
            into: "class", columns: ["dataset_id", "stage_id", "name", "label_index"],
            rows: data.classes.enumerated().map { index, className in
                [.integer(datasetId), .integer(stage.id!), .text(className), .integer(Int64(index))]
            }, returning: "id, label_index").map { ($0["label_index"] as Int, $0["id"] as Int64) })
        let classIds = data.classes.indices.map { classIdByIndex[$0]! }
        var counts: [Split: Int] = [:]
        for sample in data.samples { counts[sample.split, default: 0] += 1 }
        // Batched: a stage of thousands of samples is a few statements, not one per row.
        try db.insertRows(
            into: "sample", columns: ["class_id", "split", "feature", "image_path", "feature_file", "feature_row", "image_sha256", "view"],
            rows: data.samples.map { sample in
                [.integer(classIds[sample.classIndex]), sample.split.storeValue, .blob(FloatBlob.encode(sample.feature)),
                 sample.imagePath.storeValue, sample.featureFile.storeValue, sample.featureRow.storeValue,
                 sample.imageSha256.storeValue, .integer(Int64(sample.view))]
            })
        return RegisteredStage(dataset: datasetName, stage: name, position: stage.position, stageId: stage.id!,
                               classes: data.classes.count, train: counts[.train] ?? 0,
                               val: counts[.val] ?? 0, test: counts[.test] ?? 0)
    }

    /// Refuses a stage that would introduce a class the dataset already has.
    public func requireNewClasses(dataset datasetName: String, data: StageData) throws {
        try read { db in
            guard let dataset = try Self.dataset(db, named: datasetName) else { return }
            try Self.requireNewClasses(db, datasetId: dataset.id!, datasetName: datasetName, data: data)
        }
    }

    static func requireNewClasses(_ db: any StoreDatabase, datasetId: Int64, datasetName: String, data: StageData) throws {
        let stageNames = Dictionary(uniqueKeysWithValues: try db.fetchAll(StageRecord.self, "SELECT * FROM stage WHERE dataset_id = ?", [datasetId])
            .map { ($0.id!, $0.name) })
        // Only the given names are looked up: a small stage costs the same in a large dataset.
        let names = String(decoding: try JSONEncoder().encode(data.classes), as: UTF8.self)
        let existing = try db.fetchAll(ClassRecord.self, "SELECT * FROM class WHERE dataset_id = ? AND name IN \(db.dialect.jsonTextElements)",
                                       [datasetId, names])
        let existingByName = Dictionary(uniqueKeysWithValues: existing.map { ($0.name, $0) })
        for className in data.classes {
            if let earlier = existingByName[className] {
                throw StoreError.classRegisteredEarlier(file: data.sourceFile, line: data.firstLine[className] ?? 0,
                                                        className: className, dataset: datasetName,
                                                        stage: stageNames[earlier.stageId] ?? "?")
            }
        }
    }

    /// Writes one snapshot in one transaction. The classes of `trained` get new label-embedding
    /// rows; every other class the snapshot covers (all classes of its dataset's stages up to
    /// its own) points at the row its parent uses: copy-on-write, old rows are never written.
    /// The parent is the dataset's latest snapshot of the same method and run. Context vectors and
    /// prompt tensors not given are the parent's.
    public func writeSnapshot(_ snapshot: NewSnapshot) throws -> SnapshotRecord {
        try write(datasets: [snapshot.dataset]) { db in try writeSnapshot(db, snapshot) }
    }

    func writeSnapshot(_ db: any StoreDatabase, _ snapshot: NewSnapshot) throws -> SnapshotRecord {
        guard let model = try Self.boundModel(db) else { throw StoreError.noModel(path: path) }
        let (dataset, stage) = try Self.datasetAndStage(db, dataset: snapshot.dataset, stage: snapshot.stage)
        try Self.checkPromptTensors(snapshot)
        // The trained classes, which must be among the classes the stage covers.
        let trainedNames = String(decoding: try JSONEncoder().encode(snapshot.trained.keys.sorted()), as: UTF8.self)
        let trainedClasses = try db.fetchAll(ClassRecord.self, """
            SELECT class.* FROM class JOIN stage ON stage.id = class.stage_id
            WHERE class.dataset_id = ? AND stage.position <= ? AND class.name IN \(db.dialect.jsonTextElements)
            ORDER BY stage.position, class.label_index
            """, [dataset.id!, stage.position, trainedNames])
        for name in snapshot.trained.keys.sorted() where !trainedClasses.contains(where: { $0.name == name }) {
            throw StoreError.notAClassOfStage(className: name, stage: stage.name)
        }
        let parent = try db.fetchOne(SnapshotRecord.self, """
            SELECT * FROM snapshot WHERE dataset_id = ? AND method = ? AND run IS NOT DISTINCT FROM ? ORDER BY id DESC LIMIT 1
            """, [dataset.id!, snapshot.method, snapshot.run?.json])
        // Every covered class that is not trained must have a row in the parent to inherit.
        if let orphan = try db.scalar(String.self, """
            SELECT class.name FROM class JOIN stage ON stage.id = class.stage_id
            WHERE class.dataset_id = ? AND stage.position <= ? AND class.name NOT IN \(db.dialect.jsonTextElements)
              AND class.id NOT IN (SELECT class_id FROM snapshot_label WHERE snapshot_id = ?)
            ORDER BY stage.position, class.label_index LIMIT 1
            """, [dataset.id!, stage.position, trainedNames, parent?.id ?? -1]) {
            throw StoreError.missingLabelEmbedding(className: orphan, snapshotStage: stage.name)
        }
        var contextId = parent?.contextVectorsId
        if let context = snapshot.contextVectors {
            let data = FloatBlob.encode(context.values)
            var record = ContextVectorsRecord(tokenCount: context.tokenCount, width: context.width, vectors: data,
                                              contentSha256: FloatBlob.sha256(data), createdAt: Date())
            try db.insert(&record)
            contextId = record.id
        }
        var record = SnapshotRecord(datasetId: dataset.id!, method: snapshot.method, stageId: stage.id!,
                                    parentId: parent?.id, contextVectorsId: contextId, createdAt: Date(),
                                    configJson: snapshot.configJSON, lossCurveJson: snapshot.lossCurveJSON, run: snapshot.run?.json)
        try db.insert(&record)
        try Self.insertPromptTensors(db, snapshot: snapshot, snapshotId: record.id!, parentId: parent?.id)
        // New rows for the trained classes.
        var rows: [[StoreValue]] = []
        for cls in trainedClasses {
            let vectors = snapshot.trained[cls.name]!
            guard vectors.width == model.tokenEmbeddingWidth else {
                throw StoreError.labelWidth(className: cls.name, expected: model.tokenEmbeddingWidth, found: vectors.width)
            }
            let data = FloatBlob.encode(vectors.values)
            rows.append([.integer(cls.id!), .integer(Int64(vectors.tokenCount)), .integer(Int64(vectors.width)), .blob(data),
                         .text(FloatBlob.sha256(data)), Date().storeValue])
        }
        let rowIdByClass = Dictionary(uniqueKeysWithValues: try db.insertRows(
            into: "label_embedding", columns: ["class_id", "token_count", "width", "vectors", "content_sha256", "created_at"],
            rows: rows, returning: "id, class_id").map { ($0["class_id"] as Int64, $0["id"] as Int64) })
        let rowIds = trainedClasses.map { rowIdByClass[$0.id!]! }
        try db.insertRows(into: "snapshot_label", columns: ["snapshot_id", "class_id", "label_embedding_id"],
                          rows: zip(trainedClasses, rowIds).map { [.integer(record.id!), .integer($0.id!), .integer($1)] })
        var features: [[StoreValue]] = []
        for (cls, rowId) in zip(trainedClasses, rowIds) {
            if let feature = snapshot.textFeatures[cls.name] {
                features.append([.integer(rowId), .integer(contextId ?? 0), .blob(FloatBlob.encode(feature))])
            }
        }
        try db.insertRows(into: "text_feature", columns: ["label_embedding_id", "context_key", "feature"], rows: features)
        // Every other covered class points at its parent's row: one statement.
        if let parent {
            try db.execute("""
                INSERT INTO snapshot_label (snapshot_id, class_id, label_embedding_id)
                SELECT ?, sl.class_id, sl.label_embedding_id FROM snapshot_label sl
                JOIN class ON class.id = sl.class_id JOIN stage ON stage.id = class.stage_id
                WHERE sl.snapshot_id = ? AND class.dataset_id = ? AND stage.position <= ?
                  AND class.name NOT IN \(db.dialect.jsonTextElements)
                """, [record.id!, parent.id!, dataset.id!, stage.position, trainedNames])
        }
        return record
    }
}

/// What `registerStage` stored.
public struct RegisteredStage: Codable, Sendable, Equatable {
    public var dataset: String
    public var stage: String
    public var position: Int
    public var stageId: Int64
    public var classes: Int
    public var train: Int
    public var val: Int
    public var test: Int
}

/// Token vectors: tokenCount x width, row-major.
public struct TokenVectors: Sendable, Equatable {
    public var tokenCount: Int
    public var width: Int
    public var values: [Float]

    public init(tokenCount: Int, width: Int, values: [Float]) {
        precondition(values.count == tokenCount * width, "TokenVectors: \(values.count) values for \(tokenCount)x\(width)")
        self.tokenCount = tokenCount
        self.width = width
        self.values = values
    }
}

/// A snapshot to write: which stage it was trained on, how, and the label vectors it trained.
public struct NewSnapshot: Sendable {
    public var dataset: String
    public var stage: String
    public var method: Method
    /// Trained label vectors by class name; every other covered class inherits its parent's row.
    public var trained: [String: TokenVectors]
    public var contextVectors: TokenVectors?
    /// MaPLe's prompt parameters besides the context (maple and maple+lamm only), stored in this
    /// order. Given none, a MaPLe snapshot holds its parent's.
    public var promptTensors: [PromptTensor] = []
    /// L2-normalised text features of trained classes' prompts, cached with their new rows.
    public var textFeatures: [String: [Float]] = [:]
    /// The sweep run the snapshot extends (its parent is the run's latest); nil for add-classes.
    public var run: RunTag?
    public var configJSON: String
    public var lossCurveJSON: String

    public init(dataset: String, stage: String, method: Method, trained: [String: TokenVectors],
                contextVectors: TokenVectors? = nil, promptTensors: [PromptTensor] = [], configJSON: String = "{}",
                lossCurveJSON: String = "[]") {
        self.dataset = dataset
        self.stage = stage
        self.method = method
        self.trained = trained
        self.contextVectors = contextVectors
        self.promptTensors = promptTensors
        self.configJSON = configJSON
        self.lossCurveJSON = lossCurveJSON
    }
}
