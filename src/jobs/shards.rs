//! The scale path: a forecast split into one shard per category, claimed by workers from a
//! PostgreSQL queue (`forecast_shards`, `FOR UPDATE SKIP LOCKED`), so several machines fit
//! categories at once. The run that queued the shards works them too, waits until every
//! shard is done, merges the per-category fits into one model artifact and hands the staged
//! forecast to the allocate step. A shard fits its category on that category's own data,
//! exactly as the unsharded fit does (categories are fitted independently there too).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use sqlx::Row;

use super::steps::{RunContext, StepOutcome};
use super::JobError;
use crate::allocation::inputs::ForecastRows;
use crate::contract::Frequency;
use crate::forecast::dataset::Dataset;
use crate::forecast::engine::{ForecastSettings, Forecaster};
use crate::forecast::output::append_rows;
use crate::forecast::pipeline::{self, new_forecast_run_id, ForecastRequest};
use crate::forecast::registry::{
    artifact_path, new_model_id, save_artifact, summarise, ModelArtifact,
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

struct Claimed {
    job_run_id: String,
    category: String,
    forecast_run_id: String,
    as_of: NaiveDate,
    horizon: i64,
    freq: String,
}

fn pg(store: &Store) -> Result<&sqlx::PgPool, JobError> {
    match store {
        Store::Postgres(pool) => Ok(pool),
        Store::Sqlite(_) => Err(JobError::StepFailed {
            step: "forecast".to_string(),
            message: "forecast shards need PostgreSQL (FOR UPDATE SKIP LOCKED)".to_string(),
        }),
    }
}

async fn claim(store: &Store, worker: &str) -> Result<Option<Claimed>, JobError> {
    let pool = pg(store)?;
    let now = Utc::now();
    let row = sqlx::query(
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
    Ok(match row {
        Some(row) => Some(Claimed {
            job_run_id: row.try_get("job_run_id")?,
            category: row.try_get("category")?,
            forecast_run_id: row.try_get("forecast_run_id")?,
            as_of: row.try_get("as_of")?,
            horizon: row.try_get("horizon")?,
            freq: row.try_get("freq")?,
        }),
        None => None,
    })
}

async fn work_shard(
    store: &Store,
    shard: &Claimed,
    models_dir: &Path,
) -> Result<(usize, String), String> {
    let freq = match shard.freq.as_str() {
        "week" => Frequency::Week,
        _ => Frequency::Day,
    };
    let dataset = Dataset::from_store_for(store, Some(&shard.category))
        .await
        .map_err(|e| e.to_string())?;
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
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let rows = append_rows(store, &shard.forecast_run_id, &computed.frame)
        .await
        .map_err(|e| e.to_string())?;
    let fits = serde_json::to_string(&computed.forecaster).map_err(|e| e.to_string())?;
    Ok((rows, fits))
}

/// Claims and works one shard; `None` when the queue has nothing to claim.
pub async fn work_one_shard(
    store: &Store,
    worker: &str,
    models_dir: &Path,
) -> Result<Option<ShardDone>, JobError> {
    let Some(shard) = claim(store, worker).await? else {
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
            .bind(Utc::now())
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
        Err(message) => {
            sqlx::query(
                "UPDATE forecast_shards SET status = 'failed', finished_at = $3, error = $4 \
                 WHERE job_run_id = $1 AND category = $2 AND worker = $5",
            )
            .bind(&shard.job_run_id)
            .bind(&shard.category)
            .bind(Utc::now())
            .bind(&message)
            .bind(worker)
            .execute(pool)
            .await?;
            Err(JobError::StepFailed {
                step: format!("forecast shard {}", shard.category),
                message,
            })
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
        match work_one_shard(store, worker, models_dir).await {
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

/// The forecast step on the sharded path (PostgreSQL).
pub(super) async fn sharded_forecast_step(
    context: &mut RunContext,
    as_of: NaiveDate,
    horizon: usize,
) -> Result<StepOutcome, String> {
    let store = context.store.clone();
    let pool = pg(&store).map_err(|e| e.to_string())?.clone();
    let freq = context.job.freq;
    let models_dir = context.path(&context.job.models_dir);
    let categories: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT category FROM products ORDER BY category")
            .fetch_all(&pool)
            .await
            .map_err(|e| e.to_string())?;
    if categories.is_empty() {
        return Err("no products to forecast".to_string());
    }
    let training_start: Option<NaiveDate> =
        sqlx::query_scalar("SELECT MIN(date) FROM sales_in_force")
            .fetch_one(&pool)
            .await
            .map_err(|e| e.to_string())?;
    let training_start = training_start.ok_or("the store has no sales")?;
    let now = Utc::now();
    let model_id = new_model_id(now);
    let forecast_run_id = new_forecast_run_id();
    context.record_output("model", &model_id).await?;
    context.record_output("forecast", &forecast_run_id).await?;
    let artifact_file = artifact_path(&models_dir, &model_id);
    {
        let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
        // The model row exists from the start (forecast rows reference it); its summary and
        // artifact are filled in once every shard is merged.
        sqlx::query(
            "INSERT INTO model_runs (id, created_at, as_of, freq, horizon, training_start, training_end, \
             data_fingerprint, crate_version, artifact_path, summary) \
             VALUES ($1, $2, $3, $4, $5, $6, $3, 'sharded', $7, $8, 'sharded: fitting')",
        )
        .bind(&model_id)
        .bind(now)
        .bind(as_of)
        .bind(freq.as_str())
        .bind(horizon as i64)
        .bind(training_start)
        .bind(env!("CARGO_PKG_VERSION"))
        .bind(artifact_file.display().to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
        sqlx::query(
            "INSERT INTO forecast_runs (id, model_id, created_at, as_of, freq, horizon, status, rows) \
             VALUES ($1, $2, $3, $4, $5, $6, 'writing', 0)",
        )
        .bind(&forecast_run_id)
        .bind(&model_id)
        .bind(now)
        .bind(as_of)
        .bind(freq.as_str())
        .bind(horizon as i64)
        .execute(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
        for category in &categories {
            sqlx::query(
                "INSERT INTO forecast_shards (job_run_id, category, forecast_run_id, as_of, horizon, freq, status) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending')",
            )
            .bind(&context.run_id)
            .bind(category)
            .bind(&forecast_run_id)
            .bind(as_of)
            .bind(horizon as i64)
            .bind(freq.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
        }
        tx.commit().await.map_err(|e| e.to_string())?;
    }
    context.model_id = Some(model_id.clone());
    context.forecast_run_id = Some(forecast_run_id.clone());

    let worker = format!("{}:{}", super::lock::host_name(), context.run_id);
    let deadline =
        std::time::Instant::now() + Duration::from_secs(context.job.forecast.shard_wait_seconds);
    loop {
        let counts: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) FROM forecast_shards WHERE job_run_id = $1 GROUP BY status",
        )
        .bind(&context.run_id)
        .fetch_all(&pool)
        .await
        .map_err(|e| e.to_string())?;
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
            .fetch_all(&pool)
            .await
            .map_err(|e| e.to_string())?;
            return Err(format!(
                "forecast shard(s) failed: {}",
                errors
                    .iter()
                    .map(|(c, e)| format!("{c}: {}", e.as_deref().unwrap_or("?")))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        if count("done") == categories.len() as i64 {
            break;
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!(
                "{} of {} shard(s) not done after {} s",
                categories.len() as i64 - count("done"),
                categories.len(),
                context.job.forecast.shard_wait_seconds
            ));
        }
        if context.job.forecast.coordinator_works_shards {
            match work_one_shard(&store, &worker, &models_dir).await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(error) => return Err(error.to_string()),
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }

    // Merge the per-category fits into one artifact.
    let shard_rows: Vec<ShardRow> = sqlx::query_as(
        "SELECT category, fit, rows_out, worker FROM forecast_shards WHERE job_run_id = $1 ORDER BY category",
    )
    .bind(&context.run_id)
    .fetch_all(&pool)
    .await
    .map_err(|e| e.to_string())?;
    let mut parts: Vec<Forecaster> = Vec::new();
    let mut rows_out = 0i64;
    let mut workers: Vec<String> = Vec::new();
    for (category, fit, rows, worker) in &shard_rows {
        let Some(fit) = fit.as_deref() else {
            continue;
        };
        let part: Forecaster =
            serde_json::from_str(fit).map_err(|e| format!("shard {category}: {e}"))?;
        parts.push(part);
        rows_out += rows.unwrap_or(0);
        if let Some(worker) = worker {
            if !workers.contains(worker) {
                workers.push(worker.clone());
            }
        }
    }
    let mut settings = ForecastSettings::new(freq, horizon);
    settings.quantiles = vec![0.1, 0.5, 0.9];
    let forecaster = Forecaster::merge(freq, horizon, parts);
    let summary = summarise(&forecaster);
    let artifact = ModelArtifact {
        id: model_id.clone(),
        created_at: now,
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        as_of,
        freq,
        training_start,
        training_end: as_of,
        data_fingerprint: "sharded".to_string(),
        feature_schema: forecaster.feature_names.clone(),
        settings,
        forecaster,
        backtest: None,
    };
    save_artifact(&models_dir, &artifact).map_err(|e| e.to_string())?;
    sqlx::query("UPDATE model_runs SET summary = $2 WHERE id = $1")
        .bind(&model_id)
        .bind(&summary)
        .execute(&pool)
        .await
        .map_err(|e| e.to_string())?;
    context.notes.push(format!("model {model_id}: {summary}"));
    let forecast = ForecastRows::from_store_run(&store, &forecast_run_id)
        .await
        .map_err(|e| e.to_string())?;
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
