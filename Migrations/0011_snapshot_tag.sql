-- Names on snapshots (`lamm-store tag --snapshot N NAME`): mutable labels such as best-16shot on
-- immutable snapshots, accepted wherever --snapshot takes an id. A name points at one snapshot;
-- tagging the name again moves it, `untag` removes it; the snapshot itself never changes. A name
-- is never a number (a number given to --snapshot is an id).
CREATE TABLE snapshot_tag (
    name TEXT PRIMARY KEY CHECK (name <> '' AND name GLOB '*[^0-9]*'),
    snapshot_id INTEGER NOT NULL REFERENCES snapshot(id),
    tagged_at TEXT NOT NULL
);
CREATE INDEX snapshot_tag_snapshot ON snapshot_tag(snapshot_id);
