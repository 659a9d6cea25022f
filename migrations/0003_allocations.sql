-- Allocation runs and their targets and transfers. A run is written in one transaction and
-- flipped to 'published' at its end; readers take the latest published run, so a failed or
-- crashed write leaves the previous allocation in force.

CREATE TABLE allocation_runs (
    id                TEXT PRIMARY KEY,
    created_at        TIMESTAMPTZ NOT NULL,
    published_at      TIMESTAMPTZ,
    as_of             DATE NOT NULL,
    promotion         TEXT NOT NULL,
    policy            TEXT NOT NULL CHECK (policy IN ('margin', 'fair-share')),
    status            TEXT NOT NULL CHECK (status IN ('writing', 'published')),
    objective         DOUBLE PRECISION NOT NULL,
    bound             DOUBLE PRECISION NOT NULL,
    gap               DOUBLE PRECISION NOT NULL CHECK (gap >= 0),
    input_fingerprint TEXT NOT NULL,
    messages          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX allocation_runs_published ON allocation_runs (status, published_at);

CREATE TABLE allocation_targets (
    run_id          TEXT NOT NULL REFERENCES allocation_runs (id) ON DELETE CASCADE,
    sku             TEXT NOT NULL,
    warehouse       TEXT NOT NULL,
    target_units    BIGINT NOT NULL CHECK (target_units >= 0),
    current_units   BIGINT NOT NULL CHECK (current_units >= 0),
    expected_sales  DOUBLE PRECISION NOT NULL CHECK (expected_sales >= 0),
    fill_rate       DOUBLE PRECISION NOT NULL CHECK (fill_rate >= 0),
    PRIMARY KEY (run_id, sku, warehouse)
);

-- from_warehouse is 'inbound' for stock placed straight from an inbound delivery.
CREATE TABLE allocation_transfers (
    run_id          TEXT NOT NULL REFERENCES allocation_runs (id) ON DELETE CASCADE,
    sku             TEXT NOT NULL,
    from_warehouse  TEXT NOT NULL,
    to_warehouse    TEXT NOT NULL,
    units           BIGINT NOT NULL CHECK (units > 0),
    PRIMARY KEY (run_id, sku, from_warehouse, to_warehouse)
);
