-- The publish guard's decisions. A nightly run whose forecast fails the guard (a category's
-- horizon total far from the recent run-rate or from the run in force, a NaN or a negative
-- value) publishes nothing: its outputs stay staged, the run in force stays in force, and
-- the run is held here with the reason until `stockcast jobs approve RUN` publishes it on
-- purpose, or a later run of the job publishes instead ('superseded').
--
-- job_runs.status keeps its CHECK (a held run is stored 'failed': it did not publish); readers
-- of the history show 'held' for a run with a row here in status 'held'.
CREATE TABLE job_holds (
    run_id       TEXT PRIMARY KEY REFERENCES job_runs (id) ON DELETE CASCADE,
    job          TEXT NOT NULL,
    as_of        DATE NOT NULL,
    held_at      TIMESTAMPTZ NOT NULL,
    -- One line: what was out of bounds.
    reason       TEXT NOT NULL,
    -- The guard's findings per category, as JSON, for `jobs show`.
    findings     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('held', 'approved', 'superseded')),
    resolved_at  TIMESTAMPTZ,
    resolved_by  TEXT
);
CREATE INDEX job_holds_by_job ON job_holds (job, status);
