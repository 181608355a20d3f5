-- The callee's answer to a delivered command, kept with it: the resource that owed the call may
-- need what the callee created (the name of an opportunity an expansion opened). NULL when the
-- callee answered that an earlier delivery had applied the command.
ALTER TABLE outbox ADD COLUMN answer BYTEA;
