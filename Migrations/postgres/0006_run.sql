-- PostgreSQL form of ../0006_run.sql. Shipped migrations are never edited: change the schema in
-- a new file, for both backends.
--
-- A sweep (`lamm-store sweep`) trains one lineage per method, shot count and seed on a dataset's
-- registered stages. `run` tags the snapshots of such a lineage with its parameters as canonical
-- JSON (sorted keys: {"seed":2,"shots":4}); it is NULL for the lineage add-classes and
-- import-split extend. A snapshot's parent is an earlier snapshot of the same dataset, method
-- and run, so every run is a lineage of its own.
ALTER TABLE snapshot ADD COLUMN run text CHECK (run IS NULL OR lamm_json_type(run) IS NOT DISTINCT FROM 'object');
CREATE INDEX snapshot_dataset_method_run ON snapshot(dataset_id, method, run);
-- SQLite drops and recreates the trigger; here its function is replaced and the trigger kept.
CREATE OR REPLACE FUNCTION snapshot_parent_lineage() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.parent_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM snapshot p JOIN stage ps ON ps.id = p.stage_id
        WHERE p.id = NEW.parent_id AND p.dataset_id = NEW.dataset_id AND p.method = NEW.method
          AND p.run IS NOT DISTINCT FROM NEW.run
          AND ps.position <= (SELECT position FROM stage WHERE id = NEW.stage_id)) THEN
        RAISE EXCEPTION 'a snapshot''s parent must be an earlier snapshot of the same dataset, method and run';
    END IF;
    RETURN NEW;
END
$$;
