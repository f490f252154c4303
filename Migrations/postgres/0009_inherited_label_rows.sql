-- PostgreSQL form of ../0009_inherited_label_rows.sql. Shipped migrations are never edited: change
-- the schema in a new file, for both backends.
--
-- A snapshot maps only the classes it trained; the others resolve to the nearest ancestor's
-- row. The pointer rows kept for inherited classes by stores written before (a class mapped to
-- the row its parent maps it to) are removed.
DROP TRIGGER snapshot_label_no_delete ON snapshot_label;
DELETE FROM snapshot_label
WHERE (snapshot_id, class_id) IN (
    SELECT sl.snapshot_id, sl.class_id FROM snapshot_label sl
    JOIN snapshot s ON s.id = sl.snapshot_id
    JOIN snapshot_label p ON p.snapshot_id = s.parent_id AND p.class_id = sl.class_id AND p.label_embedding_id = sl.label_embedding_id
);
CREATE TRIGGER snapshot_label_no_delete BEFORE DELETE ON snapshot_label FOR EACH ROW EXECUTE FUNCTION lamm_refuse('snapshot labels are immutable');
