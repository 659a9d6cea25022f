-- One plan per group of overlapping promotions, and the figures the allocator computed for it.
--
-- A run now covers every promotion whose window overlaps another's (they compete for the same
-- stock and warehouse space, so they are solved together): `allocation_run_promotions` lists
-- them, `window_start`/`window_end` is the span of their windows from the day after the as-of
-- date. `allocation_runs.promotion` stays as the run's label (the promotion ids joined by '+').
--
-- The figures readers print (units placed, to move between warehouses, from inbound, fill rate,
-- per warehouse and per cell) are computed once by the allocator and stored here, so the
-- nightly summary, `allocate` and `report allocation` read the same numbers. They are NULL on
-- runs written before this migration.

ALTER TABLE allocation_runs ADD COLUMN window_start DATE;
ALTER TABLE allocation_runs ADD COLUMN window_end DATE;
ALTER TABLE allocation_runs ADD COLUMN units_placed BIGINT;
ALTER TABLE allocation_runs ADD COLUMN transfers BIGINT;
ALTER TABLE allocation_runs ADD COLUMN units_to_move BIGINT;
ALTER TABLE allocation_runs ADD COLUMN units_from_inbound BIGINT;
ALTER TABLE allocation_runs ADD COLUMN expected_sales_units DOUBLE PRECISION;
ALTER TABLE allocation_runs ADD COLUMN expected_demand_units DOUBLE PRECISION;
ALTER TABLE allocation_runs ADD COLUMN fill_rate DOUBLE PRECISION;

CREATE TABLE allocation_run_promotions (
    run_id      TEXT NOT NULL REFERENCES allocation_runs (id) ON DELETE CASCADE,
    promotion   TEXT NOT NULL,
    PRIMARY KEY (run_id, promotion)
);
CREATE INDEX allocation_run_promotions_by_promotion ON allocation_run_promotions (promotion);

INSERT INTO allocation_run_promotions (run_id, promotion)
    SELECT id, promotion FROM allocation_runs;
UPDATE allocation_runs SET
    window_start = (SELECT p.start_date FROM promotions p WHERE p.promo_id = allocation_runs.promotion),
    window_end = (SELECT p.end_date FROM promotions p WHERE p.promo_id = allocation_runs.promotion);

-- Net units a cell receives under the plan (transfers and inbound in, minus transfers out):
-- the change that a transfer or an order carries out.
ALTER TABLE allocation_targets ADD COLUMN change_units BIGINT NOT NULL DEFAULT 0;
-- Mean demand of the cell's distribution over the window (fill rate = expected sales / this).
ALTER TABLE allocation_targets ADD COLUMN expected_demand_units DOUBLE PRECISION NOT NULL DEFAULT 0;

CREATE TABLE allocation_warehouse_figures (
    run_id                 TEXT NOT NULL REFERENCES allocation_runs (id) ON DELETE CASCADE,
    warehouse              TEXT NOT NULL,
    cells                  BIGINT NOT NULL,
    current_units          BIGINT NOT NULL,
    target_units           BIGINT NOT NULL,
    transfer_in_units      BIGINT NOT NULL,
    transfer_out_units     BIGINT NOT NULL,
    inbound_units          BIGINT NOT NULL,
    change_units           BIGINT NOT NULL,
    untargeted_units       BIGINT NOT NULL CHECK (untargeted_units >= 0),
    expected_sales_units   DOUBLE PRECISION NOT NULL,
    expected_demand_units  DOUBLE PRECISION NOT NULL,
    fill_rate              DOUBLE PRECISION,
    PRIMARY KEY (run_id, warehouse)
);
