-- One schema for SQLite and PostgreSQL: only types and syntax both accept.
-- Dates are DATE (text YYYY-MM-DD in SQLite), instants TIMESTAMPTZ, quantities DOUBLE PRECISION or BIGINT.
-- Ids are text chosen by the application, so no backend-specific autoincrement is needed.

CREATE TABLE warehouses (
    warehouse       TEXT PRIMARY KEY,
    region          TEXT NOT NULL,
    capacity_units  DOUBLE PRECISION CHECK (capacity_units IS NULL OR capacity_units >= 0),
    capacity_m3     DOUBLE PRECISION CHECK (capacity_m3 IS NULL OR capacity_m3 >= 0)
);

CREATE TABLE products (
    sku             TEXT PRIMARY KEY,
    category        TEXT NOT NULL,
    unit_volume_m3  DOUBLE PRECISION CHECK (unit_volume_m3 IS NULL OR unit_volume_m3 >= 0),
    case_pack       BIGINT CHECK (case_pack IS NULL OR case_pack >= 1),
    unit_price      DOUBLE PRECISION CHECK (unit_price IS NULL OR unit_price >= 0)
);

CREATE TABLE promotions (
    promo_id        TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    start_date      DATE NOT NULL,
    end_date        DATE NOT NULL,
    discount_pct    DOUBLE PRECISION NOT NULL CHECK (discount_pct >= 0 AND discount_pct < 100),
    sku             TEXT,
    category        TEXT,
    warehouse       TEXT,
    CHECK (end_date >= start_date)
);

CREATE TABLE inventory (
    sku               TEXT NOT NULL REFERENCES products (sku),
    warehouse         TEXT NOT NULL REFERENCES warehouses (warehouse),
    on_hand           BIGINT NOT NULL CHECK (on_hand >= 0),
    inbound           BIGINT NOT NULL DEFAULT 0 CHECK (inbound >= 0),
    min_presentation  BIGINT NOT NULL DEFAULT 0 CHECK (min_presentation >= 0),
    PRIMARY KEY (sku, warehouse)
);

-- Fact tables carry no foreign keys: ingest checks every sku and warehouse against the
-- dimension tables before loading, and per-row FK checks would halve bulk-load speed.
CREATE TABLE stock_levels (
    sku        TEXT NOT NULL,
    warehouse  TEXT NOT NULL,
    date       DATE NOT NULL,
    on_hand    BIGINT NOT NULL CHECK (on_hand >= 0),
    PRIMARY KEY (sku, warehouse, date)
);

-- `source` separates imported history from sales committed by the live reservation core,
-- so re-importing a file never overwrites live sales and vice versa.
CREATE TABLE sales (
    sku        TEXT NOT NULL,
    warehouse  TEXT NOT NULL,
    date       DATE NOT NULL,
    source     TEXT NOT NULL DEFAULT 'import',
    units      DOUBLE PRECISION NOT NULL CHECK (units >= 0),
    price      DOUBLE PRECISION CHECK (price IS NULL OR price >= 0),
    promo_id   TEXT,
    PRIMARY KEY (sku, warehouse, date, source)
);

CREATE TABLE poll_responses (
    response_key    TEXT PRIMARY KEY,
    responded_at    TIMESTAMPTZ NOT NULL,
    sku             TEXT,
    category        TEXT,
    interest        BIGINT NOT NULL CHECK (interest BETWEEN 1 AND 5),
    intends_to_buy  BOOLEAN,
    CHECK (sku IS NOT NULL OR category IS NOT NULL)
);
CREATE INDEX poll_responses_by_time ON poll_responses (responded_at);

CREATE TABLE events (
    date   DATE NOT NULL,
    event  TEXT NOT NULL,
    PRIMARY KEY (date, event)
);

-- The dataset's period, recorded by ingest so later steps read history at the right grain.
CREATE TABLE dataset_settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

CREATE TABLE ingest_runs (
    id              TEXT PRIMARY KEY,
    batch_id        TEXT NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ NOT NULL,
    who             TEXT NOT NULL,
    file            TEXT NOT NULL,
    file_sha256     TEXT NOT NULL,
    table_name      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('loaded', 'unchanged', 'failed')),
    rows_read       BIGINT NOT NULL CHECK (rows_read >= 0),
    rows_accepted   BIGINT NOT NULL CHECK (rows_accepted >= 0),
    rows_rejected   BIGINT NOT NULL CHECK (rows_rejected >= 0),
    rows_merged     BIGINT NOT NULL DEFAULT 0 CHECK (rows_merged >= 0),
    quarantine_file TEXT,
    message         TEXT
);
CREATE INDEX ingest_runs_by_file ON ingest_runs (file_sha256, table_name, status);
