-- PostgreSQL form of ../0003_text_feature.sql. Shipped migrations are never edited: change the
-- schema in a new file, for both backends.
--
-- Cached text features: psi(z) of a class's prompt built from one label-embedding row (and, for
-- methods with a shared template, one set of context vectors; 0 when there is none), computed
-- with the store's model, L2-normalised, float32 little-endian. Every input is immutable, so
-- an entry never changes: a Set1 row's feature, computed once, serves every later snapshot.
CREATE TABLE text_feature (
    label_embedding_id bigint NOT NULL REFERENCES label_embedding(id),
    context_key bigint NOT NULL CHECK (context_key >= 0),
    feature bytea NOT NULL,
    PRIMARY KEY (label_embedding_id, context_key)
);
CREATE FUNCTION text_feature_width() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF octet_length(NEW.feature) IS DISTINCT FROM 4 * (SELECT feature_width FROM model WHERE id = 1) THEN
        RAISE EXCEPTION 'a text feature must have the model''s feature width';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER text_feature_width BEFORE INSERT ON text_feature
FOR EACH ROW EXECUTE FUNCTION text_feature_width();
CREATE TRIGGER text_feature_no_update BEFORE UPDATE ON text_feature FOR EACH ROW EXECUTE FUNCTION lamm_refuse('text features are immutable');
CREATE TRIGGER text_feature_no_delete BEFORE DELETE ON text_feature FOR EACH ROW EXECUTE FUNCTION lamm_refuse('text features are immutable');
CREATE TRIGGER text_feature_no_truncate BEFORE TRUNCATE ON text_feature FOR EACH STATEMENT EXECUTE FUNCTION lamm_refuse('text features are immutable');
