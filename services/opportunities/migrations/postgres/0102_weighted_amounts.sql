-- The weighted amount is computed by the domain when an opportunity is saved (amount times its
-- probability: the override while open, else its stage's default under the configured policy),
-- so reports sum it instead of restating the probability rule in SQL. NULL means not weighed
-- yet: rows written before this column existed, or by a replica of an older build during a
-- rolling upgrade; the service weighs them when it starts. The `weighting` row records the
-- probabilities the stored amounts were computed with; a service started with other
-- probabilities weighs every row again before it serves.
ALTER TABLE opportunities ADD COLUMN weighted_minor BIGINT;
DROP INDEX opportunities_forecast;
CREATE INDEX opportunities_forecast ON opportunities
    (currency, forecast_day, owner, forecast_category, is_open, amount_minor, weighted_minor);
CREATE TABLE weighting (
    id             BIGINT PRIMARY KEY CHECK (id = 1),
    probabilities  TEXT NOT NULL
);
