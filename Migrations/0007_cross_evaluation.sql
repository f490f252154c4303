-- A snapshot evaluated on a stage of another dataset (`lamm-store eval --on`, LAMM.md Table 1:
-- train on ImageNet, test on ImageNet-V2 and -Sketch). Classes are matched by name; the rows of
-- the stage's other classes are left out, and those classes are recorded (a JSON array of names),
-- never dropped unsaid. Zero-shot CLIP on the same rows and label space is stored beside it.
CREATE TABLE cross_evaluation (
    id INTEGER PRIMARY KEY,
    snapshot_id INTEGER NOT NULL REFERENCES snapshot(id),
    stage_id INTEGER NOT NULL REFERENCES stage(id),
    split TEXT NOT NULL CHECK (split IN ('train', 'val', 'test')),
    matched_classes INTEGER NOT NULL CHECK (matched_classes > 0),
    unmatched_classes_json TEXT NOT NULL CHECK (json_valid(unmatched_classes_json) AND json_type(unmatched_classes_json) = 'array'),
    correct INTEGER NOT NULL CHECK (correct >= 0),
    total INTEGER NOT NULL CHECK (total > 0 AND correct <= total),
    accuracy REAL NOT NULL CHECK (accuracy BETWEEN 0 AND 100),
    baseline REAL NOT NULL CHECK (baseline BETWEEN 0 AND 100),
    evaluated_at TEXT NOT NULL
);
CREATE INDEX cross_evaluation_lookup ON cross_evaluation(snapshot_id, stage_id, split);
CREATE TRIGGER cross_evaluation_other_dataset BEFORE INSERT ON cross_evaluation
WHEN (SELECT dataset_id FROM snapshot WHERE id = NEW.snapshot_id) IS (SELECT dataset_id FROM stage WHERE id = NEW.stage_id)
BEGIN SELECT RAISE(ABORT, 'a cross-dataset evaluation is of a stage of another dataset than the snapshot''s'); END;
