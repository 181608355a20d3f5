-- Same schema as sqlite/; only the document's binary type differs (BYTEA here).
-- Opportunities: the queryable columns in a narrow table (what lists, filters and reports read),
-- the whole aggregate as a JSON document beside it (what Get and changes read).
CREATE TABLE opportunities (
    id                    TEXT PRIMARY KEY,
    owner                 TEXT NOT NULL,
    account_id            TEXT NOT NULL,
    stage                 TEXT NOT NULL,
    kind                  TEXT NOT NULL,
    is_open               BIGINT NOT NULL,
    currency              TEXT NOT NULL,
    amount_minor          BIGINT NOT NULL,
    list_amount_minor     BIGINT NOT NULL,
    probability_override  BIGINT,
    forecast_category     TEXT NOT NULL,
    forecast_day          BIGINT NOT NULL,
    create_day            BIGINT NOT NULL,
    close_day             BIGINT,
    loss_reason           TEXT,
    competitor            TEXT NOT NULL,
    competitor_key        TEXT NOT NULL,
    prior_contract_minor  BIGINT,
    version               BIGINT NOT NULL
);
CREATE INDEX opportunities_by_owner ON opportunities (owner, id);
CREATE INDEX opportunities_by_account ON opportunities (account_id, id);
CREATE INDEX opportunities_by_stage ON opportunities (stage, id);
-- Reports read only these covering indexes, never the table: a forecast over a million
-- opportunities is one ordered index range scan.
CREATE INDEX opportunities_forecast ON opportunities
    (currency, forecast_day, owner, forecast_category, is_open, stage, probability_override, amount_minor);
CREATE INDEX opportunities_closed ON opportunities
    (currency, close_day, owner, stage, kind, amount_minor, list_amount_minor, create_day,
     prior_contract_minor, loss_reason, competitor_key, competitor)
    WHERE close_day IS NOT NULL;

CREATE TABLE opportunity_documents (
    id    TEXT PRIMARY KEY,
    body  BYTEA NOT NULL
);

-- Every stage change, for stage-duration reports.
CREATE TABLE stage_changes (
    opportunity_id  TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    owner           TEXT NOT NULL,
    from_stage      TEXT NOT NULL,
    to_stage        TEXT NOT NULL,
    change_time     BIGINT NOT NULL,
    time_in_stage   BIGINT NOT NULL,
    PRIMARY KEY (opportunity_id, seq)
);
CREATE INDEX stage_changes_by_time ON stage_changes (change_time);
