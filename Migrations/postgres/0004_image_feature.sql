-- PostgreSQL form of ../0004_image_feature.sql. Shipped migrations are never edited: change the
-- schema in a new file, for both backends.
--
-- Image features the store's model computed from image files, keyed by the file's content
-- (SHA-256) and the view: 0 is CLIP's centre crop, k >= 1 the k-th augmented view (random
-- resized crop and flip) drawn with `seed`. A later stage that names an already encoded image
-- reuses its feature. Derived from immutable inputs, so entries never change.
CREATE TABLE image_feature (
    content_sha256 text NOT NULL CHECK (length(content_sha256) = 64),
    view bigint NOT NULL CHECK (view >= 0),
    seed bigint NOT NULL,
    feature bytea NOT NULL,
    PRIMARY KEY (content_sha256, view, seed)
);
CREATE FUNCTION image_feature_width() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF octet_length(NEW.feature) IS DISTINCT FROM 4 * (SELECT feature_width FROM model WHERE id = 1) THEN
        RAISE EXCEPTION 'an image feature must have the model''s feature width';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER image_feature_width BEFORE INSERT ON image_feature
FOR EACH ROW EXECUTE FUNCTION image_feature_width();
CREATE TRIGGER image_feature_no_update BEFORE UPDATE ON image_feature FOR EACH ROW EXECUTE FUNCTION lamm_refuse('image features are immutable');
CREATE TRIGGER image_feature_no_delete BEFORE DELETE ON image_feature FOR EACH ROW EXECUTE FUNCTION lamm_refuse('image features are immutable');
CREATE TRIGGER image_feature_no_truncate BEFORE TRUNCATE ON image_feature FOR EACH STATEMENT EXECUTE FUNCTION lamm_refuse('image features are immutable');

-- Where a sample's feature came from, when it was encoded from an image file. (Adding a column
-- with a constant default rewrites no row and fires no update trigger.)
ALTER TABLE sample ADD COLUMN image_sha256 text CHECK (image_sha256 IS NULL OR length(image_sha256) = 64);
ALTER TABLE sample ADD COLUMN view bigint NOT NULL DEFAULT 0 CHECK (view >= 0);
