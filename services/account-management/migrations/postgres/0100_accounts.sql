-- Same schema as sqlite/; only the documents' binary type differs (BYTEA here).
-- Each account is a row: the columns ListAccounts filters and pages on, beside the whole
-- aggregate as a document (`body`, in the format store/document.rs defines). `check_in_due_day`
-- is the next check-in date (days since 1970-01-01) as of the last save, NULL while CHURNED.
CREATE TABLE accounts (
    id                   TEXT PRIMARY KEY,
    customer_account_id  TEXT NOT NULL UNIQUE,
    account_manager      TEXT NOT NULL,
    salesperson          TEXT NOT NULL,
    status               TEXT NOT NULL,
    currency             TEXT NOT NULL,
    check_in_due_day     BIGINT,
    create_time          BIGINT NOT NULL,
    version              BIGINT NOT NULL,
    body                 BYTEA NOT NULL
);
CREATE INDEX accounts_by_manager ON accounts (account_manager, id);
CREATE INDEX accounts_by_salesperson ON accounts (salesperson, id);

-- Every handoff applied to an account (the one that opened it and each that extended it): a
-- redelivered OpenAccount finds its account here.
CREATE TABLE account_handoffs (
    handoff     TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL
);
