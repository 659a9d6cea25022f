//! What one step of a run hands the next: the as-of date, the run's clock, the staged
//! forecast and allocations, the notes. The runner creates a [`RunContext`] per run; the steps
//! (`steps`, `shards`) read and fill it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use super::clock::StepClock;
use super::outputs::Published;
use super::step_error::StepError;
use super::{history, JobDefinition, Step};
use crate::allocation::inputs::ForecastRows;
use crate::ingest::IngestReport;
use crate::report::DatasetSummary;
use crate::store::Store;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StepOutcome {
    pub rows_in: Option<i64>,
    pub rows_out: Option<i64>,
    pub detail: String,
    /// The step had nothing it could do (recorded as `skipped`, not a failure).
    pub skipped: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StagedAllocation {
    pub run_id: String,
    pub promotion: String,
    pub units_placed: u64,
    pub units_moved: u64,
    pub skus: usize,
    pub warehouses: usize,
}

/// State shared by the steps of one run.
pub struct RunContext<'run> {
    pub store: Store,
    pub job: JobDefinition,
    pub base_dir: PathBuf,
    pub run_id: String,
    pub as_of: NaiveDate,
    /// Given on the command line: never moved to the last sales date.
    pub as_of_explicit: bool,
    as_of_checked: bool,
    /// The runner's clock: every "now" a step records comes from it.
    clock: &'run dyn StepClock,
    pub generated_sample: Option<String>,
    pub ingest: Option<IngestReport>,
    pub summary: Option<DatasetSummary>,
    pub model_id: Option<String>,
    pub forecast_run_id: Option<String>,
    /// The staged forecast kept in memory for the allocate step (no re-read).
    pub forecast_rows: Option<Arc<ForecastRows>>,
    pub allocations: Vec<StagedAllocation>,
    pub published: Option<Published>,
    pub report_path: Option<PathBuf>,
    pub notes: Vec<String>,
    /// Publish even when the publish guard would hold the run (`jobs run --force`).
    pub force_publish: bool,
    /// Set by the publish step when the guard held the run: the reason.
    pub held: Option<String>,
}

impl<'run> RunContext<'run> {
    pub fn new(
        store: Store,
        job: JobDefinition,
        base_dir: PathBuf,
        run_id: String,
        as_of: NaiveDate,
        as_of_explicit: bool,
        clock: &'run dyn StepClock,
    ) -> RunContext<'run> {
        RunContext {
            store,
            job,
            base_dir,
            run_id,
            as_of,
            as_of_explicit,
            as_of_checked: false,
            clock,
            generated_sample: None,
            ingest: None,
            summary: None,
            model_id: None,
            forecast_run_id: None,
            forecast_rows: None,
            allocations: Vec::new(),
            published: None,
            report_path: None,
            notes: Vec::new(),
            force_publish: false,
            held: None,
        }
    }

    pub fn path(&self, relative: &Path) -> PathBuf {
        self.base_dir.join(relative)
    }

    pub fn clock(&self) -> &'run dyn StepClock {
        self.clock
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Whether this job's outputs wait for its publish step.
    pub fn stages_outputs(&self) -> bool {
        self.job.steps.contains(&Step::Publish)
    }

    /// The date the run is for. Without `--as-of`, a scheduled date past the history (data
    /// not in yet, or a fixed sample) is moved back to the last date ingested sales files
    /// cover, once. Live sales never move it (see `store::sales_source`).
    pub async fn resolve_as_of(&mut self) -> Result<NaiveDate, StepError> {
        if self.as_of_checked || self.as_of_explicit {
            return Ok(self.as_of);
        }
        let last = crate::store::sales_source::ingested_through(&self.store).await?;
        if let Some(last) = last {
            if last < self.as_of {
                self.notes.push(format!(
                    "as-of moved from {} to {last}, the last date ingested sales cover",
                    self.as_of
                ));
                self.as_of = last;
                history::set_as_of(&self.store, &self.run_id, last).await?;
            }
        }
        self.as_of_checked = true;
        Ok(self.as_of)
    }

    /// Records an id this run made, so a later run can find and discard it.
    pub(super) async fn record_output(&self, kind: &str, id: &str) -> Result<(), StepError> {
        Ok(history::record_output(&self.store, &self.run_id, kind, id).await?)
    }
}
