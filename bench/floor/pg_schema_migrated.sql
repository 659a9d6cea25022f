-- The tables one hold writes as migrated (migrations/0004 with postgres/0010: ids and keys
-- compared bytewise), trimmed to what a hold touches, for run.sh.
DROP TABLE IF EXISTS inventory, reservations, inventory_events;
CREATE TABLE inventory (sku TEXT, warehouse TEXT, on_hand BIGINT NOT NULL,
  reserved BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand),
  ledger_seq BIGINT NOT NULL DEFAULT 0, ledger_on_hand BIGINT, PRIMARY KEY (sku, warehouse));
INSERT INTO inventory VALUES ('HOT-0000', 'W1', 1000000000000, 0, 0, NULL);
CREATE TABLE reservations (id TEXT COLLATE "C" PRIMARY KEY,
  idempotency_key TEXT COLLATE "C" NOT NULL UNIQUE,
  request_hash TEXT NOT NULL, who TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('held','committed','released','expired')),
  created_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ, lines TEXT NOT NULL);
CREATE INDEX reservations_due ON reservations (status, expires_at);
CREATE TABLE inventory_events (sku TEXT NOT NULL, warehouse TEXT NOT NULL, seq BIGINT NOT NULL CHECK (seq >= 1),
  at TIMESTAMPTZ NOT NULL, kind TEXT NOT NULL, on_hand_before BIGINT NOT NULL, on_hand_after BIGINT NOT NULL,
  reserved_before BIGINT NOT NULL, reserved_after BIGINT NOT NULL, reservation_id TEXT, who TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '', PRIMARY KEY (sku, warehouse, seq));
