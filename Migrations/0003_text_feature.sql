-- Cached text features: psi(z) of a class's prompt built from one label-embedding row (and, for
-- methods with a shared template, one set of context vectors; 0 when there is none), computed
-- with the store's model, L2-normalised, float32 little-endian. Every input is immutable, so
-- an entry never changes: a Set1 row's feature, computed once, serves every later snapshot.
CREATE TABLE text_feature (
    label_embedding_id INTEGER NOT NULL REFERENCES label_embedding(id),
    context_key INTEGER NOT NULL CHECK (context_key >= 0),
    feature BLOB NOT NULL,
    PRIMARY KEY (label_embedding_id, context_key)
) WITHOUT ROWID;
CREATE TRIGGER text_feature_width BEFORE INSERT ON text_feature
WHEN length(NEW.feature) IS NOT 4 * (SELECT feature_width FROM model WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'a text feature must have the model''s feature width'); END;
CREATE TRIGGER text_feature_no_update BEFORE UPDATE ON text_feature BEGIN SELECT RAISE(ABORT, 'text features are immutable'); END;
CREATE TRIGGER text_feature_no_delete BEFORE DELETE ON text_feature BEGIN SELECT RAISE(ABORT, 'text features are immutable'); END;
