//! Held runs (`job_holds`, migration `0009_publish_holds.sql`): a run the publish guard
//! stopped keeps its outputs staged until `stockcast jobs approve RUN` publishes them on
//! purpose, or a later run of the job publishes instead (the hold is then `superseded`).

use chrono::{DateTime, NaiveDate, Utc};

use super::guard::Verdict;
use super::history;
use super::outputs::{publish, Approval, Publication, Published};
use super::JobError;
use crate::on_backend;
use crate::store::Store;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Hold {
    pub run_id: String,
    pub job: String,
    pub as_of: NaiveDate,
    pub held_at: DateTime<Utc>,
    pub reason: String,
    /// The guard's findings as JSON.
    pub findings: String,
    pub status: String,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
}

pub struct NewHold<'a> {
    pub run_id: &'a str,
    pub job: &'a str,
    pub as_of: NaiveDate,
    pub held_at: DateTime<Utc>,
    pub verdict: &'a Verdict,
}

/// Records that `run_id` is held with the guard's verdict.
pub async fn record_hold(store: &Store, hold: &NewHold<'_>) -> Result<(), JobError> {
    let findings = serde_json::to_string(&hold.verdict.findings)
        .expect("guard findings serialise (plain numbers and text)");
    on_backend!(store, pool => {
        sqlx::query(
            "INSERT INTO job_holds (run_id, job, as_of, held_at, reason, findings, status) \
             VALUES ($1, $2, $3, $4, $5, $6, 'held') \
             ON CONFLICT (run_id) DO UPDATE SET held_at = excluded.held_at, \
             reason = excluded.reason, findings = excluded.findings, status = 'held'",
        )
        .bind(hold.run_id)
        .bind(hold.job)
        .bind(hold.as_of)
        .bind(hold.held_at)
        .bind(hold.verdict.reason())
        .bind(&findings)
        .execute(pool)
        .await?;
    });
    Ok(())
}

pub async fn find_hold(store: &Store, run_id: &str) -> Result<Option<Hold>, JobError> {
    type Row = (
        String,
        String,
        NaiveDate,
        DateTime<Utc>,
        String,
        String,
        String,
        Option<DateTime<Utc>>,
        Option<String>,
    );
    let row: Option<Row> = on_backend!(store, pool => {
        sqlx::query_as(
            "SELECT run_id, job, as_of, held_at, reason, findings, status, resolved_at, resolved_by \
             FROM job_holds WHERE run_id = $1",
        )
        .bind(run_id)
        .fetch_optional(pool)
        .await?
    });
    Ok(row.map(
        |(run_id, job, as_of, held_at, reason, findings, status, resolved_at, resolved_by)| Hold {
            run_id,
            job,
            as_of,
            held_at,
            reason,
            findings,
            status,
            resolved_at,
            resolved_by,
        },
    ))
}

/// Publishes a held run's staged forecast and allocations on purpose: the same publication
/// the publish step would have made, in one transaction that also marks the hold approved
/// and the run succeeded.
pub async fn approve(
    store: &Store,
    run_id: &str,
    approved_by: &str,
    now: DateTime<Utc>,
) -> Result<Published, JobError> {
    let run = history::find_run(store, run_id).await?;
    let hold = find_hold(store, run_id).await?;
    match hold.as_ref().map(|hold| hold.status.as_str()) {
        Some("held") => {}
        Some(other) => {
            return Err(JobError::NotHeld {
                run_id: run_id.to_string(),
                why: format!("its hold was already {other}"),
            })
        }
        None => {
            return Err(JobError::NotHeld {
                run_id: run_id.to_string(),
                why: format!(
                    "it is {} and was never held by the publish guard",
                    run.status
                ),
            })
        }
    }
    let outputs = history::run_outputs(store, run_id).await?;
    let forecast = outputs
        .iter()
        .find(|(kind, _)| kind == "forecast")
        .map(|(_, id)| id.clone());
    let allocations: Vec<String> = outputs
        .iter()
        .filter(|(kind, _)| kind == "allocation")
        .map(|(_, id)| id.clone())
        .collect();
    let staged: i64 = on_backend!(store, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM forecast_runs WHERE id = $1 AND status = 'writing'")
            .bind(forecast.as_deref().unwrap_or(""))
            .fetch_one(pool)
            .await?
    });
    if staged == 0 {
        return Err(JobError::NotHeld {
            run_id: run_id.to_string(),
            why: "its staged forecast is gone".to_string(),
        });
    }
    let published = publish(
        store,
        &Publication {
            job: &run.job,
            run_id,
            as_of: run.as_of,
            forecast_run: forecast.as_deref(),
            allocation_runs: &allocations,
            published_at: now,
            approval: Some(Approval { by: approved_by }),
        },
    )
    .await?;
    Ok(published)
}
