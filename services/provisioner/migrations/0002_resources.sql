-- The provisioner's view, reshaped as "resources": every request on the log
-- (its spec, for reads, the catalog and the audit), the databases and
-- buckets the provisioner acted on, the drift a reconcile found open, and
-- one audit row per request event. It replaces `databases` (view
-- "provisioner"), which held only the provisioner's own events; the new
-- view replays the log from its start under its own name. Disposable:
-- `gantry admin rebuild provisioner`.
DROP TABLE IF EXISTS databases;

CREATE TABLE requests (
    request_id  uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('database', 'bucket')),
    environment text NOT NULL,
    resource    text NOT NULL,
    owner       text NOT NULL,
    -- A bucket's purpose (`backend-state`, …); empty for a database.
    purpose     text NOT NULL DEFAULT '',
    -- The encoded gantry.types.v1.DatabaseSpec or BucketSpec, as requested.
    spec        bytea NOT NULL
);

CREATE TABLE databases (
    request_id       uuid PRIMARY KEY REFERENCES requests,
    environment      text NOT NULL,
    database_name    text NOT NULL,
    role_name        text NOT NULL,
    owner            text NOT NULL,
    status           text NOT NULL,
    host             text NOT NULL DEFAULT '',
    port             integer NOT NULL DEFAULT 0,
    connection_limit integer NOT NULL DEFAULT 0,
    audit_logging    boolean NOT NULL DEFAULT false,
    secret_name      text NOT NULL DEFAULT '',
    secret_version   text NOT NULL DEFAULT '',
    failure          text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    ready_at         timestamptz,
    -- The event that made the row: listings page newest first by it.
    created_sequence bigint NOT NULL,
    sequence         bigint NOT NULL
);
CREATE INDEX databases_listing ON databases (created_sequence DESC);
CREATE INDEX databases_by_name ON databases (environment, database_name);

CREATE TABLE buckets (
    request_id         uuid PRIMARY KEY REFERENCES requests,
    environment        text NOT NULL,
    bucket_name        text NOT NULL,
    owner              text NOT NULL,
    status             text NOT NULL,
    region             text NOT NULL DEFAULT '',
    versioning         boolean NOT NULL DEFAULT false,
    encryption         text NOT NULL DEFAULT '',
    kms_key_id         text NOT NULL DEFAULT '',
    replication_target text NOT NULL DEFAULT '',
    failure            text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    ready_at           timestamptz,
    created_sequence   bigint NOT NULL,
    sequence           bigint NOT NULL
);
CREATE INDEX buckets_listing ON buckets (created_sequence DESC);
CREATE INDEX buckets_by_name ON buckets (bucket_name);

-- Differences a reconcile found and that are not yet gone.
CREATE TABLE drifts (
    request_id  uuid NOT NULL REFERENCES requests,
    property    text NOT NULL,
    expected    text NOT NULL,
    actual      text NOT NULL,
    detected_at timestamptz NOT NULL,
    sequence    bigint NOT NULL,
    PRIMARY KEY (request_id, property)
);

-- One row per event on a request: the audit export's rows.
CREATE TABLE audit (
    sequence    bigint PRIMARY KEY,
    request_id  uuid NOT NULL REFERENCES requests,
    occurred_at timestamptz NOT NULL,
    action      text NOT NULL,
    actor       text NOT NULL,
    outcome     text NOT NULL,
    detail      text NOT NULL
);
CREATE INDEX audit_by_request ON audit (request_id, sequence);
