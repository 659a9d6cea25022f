-- Scheduled-job history, locks and the forecast shard queue.
-- (0004 is reserved for the reservation core.)

-- One row per run of a job. A run's outputs are the ids of what its steps produced; the
-- published forecast and allocation stay whatever was last published, so a failed run
-- changes nothing a reader sees.
CREATE TABLE job_runs (
    id                 TEXT PRIMARY KEY,
    job                TEXT NOT NULL,
    as_of              DATE NOT NULL,
    trigger            TEXT NOT NULL CHECK (trigger IN ('manual', 'schedule', 'catch-up')),
    status             TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    started_at         TIMESTAMPTZ NOT NULL,
    finished_at        TIMESTAMPTZ,
    error              TEXT,
    host               TEXT NOT NULL,
    model_id           TEXT,
    forecast_run_id    TEXT,
    allocation_run_id  TEXT,
    -- The schedule fire this run answers (NULL for manual runs); unique per job, so two
    -- schedulers on one database start a given fire at most once.
    scheduled_for      TIMESTAMPTZ
);
CREATE INDEX job_runs_by_job ON job_runs (job, started_at);
CREATE UNIQUE INDEX job_runs_one_per_fire ON job_runs (job, scheduled_for);

CREATE TABLE job_steps (
    run_id       TEXT NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    position     BIGINT NOT NULL CHECK (position >= 0),
    step         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out', 'skipped', 'cancelled')),
    attempts     BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    rows_in      BIGINT,
    rows_out     BIGINT,
    error        TEXT,
    -- What the step did, in a line ("skipped: reservation core not installed", ids made).
    detail       TEXT,
    PRIMARY KEY (run_id, position)
);

-- Every output a run made (a run may allocate several promotions). A re-run of the same job
-- deletes the unpublished outputs of earlier runs and, when it publishes, the outputs of
-- earlier runs for the same as-of date, so re-runs replace instead of duplicating.
CREATE TABLE job_outputs (
    run_id     TEXT NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('model', 'forecast', 'allocation', 'report')),
    output_id  TEXT NOT NULL,
    PRIMARY KEY (run_id, kind, output_id)
);
CREATE INDEX job_outputs_by_output ON job_outputs (kind, output_id);

-- SQLite has no advisory locks: a lease row per job, taken by a conditional upsert and
-- renewed while the run lives, so a crashed holder's lease simply runs out.
CREATE TABLE job_leases (
    job         TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    run_id      TEXT,
    expires_at  TIMESTAMPTZ NOT NULL
);

-- Per-SKU poll interest up to an as-of date, refreshed by the refresh-poll-signals step.
CREATE TABLE poll_signals (
    sku               TEXT NOT NULL,
    as_of             DATE NOT NULL,
    responses         BIGINT NOT NULL CHECK (responses >= 0),
    mean_interest     DOUBLE PRECISION NOT NULL CHECK (mean_interest BETWEEN 1 AND 5),
    intends_to_buy    BIGINT NOT NULL CHECK (intends_to_buy >= 0),
    last_response_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (sku, as_of)
);

-- The scale path: a sharded forecast run puts one row per category here; workers claim rows
-- with FOR UPDATE SKIP LOCKED (PostgreSQL), fit and write that category's forecasts into the
-- run's staged forecast, and mark the row done. Allocation starts once every row is done.
CREATE TABLE forecast_shards (
    job_run_id       TEXT NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    category         TEXT NOT NULL,
    forecast_run_id  TEXT NOT NULL,
    as_of            DATE NOT NULL,
    horizon          BIGINT NOT NULL CHECK (horizon >= 1),
    freq             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    worker           TEXT,
    claimed_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    rows_out         BIGINT,
    fit              TEXT,
    error            TEXT,
    PRIMARY KEY (job_run_id, category)
);
CREATE INDEX forecast_shards_pending ON forecast_shards (status);
