-- The bank sample's PostgreSQL side. Balances never go below zero: a debit that would
-- overdraw violates the CHECK (or updates 0 rows) and the branch votes no.
CREATE TABLE IF NOT EXISTS accounts (
  id      text PRIMARY KEY,
  balance bigint NOT NULL CHECK (balance >= 0)
);
