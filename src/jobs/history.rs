//! Run history: one `job_runs` row per run, one `job_steps` row per step, `job_outputs` for
//! every id a run made. Written as the run goes, so a crash leaves a `running` row that the
//! next holder of the job's lock marks failed.

use chrono::{DateTime, NaiveDate, Utc};

use super::schedule::Trigger;
use super::JobError;
use crate::on_backend;
use crate::store::Store;

pub const MAX_HISTORY_ROWS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Skipped,
    Cancelled,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Running => "running",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::TimedOut => "timed_out",
            StepStatus::Skipped => "skipped",
            StepStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// Every step ran, but the publish guard stopped the publication (see `jobs::holds`).
    Held,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Held => "held",
        }
    }

    /// The value in `job_runs.status`, whose CHECK predates holds: a held run is stored
    /// failed (it did not publish) and its `job_holds` row says why; readers of the history
    /// show it as held.
    pub fn stored_as(self) -> &'static str {
        match self {
            RunStatus::Held => RunStatus::Failed.as_str(),
            other => other.as_str(),
        }
    }
}

pub fn new_run_id(job: &str, now: DateTime<Utc>) -> String {
    format!(
        "job-{job}-{}-{:06x}",
        now.format("%Y%m%dT%H%M%S"),
        rand::random::<u32>() & 0xff_ffff
    )
}

pub struct NewRun<'a> {
    pub id: &'a str,
    pub job: &'a str,
    pub as_of: NaiveDate,
    pub trigger: Trigger,
    pub started_at: DateTime<Utc>,
    pub host: &'a str,
    pub scheduled_for: Option<DateTime<Utc>>,
}

/// Inserts the run row; a second run for the same scheduled fire is refused.
pub async fn insert_run(store: &Store, run: &NewRun<'_>) -> Result<(), JobError> {
    let inserted = on_backend!(store, pool => {
        sqlx::query(
            "INSERT INTO job_runs (id, job, as_of, trigger, status, started_at, host, scheduled_for) \
             VALUES ($1, $2, $3, $4, 'running', $5, $6, $7)",
        )
        .bind(run.id)
        .bind(run.job)
        .bind(run.as_of)
        .bind(run.trigger.as_str())
        .bind(run.started_at)
        .bind(run.host)
        .bind(run.scheduled_for)
        .execute(pool)
        .await
        .map(|_| ())
    });
    match inserted {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_database_error()
                .is_some_and(|e| e.is_unique_violation()) =>
        {
            Err(JobError::AlreadyFired {
                job: run.job.to_string(),
                scheduled_for: run
                    .scheduled_for
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default(),
            })
        }
        Err(error) => Err(error.into()),
    }
}

/// Marks runs of `job` left `running` by a holder that crashed or was killed.
pub async fn abandon_stale_runs(
    store: &Store,
    job: &str,
    now: DateTime<Utc>,
) -> Result<u64, JobError> {
    let abandoned = on_backend!(store, pool => {
        sqlx::query(
            "UPDATE job_steps SET status = 'cancelled', finished_at = $2, \
             error = 'abandoned: the process running it stopped' \
             WHERE status = 'running' AND run_id IN (SELECT id FROM job_runs WHERE job = $1 AND status = 'running')",
        )
        .bind(job)
        .bind(now)
        .execute(pool)
        .await?;
        sqlx::query(
            "UPDATE job_runs SET status = 'failed', finished_at = $2, \
             error = 'abandoned: the process running it stopped before it finished (lock recovered)' \
             WHERE job = $1 AND status = 'running'",
        )
        .bind(job)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(abandoned)
}

pub async fn set_as_of(store: &Store, run_id: &str, as_of: NaiveDate) -> Result<(), JobError> {
    on_backend!(store, pool => {
        sqlx::query("UPDATE job_runs SET as_of = $2 WHERE id = $1")
            .bind(run_id)
            .bind(as_of)
            .execute(pool)
            .await?;
    });
    Ok(())
}

pub async fn start_step(
    store: &Store,
    run_id: &str,
    position: usize,
    step: &str,
    started_at: DateTime<Utc>,
) -> Result<(), JobError> {
    on_backend!(store, pool => {
        sqlx::query(
            "INSERT INTO job_steps (run_id, position, step, status, attempts, started_at) \
             VALUES ($1, $2, $3, 'running', 0, $4)",
        )
        .bind(run_id)
        .bind(position as i64)
        .bind(step)
        .bind(started_at)
        .execute(pool)
        .await?;
    });
    Ok(())
}

pub async fn set_step_attempts(
    store: &Store,
    run_id: &str,
    position: usize,
    attempts: u32,
) -> Result<(), JobError> {
    on_backend!(store, pool => {
        sqlx::query("UPDATE job_steps SET attempts = $3 WHERE run_id = $1 AND position = $2")
            .bind(run_id)
            .bind(position as i64)
            .bind(i64::from(attempts))
            .execute(pool)
            .await?;
    });
    Ok(())
}

pub struct StepEnd<'a> {
    pub status: StepStatus,
    pub attempts: u32,
    pub finished_at: DateTime<Utc>,
    pub rows_in: Option<i64>,
    pub rows_out: Option<i64>,
    pub error: Option<&'a str>,
    pub detail: Option<&'a str>,
}

pub async fn finish_step(
    store: &Store,
    run_id: &str,
    position: usize,
    end: &StepEnd<'_>,
) -> Result<(), JobError> {
    on_backend!(store, pool => {
        sqlx::query(
            "UPDATE job_steps SET status = $3, attempts = $4, finished_at = $5, rows_in = $6, \
             rows_out = $7, error = $8, detail = $9 WHERE run_id = $1 AND position = $2",
        )
        .bind(run_id)
        .bind(position as i64)
        .bind(end.status.as_str())
        .bind(i64::from(end.attempts))
        .bind(end.finished_at)
        .bind(end.rows_in)
        .bind(end.rows_out)
        .bind(end.error)
        .bind(end.detail)
        .execute(pool)
        .await?;
    });
    Ok(())
}

pub struct RunEnd<'a> {
    pub status: RunStatus,
    pub finished_at: DateTime<Utc>,
    pub error: Option<&'a str>,
    pub model_id: Option<&'a str>,
    pub forecast_run_id: Option<&'a str>,
    pub allocation_run_id: Option<&'a str>,
}

pub async fn finish_run(store: &Store, run_id: &str, end: &RunEnd<'_>) -> Result<(), JobError> {
    on_backend!(store, pool => {
        sqlx::query(
            "UPDATE job_runs SET status = $2, finished_at = $3, error = $4, model_id = $5, \
             forecast_run_id = $6, allocation_run_id = $7 WHERE id = $1",
        )
        .bind(run_id)
        .bind(end.status.stored_as())
        .bind(end.finished_at)
        .bind(end.error)
        .bind(end.model_id)
        .bind(end.forecast_run_id)
        .bind(end.allocation_run_id)
        .execute(pool)
        .await?;
    });
    Ok(())
}

pub async fn record_output(
    store: &Store,
    run_id: &str,
    kind: &str,
    output_id: &str,
) -> Result<(), JobError> {
    on_backend!(store, pool => {
        sqlx::query(
            "INSERT INTO job_outputs (run_id, kind, output_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(run_id)
        .bind(kind)
        .bind(output_id)
        .execute(pool)
        .await?;
    });
    Ok(())
}

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct RunRow {
    pub id: String,
    pub job: String,
    pub as_of: NaiveDate,
    pub trigger: String,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub host: String,
    pub model_id: Option<String>,
    pub forecast_run_id: Option<String>,
    pub allocation_run_id: Option<String>,
    pub scheduled_for: Option<DateTime<Utc>>,
}

impl RunRow {
    pub fn seconds(&self) -> Option<f64> {
        self.finished_at
            .map(|end| (end - self.started_at).num_milliseconds() as f64 / 1000.0)
    }
}

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct StepRow {
    pub position: i64,
    pub step: String,
    pub status: String,
    pub attempts: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub rows_in: Option<i64>,
    pub rows_out: Option<i64>,
    pub error: Option<String>,
    pub detail: Option<String>,
}

impl StepRow {
    pub fn seconds(&self) -> Option<f64> {
        self.finished_at
            .map(|end| (end - self.started_at).num_milliseconds() as f64 / 1000.0)
    }
}

/// A run the publish guard holds reads as `held` (see [`RunStatus::stored_as`]).
const RUN_COLUMNS: &str = "id, job, as_of, trigger, \
     CASE WHEN EXISTS (SELECT 1 FROM job_holds h WHERE h.run_id = job_runs.id AND h.status = 'held') \
          THEN 'held' ELSE status END AS status, \
     started_at, finished_at, error, host, model_id, forecast_run_id, allocation_run_id, scheduled_for";

/// Runs newest first, optionally of one job, at most `limit` (bounded by [`MAX_HISTORY_ROWS`]).
pub async fn list_runs(
    store: &Store,
    job: Option<&str>,
    limit: usize,
) -> Result<Vec<RunRow>, JobError> {
    let limit = limit.clamp(1, MAX_HISTORY_ROWS) as i64;
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM job_runs WHERE ($1 IS NULL OR job = $1) \
         ORDER BY started_at DESC, id DESC LIMIT $2"
    );
    let runs: Vec<RunRow> = on_backend!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(job)
            .bind(limit)
            .fetch_all(pool)
            .await?
    });
    Ok(runs)
}

pub async fn find_run(store: &Store, id: &str) -> Result<RunRow, JobError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM job_runs WHERE id = $1");
    let run: Option<RunRow> = on_backend!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
    });
    run.ok_or_else(|| JobError::UnknownRun(id.to_string()))
}

pub async fn run_steps(store: &Store, run_id: &str) -> Result<Vec<StepRow>, JobError> {
    let steps: Vec<StepRow> = on_backend!(store, pool => {
        sqlx::query_as(
            "SELECT position, step, status, attempts, started_at, finished_at, rows_in, rows_out, error, detail \
             FROM job_steps WHERE run_id = $1 ORDER BY position",
        )
        .bind(run_id)
        .fetch_all(pool)
        .await?
    });
    Ok(steps)
}

pub async fn run_outputs(store: &Store, run_id: &str) -> Result<Vec<(String, String)>, JobError> {
    let outputs: Vec<(String, String)> = on_backend!(store, pool => {
        sqlx::query_as("SELECT kind, output_id FROM job_outputs WHERE run_id = $1 ORDER BY kind, output_id")
            .bind(run_id)
            .fetch_all(pool)
            .await?
    });
    Ok(outputs)
}

/// The latest fire a job answered (run on schedule, caught up or started by another
/// scheduler), the scheduler's starting point after a restart.
pub async fn last_scheduled_fire(
    store: &Store,
    job: &str,
) -> Result<Option<DateTime<Utc>>, JobError> {
    let last: Option<DateTime<Utc>> = on_backend!(store, pool => {
        sqlx::query_scalar("SELECT MAX(scheduled_for) FROM job_runs WHERE job = $1")
            .bind(job)
            .fetch_one(pool)
            .await?
    });
    Ok(last)
}
