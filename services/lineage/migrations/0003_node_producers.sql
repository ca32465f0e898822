-- no-transaction
-- Each node carries a copy of its producer's description, so an answer's
-- details are one primary-key read per node instead of two (the node,
-- then its producer: random pages of a second table). The producers table
-- stays the record of producers (runs, OpenLineage states, producers
-- without outputs yet). A trigger makes the copy as a node is inserted,
-- so a replica still running the code before this migration (a rolling
-- upgrade) writes nodes with their copy too.
--
-- Two transactions, each safe to run again: the columns and the trigger
-- (a short exclusive lock), then the backfill of the nodes already there,
-- which readers do not wait for.
BEGIN;
ALTER TABLE nodes
    ADD COLUMN IF NOT EXISTS producer_kind smallint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS producer_tenant text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS run_id text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS step_id text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS agent text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS agent_version text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS job_namespace text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS job_name text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS producer_seq bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS producer_at timestamptz;

CREATE OR REPLACE FUNCTION nodes_copy_producer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    made producers%ROWTYPE;
BEGIN
    IF NEW.producer_id IS NOT NULL AND NEW.producer_kind = 0 THEN
        SELECT * INTO made FROM producers WHERE producer_id = NEW.producer_id;
        IF FOUND THEN
            NEW.producer_kind := made.kind;
            NEW.producer_tenant := made.tenant;
            NEW.run_id := made.run_id;
            NEW.step_id := made.step_id;
            NEW.agent := made.agent;
            NEW.agent_version := made.agent_version;
            NEW.job_namespace := made.job_namespace;
            NEW.job_name := made.job_name;
            NEW.producer_seq := made.appeared_seq;
            NEW.producer_at := made.appeared_at;
        END IF;
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS nodes_copy_producer ON nodes;
CREATE TRIGGER nodes_copy_producer BEFORE INSERT ON nodes
    FOR EACH ROW EXECUTE FUNCTION nodes_copy_producer();
COMMIT;

BEGIN;
UPDATE nodes n
SET producer_kind = p.kind, producer_tenant = p.tenant, run_id = p.run_id, step_id = p.step_id, agent = p.agent,
    agent_version = p.agent_version, job_namespace = p.job_namespace, job_name = p.job_name,
    producer_seq = p.appeared_seq, producer_at = p.appeared_at
FROM producers p
WHERE p.producer_id = n.producer_id AND n.producer_kind = 0;
COMMIT;
