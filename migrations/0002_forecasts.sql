-- Fitted models (the artifact lives under models/), forecast runs and their rows.

CREATE TABLE model_runs (
    id               TEXT PRIMARY KEY,
    created_at       TIMESTAMPTZ NOT NULL,
    as_of            DATE NOT NULL,
    freq             TEXT NOT NULL CHECK (freq IN ('day', 'week')),
    horizon          BIGINT NOT NULL CHECK (horizon >= 1),
    training_start   DATE NOT NULL,
    training_end     DATE NOT NULL,
    data_fingerprint TEXT NOT NULL,
    crate_version    TEXT NOT NULL,
    artifact_path    TEXT NOT NULL,
    summary          TEXT NOT NULL
);

-- A run is written with status 'writing' and flipped to 'complete' in the same transaction
-- as its last row, so readers only ever see whole runs.
CREATE TABLE forecast_runs (
    id          TEXT PRIMARY KEY,
    model_id    TEXT NOT NULL REFERENCES model_runs (id),
    created_at  TIMESTAMPTZ NOT NULL,
    as_of       DATE NOT NULL,
    freq        TEXT NOT NULL,
    horizon     BIGINT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('writing', 'complete')),
    rows        BIGINT NOT NULL DEFAULT 0 CHECK (rows >= 0)
);

CREATE TABLE forecasts (
    run_id     TEXT NOT NULL REFERENCES forecast_runs (id) ON DELETE CASCADE,
    sku        TEXT NOT NULL,
    warehouse  TEXT NOT NULL,
    date       DATE NOT NULL,
    mean       DOUBLE PRECISION NOT NULL CHECK (mean >= 0),
    p10        DOUBLE PRECISION NOT NULL,
    p50        DOUBLE PRECISION NOT NULL,
    p90        DOUBLE PRECISION NOT NULL,
    CHECK (p10 <= p50 AND p50 <= p90),
    PRIMARY KEY (run_id, sku, warehouse, date)
);
