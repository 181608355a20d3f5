-- Expansions and referrals: one row each under its account, with the id of the
-- CreateOpportunity it owes in the outbox (whose state is the request's status) and the
-- whole record as a document (store/document.rs). Listed most recent first.
CREATE TABLE expansions (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    command_id   TEXT NOT NULL UNIQUE,
    create_time  BIGINT NOT NULL,
    body         BLOB NOT NULL
);
CREATE INDEX expansions_by_account ON expansions (account_id, create_time);

CREATE TABLE referrals (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    command_id   TEXT NOT NULL UNIQUE,
    create_time  BIGINT NOT NULL,
    body         BLOB NOT NULL
);
CREATE INDEX referrals_by_account ON referrals (account_id, create_time);
