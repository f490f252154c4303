-- Runs of a sweep grid (`lamm-store sweep`) as a work queue shared by every sweep process on
-- the store. One row per run (dataset, method, run tag); a sweep enrols its grid's runs as
-- 'waiting', claims one under the write lock ('running', its worker, a lease), renews the lease
-- while it trains (heartbeat_at), and ends it 'done' or 'failed' (with the failure's message).
-- A running claim whose heartbeat is older than its lease belongs to a worker that is gone: any
-- sweep may claim it again, and continues the run from its last committed stage. Times are
-- seconds since 1970 by the database's own clock, so workers on machines whose clocks differ
-- agree on when a lease ends. Claims are the queue's state, not the record: snapshots never
-- depend on them, and `copy` leaves them behind.
CREATE TABLE run_claim (
    id INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES dataset(id),
    method TEXT NOT NULL,
    run TEXT NOT NULL CHECK (json_valid(run) AND json_type(run) = 'object'),
    state TEXT NOT NULL CHECK (state IN ('waiting', 'running', 'done', 'failed')),
    worker TEXT,
    claimed_at REAL,
    heartbeat_at REAL,
    lease_seconds REAL CHECK (lease_seconds IS NULL OR lease_seconds > 0),
    attempts INTEGER NOT NULL DEFAULT 0,
    finished_at REAL,
    seconds REAL,
    message TEXT,
    UNIQUE (dataset_id, method, run),
    CHECK (state = 'waiting' OR (worker IS NOT NULL AND claimed_at IS NOT NULL AND heartbeat_at IS NOT NULL AND lease_seconds IS NOT NULL)),
    CHECK (state <> 'failed' OR message IS NOT NULL)
);
CREATE INDEX run_claim_state ON run_claim(state, heartbeat_at);
