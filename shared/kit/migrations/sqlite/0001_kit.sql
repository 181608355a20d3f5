-- Tables every closeloop service has: stored answers of requests with a request_id, and the
-- outbox of commands owed to other services.
CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,
    fingerprint  BIGINT NOT NULL,
    response     BLOB NOT NULL,
    create_time  BIGINT NOT NULL
);
CREATE INDEX idempotency_keys_by_time ON idempotency_keys (create_time);

CREATE TABLE outbox (
    id                 TEXT PRIMARY KEY,
    topic              TEXT NOT NULL,
    payload            BLOB NOT NULL,
    traceparent        TEXT,
    create_time        BIGINT NOT NULL,
    attempts           BIGINT NOT NULL,
    next_attempt_time  BIGINT NOT NULL,
    lease_until        BIGINT NOT NULL,
    last_error         TEXT,
    deliver_time       BIGINT
);
CREATE INDEX outbox_due ON outbox (next_attempt_time) WHERE deliver_time IS NULL;
