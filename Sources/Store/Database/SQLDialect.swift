/// What differs between the two backends, in one place. Everything else (tables, columns,
/// statements) is the same text on both: `IS [NOT] DISTINCT FROM`, `ON CONFLICT DO NOTHING`,
/// `RETURNING`, `?` placeholders (numbered `$n` for PostgreSQL by its executor).
public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres

    /// Bound values per statement: under SQLite's 32,766 and PostgreSQL's 65,535.
    static let maximumArguments = 30_000

    /// The elements of a JSON array of strings bound to one placeholder, as a subquery.
    public var jsonTextElements: String {
        switch self {
        case .sqlite: return "(SELECT value FROM json_each(?))"
        case .postgres: return "(SELECT jsonb_array_elements_text(CAST(? AS jsonb)))"
        }
    }

    /// `column` is one of the strings of a JSON array bound to one placeholder, written so that
    /// an index on `column` is searched for each string whatever the table's statistics say:
    /// PostgreSQL takes the strings as one array first (`= ANY`), where an `IN (subquery)` may be
    /// planned as a scan of the whole table.
    public func isAmongJSONTexts(_ column: String) -> String {
        switch self {
        case .sqlite: return "\(column) IN \(jsonTextElements)"
        case .postgres: return "\(column) = ANY(ARRAY(SELECT jsonb_array_elements_text(CAST(? AS jsonb))))"
        }
    }

    /// `column` is one of the integers of a JSON array bound to one placeholder.
    public func isAmongJSONIntegers(_ column: String) -> String {
        switch self {
        case .sqlite: return "\(column) IN (SELECT value FROM json_each(?))"
        case .postgres: return "\(column) = ANY(ARRAY(SELECT CAST(jsonb_array_elements_text(CAST(? AS jsonb)) AS bigint)))"
        }
    }

    /// The database's clock, in seconds since 1970: every worker of a shared store reads one
    /// clock, whatever its own machine's says.
    public var epochNow: String {
        switch self {
        case .sqlite: return "((julianday('now') - 2440587.5) * 86400.0)"
        case .postgres: return "CAST(extract(epoch FROM clock_timestamp()) AS double precision)"
        }
    }

    /// What a SELECT of queue rows ends with so that concurrent claimers neither wait for nor
    /// take rows another transaction holds: PostgreSQL's row locks with SKIP LOCKED. SQLite's
    /// one writer at a time needs nothing.
    public var forUpdateSkipLocked: String {
        switch self {
        case .sqlite: return ""
        case .postgres: return " FOR UPDATE SKIP LOCKED"
        }
    }

    /// The number of bytes of a blob (bytea) expression.
    public func byteLength(_ expression: String) -> String {
        switch self {
        case .sqlite: return "length(\(expression))"
        case .postgres: return "octet_length(\(expression))"
        }
    }

    /// The store's own tables, by name.
    public var tableNamesQuery: String {
        switch self {
        case .sqlite: return "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        case .postgres: return "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
        }
    }

    /// The table that lists the migrations applied (Migrations/ for SQLite, Migrations/postgres/).
    public var migrationsTable: String {
        switch self {
        case .sqlite: return "grdb_migrations"
        case .postgres: return "lamm_store_migration"
        }
    }

    /// The migrations of this backend, embedded in the binary.
    public var migrations: [EmbeddedMigration] {
        switch self {
        case .sqlite: return embeddedMigrations
        case .postgres: return embeddedPostgresMigrations
        }
    }
}
