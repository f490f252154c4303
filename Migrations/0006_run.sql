-- A sweep (`lamm-store sweep`) trains one lineage per method, shot count and seed on a dataset's
-- registered stages. `run` tags the snapshots of such a lineage with its parameters as canonical
-- JSON (sorted keys: {"seed":2,"shots":4}); it is NULL for the lineage add-classes and
-- import-split extend. A snapshot's parent is an earlier snapshot of the same dataset, method
-- and run, so every run is a lineage of its own.
ALTER TABLE snapshot ADD COLUMN run TEXT CHECK (run IS NULL OR (json_valid(run) AND json_type(run) = 'object'));
CREATE INDEX snapshot_dataset_method_run ON snapshot(dataset_id, method, run);
DROP TRIGGER snapshot_parent_lineage;
CREATE TRIGGER snapshot_parent_lineage BEFORE INSERT ON snapshot
WHEN NEW.parent_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM snapshot p JOIN stage ps ON ps.id = p.stage_id
    WHERE p.id = NEW.parent_id AND p.dataset_id = NEW.dataset_id AND p.method = NEW.method AND p.run IS NEW.run
      AND ps.position <= (SELECT position FROM stage WHERE id = NEW.stage_id))
BEGIN SELECT RAISE(ABORT, 'a snapshot''s parent must be an earlier snapshot of the same dataset, method and run'); END;
