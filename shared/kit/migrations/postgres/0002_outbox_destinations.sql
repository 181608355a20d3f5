-- Each command is owed to one peer (its destination): a relay per configured peer claims only
-- that peer's commands, so a peer that is down or not configured holds only its own. A command
-- the peer refuses for good is parked (park_time set) with the peer's answer instead of being
-- retried; an operator retries it after a fix. Rows written before destinations existed get
-- theirs from the host at start-up (it knows which peer serves which topic).
ALTER TABLE outbox ADD COLUMN destination TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN park_time BIGINT;
ALTER TABLE outbox ADD COLUMN last_code TEXT;
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (destination, next_attempt_time)
    WHERE deliver_time IS NULL AND park_time IS NULL;

-- Secrets a service keeps for itself, shared by its replicas through the database: the key
-- that signs page tokens.
CREATE TABLE kit_secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
