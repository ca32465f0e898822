-- Lineage's graph view. Every row carries the stream sequence (and time)
-- at which it appeared, and an expiry its own, so the graph as of
-- sequence S is a predicate on those columns: one view answers now and
-- any earlier point.

-- Who made nodes: a step of a pipeline run (kind 1) or an OpenLineage run (kind 2).
CREATE TABLE producers (
    producer_id    uuid PRIMARY KEY,
    kind           smallint NOT NULL,
    tenant         text NOT NULL,
    run_id         text NOT NULL,
    step_id        text NOT NULL DEFAULT '',
    agent          text NOT NULL DEFAULT '',
    agent_version  text NOT NULL DEFAULT '',
    job_namespace  text NOT NULL DEFAULT '',
    job_name       text NOT NULL DEFAULT '',
    appeared_seq   bigint NOT NULL,
    appeared_at    timestamptz NOT NULL,
    -- OpenLineage: the terminal event that made its outputs (NULL before).
    finished_seq   bigint
);
CREATE INDEX producers_by_run ON producers (tenant, run_id);

-- An OpenLineage run's state transitions (START, COMPLETE, ...).
CREATE TABLE producer_states (
    producer_id  uuid NOT NULL,
    seq          bigint NOT NULL,
    state        text NOT NULL,
    at           timestamptz NOT NULL,
    PRIMARY KEY (producer_id, seq)
);

-- The datasets an OpenLineage run declared (direction 1 input, 2 output)
-- before it finished; its terminal event turns them into nodes and edges.
CREATE TABLE declared_datasets (
    producer_id  uuid NOT NULL,
    direction    smallint NOT NULL,
    namespace    text NOT NULL,
    name         text NOT NULL,
    seq          bigint NOT NULL,
    PRIMARY KEY (producer_id, direction, namespace, name)
);

-- Artifacts (kind 1) and dataset versions (kind 2).
CREATE TABLE nodes (
    node_id       uuid PRIMARY KEY,
    kind          smallint NOT NULL,
    tenant        text NOT NULL,
    name          text NOT NULL,
    namespace     text NOT NULL DEFAULT '',
    media_type    text NOT NULL DEFAULT '',
    sha256        text NOT NULL DEFAULT '',
    size_bytes    bigint NOT NULL DEFAULT 0,
    producer_id   uuid,
    appeared_seq  bigint NOT NULL,
    appeared_at   timestamptz NOT NULL,
    expired_seq   bigint,
    expired_at    timestamptz
);
CREATE INDEX nodes_by_producer ON nodes (producer_id);
CREATE INDEX dataset_versions ON nodes (tenant, namespace, name, appeared_seq) WHERE kind = 2;

-- input was used by the producer of output; seq is output's appearance.
-- Both directions are covered by an index holding every column the walk
-- reads, so each generation is one index-only scan.
CREATE TABLE edges (
    input_id   uuid NOT NULL,
    output_id  uuid NOT NULL,
    seq        bigint NOT NULL,
    PRIMARY KEY (output_id, input_id) INCLUDE (seq)
);
CREATE INDEX edges_downstream ON edges (input_id, output_id) INCLUDE (seq);

-- Every graph event applied, with its time made monotonic in the
-- sequence: `as_of` a time is the last sequence recorded by then.
CREATE TABLE applied (
    seq  bigint PRIMARY KEY,
    at   timestamptz NOT NULL
);
CREATE INDEX applied_by_time ON applied (at, seq);
