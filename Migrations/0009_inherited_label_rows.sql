-- A snapshot maps only the classes whose label rows it wrote (the classes it trained). Every
-- other class it covers takes the row of its nearest ancestor that maps it: a new stage costs
-- the rows it trains, not the rows it inherits. Stores written before kept a pointer row per
-- inherited class: a row that maps a class to the row its parent maps it to is removed here (the
-- rows to remove are chosen before any is). Every snapshot resolves to the rows it mapped before:
-- along a lineage, the nearest remaining row for a class is the one those pointers repeated.
DROP TRIGGER snapshot_label_no_delete;
DELETE FROM snapshot_label
WHERE (snapshot_id, class_id) IN (
    SELECT sl.snapshot_id, sl.class_id FROM snapshot_label sl
    JOIN snapshot s ON s.id = sl.snapshot_id
    JOIN snapshot_label p ON p.snapshot_id = s.parent_id AND p.class_id = sl.class_id AND p.label_embedding_id = sl.label_embedding_id
);
CREATE TRIGGER snapshot_label_no_delete BEFORE DELETE ON snapshot_label BEGIN SELECT RAISE(ABORT, 'snapshot labels are immutable'); END;
