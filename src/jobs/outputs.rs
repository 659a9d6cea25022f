//! What a run made and when readers see it. Steps stage their forecast and allocations
//! (`writing`: invisible to readers); the publish step flips them all in one transaction and,
//! in the same transaction, removes what earlier runs of the same job made for the same
//! as-of date. So a failed run changes nothing a reader sees, and re-running a job for a date
//! replaces its outputs instead of adding a second set.

use chrono::{DateTime, NaiveDate, Utc};

use super::JobError;
use crate::store::Store;
use crate::{on_backend, on_tx};

/// Outputs of earlier runs of `job` (not `current_run`) of `kind`, optionally for one as-of.
const EARLIER_OUTPUTS: &str =
    "SELECT o.output_id FROM job_outputs o JOIN job_runs r ON r.id = o.run_id \
     WHERE r.job = $1 AND r.id <> $2 AND o.kind = $3 AND ($4 IS NULL OR r.as_of = $4)";

/// Outputs of runs the publish guard holds: kept staged for `jobs approve`.
const HELD_OUTPUTS: &str =
    "SELECT o.output_id FROM job_outputs o JOIN job_holds h ON h.run_id = o.run_id \
     WHERE h.status = 'held'";

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Discarded {
    pub forecast_runs: u64,
    pub allocation_runs: u64,
    pub models: u64,
}

impl Discarded {
    pub fn total(&self) -> u64 {
        self.forecast_runs + self.allocation_runs + self.models
    }
}

fn remove_artifacts(paths: &[String]) {
    for path in paths {
        // A missing file is fine: the row was what readers saw.
        let _ = std::fs::remove_file(path);
    }
}

/// Deletes the never-published outputs of earlier runs of `job` (their runs are over: the
/// caller holds the job's lock), with the models only those outputs used. Outputs of a run
/// the publish guard holds are kept until it is approved or superseded.
pub async fn discard_unpublished(
    store: &Store,
    job: &str,
    current_run: &str,
) -> Result<Discarded, JobError> {
    let forecast_sql = format!(
        "DELETE FROM forecast_runs WHERE status = 'writing' AND id IN ({EARLIER_OUTPUTS}) \
         AND id NOT IN ({HELD_OUTPUTS})"
    );
    let allocation_sql = format!(
        "DELETE FROM allocation_runs WHERE status = 'writing' AND id IN ({EARLIER_OUTPUTS}) \
         AND id NOT IN ({HELD_OUTPUTS})"
    );
    let orphan_models_sql = format!(
        "SELECT id, artifact_path FROM model_runs WHERE id IN ({EARLIER_OUTPUTS}) \
         AND id NOT IN (SELECT model_id FROM forecast_runs) AND id NOT IN ({HELD_OUTPUTS}) \
         AND id IN (SELECT o.output_id FROM job_outputs o JOIN job_runs r ON r.id = o.run_id \
                    WHERE o.kind = 'model' AND r.status <> 'succeeded')"
    );
    let none: Option<NaiveDate> = None;
    let mut tx = store.begin_write().await?;
    let discarded = on_tx!(&mut tx, conn => {
        let forecast_runs = sqlx::query(sqlx::AssertSqlSafe(forecast_sql))
            .bind(job).bind(current_run).bind("forecast").bind(none)
            .execute(&mut **conn).await?.rows_affected();
        let allocation_runs = sqlx::query(sqlx::AssertSqlSafe(allocation_sql))
            .bind(job).bind(current_run).bind("allocation").bind(none)
            .execute(&mut **conn).await?.rows_affected();
        let models: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(orphan_models_sql))
            .bind(job).bind(current_run).bind("model").bind(none)
            .fetch_all(&mut **conn).await?;
        for (id, _) in &models {
            sqlx::query("DELETE FROM model_runs WHERE id = $1").bind(id).execute(&mut **conn).await?;
        }
        sqlx::query(
            "DELETE FROM forecast_shards WHERE job_run_id IN (SELECT id FROM job_runs WHERE job = $1 AND id <> $2)",
        )
        .bind(job).bind(current_run)
        .execute(&mut **conn).await?;
        (forecast_runs, allocation_runs, models)
    });
    tx.commit().await?;
    let (forecast_runs, allocation_runs, models) = discarded;
    remove_artifacts(&models.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>());
    Ok(Discarded {
        forecast_runs,
        allocation_runs,
        models: models.len() as u64,
    })
}

pub struct Publication<'a> {
    pub job: &'a str,
    pub run_id: &'a str,
    pub as_of: NaiveDate,
    pub forecast_run: Option<&'a str>,
    pub allocation_runs: &'a [String],
    pub published_at: DateTime<Utc>,
    /// Set when a person publishes a run the guard held (`jobs approve`).
    pub approval: Option<Approval<'a>>,
}

pub struct Approval<'a> {
    /// Who approved, recorded with the hold.
    pub by: &'a str,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Published {
    pub forecast_runs: u64,
    pub allocation_runs: u64,
    /// Outputs of earlier runs of this job for the same as-of date, replaced.
    pub replaced: Discarded,
}

/// Flips this run's staged outputs to published and removes earlier runs' outputs for the
/// same job and as-of date, in one transaction. Earlier runs of the job still held by the
/// publish guard are superseded; an approval marks this run's own hold approved and the run
/// succeeded.
pub async fn publish(store: &Store, publication: &Publication<'_>) -> Result<Published, JobError> {
    let replaced_forecasts_sql =
        format!("DELETE FROM forecast_runs WHERE id IN ({EARLIER_OUTPUTS})");
    let replaced_allocations_sql =
        format!("DELETE FROM allocation_runs WHERE id IN ({EARLIER_OUTPUTS})");
    let replaced_models_sql = format!(
        "SELECT id, artifact_path FROM model_runs WHERE id IN ({EARLIER_OUTPUTS}) \
         AND id NOT IN (SELECT model_id FROM forecast_runs)"
    );
    let as_of = Some(publication.as_of);
    let job = publication.job;
    let run = publication.run_id;
    let mut tx = store.begin_write().await?;
    let outcome = on_tx!(&mut tx, conn => {
        let mut forecast_runs = 0;
        if let Some(id) = publication.forecast_run {
            forecast_runs = sqlx::query("UPDATE forecast_runs SET status = 'complete' WHERE id = $1 AND status = 'writing'")
                .bind(id)
                .execute(&mut **conn).await?.rows_affected();
        }
        let mut allocation_runs = 0;
        for id in publication.allocation_runs {
            allocation_runs += sqlx::query(
                "UPDATE allocation_runs SET status = 'published', published_at = $2 WHERE id = $1 AND status = 'writing'",
            )
            .bind(id)
            .bind(publication.published_at)
            .execute(&mut **conn).await?.rows_affected();
        }
        let replaced_allocations = sqlx::query(sqlx::AssertSqlSafe(replaced_allocations_sql))
            .bind(job).bind(run).bind("allocation").bind(as_of)
            .execute(&mut **conn).await?.rows_affected();
        let replaced_forecasts = sqlx::query(sqlx::AssertSqlSafe(replaced_forecasts_sql))
            .bind(job).bind(run).bind("forecast").bind(as_of)
            .execute(&mut **conn).await?.rows_affected();
        let models: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(replaced_models_sql))
            .bind(job).bind(run).bind("model").bind(as_of)
            .fetch_all(&mut **conn).await?;
        for (id, _) in &models {
            sqlx::query("DELETE FROM model_runs WHERE id = $1").bind(id).execute(&mut **conn).await?;
        }
        sqlx::query(
            "UPDATE job_holds SET status = 'superseded', resolved_at = $3, resolved_by = $2 \
             WHERE job = $1 AND run_id <> $2 AND status = 'held'",
        )
        .bind(job).bind(run).bind(publication.published_at)
        .execute(&mut **conn).await?;
        if let Some(approval) = &publication.approval {
            sqlx::query(
                "UPDATE job_holds SET status = 'approved', resolved_at = $2, resolved_by = $3 \
                 WHERE run_id = $1 AND status = 'held'",
            )
            .bind(run).bind(publication.published_at).bind(approval.by)
            .execute(&mut **conn).await?;
            sqlx::query("UPDATE job_runs SET status = 'succeeded', error = NULL WHERE id = $1")
                .bind(run)
                .execute(&mut **conn).await?;
        }
        (forecast_runs, allocation_runs, replaced_forecasts, replaced_allocations, models)
    });
    tx.commit().await?;
    let (forecast_runs, allocation_runs, replaced_forecasts, replaced_allocations, models) =
        outcome;
    remove_artifacts(&models.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>());
    Ok(Published {
        forecast_runs,
        allocation_runs,
        replaced: Discarded {
            forecast_runs: replaced_forecasts,
            allocation_runs: replaced_allocations,
            models: models.len() as u64,
        },
    })
}

/// Counts for tests and reports: forecast and allocation runs (all statuses) and models.
pub async fn output_counts(store: &Store) -> Result<(i64, i64, i64), JobError> {
    let counts = on_backend!(store, pool => {
        let forecasts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM forecast_runs").fetch_one(pool).await?;
        let allocations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM allocation_runs").fetch_one(pool).await?;
        let models: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM model_runs").fetch_one(pool).await?;
        (forecasts, allocations, models)
    });
    Ok(counts)
}
