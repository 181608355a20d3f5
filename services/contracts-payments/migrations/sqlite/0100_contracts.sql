-- Same schema as postgres/; only the documents' binary type differs (BLOB here).
-- Each aggregate is a row: the columns lists filter and page on, beside the whole aggregate as
-- a document (`body`, in the format store/document.rs defines). Statuses that depend on the
-- date (a SENT contract past its expiry, an invoice's DRAFT/OPEN/PAST_DUE) are not stored:
-- listings derive them from the columns with the same rule the domain reads them with.
CREATE TABLE contracts (
    id           TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    opportunity  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL,
    expire_time  BIGINT,
    currency     TEXT NOT NULL,
    create_time  BIGINT NOT NULL,
    version      BIGINT NOT NULL,
    body         BLOB NOT NULL
);
CREATE INDEX contracts_by_owner ON contracts (owner, id);
CREATE INDEX contracts_by_account ON contracts (account_id, id);
CREATE INDEX contracts_by_opportunity ON contracts (opportunity, id);

-- The one contract of an opportunity that is not DECLINED, VOIDED or EXPIRED: the primary key
-- makes two concurrent CreateContract calls for one opportunity meet here.
CREATE TABLE opportunity_contracts (
    opportunity  TEXT PRIMARY KEY,
    contract_id  TEXT NOT NULL
);

-- Orders live in their contract's document; this row is what ListOrders filters and pages on.
CREATE TABLE orders (
    id           TEXT PRIMARY KEY,
    contract_id  TEXT NOT NULL UNIQUE,
    owner        TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    status       TEXT NOT NULL,
    number       TEXT NOT NULL UNIQUE
);
CREATE INDEX orders_by_owner ON orders (owner, id);
CREATE INDEX orders_by_account ON orders (account_id, id);

-- `settled` is PAID, VOID or UNCOLLECTIBLE once settled, NULL while collectible; days are days
-- since 1970-01-01.
CREATE TABLE invoices (
    id               TEXT PRIMARY KEY,
    contract_id      TEXT NOT NULL,
    owner            TEXT NOT NULL,
    account_id       TEXT NOT NULL,
    currency         TEXT NOT NULL,
    settled          TEXT,
    issue_day        BIGINT NOT NULL,
    due_day          BIGINT NOT NULL,
    next_retry_time  BIGINT,
    number           TEXT NOT NULL UNIQUE,
    version          BIGINT NOT NULL,
    body             BLOB NOT NULL
);
CREATE INDEX invoices_by_due ON invoices (due_day, id);
CREATE INDEX invoices_by_contract ON invoices (contract_id, due_day, id);
CREATE INDEX invoices_by_account ON invoices (account_id, due_day, id);
CREATE INDEX invoices_by_owner ON invoices (owner, due_day, id);
CREATE INDEX invoices_retry_due ON invoices (next_retry_time) WHERE next_retry_time IS NOT NULL;

-- Payment attempts are immutable once recorded. A processor's reference is unique per
-- processor (an empty reference is not a reference).
CREATE TABLE payment_attempts (
    id                   TEXT PRIMARY KEY,
    invoice_id           TEXT NOT NULL,
    contract_id          TEXT NOT NULL,
    owner                TEXT NOT NULL,
    account_id           TEXT NOT NULL,
    result               TEXT NOT NULL,
    processor            TEXT NOT NULL,
    processor_reference  TEXT NOT NULL,
    body                 BLOB NOT NULL
);
CREATE INDEX payment_attempts_by_invoice ON payment_attempts (invoice_id, id);
CREATE INDEX payment_attempts_by_contract ON payment_attempts (contract_id, id);
CREATE INDEX payment_attempts_by_account ON payment_attempts (account_id, id);
CREATE UNIQUE INDEX payment_attempts_reference ON payment_attempts (processor, processor_reference)
    WHERE processor_reference <> '';

-- Follow-ups of failed payments; at most one open per invoice.
CREATE TABLE follow_ups (
    id           TEXT PRIMARY KEY,
    invoice_id   TEXT NOT NULL,
    contract_id  TEXT NOT NULL,
    assignee     TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    is_open      BIGINT NOT NULL,
    version      BIGINT NOT NULL,
    body         BLOB NOT NULL
);
CREATE INDEX follow_ups_by_assignee ON follow_ups (assignee, id);
CREATE INDEX follow_ups_by_account ON follow_ups (account_id, id);
CREATE UNIQUE INDEX follow_ups_one_open ON follow_ups (invoice_id) WHERE is_open = 1;

-- Human-readable numbers (orders, invoices), one counter per kind.
CREATE TABLE counters (
    name   TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('order', 0), ('invoice', 0);
