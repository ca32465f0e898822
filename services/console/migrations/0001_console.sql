-- Console's view: every request's status and how long it has had it, and
-- every stored credential's rotation state, folded from the request
-- subjects. Disposable: `gantry admin rebuild console`.
CREATE TABLE requests (
    request_id   uuid PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('database', 'bucket')),
    name         text NOT NULL,
    environment  text NOT NULL,
    requester    text NOT NULL,
    -- pending_approval, approved, provisioning, ready, failed, rejected,
    -- cancelled, decommission_pending, decommissioning, decommissioned,
    -- decommission_failed.
    status       text NOT NULL,
    reason       text NOT NULL DEFAULT '',
    submitted_at timestamptz NOT NULL,
    status_since timestamptz NOT NULL,
    sequence     bigint NOT NULL
);
CREATE INDEX requests_by_status ON requests (status, status_since);

CREATE TABLE credentials (
    request_id  uuid PRIMARY KEY,
    secret_name text NOT NULL,
    environment text NOT NULL,
    -- ok, due_soon, overdue, rotating, failed.
    state       text NOT NULL,
    deadline    timestamptz,
    reason      text NOT NULL DEFAULT '',
    state_since timestamptz NOT NULL,
    sequence    bigint NOT NULL
);
CREATE INDEX credentials_by_state ON credentials (state, deadline);
