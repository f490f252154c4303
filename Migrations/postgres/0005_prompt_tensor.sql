-- PostgreSQL form of ../0005_prompt_tensor.sql. Shipped migrations are never edited: change the
-- schema in a new file, for both backends.
--
-- MaPLe's prompt parameters besides the shared context (which stays in context_vectors): the
-- deep text prompts (`deep_text.1`, ...) and the coupling layers (`vision_proj.weight`,
-- `vision_proj.bias`, `deep_proj.1.weight`, ...), each a float32 little-endian tensor of the
-- shape in shape_json (a JSON array of positive sizes, row-major), kept in the order the trainer
-- gave them. Only MaPLe snapshots hold them, written once with the snapshot.
CREATE TABLE prompt_tensor (
    snapshot_id bigint NOT NULL REFERENCES snapshot(id),
    name text NOT NULL CHECK (name <> ''),
    position bigint NOT NULL CHECK (position >= 0),
    shape_json text NOT NULL CHECK (lamm_json_type(shape_json) IS NOT DISTINCT FROM 'array'),
    data bytea NOT NULL,
    content_sha256 text NOT NULL CHECK (length(content_sha256) = 64),
    PRIMARY KEY (snapshot_id, name),
    UNIQUE (snapshot_id, position)
);
-- A CHECK cannot multiply the sizes of a shape of any rank; a trigger can. A size is an
-- integer as SQLite's json_type sees one: a JSON number written without fraction or exponent
-- (2.0, 1e2 and "3" are not). A shape_json that is no JSON array is left to the CHECK.
CREATE FUNCTION prompt_tensor_size() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    element json;
    size numeric;
    product numeric := 1;
BEGIN
    IF lamm_json_type(NEW.shape_json) IS DISTINCT FROM 'array' THEN
        RETURN NEW;
    END IF;
    FOR element IN SELECT json_array_elements(NEW.shape_json::json) LOOP
        size := 0;
        IF json_typeof(element) = 'number' AND btrim(element::text) ~ '^-?[0-9]+$' THEN
            size := btrim(element::text)::numeric;
        END IF;
        IF size < 1 THEN
            RAISE EXCEPTION 'a prompt tensor must hold 4 bytes per element of its shape, whose sizes are positive integers';
        END IF;
        product := product * size;
    END LOOP;
    IF octet_length(NEW.data) IS DISTINCT FROM 4 * product THEN
        RAISE EXCEPTION 'a prompt tensor must hold 4 bytes per element of its shape, whose sizes are positive integers';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER prompt_tensor_size BEFORE INSERT ON prompt_tensor
FOR EACH ROW EXECUTE FUNCTION prompt_tensor_size();
CREATE FUNCTION prompt_tensor_of_maple() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce((SELECT method FROM snapshot WHERE id = NEW.snapshot_id), '') NOT IN ('maple', 'maple+lamm') THEN
        RAISE EXCEPTION 'only snapshots of method maple or maple+lamm hold prompt tensors';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER prompt_tensor_of_maple BEFORE INSERT ON prompt_tensor
FOR EACH ROW EXECUTE FUNCTION prompt_tensor_of_maple();
CREATE TRIGGER prompt_tensor_no_update BEFORE UPDATE ON prompt_tensor FOR EACH ROW EXECUTE FUNCTION lamm_refuse('prompt tensors are immutable');
CREATE TRIGGER prompt_tensor_no_delete BEFORE DELETE ON prompt_tensor FOR EACH ROW EXECUTE FUNCTION lamm_refuse('prompt tensors are immutable');
CREATE TRIGGER prompt_tensor_no_truncate BEFORE TRUNCATE ON prompt_tensor FOR EACH STATEMENT EXECUTE FUNCTION lamm_refuse('prompt tensors are immutable');

-- Image features the store's model computed through one set of prompt parameters (MaPLe prompts
-- the image tower too), keyed by the image file's content (SHA-256) and the parameters'
-- (`LabelStore.promptSHA256`: the context vectors and prompt tensors, in order). Derived from
-- immutable inputs, so entries never change.
CREATE TABLE prompted_image_feature (
    content_sha256 text NOT NULL CHECK (length(content_sha256) = 64),
    prompt_sha256 text NOT NULL CHECK (length(prompt_sha256) = 64),
    feature bytea NOT NULL,
    PRIMARY KEY (content_sha256, prompt_sha256)
);
CREATE FUNCTION prompted_image_feature_width() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF octet_length(NEW.feature) IS DISTINCT FROM 4 * (SELECT feature_width FROM model WHERE id = 1) THEN
        RAISE EXCEPTION 'a prompted image feature must have the model''s feature width';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER prompted_image_feature_width BEFORE INSERT ON prompted_image_feature
FOR EACH ROW EXECUTE FUNCTION prompted_image_feature_width();
CREATE TRIGGER prompted_image_feature_no_update BEFORE UPDATE ON prompted_image_feature FOR EACH ROW EXECUTE FUNCTION lamm_refuse('prompted image features are immutable');
CREATE TRIGGER prompted_image_feature_no_delete BEFORE DELETE ON prompted_image_feature FOR EACH ROW EXECUTE FUNCTION lamm_refuse('prompted image features are immutable');
CREATE TRIGGER prompted_image_feature_no_truncate BEFORE TRUNCATE ON prompted_image_feature FOR EACH STATEMENT EXECUTE FUNCTION lamm_refuse('prompted image features are immutable');
