-- Image features the store's model computed from image files, keyed by the file's content
-- (SHA-256) and the view: 0 is CLIP's centre crop, k >= 1 the k-th augmented view (random
-- resized crop and flip) drawn with `seed`. A later stage that names an already encoded image
-- reuses its feature. Derived from immutable inputs, so entries never change.
CREATE TABLE image_feature (
    content_sha256 TEXT NOT NULL CHECK (length(content_sha256) = 64),
    view INTEGER NOT NULL CHECK (view >= 0),
    seed INTEGER NOT NULL,
    feature BLOB NOT NULL,
    PRIMARY KEY (content_sha256, view, seed)
) WITHOUT ROWID;
CREATE TRIGGER image_feature_width BEFORE INSERT ON image_feature
WHEN length(NEW.feature) IS NOT 4 * (SELECT feature_width FROM model WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'an image feature must have the model''s feature width'); END;
CREATE TRIGGER image_feature_no_update BEFORE UPDATE ON image_feature BEGIN SELECT RAISE(ABORT, 'image features are immutable'); END;
CREATE TRIGGER image_feature_no_delete BEFORE DELETE ON image_feature BEGIN SELECT RAISE(ABORT, 'image features are immutable'); END;

-- Where a sample's feature came from, when it was encoded from an image file.
ALTER TABLE sample ADD COLUMN image_sha256 TEXT CHECK (image_sha256 IS NULL OR length(image_sha256) = 64);
ALTER TABLE sample ADD COLUMN view INTEGER NOT NULL DEFAULT 0 CHECK (view >= 0);
