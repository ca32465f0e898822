-- The audit lines of every artifact event of a run (stored, expired), in
-- the order of the log: what `<tenant>/runs/<run_id>/events/audit_trail.jsonl`
-- is written from, beside the run's own events read from its subject.
-- Folded from `<prefix>.blob.>` with the artifacts; disposable.
CREATE TABLE run_events (
    sequence bigint PRIMARY KEY,
    tenant   text NOT NULL,
    run_id   text NOT NULL,
    -- One JSON object (see src/audit.rs), kept as written.
    line     text NOT NULL
);
CREATE INDEX run_events_by_run ON run_events (tenant, run_id, sequence);
