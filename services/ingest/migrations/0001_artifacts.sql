-- Ingest's view ("artifacts"): every stored artifact with its producer,
-- lineage inputs, digests and place, and the integrity status of every
-- blob. Folded from `<prefix>.blob.>`; disposable
-- (`gantry admin rebuild ingest`).
CREATE TABLE artifacts (
    artifact_id      uuid PRIMARY KEY,
    tenant           text NOT NULL,
    run_id           text NOT NULL,
    step_id          text NOT NULL,
    agent            text NOT NULL,
    agent_version    text NOT NULL,
    name             text NOT NULL,
    media_type       text NOT NULL,
    inputs           uuid[] NOT NULL,
    retention        integer NOT NULL,
    expires_at       timestamptz,
    sha256           text NOT NULL,
    blake3           text NOT NULL,
    size_bytes       bigint NOT NULL,
    storage_backend  text NOT NULL,
    storage_key      text NOT NULL,
    storage_uri      text NOT NULL,
    deduplicated     boolean NOT NULL,
    uploaded_by      text NOT NULL,
    stored_at        timestamptz NOT NULL,
    -- Set once the retention ran out.
    expired_at       timestamptz,
    created_sequence bigint NOT NULL,
    sequence         bigint NOT NULL
);
CREATE INDEX artifacts_by_tenant ON artifacts (tenant, created_sequence DESC);
CREATE INDEX artifacts_by_run ON artifacts (tenant, run_id, created_sequence DESC);
CREATE INDEX artifacts_by_name ON artifacts (tenant, name, created_sequence DESC);
CREATE INDEX artifacts_by_content ON artifacts (storage_backend, sha256);
CREATE INDEX artifacts_to_expire ON artifacts (expires_at) WHERE expired_at IS NULL;

-- The last word on each blob: stored (written and verified while it was),
-- verified (read back whole, matched), corrupted (read back, did not match
-- or was missing), deleting (no live reference; its bytes are being
-- removed) or deleted.
CREATE TABLE blobs (
    storage_backend text NOT NULL,
    sha256          text NOT NULL,
    storage_key     text NOT NULL,
    status          text NOT NULL CHECK (status IN ('stored', 'verified', 'corrupted', 'deleting', 'deleted')),
    detail          text NOT NULL DEFAULT '',
    changed_at      timestamptz NOT NULL,
    sequence        bigint NOT NULL,
    PRIMARY KEY (storage_backend, sha256)
);
