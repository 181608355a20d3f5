-- Operations updates: one row each under its account, with the columns the lists filter and
-- page on (kind, severity rank 0 = INFO .. 4 = CRITICAL, whether it is an ISSUE still open,
-- when it was posted) beside the whole update as a document (store/document.rs).
CREATE TABLE operations_updates (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    severity_rank   BIGINT NOT NULL,
    open_issue      BIGINT NOT NULL,
    create_time     BIGINT NOT NULL,
    body            BYTEA NOT NULL
);
CREATE INDEX operations_updates_by_account ON operations_updates (account_id, create_time);
CREATE INDEX operations_updates_by_time ON operations_updates (create_time);
