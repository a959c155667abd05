-- Constraints the code tells apart by name. SQLite reports a failed named CHECK as
-- "CHECK constraint failed: <name>", so the overdraft guard is recognised exactly, never by a
-- substring that any other CHECK would also match (core::sql::Violation).
-- SQLite cannot rename a constraint in place: the table is rebuilt, rows kept.
CREATE TABLE balances_named (
    user_id    TEXT    PRIMARY KEY,
    balance    INTEGER NOT NULL CONSTRAINT balance_not_negative CHECK (balance >= 0),
    updated_at INTEGER NOT NULL
) STRICT;
INSERT INTO balances_named (user_id, balance, updated_at)
    SELECT user_id, balance, updated_at FROM balances;
DROP TABLE balances;
ALTER TABLE balances_named RENAME TO balances;
