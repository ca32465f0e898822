-- Each node carries a copy of its producer's description, so an answer's
-- details are one primary-key read per node instead of two (the node,
-- then its producer: random pages of a second table). The producers table
-- stays the record of producers (runs, OpenLineage states, producers
-- without outputs yet); these columns are written with the node from it.
ALTER TABLE nodes
    ADD COLUMN producer_kind smallint NOT NULL DEFAULT 0,
    ADD COLUMN producer_tenant text NOT NULL DEFAULT '',
    ADD COLUMN run_id text NOT NULL DEFAULT '',
    ADD COLUMN step_id text NOT NULL DEFAULT '',
    ADD COLUMN agent text NOT NULL DEFAULT '',
    ADD COLUMN agent_version text NOT NULL DEFAULT '',
    ADD COLUMN job_namespace text NOT NULL DEFAULT '',
    ADD COLUMN job_name text NOT NULL DEFAULT '',
    ADD COLUMN producer_seq bigint NOT NULL DEFAULT 0,
    ADD COLUMN producer_at timestamptz;

UPDATE nodes n
SET producer_kind = p.kind, producer_tenant = p.tenant, run_id = p.run_id, step_id = p.step_id, agent = p.agent,
    agent_version = p.agent_version, job_namespace = p.job_namespace, job_name = p.job_name,
    producer_seq = p.appeared_seq, producer_at = p.appeared_at
FROM producers p
WHERE p.producer_id = n.producer_id;
