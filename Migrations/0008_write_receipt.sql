-- The idempotency key of each committed write. A write transaction inserts its key (a UUID made
-- before it began) with what it writes, so it commits with them or not at all. When the
-- connection to a PostgreSQL server is lost while COMMIT is under way, the client cannot know
-- from the connection whether the server committed; it reconnects and looks the key up, and says
-- truthfully whether the write was written. SQLite, in-process, always knows: it records no keys,
-- and keeps the table only so that both backends have one schema. Receipts are not the store's
-- content: `copy` leaves them, and dumps and `verify` ignore them.
CREATE TABLE write_receipt (
    key TEXT PRIMARY KEY,
    committed_at TEXT NOT NULL
) WITHOUT ROWID;
