-- Rotation's view: every database request (its risk sets the period), and
-- every credential the provisioner stored, with where its rotation stands.
-- Disposable: `gantry admin rebuild rotation`.
CREATE TABLE requests (
    request_id    uuid PRIMARY KEY,
    environment   text NOT NULL,
    database_name text NOT NULL,
    role_name     text NOT NULL,
    owner         text NOT NULL,
    requester     text NOT NULL,
    risk          integer NOT NULL,
    period_days   integer NOT NULL
);

CREATE TABLE credentials (
    request_id       uuid PRIMARY KEY REFERENCES requests,
    secret_name      text NOT NULL,
    version_id       text NOT NULL,
    last_rotated_at  timestamptz NOT NULL,
    deadline         timestamptz NOT NULL,
    -- idle, rotating (asked for or under way) or failed (the last one gave up).
    phase            text NOT NULL DEFAULT 'idle' CHECK (phase IN ('idle', 'rotating', 'failed')),
    strategy         integer NOT NULL DEFAULT 1,
    rotations        integer NOT NULL DEFAULT 0,
    reason           text NOT NULL DEFAULT '',
    -- Decommissioned: no longer tracked.
    retired          boolean NOT NULL DEFAULT false,
    created_sequence bigint NOT NULL,
    sequence         bigint NOT NULL
);
CREATE INDEX credentials_by_secret ON credentials (secret_name) WHERE NOT retired;
CREATE INDEX credentials_by_deadline ON credentials (deadline) WHERE NOT retired;
