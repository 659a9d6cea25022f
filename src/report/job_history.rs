//! `report jobs`: the last pipeline runs (from `job_runs`/`job_steps`), their durations and
//! failures, and per job the run count, failures and median duration.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::query::{Bind, Sql};
use super::view::{column, Chart, ReportView, Section, Value};
use super::{Filters, ReportError};
use crate::report_fetch;
use crate::store::Store;

#[derive(Debug, Clone, serde::Serialize)]
pub struct JobRunRow {
    pub id: String,
    pub job: String,
    pub as_of: NaiveDate,
    pub trigger: String,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// The first failed or timed-out step and its error.
    pub failed_step: Option<(String, Option<String>)>,
}

#[derive(Debug, Clone)]
pub struct JobsInput {
    pub runs: Vec<JobRunRow>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunLine {
    pub job: String,
    pub as_of: NaiveDate,
    pub trigger: String,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub duration_seconds: Option<f64>,
    pub failure: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct JobSummary {
    pub job: String,
    pub runs: usize,
    pub failed: usize,
    pub median_seconds: Option<f64>,
    pub last_success: Option<NaiveDate>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct JobsReport {
    pub jobs: Vec<JobSummary>,
    pub runs: Vec<RunLine>,
}

/// Runs a jobs report reads at most (newest first).
pub const MAX_JOB_RUNS: i64 = 500;

pub async fn load(store: &Store, filters: &Filters) -> Result<JobsInput, ReportError> {
    // A run the publish guard holds is stored failed; it reads as held (see jobs::holds).
    let mut sql = Sql::new(
        "SELECT id, job, as_of, trigger, \
         CASE WHEN EXISTS (SELECT 1 FROM job_holds h WHERE h.run_id = job_runs.id AND h.status = 'held') \
              THEN 'held' ELSE status END, \
         started_at, finished_at, error FROM job_runs WHERE 1 = 1",
    );
    if let Some(as_of) = filters.as_of {
        sql.clause(" AND as_of <= ?", vec![Bind::Date(as_of)]);
    }
    sql.push(" ORDER BY started_at DESC, id DESC LIMIT ");
    let limit = sql.param(Bind::Int(MAX_JOB_RUNS.min(filters.rows().max(50) as i64)));
    sql.push(&limit);
    type Row = (
        String,
        String,
        NaiveDate,
        String,
        String,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        Option<String>,
    );
    let rows = report_fetch!(store, sql, Row);
    let mut runs = Vec::with_capacity(rows.len());
    for (id, job, as_of, trigger, status, started_at, finished_at, error) in rows {
        let failed_step = if status == "failed" {
            let mut sql = Sql::new("SELECT step, error FROM job_steps WHERE ");
            sql.clause(
                "run_id = ? AND status IN ('failed', 'timed_out') ORDER BY position LIMIT 1",
                vec![Bind::Text(id.clone())],
            );
            report_fetch!(store, sql, (String, Option<String>))
                .into_iter()
                .next()
        } else {
            None
        };
        runs.push(JobRunRow {
            id,
            job,
            as_of,
            trigger,
            status,
            started_at,
            finished_at,
            error,
            failed_step,
        });
    }
    Ok(JobsInput { runs })
}

pub fn build(input: &JobsInput, filters: &Filters) -> Result<JobsReport, ReportError> {
    if input.runs.is_empty() {
        return Err(ReportError::Empty(
            "no job runs recorded yet (job_runs is empty)".to_string(),
        ));
    }
    // job → (runs, failed, durations, last successful as-of)
    type Tally = (usize, usize, Vec<f64>, Option<NaiveDate>);
    let mut per_job: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut runs = Vec::new();
    for run in &input.runs {
        let duration = run
            .finished_at
            .map(|end| (end - run.started_at).num_milliseconds() as f64 / 1000.0);
        let entry = per_job.entry(run.job.as_str()).or_default();
        entry.0 += 1;
        if run.status == "failed" {
            entry.1 += 1;
        }
        if let Some(seconds) = duration {
            entry.2.push(seconds);
        }
        if run.status == "succeeded" {
            entry.3 = entry.3.max(Some(run.as_of));
        }
        let failure = match (&run.failed_step, &run.error) {
            (Some((step, Some(error))), _) => Some(format!("{step}: {error}")),
            (Some((step, None)), Some(error)) => Some(format!("{step}: {error}")),
            (Some((step, None)), None) => Some(step.clone()),
            (None, Some(error)) => Some(error.clone()),
            (None, None) => None,
        };
        runs.push(RunLine {
            job: run.job.clone(),
            as_of: run.as_of,
            trigger: run.trigger.clone(),
            status: run.status.clone(),
            started_at: run.started_at,
            duration_seconds: duration,
            failure,
        });
    }
    runs.truncate(filters.rows());
    let jobs = per_job
        .into_iter()
        .map(|(job, (count, failed, seconds, last_success))| JobSummary {
            job: job.to_string(),
            runs: count,
            failed,
            median_seconds: (!seconds.is_empty()).then(|| crate::bench::median(&seconds)),
            last_success,
        })
        .collect();
    Ok(JobsReport { jobs, runs })
}

impl JobsReport {
    pub fn view(&self) -> ReportView {
        let mut view = ReportView::new("Pipeline jobs");
        let mut section = Section::new(
            "Last runs (newest first)",
            vec![
                column("job", "job"),
                column("as_of", "as of"),
                column("trigger", "trigger"),
                column("status", "status"),
                column("started_at", "started (UTC)"),
                column("duration_seconds", "duration"),
                column("failure", "failure"),
            ],
        );
        for run in &self.runs {
            section.push(vec![
                Value::text(&run.job),
                Value::Date(run.as_of),
                Value::text(&run.trigger),
                Value::text(&run.status),
                Value::Text(run.started_at.format("%m-%d %H:%M").to_string()),
                run.duration_seconds.map_or(Value::Missing, Value::Seconds),
                run.failure.clone().map_or(Value::Missing, Value::Text),
            ]);
        }
        view.sections.push(section);
        let mut section = Section::new(
            "Per job",
            vec![
                column("job", "job"),
                column("runs", "runs"),
                column("failed", "failed"),
                column("median_seconds", "median duration"),
                column("last_success", "last success (as of)"),
            ],
        );
        for job in &self.jobs {
            section.push(vec![
                Value::text(&job.job),
                Value::Count(job.runs as i64),
                Value::Count(job.failed as i64),
                job.median_seconds.map_or(Value::Missing, Value::Seconds),
                job.last_success.map_or(Value::Missing, Value::Date),
            ]);
        }
        view.sections.push(section);
        let shown: Vec<&RunLine> = self.runs.iter().rev().collect();
        view.charts.push(Chart::Bars {
            title: "Run durations, oldest to newest (failed runs in the second colour)".to_string(),
            unit: "seconds".to_string(),
            labels: shown
                .iter()
                .map(|r| format!("{} {}", r.job, r.started_at.format("%m-%d %H:%M")))
                .collect(),
            series: vec![
                (
                    "succeeded".to_string(),
                    shown
                        .iter()
                        .map(|r| {
                            if r.status == "failed" {
                                0.0
                            } else {
                                r.duration_seconds.unwrap_or(0.0)
                            }
                        })
                        .collect(),
                ),
                (
                    "failed".to_string(),
                    shown
                        .iter()
                        .map(|r| {
                            if r.status == "failed" {
                                r.duration_seconds.unwrap_or(0.0)
                            } else {
                                0.0
                            }
                        })
                        .collect(),
                ),
            ],
            reference: None,
        });
        view
    }
}
