-- The provisioner's view: one row per database request it acted on, from
-- its own events on the request subjects (started, role, database,
-- credentials, ready, failed). Disposable: `gantry admin rebuild provisioner`.
CREATE TABLE databases (
    request_id       uuid PRIMARY KEY,
    environment      text NOT NULL DEFAULT '',
    database_name    text NOT NULL DEFAULT '',
    role_name        text NOT NULL DEFAULT '',
    host             text NOT NULL DEFAULT '',
    port             integer NOT NULL DEFAULT 0,
    connection_limit integer NOT NULL DEFAULT 0,
    audit_logging    boolean NOT NULL DEFAULT false,
    status           text NOT NULL,
    secret_name      text NOT NULL DEFAULT '',
    secret_version   text NOT NULL DEFAULT '',
    failure          text NOT NULL DEFAULT '',
    started_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    ready_at         timestamptz,
    sequence         bigint NOT NULL
);

CREATE INDEX databases_status ON databases (status, environment);
