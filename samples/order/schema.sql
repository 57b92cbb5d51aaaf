-- The order sample's PostgreSQL side (docs/saga.md). A charge that would overdraw updates 0
-- rows (expect_rows 1 → refused); a duplicate order id violates the primary key (refused).
CREATE TABLE IF NOT EXISTS payments (
  account text PRIMARY KEY,
  balance bigint NOT NULL CHECK (balance >= 0)
);
CREATE TABLE IF NOT EXISTS orders (
  id      text PRIMARY KEY,
  account text NOT NULL,
  sku     text NOT NULL,
  qty     int  NOT NULL CHECK (qty > 0),
  amount  bigint NOT NULL
);
INSERT INTO payments VALUES ('alice', 100), ('bob', 20) ON CONFLICT (account) DO NOTHING;
