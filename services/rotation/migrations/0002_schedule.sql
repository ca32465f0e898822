-- The schedule's columns: a credential's own period (within its tier's),
-- the user whose password is current (alternating users), the generation of
-- its deadline (the sequence of the event that set it), when the schedule
-- rotates it, and when its last rotation failed.
ALTER TABLE credentials
    ADD COLUMN own_period_days  integer NOT NULL DEFAULT 0,
    ADD COLUMN current_username text NOT NULL DEFAULT '',
    ADD COLUMN generation       bigint NOT NULL DEFAULT 0,
    ADD COLUMN next_rotation_at timestamptz,
    ADD COLUMN failed_at        timestamptz;
