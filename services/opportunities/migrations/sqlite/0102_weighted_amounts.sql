-- The weighted amount is computed by the domain when an opportunity is saved (amount times its
-- probability: the override while open, else its stage's default under the configured policy),
-- so reports sum it instead of restating the probability rule in SQL. Rows written before this
-- column existed get theirs when the service starts: the `weighting` table records the
-- probabilities the stored amounts were computed with, and a service started with other
-- probabilities (or none recorded yet) weighs every row again before it serves.
ALTER TABLE opportunities ADD COLUMN weighted_minor BIGINT NOT NULL DEFAULT 0;
DROP INDEX opportunities_forecast;
CREATE INDEX opportunities_forecast ON opportunities
    (currency, forecast_day, owner, forecast_category, is_open, amount_minor, weighted_minor);
CREATE TABLE weighting (
    probabilities  TEXT NOT NULL
);
