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
    allocation_run_id  TEXT
);
CREATE INDEX job_runs_by_job ON job_runs (job, started_at);

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
    PRIMARY KEY (run_id, position)
);

-- SQLite has no advisory locks: a lease row per job, taken by a conditional upsert and
-- renewed while the run lives, so a crashed holder's lease simply runs out.
CREATE TABLE job_leases (
    job         TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    run_id      TEXT,
    expires_at  TIMESTAMPTZ NOT NULL
);
