-- Lists of operations updates (an account's, a salesperson's feed) sort the matching keys before
-- they read a body: with the id in the index, that sort reads the index alone, and only the
-- page's bodies are read from the table (closeloop bench, ListSalespersonFeed).
DROP INDEX operations_updates_by_account;
CREATE INDEX operations_updates_by_account ON operations_updates (account_id, create_time, id);
