-- Check-ins: one row each under its account, ordered by when it took place then by id (ids
-- grow as they are recorded); the whole check-in as a document (store/document.rs).
CREATE TABLE check_ins (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL,
    check_in_time  BIGINT NOT NULL,
    body           BYTEA NOT NULL
);
CREATE INDEX check_ins_by_account ON check_ins (account_id, check_in_time, id);
