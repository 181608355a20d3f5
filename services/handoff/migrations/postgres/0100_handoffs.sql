-- Same schema as sqlite/; only the documents' binary type differs (BYTEA here).
-- A handoff is a row: the columns ListHandoffs filters and pages on (and the background prefill
-- finds its work by), beside the whole handoff as a document (`body`, in the format
-- store/document.rs defines). Ids are UUIDv7, so `id` order is creation order.
CREATE TABLE handoffs (
    id               TEXT PRIMARY KEY,
    -- `contracts/{contract}/orders/{order}`: one handoff per order. Two StartHandoff calls for
    -- one order meet on this key; the second finds the first's handoff.
    order_name       TEXT NOT NULL UNIQUE,
    contract         TEXT NOT NULL,
    opportunity      TEXT NOT NULL,
    account_id       TEXT NOT NULL,
    salesperson      TEXT NOT NULL,
    -- NULL while no account manager is assigned (the account team's queue).
    account_manager  TEXT,
    status           TEXT NOT NULL,
    -- PENDING, DONE or FAILED: the background prefill retries the PENDING ones.
    prefill          TEXT NOT NULL,
    -- 1 while the handoff is ACCEPTED and the account account-management opened is not
    -- recorded on it yet: the background follow-up of OpenAccount looks for these.
    awaiting_account BIGINT NOT NULL,
    create_time      BIGINT NOT NULL,
    version          BIGINT NOT NULL,
    body             BYTEA NOT NULL
);
CREATE INDEX handoffs_by_salesperson ON handoffs (salesperson, id);
CREATE INDEX handoffs_by_account_manager ON handoffs (account_manager, id);
CREATE INDEX handoffs_by_account ON handoffs (account_id, id);
CREATE INDEX handoffs_by_contract ON handoffs (contract, id);
CREATE INDEX handoffs_by_status ON handoffs (status, id);
CREATE INDEX handoffs_prefill_pending ON handoffs (id) WHERE prefill = 'PENDING';
CREATE INDEX handoffs_awaiting_account ON handoffs (id) WHERE awaiting_account = 1;
