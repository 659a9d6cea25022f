-- The live reservation core: held units per stock row, reservations, their immutable ledger,
-- and the API keys of the HTTP service.

-- `reserved` is a column CHECK on `inventory` itself rather than a separate stock table, so the
-- nightly pipeline, ingest and the live core share one row per (sku, warehouse) and the
-- database refuses any write (an ingest included) that would leave available = on_hand −
-- reserved below zero. SQLite cannot add a table CHECK with ALTER TABLE but does accept a
-- column CHECK that names other columns, and so does PostgreSQL. Ingest never writes
-- `reserved` (its upsert only sets the columns of the file), so reloading inventory keeps
-- live holds; a file whose on_hand is below the units held fails the whole ingest.
ALTER TABLE inventory ADD COLUMN reserved BIGINT NOT NULL DEFAULT 0
    CHECK (reserved >= 0 AND reserved <= on_hand);
-- Per-row event counter: changes to a row are serialised by its row lock, so the ledger is
-- totally ordered per (sku, warehouse) even with several service processes.
ALTER TABLE inventory ADD COLUMN ledger_seq BIGINT NOT NULL DEFAULT 0;
-- on_hand as of the row's last ledger event (NULL before the first). An inventory ingest
-- changes on_hand without an event; the next batch that touches the row sees the difference
-- and writes a 'count' event ("inventory import") so replaying the ledger still reproduces it.
ALTER TABLE inventory ADD COLUMN ledger_on_hand BIGINT;

-- `lines` is JSON [{"sku", "warehouse", "qty", "committed"}]: a reservation is read and
-- written whole, and a separate lines table would double the rows written per hold.
CREATE TABLE reservations (
    id               TEXT PRIMARY KEY,
    idempotency_key  TEXT NOT NULL UNIQUE,
    request_hash     TEXT NOT NULL,
    who              TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('held', 'committed', 'released', 'expired')),
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ,
    lines            TEXT NOT NULL
);
-- The sweeper and every batch look for held reservations that are due.
CREATE INDEX reservations_due ON reservations (status, expires_at);

-- Immutable: rows are only ever inserted. Replaying a row's events from its first
-- `on_hand_before` (and reserved = 0) reproduces the current on_hand and reserved.
CREATE TABLE inventory_events (
    sku              TEXT NOT NULL,
    warehouse        TEXT NOT NULL,
    seq              BIGINT NOT NULL CHECK (seq >= 1),
    at               TIMESTAMPTZ NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('reserve', 'commit', 'release', 'expire',
                         'receipt', 'count', 'damage', 'transfer_in', 'transfer_out')),
    on_hand_before   BIGINT NOT NULL,
    on_hand_after    BIGINT NOT NULL CHECK (on_hand_after >= 0),
    reserved_before  BIGINT NOT NULL,
    reserved_after   BIGINT NOT NULL CHECK (reserved_after >= 0 AND reserved_after <= on_hand_after),
    reservation_id   TEXT,
    who              TEXT NOT NULL,
    reason           TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (sku, warehouse, seq)
);

-- Bearer keys are stored only as sha256 hashes; the key itself is printed once at creation.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    key_hash    TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'service', 'merchandiser', 'poller')),
    label       TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
