//! The scale path: a forecast split into one shard per category, claimed by workers from a
//! PostgreSQL queue (`forecast_shards`, `FOR UPDATE SKIP LOCKED`), so several machines fit
//! categories at once. The run that queued the shards works them too, waits until every
//! shard is done, merges the per-category fits into one model artifact and hands the staged
//! forecast to the allocate step. A shard fits its category on that category's own data,
//! exactly as the unsharded fit does (categories are fitted independently there too).
//!
//! Claims and the run's wait are timed by the run's clock (`jobs worker` uses the system's).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use super::clock::{StepClock, SystemClock};
use super::context::{RunContext, StepOutcome};
use super::step_error::StepError;
use super::JobError;
use crate::allocation::inputs::ForecastRows;
use crate::contract::Frequency;
use crate::forecast::dataset::Dataset;
use crate::forecast::engine::Forecaster;
use crate::forecast::output::append_rows;
use crate::forecast::pipeline::{self, new_forecast_run_id, ForecastRequest};
use crate::forecast::registry::{
    create_sharded_model, finish_sharded_model, new_model_id, ShardedModel,
};
use crate::store::Store;

/// A shard claimed this long ago and not finished is taken to belong to a dead worker.
pub const STALE_CLAIM_SECONDS: i64 = 900;
/// How often an idle worker, or the run waiting for shards, looks at the queue.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, serde::Serialize)]
pub struct ShardDone {
    pub job_run_id: String,
    pub category: String,
    pub rows: usize,
    pub seconds: f64,
}

/// (category, fit JSON, rows written, worker) of a finished shard.
type ShardRow = (String, Option<String>, Option<i64>, Option<String>);

#[derive(sqlx::FromRow)]
struct Claimed {
    job_run_id: String,
    category: String,
    forecast_run_id: String,
    as_of: NaiveDate,
    horizon: i64,
    freq: String,
}

// Callers check `Store::supports_skip_locked` first: SQLite here is a bug.
fn pg(store: &Store) -> Result<&sqlx::PgPool, StepError> {
    store.postgres_pool().ok_or_else(|| {
        StepError::internal("forecast shards need PostgreSQL (FOR UPDATE SKIP LOCKED)")
    })
}

async fn claim(
    store: &Store,
    worker: &str,
    now: DateTime<Utc>,
) -> Result<Option<Claimed>, StepError> {
    let pool = pg(store)?;
    let claimed: Option<Claimed> = sqlx::query_as(
        "UPDATE forecast_shards SET status = 'running', worker = $1, claimed_at = $2 \
         WHERE (job_run_id, category) = ( \
             SELECT job_run_id, category FROM forecast_shards \
             WHERE status = 'pending' OR (status = 'running' AND claimed_at < $3) \
             ORDER BY job_run_id, category LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING job_run_id, category, forecast_run_id, as_of, horizon, freq",
    )
    .bind(worker)
    .bind(now)
    .bind(now - chrono::Duration::seconds(STALE_CLAIM_SECONDS))
    .fetch_optional(pool)
    .await?;
    Ok(claimed)
}

async fn work_shard(
    store: &Store,
    shard: &Claimed,
    models_dir: &Path,
) -> Result<(usize, String), StepError> {
    let freq = match shard.freq.as_str() {
        "week" => Frequency::Week,
        _ => Frequency::Day,
    };
    let dataset = Dataset::from_store_for(store, Some(&shard.category)).await?;
    let request = ForecastRequest {
        freq,
        as_of: shard.as_of,
        horizon: shard.horizon as usize,
        quantiles: vec![0.1, 0.5, 0.9],
        models_dir: models_dir.to_path_buf(),
        model: None,
    };
    let computed = tokio::task::spawn_blocking(move || pipeline::compute(&dataset, &request))
        .await
        .map_err(|e| StepError::from(e).doing("forecast worker"))??;
    let rows = append_rows(store, &shard.forecast_run_id, &computed.frame).await?;
    let fits = serde_json::to_string(&computed.forecaster)?;
    Ok((rows, fits))
}

/// Claims and works one shard; `None` when the queue has nothing to claim. A shard that fails
/// is recorded failed on its row, and its error returned.
pub async fn work_one_shard(
    store: &Store,
    worker: &str,
    models_dir: &Path,
    clock: &dyn StepClock,
) -> Result<Option<ShardDone>, StepError> {
    let Some(shard) = claim(store, worker, clock.now()).await? else {
        return Ok(None);
    };
    let started = std::time::Instant::now();
    let result = work_shard(store, &shard, models_dir).await;
    let pool = pg(store)?;
    match result {
        Ok((rows, fits)) => {
            sqlx::query(
                "UPDATE forecast_shards SET status = 'done', finished_at = $3, rows_out = $4, fit = $5, error = NULL \
                 WHERE job_run_id = $1 AND category = $2 AND worker = $6",
            )
            .bind(&shard.job_run_id)
            .bind(&shard.category)
            .bind(clock.now())
            .bind(rows as i64)
            .bind(fits)
            .bind(worker)
            .execute(pool)
            .await?;
            Ok(Some(ShardDone {
                job_run_id: shard.job_run_id,
                category: shard.category,
                rows,
                seconds: started.elapsed().as_secs_f64(),
            }))
        }
        Err(error) => {
            sqlx::query(
                "UPDATE forecast_shards SET status = 'failed', finished_at = $3, error = $4 \
                 WHERE job_run_id = $1 AND category = $2 AND worker = $5",
            )
            .bind(&shard.job_run_id)
            .bind(&shard.category)
            .bind(clock.now())
            .bind(error.to_string())
            .bind(worker)
            .execute(pool)
            .await?;
            Err(error.doing(format!("forecast shard {}", shard.category)))
        }
    }
}

/// `stockcast jobs worker`: works shards until `stop` turns true, or, with `idle_exit`, once
/// the queue has been empty that long. Returns the shards this worker finished.
pub async fn run_worker(
    store: &Store,
    worker: &str,
    models_dir: &Path,
    idle_exit: Option<Duration>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<ShardDone>, JobError> {
    let mut done = Vec::new();
    let mut idle_since = std::time::Instant::now();
    while !*stop.borrow() {
        match work_one_shard(store, worker, models_dir, &SystemClock).await {
            Ok(Some(shard)) => {
                tracing::info!(worker, category = %shard.category, rows = shard.rows, "shard done");
                done.push(shard);
                idle_since = std::time::Instant::now();
            }
            Ok(None) => {
                if idle_exit.is_some_and(|limit| idle_since.elapsed() >= limit) {
                    break;
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
            // A failed shard is recorded on its row; the worker carries on with the next.
            Err(error) => tracing::error!(worker, "{error}"),
        }
    }
    Ok(done)
}

/// The forecast step on the sharded path (PostgreSQL): queue one shard per category, wait for
/// the workers (or work shards itself), then merge the per-category fits into one model.
pub(super) async fn sharded_forecast_step(
    context: &mut RunContext<'_>,
    as_of: NaiveDate,
    horizon: usize,
) -> Result<StepOutcome, StepError> {
    let store = context.store.clone();
    let pool = pg(&store)?.clone();
    let freq = context.job.freq;
    let models_dir = context.path(&context.job.models_dir);
    let categories: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT category FROM products ORDER BY category")
            .fetch_all(&pool)
            .await?;
    if categories.is_empty() {
        return Err(StepError::input("no products to forecast"));
    }
    let training_start: Option<NaiveDate> =
        sqlx::query_scalar("SELECT MIN(date) FROM sales_in_force")
            .fetch_one(&pool)
            .await?;
    let training_start =
        training_start.ok_or_else(|| StepError::input("the store has no sales"))?;
    let now = context.now();
    let model_id = new_model_id(now);
    let forecast_run_id = new_forecast_run_id();
    context.record_output("model", &model_id).await?;
    context.record_output("forecast", &forecast_run_id).await?;
    let model = ShardedModel {
        id: model_id.clone(),
        created_at: now,
        as_of,
        freq,
        horizon,
        training_start,
        models_dir: models_dir.clone(),
    };
    queue_shards(context, &model, &forecast_run_id, &categories).await?;
    context.model_id = Some(model_id.clone());
    context.forecast_run_id = Some(forecast_run_id.clone());
    wait_for_shards(context, &pool, &models_dir, categories.len()).await?;

    // Merge the per-category fits into one artifact.
    let (parts, rows_out, workers) = shard_fits(&pool, &context.run_id).await?;
    let forecaster = Forecaster::merge(freq, horizon, parts);
    let summary = finish_sharded_model(&store, &model, forecaster).await?;
    context.notes.push(format!("model {model_id}: {summary}"));
    let forecast = ForecastRows::from_store_run(&store, &forecast_run_id).await?;
    context.forecast_rows = Some(Arc::new(forecast));
    Ok(StepOutcome {
        rows_in: None,
        rows_out: Some(rows_out),
        detail: format!(
            "model {model_id}, forecast run {forecast_run_id} (staged): {} shard(s) by {} worker(s), {horizon} days",
            categories.len(),
            workers.len()
        ),
        skipped: false,
    })
}

/// In one transaction: the model row, the staged forecast run, and one pending shard per
/// category (replacing the shards an earlier attempt of this step queued).
async fn queue_shards(
    context: &RunContext<'_>,
    model: &ShardedModel,
    forecast_run_id: &str,
    categories: &[String],
) -> Result<(), StepError> {
    let store = &context.store;
    let (model_id, now, as_of, freq, horizon) = (
        &model.id,
        model.created_at,
        model.as_of,
        model.freq,
        model.horizon,
    );
    let mut store_tx = store.begin_write().await?;
    // The model row exists from the start (forecast rows reference it); its summary and
    // artifact are filled in once every shard is merged.
    create_sharded_model(&mut store_tx, model).await?;
    let Some(tx) = store_tx.postgres() else {
        return Err(StepError::internal("the sharded forecast needs PostgreSQL"));
    };
    // An earlier attempt of this step left its shards queued: this attempt queues afresh
    // (that attempt's staged forecast is discarded with the run's other leftovers).
    sqlx::query("DELETE FROM forecast_shards WHERE job_run_id = $1")
        .bind(&context.run_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO forecast_runs (id, model_id, created_at, as_of, freq, horizon, status, rows) \
         VALUES ($1, $2, $3, $4, $5, $6, 'writing', 0)",
    )
    .bind(forecast_run_id)
    .bind(model_id)
    .bind(now)
    .bind(as_of)
    .bind(freq.as_str())
    .bind(horizon as i64)
    .execute(&mut **tx)
    .await?;
    for category in categories {
        sqlx::query(
            "INSERT INTO forecast_shards (job_run_id, category, forecast_run_id, as_of, horizon, freq, status) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending')",
        )
        .bind(&context.run_id)
        .bind(category)
        .bind(forecast_run_id)
        .bind(as_of)
        .bind(horizon as i64)
        .bind(freq.as_str())
        .execute(&mut **tx)
        .await?;
    }
    store_tx.commit().await?;
    Ok(())
}

/// Waits until every one of `shards` shards is done, working shards itself when the job says
/// so; a failed shard, or the job's shard wait running out, fails the step (transient).
async fn wait_for_shards(
    context: &RunContext<'_>,
    pool: &sqlx::PgPool,
    models_dir: &Path,
    shards: usize,
) -> Result<(), StepError> {
    let store = &context.store;
    let worker = format!("{}:{}", super::lock::host_name(), context.run_id);
    let shard_wait_seconds = context.job.forecast.shard_wait_seconds;
    let deadline = context.now() + chrono::Duration::seconds(shard_wait_seconds as i64);
    loop {
        let counts: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) FROM forecast_shards WHERE job_run_id = $1 GROUP BY status",
        )
        .bind(&context.run_id)
        .fetch_all(pool)
        .await?;
        let count = |status: &str| {
            counts
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n)
        };
        if count("failed") > 0 {
            let errors: Vec<(String, Option<String>)> = sqlx::query_as(
                "SELECT category, error FROM forecast_shards WHERE job_run_id = $1 AND status = 'failed'",
            )
            .bind(&context.run_id)
            .fetch_all(pool)
            .await?;
            // Recorded by whichever worker ran them; another attempt queues them afresh.
            return Err(StepError::transient(format!(
                "forecast shard(s) failed: {}",
                errors
                    .iter()
                    .map(|(c, e)| format!("{c}: {}", e.as_deref().unwrap_or("?")))
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
        if count("done") == shards as i64 {
            break;
        }
        if context.now() >= deadline {
            return Err(StepError::transient(format!(
                "{} of {} shard(s) not done after {shard_wait_seconds} s",
                shards as i64 - count("done"),
                shards,
            )));
        }
        if context.job.forecast.coordinator_works_shards
            && work_one_shard(store, &worker, models_dir, context.clock())
                .await?
                .is_some()
        {
            continue;
        }
        context.clock().sleep(POLL_INTERVAL).await;
    }
    Ok(())
}

/// The shards' fits (category order), the rows they wrote and the workers that ran them.
async fn shard_fits(
    pool: &sqlx::PgPool,
    run_id: &str,
) -> Result<(Vec<Forecaster>, i64, Vec<String>), StepError> {
    let shard_rows: Vec<ShardRow> = sqlx::query_as(
        "SELECT category, fit, rows_out, worker FROM forecast_shards WHERE job_run_id = $1 ORDER BY category",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?;
    let mut parts: Vec<Forecaster> = Vec::new();
    let mut rows_out = 0i64;
    let mut workers: Vec<String> = Vec::new();
    for (category, fit, rows, worker) in &shard_rows {
        let Some(fit) = fit.as_deref() else {
            continue;
        };
        let part: Forecaster = serde_json::from_str(fit)
            .map_err(|e| StepError::from(e).doing(format!("shard {category}")))?;
        parts.push(part);
        rows_out += rows.unwrap_or(0);
        if let Some(worker) = worker {
            if !workers.contains(worker) {
                workers.push(worker.clone());
            }
        }
    }
    Ok((parts, rows_out, workers))
}
