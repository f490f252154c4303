-- MaPLe's prompt parameters besides the shared context (which stays in context_vectors): the
-- deep text prompts (`deep_text.1`, ...) and the coupling layers (`vision_proj.weight`,
-- `vision_proj.bias`, `deep_proj.1.weight`, ...), each a float32 little-endian tensor of the
-- shape in shape_json (a JSON array of positive sizes, row-major), kept in the order the trainer
-- gave them. Only MaPLe snapshots hold them, written once with the snapshot.
CREATE TABLE prompt_tensor (
    snapshot_id INTEGER NOT NULL REFERENCES snapshot(id),
    name TEXT NOT NULL CHECK (name <> ''),
    position INTEGER NOT NULL CHECK (position >= 0),
    shape_json TEXT NOT NULL CHECK (json_valid(shape_json) AND json_type(shape_json) = 'array'),
    data BLOB NOT NULL,
    content_sha256 TEXT NOT NULL CHECK (length(content_sha256) = 64),
    PRIMARY KEY (snapshot_id, name),
    UNIQUE (snapshot_id, position)
);
-- A CHECK cannot multiply the sizes of a shape of any rank; a trigger can.
CREATE TRIGGER prompt_tensor_size BEFORE INSERT ON prompt_tensor
WHEN EXISTS (SELECT 1 FROM json_each(NEW.shape_json) WHERE type <> 'integer' OR value < 1)
  OR length(NEW.data) IS NOT 4 * (
    WITH RECURSIVE sizes(i, product) AS (
        SELECT 0, 1
        UNION ALL
        SELECT i + 1, product * json_extract(NEW.shape_json, '$[' || i || ']') FROM sizes
        WHERE i < json_array_length(NEW.shape_json))
    SELECT product FROM sizes ORDER BY i DESC LIMIT 1)
BEGIN SELECT RAISE(ABORT, 'a prompt tensor must hold 4 bytes per element of its shape, whose sizes are positive integers'); END;
CREATE TRIGGER prompt_tensor_of_maple BEFORE INSERT ON prompt_tensor
WHEN coalesce((SELECT method FROM snapshot WHERE id = NEW.snapshot_id), '') NOT IN ('maple', 'maple+lamm')
BEGIN SELECT RAISE(ABORT, 'only snapshots of method maple or maple+lamm hold prompt tensors'); END;
CREATE TRIGGER prompt_tensor_no_update BEFORE UPDATE ON prompt_tensor BEGIN SELECT RAISE(ABORT, 'prompt tensors are immutable'); END;
CREATE TRIGGER prompt_tensor_no_delete BEFORE DELETE ON prompt_tensor BEGIN SELECT RAISE(ABORT, 'prompt tensors are immutable'); END;

-- Image features the store's model computed through one set of prompt parameters (MaPLe prompts
-- the image tower too), keyed by the image file's content (SHA-256) and the parameters'
-- (`LabelStore.promptSHA256`: the context vectors and prompt tensors, in order). Derived from
-- immutable inputs, so entries never change.
CREATE TABLE prompted_image_feature (
    content_sha256 TEXT NOT NULL CHECK (length(content_sha256) = 64),
    prompt_sha256 TEXT NOT NULL CHECK (length(prompt_sha256) = 64),
    feature BLOB NOT NULL,
    PRIMARY KEY (content_sha256, prompt_sha256)
) WITHOUT ROWID;
CREATE TRIGGER prompted_image_feature_width BEFORE INSERT ON prompted_image_feature
WHEN length(NEW.feature) IS NOT 4 * (SELECT feature_width FROM model WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'a prompted image feature must have the model''s feature width'); END;
CREATE TRIGGER prompted_image_feature_no_update BEFORE UPDATE ON prompted_image_feature BEGIN SELECT RAISE(ABORT, 'prompted image features are immutable'); END;
CREATE TRIGGER prompted_image_feature_no_delete BEFORE DELETE ON prompted_image_feature BEGIN SELECT RAISE(ABORT, 'prompted image features are immutable'); END;
