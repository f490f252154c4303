-- Base-to-new generalisation (`lamm-store eval --on-new DATASET:STAGE`, as CoCoOp and MaPLe
-- report it): a snapshot scored on the classes it trained (base: one label space of all of them)
-- and on a stage of classes it has not trained (new: among that stage's classes), each beside
-- zero-shot CLIP on the same rows and label space. The harmonic mean is computed from the two,
-- never stored. The new stage is of another dataset, or of the snapshot's own after its stage:
-- never one the snapshot's lineage trained.
CREATE TABLE base_to_new_evaluation (
    id INTEGER PRIMARY KEY,
    snapshot_id INTEGER NOT NULL REFERENCES snapshot(id),
    stage_id INTEGER NOT NULL REFERENCES stage(id),
    split TEXT NOT NULL CHECK (split IN ('train', 'val', 'test')),
    base_correct INTEGER NOT NULL CHECK (base_correct >= 0),
    base_total INTEGER NOT NULL CHECK (base_total > 0 AND base_correct <= base_total),
    base_accuracy REAL NOT NULL CHECK (base_accuracy BETWEEN 0 AND 100),
    base_baseline REAL NOT NULL CHECK (base_baseline BETWEEN 0 AND 100),
    new_correct INTEGER NOT NULL CHECK (new_correct >= 0),
    new_total INTEGER NOT NULL CHECK (new_total > 0 AND new_correct <= new_total),
    new_accuracy REAL NOT NULL CHECK (new_accuracy BETWEEN 0 AND 100),
    new_baseline REAL NOT NULL CHECK (new_baseline BETWEEN 0 AND 100),
    evaluated_at TEXT NOT NULL
);
CREATE INDEX base_to_new_evaluation_lookup ON base_to_new_evaluation(snapshot_id, stage_id, split);
CREATE TRIGGER base_to_new_evaluation_untrained_stage BEFORE INSERT ON base_to_new_evaluation
WHEN (SELECT dataset_id FROM snapshot WHERE id = NEW.snapshot_id) IS (SELECT dataset_id FROM stage WHERE id = NEW.stage_id)
 AND (SELECT position FROM stage WHERE id = NEW.stage_id)
     <= (SELECT st.position FROM snapshot s JOIN stage st ON st.id = s.stage_id WHERE s.id = NEW.snapshot_id)
BEGIN SELECT RAISE(ABORT, 'a base-to-new evaluation is of a stage the snapshot has not trained: another dataset''s, or a later one'); END;
