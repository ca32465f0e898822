-- The request catalog: one row per request, the intake view of the log.
-- `state` holds the whole folded request as JSON (`json`, not `jsonb`: the
-- service reads it whole and never queries inside it, and `json` is much
-- cheaper to write when a backlog is replayed); the other columns are what
-- the queries filter and sort on. Rebuilt from the log by
-- `gantry admin rebuild intake`.
CREATE TABLE requests (
    request_id       uuid PRIMARY KEY,
    kind             text   NOT NULL,
    name             text   NOT NULL,
    environment      text   NOT NULL,
    owner            text   NOT NULL,
    requester        text   NOT NULL,
    status           text   NOT NULL,
    created_sequence bigint NOT NULL,
    sequence         bigint NOT NULL,
    state            json   NOT NULL
) WITH (fillfactor = 80);

-- No index on status: a status change (approval, provisioning) then touches
-- no indexed column, so it is a HOT update (fillfactor leaves the room), which
-- keeps replaying a backlog fast. Status filters scan the newest-first index.
CREATE INDEX requests_by_created ON requests (created_sequence DESC);
CREATE INDEX requests_by_owner ON requests (owner, created_sequence DESC);
