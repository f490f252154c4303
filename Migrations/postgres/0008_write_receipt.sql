-- PostgreSQL form of ../0008_write_receipt.sql. Shipped migrations are never edited: change
-- the schema in a new file, for both backends.
--
-- The idempotency key of each committed write, inserted in the write's own transaction; looked
-- up after a connection lost during COMMIT, to tell whether the write was written.
CREATE TABLE write_receipt (
    key text PRIMARY KEY,
    committed_at text NOT NULL
);
