-- Each opportunity's document moves into its row: one insert and one B-tree per new
-- opportunity instead of two of each, one update per change, no join to list. Reports never
-- read the table (they read covering indexes), so the wider rows cost them nothing.
ALTER TABLE opportunities ADD COLUMN body BYTEA NOT NULL DEFAULT '\x';
UPDATE opportunities o SET body = d.body FROM opportunity_documents d WHERE d.id = o.id;
ALTER TABLE opportunities ALTER COLUMN body DROP DEFAULT;
DROP TABLE opportunity_documents;
