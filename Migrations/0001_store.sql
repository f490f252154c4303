-- lamm-store schema, version 1: the model a store is bound to, datasets and their
-- ordered stages, classes and samples, immutable snapshots of label embeddings,
-- zero-shot baselines and evaluations.
-- Shipped migrations are never edited: change the schema in a new file.

-- A store is bound to exactly one CLIP checkpoint (the row with id 1).
CREATE TABLE model (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL CHECK (name <> ''),
    directory TEXT NOT NULL,
    weights_file TEXT NOT NULL,
    weights_sha256 TEXT NOT NULL CHECK (length(weights_sha256) = 64),
    config_json TEXT NOT NULL CHECK (json_valid(config_json)),
    token_embedding_width INTEGER NOT NULL CHECK (token_embedding_width > 0),
    feature_width INTEGER NOT NULL CHECK (feature_width > 0),
    registered_at TEXT NOT NULL
);
CREATE TRIGGER model_is_fixed BEFORE UPDATE OF id, weights_sha256, config_json, token_embedding_width, feature_width ON model
BEGIN SELECT RAISE(ABORT, 'the model a store is bound to cannot change'); END;
CREATE TRIGGER model_is_kept BEFORE DELETE ON model
BEGIN SELECT RAISE(ABORT, 'the model a store is bound to cannot be removed'); END;

CREATE TABLE dataset (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (name <> ''),
    created_at TEXT NOT NULL
);

-- Stages of a dataset in training order: position 0 is Set1, 1 is Set2, ...
CREATE TABLE stage (
    id INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES dataset(id),
    name TEXT NOT NULL CHECK (name <> ''),
    position INTEGER NOT NULL CHECK (position >= 0),
    source_file TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (dataset_id, name),
    UNIQUE (dataset_id, position)
);

-- A class belongs to the stage that introduced it; label_index is its place in
-- that stage's label space (0-based).
CREATE TABLE class (
    id INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES dataset(id),
    stage_id INTEGER NOT NULL REFERENCES stage(id),
    name TEXT NOT NULL CHECK (name <> ''),
    label_index INTEGER NOT NULL CHECK (label_index >= 0),
    UNIQUE (dataset_id, name),
    UNIQUE (stage_id, label_index)
);
CREATE INDEX class_stage ON class(stage_id);
CREATE TRIGGER class_in_stage_dataset BEFORE INSERT ON class
WHEN NEW.dataset_id IS NOT (SELECT dataset_id FROM stage WHERE id = NEW.stage_id)
BEGIN SELECT RAISE(ABORT, 'a class must belong to the dataset of its stage'); END;

-- One image feature (float32, little-endian) of a class, and where it came from.
CREATE TABLE sample (
    id INTEGER PRIMARY KEY,
    class_id INTEGER NOT NULL REFERENCES class(id),
    split TEXT NOT NULL CHECK (split IN ('train', 'val', 'test')),
    feature BLOB NOT NULL,
    image_path TEXT,
    feature_file TEXT,
    feature_row INTEGER,
    CHECK (image_path IS NOT NULL OR (feature_file IS NOT NULL AND feature_row IS NOT NULL))
);
CREATE INDEX sample_class_split ON sample(class_id, split);
CREATE TRIGGER sample_feature_width BEFORE INSERT ON sample
WHEN length(NEW.feature) IS NOT 4 * (SELECT feature_width FROM model WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'a sample feature must have the model''s feature width'); END;

-- Trainable label-token vectors of one class: token_count x width float32, and the
-- SHA-256 of those bytes.
CREATE TABLE label_embedding (
    id INTEGER PRIMARY KEY,
    class_id INTEGER NOT NULL REFERENCES class(id),
    token_count INTEGER NOT NULL CHECK (token_count > 0),
    width INTEGER NOT NULL CHECK (width > 0),
    vectors BLOB NOT NULL,
    content_sha256 TEXT NOT NULL CHECK (length(content_sha256) = 64),
    created_at TEXT NOT NULL,
    CHECK (length(vectors) = 4 * token_count * width)
);
CREATE INDEX label_embedding_class ON label_embedding(class_id);

-- Shared template vectors of methods that train one (CoOp).
CREATE TABLE context_vectors (
    id INTEGER PRIMARY KEY,
    token_count INTEGER NOT NULL CHECK (token_count > 0),
    width INTEGER NOT NULL CHECK (width > 0),
    vectors BLOB NOT NULL,
    content_sha256 TEXT NOT NULL CHECK (length(content_sha256) = 64),
    created_at TEXT NOT NULL,
    CHECK (length(vectors) = 4 * token_count * width)
);

-- AUTOINCREMENT: snapshot ids only ever grow, and are never reused.
CREATE TABLE snapshot (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id INTEGER NOT NULL REFERENCES dataset(id),
    method TEXT NOT NULL CHECK (method IN ('zeroshot', 'lamm', 'coop', 'coop+lamm', 'maple', 'maple+lamm')),
    stage_id INTEGER NOT NULL REFERENCES stage(id),
    parent_id INTEGER REFERENCES snapshot(id),
    context_vectors_id INTEGER REFERENCES context_vectors(id),
    created_at TEXT NOT NULL,
    config_json TEXT NOT NULL CHECK (json_valid(config_json)),
    loss_curve_json TEXT NOT NULL CHECK (json_valid(loss_curve_json))
);
CREATE INDEX snapshot_dataset_method ON snapshot(dataset_id, method);
CREATE TRIGGER snapshot_stage_of_dataset BEFORE INSERT ON snapshot
WHEN NEW.dataset_id IS NOT (SELECT dataset_id FROM stage WHERE id = NEW.stage_id)
BEGIN SELECT RAISE(ABORT, 'a snapshot''s stage must belong to its dataset'); END;
CREATE TRIGGER snapshot_parent_lineage BEFORE INSERT ON snapshot
WHEN NEW.parent_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM snapshot p JOIN stage ps ON ps.id = p.stage_id
    WHERE p.id = NEW.parent_id AND p.dataset_id = NEW.dataset_id AND p.method = NEW.method
      AND ps.position <= (SELECT position FROM stage WHERE id = NEW.stage_id))
BEGIN SELECT RAISE(ABORT, 'a snapshot''s parent must be an earlier snapshot of the same dataset and method'); END;

-- Which label-embedding row each class has in a snapshot. A snapshot that did not
-- train a class points at the row its parent used (copy-on-write).
CREATE TABLE snapshot_label (
    snapshot_id INTEGER NOT NULL REFERENCES snapshot(id),
    class_id INTEGER NOT NULL REFERENCES class(id),
    label_embedding_id INTEGER NOT NULL REFERENCES label_embedding(id),
    PRIMARY KEY (snapshot_id, class_id)
) WITHOUT ROWID;
CREATE INDEX snapshot_label_embedding ON snapshot_label(label_embedding_id);
CREATE TRIGGER snapshot_label_consistent BEFORE INSERT ON snapshot_label
WHEN (SELECT class_id FROM label_embedding WHERE id = NEW.label_embedding_id) IS NOT NEW.class_id
  OR (SELECT dataset_id FROM class WHERE id = NEW.class_id) IS NOT (SELECT dataset_id FROM snapshot WHERE id = NEW.snapshot_id)
BEGIN SELECT RAISE(ABORT, 'a snapshot label must map a class of the snapshot''s dataset to a label embedding of that class'); END;

-- Written once, never changed: what a snapshot holds is a fact that can be queried.
CREATE TRIGGER snapshot_no_update BEFORE UPDATE ON snapshot BEGIN SELECT RAISE(ABORT, 'snapshots are immutable'); END;
CREATE TRIGGER snapshot_no_delete BEFORE DELETE ON snapshot BEGIN SELECT RAISE(ABORT, 'snapshots are immutable'); END;
CREATE TRIGGER snapshot_label_no_update BEFORE UPDATE ON snapshot_label BEGIN SELECT RAISE(ABORT, 'snapshot labels are immutable'); END;
CREATE TRIGGER snapshot_label_no_delete BEFORE DELETE ON snapshot_label BEGIN SELECT RAISE(ABORT, 'snapshot labels are immutable'); END;
CREATE TRIGGER label_embedding_no_update BEFORE UPDATE ON label_embedding BEGIN SELECT RAISE(ABORT, 'label embeddings are immutable'); END;
CREATE TRIGGER label_embedding_no_delete BEFORE DELETE ON label_embedding BEGIN SELECT RAISE(ABORT, 'label embeddings are immutable'); END;
CREATE TRIGGER context_vectors_no_update BEFORE UPDATE ON context_vectors BEGIN SELECT RAISE(ABORT, 'context vectors are immutable'); END;
CREATE TRIGGER context_vectors_no_delete BEFORE DELETE ON context_vectors BEGIN SELECT RAISE(ABORT, 'context vectors are immutable'); END;
-- Registered data is kept as registered: a stage's classes and samples define its label space.
CREATE TRIGGER class_no_update BEFORE UPDATE ON class BEGIN SELECT RAISE(ABORT, 'registered classes are immutable'); END;
CREATE TRIGGER class_no_delete BEFORE DELETE ON class BEGIN SELECT RAISE(ABORT, 'registered classes are immutable'); END;
CREATE TRIGGER sample_no_update BEFORE UPDATE ON sample BEGIN SELECT RAISE(ABORT, 'registered samples are immutable'); END;
CREATE TRIGGER sample_no_delete BEFORE DELETE ON sample BEGIN SELECT RAISE(ABORT, 'registered samples are immutable'); END;

-- Zero-shot CLIP accuracy (original class-name prompts) per stage and split.
CREATE TABLE baseline (
    id INTEGER PRIMARY KEY,
    stage_id INTEGER NOT NULL REFERENCES stage(id),
    split TEXT NOT NULL CHECK (split IN ('train', 'val', 'test')),
    protocol TEXT NOT NULL CHECK (protocol IN ('task', 'class')),
    correct INTEGER NOT NULL CHECK (correct >= 0),
    total INTEGER NOT NULL CHECK (total > 0 AND correct <= total),
    accuracy REAL NOT NULL CHECK (accuracy BETWEEN 0 AND 100),
    computed_at TEXT NOT NULL,
    UNIQUE (stage_id, split, protocol)
);

-- One evaluation of a snapshot on one stage (task: the stage's own label space;
-- class: every class seen up to the snapshot's stage). Kept as a history.
CREATE TABLE evaluation (
    id INTEGER PRIMARY KEY,
    snapshot_id INTEGER NOT NULL REFERENCES snapshot(id),
    stage_id INTEGER NOT NULL REFERENCES stage(id),
    split TEXT NOT NULL CHECK (split IN ('train', 'val', 'test')),
    protocol TEXT NOT NULL CHECK (protocol IN ('task', 'class')),
    correct INTEGER NOT NULL CHECK (correct >= 0),
    total INTEGER NOT NULL CHECK (total > 0 AND correct <= total),
    accuracy REAL NOT NULL CHECK (accuracy BETWEEN 0 AND 100),
    seconds REAL NOT NULL CHECK (seconds >= 0),
    evaluated_at TEXT NOT NULL
);
CREATE INDEX evaluation_lookup ON evaluation(snapshot_id, stage_id, split, protocol);

-- Cells of the LAMM paper's tables, shown beside the store's own results and
-- always labelled as published. `cell` is the text as printed; `value` its
-- leading number.
CREATE TABLE published_result (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    table_number INTEGER NOT NULL,
    method TEXT NOT NULL,
    setting TEXT NOT NULL,
    column_name TEXT NOT NULL,
    cell TEXT NOT NULL,
    value REAL NOT NULL,
    UNIQUE (table_number, method, setting, column_name)
);
CREATE TRIGGER published_result_no_update BEFORE UPDATE ON published_result BEGIN SELECT RAISE(ABORT, 'published results are read-only'); END;
CREATE TRIGGER published_result_no_delete BEFORE DELETE ON published_result BEGIN SELECT RAISE(ABORT, 'published results are read-only'); END;
