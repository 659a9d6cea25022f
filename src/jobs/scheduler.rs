//! The long-running scheduler: fires each job when [`decide`] says so and runs it through
//! the same [`run_job_with`] as `stockcast jobs run`. Jobs run one at a time per scheduler;
//! several schedulers (or cron lines) on one database never overlap on a job (the job's lock)
//! and never start the same fire twice (`job_runs` is unique per job and scheduled fire).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::clock::Clock;
use super::history::last_scheduled_fire;
use super::lock::Holder;
use super::run::{run_job_with, JobRunReport, RunOptions};
use super::schedule::{decide, Decision, Trigger};
use super::steps::StepExecutor;
use super::{JobDefinition, JobError};
use crate::store::Store;

/// The scheduler wakes at least this often to re-check (clock jumps, suspended machines).
pub const MAX_SLEEP_SECONDS: u64 = 60;

#[derive(Debug)]
pub enum FireOutcome {
    Ran(Box<JobRunReport>),
    /// Another scheduler or cron line holds the job, or already answered this fire.
    NotStarted {
        job: String,
        reason: String,
    },
    Skipped {
        job: String,
        scheduled_for: DateTime<Utc>,
        missed: usize,
    },
    Error {
        job: String,
        error: String,
    },
}

pub struct Scheduler<'a, E: StepExecutor, C: Clock> {
    store: Store,
    jobs: Vec<JobDefinition>,
    base_dir: PathBuf,
    holder: Holder,
    grace: Duration,
    executor: &'a E,
    clock: &'a C,
    last_fire: HashMap<String, DateTime<Utc>>,
}

impl<'a, E: StepExecutor, C: Clock> Scheduler<'a, E, C> {
    /// Starts from each job's last answered fire in the database (so fires missed while no
    /// scheduler ran are seen), or from now for a job that never ran on a schedule.
    pub async fn new(
        store: Store,
        jobs: Vec<JobDefinition>,
        base_dir: PathBuf,
        grace: Duration,
        executor: &'a E,
        clock: &'a C,
    ) -> Result<Scheduler<'a, E, C>, JobError> {
        let now = clock.now();
        let mut last_fire = HashMap::new();
        for job in &jobs {
            let last = last_scheduled_fire(&store, &job.name).await?.unwrap_or(now);
            last_fire.insert(job.name.clone(), last);
        }
        Ok(Scheduler {
            store,
            jobs,
            base_dir,
            holder: Holder::for_this_process(),
            grace,
            executor,
            clock,
            last_fire,
        })
    }

    /// Fires every job that is due at `now`; returns what happened and when to wake next.
    pub async fn tick(
        &mut self,
        now: DateTime<Utc>,
        cancel: &watch::Receiver<bool>,
    ) -> (Vec<FireOutcome>, Option<DateTime<Utc>>) {
        let mut outcomes = Vec::new();
        let mut wake: Option<DateTime<Utc>> = None;
        for job in &self.jobs {
            if *cancel.borrow() {
                break;
            }
            let last = self.last_fire[&job.name];
            match decide(&job.cron, job.time_zone, last, now, job.missed_runs) {
                Decision::Wait { until } => {
                    if let Some(until) = until {
                        wake = Some(wake.map_or(until, |w| w.min(until)));
                    }
                }
                Decision::Skip {
                    scheduled_for,
                    missed,
                } => {
                    tracing::warn!(job = %job.name, missed, "skipping missed run(s) up to {scheduled_for}");
                    self.last_fire.insert(job.name.clone(), scheduled_for);
                    outcomes.push(FireOutcome::Skipped {
                        job: job.name.clone(),
                        scheduled_for,
                        missed,
                    });
                    wake = Some(now);
                }
                Decision::Run {
                    scheduled_for,
                    trigger,
                } => {
                    self.last_fire.insert(job.name.clone(), scheduled_for);
                    let options = RunOptions {
                        as_of: None,
                        trigger,
                        scheduled_for: Some(scheduled_for),
                        base_dir: self.base_dir.clone(),
                        holder: self.holder.clone(),
                        cancel: Some(cancel.clone()),
                        grace: self.grace,
                        force_publish: false,
                    };
                    if trigger == Trigger::CatchUp {
                        tracing::warn!(job = %job.name, "catching up the run missed at {scheduled_for}");
                    }
                    let outcome =
                        match run_job_with(&self.store, job, &options, self.executor, self.clock)
                            .await
                        {
                            Ok(report) => FireOutcome::Ran(Box::new(report)),
                            Err(
                                error @ (JobError::Busy { .. } | JobError::AlreadyFired { .. }),
                            ) => {
                                tracing::info!(job = %job.name, "{error}");
                                FireOutcome::NotStarted {
                                    job: job.name.clone(),
                                    reason: error.to_string(),
                                }
                            }
                            Err(error) => {
                                tracing::error!(job = %job.name, "{error}");
                                FireOutcome::Error {
                                    job: job.name.clone(),
                                    error: error.to_string(),
                                }
                            }
                        };
                    outcomes.push(outcome);
                    // Time passed while the job ran: look again at once.
                    wake = Some(self.clock.now());
                }
            }
        }
        (outcomes, wake)
    }

    /// Runs until `cancel` turns true. A stop during a run gives the current step its grace
    /// period, records the run as cancelled and releases the lock before returning.
    pub async fn run(
        mut self,
        mut cancel: watch::Receiver<bool>,
        mut on_fire: impl FnMut(&FireOutcome),
    ) -> Result<usize, JobError> {
        let mut fired = 0;
        loop {
            if *cancel.borrow() {
                return Ok(fired);
            }
            let now = self.clock.now();
            let (outcomes, wake) = self.tick(now, &cancel).await;
            for outcome in &outcomes {
                on_fire(outcome);
            }
            fired += outcomes.len();
            let now = self.clock.now();
            let max_sleep = chrono::Duration::seconds(MAX_SLEEP_SECONDS as i64);
            let until = wake.unwrap_or(now + max_sleep).min(now + max_sleep);
            let sleep = (until - now).to_std().unwrap_or(Duration::ZERO);
            if sleep.is_zero() {
                continue;
            }
            tokio::select! {
                _ = self.clock.sleep(sleep) => {}
                changed = cancel.changed() => {
                    if changed.is_err() {
                        // Nobody can stop us any more; stopping now is the safe reading.
                        return Ok(fired);
                    }
                }
            }
        }
    }
}
