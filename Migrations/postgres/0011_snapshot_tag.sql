-- PostgreSQL form of ../0011_snapshot_tag.sql. Shipped migrations are never edited: change the
-- schema in a new file, for both backends.
--
-- Names on snapshots (`lamm-store tag`): mutable labels on immutable snapshots, accepted
-- wherever --snapshot takes an id. A name is never a number.
CREATE TABLE snapshot_tag (
    name text PRIMARY KEY CHECK (name <> '' AND name ~ '[^0-9]'),
    snapshot_id bigint NOT NULL REFERENCES snapshot(id),
    tagged_at text NOT NULL
);
CREATE INDEX snapshot_tag_snapshot ON snapshot_tag(snapshot_id);
