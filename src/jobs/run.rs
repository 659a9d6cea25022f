//! Running a job: take the job's lock, record the run, run each step under its timeout with
//! retries and backoff, publish only through the publish step, record everything, send a
//! failure notice, release the lock. `stockcast jobs run`, a crontab line and the scheduler
//! all come through [`run_job_with`]. Only a transient failure or a timeout is retried: bad
//! input, a bug or a panic fails the step at its first attempt.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::watch;

use super::clock::{Clock, SystemClock};
use super::context::{RunContext, StagedAllocation, StepOutcome};
use super::history::{self, NewRun, RunEnd, RunStatus, StepEnd, StepStatus};
use super::lock::{try_lock, Holder};
use super::notice::{send_failure_notice, FailureNotice, NoticeDelivery};
use super::outputs::{discard_unpublished, Discarded, Published};
use super::schedule::{as_of_for_fire, Trigger};
use super::step_error::{StepError, StepErrorKind};
use super::steps::{PipelineSteps, StepExecutor};
use super::{JobDefinition, JobError, Step, StepSettings};
use crate::ingest::IngestReport;
use crate::report::DatasetSummary;
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Business date; default: the scheduled fire's local day before, or yesterday (moved
    /// back to the last sales date when the data ends earlier).
    pub as_of: Option<NaiveDate>,
    pub trigger: Trigger,
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Relative paths in the job file are resolved against this folder.
    pub base_dir: PathBuf,
    pub holder: Holder,
    /// Set to true to stop: the current step gets `grace` to finish, then is abandoned.
    pub cancel: Option<watch::Receiver<bool>>,
    pub grace: Duration,
    /// Publish even when the publish guard would hold the run (`jobs run --force`); the
    /// guard's findings go to the run's notes.
    pub force_publish: bool,
}

impl RunOptions {
    pub fn manual(base_dir: PathBuf, as_of: Option<NaiveDate>) -> RunOptions {
        RunOptions {
            as_of,
            trigger: Trigger::Manual,
            scheduled_for: None,
            base_dir,
            holder: Holder::for_this_process(),
            cancel: None,
            grace: Duration::from_secs(30),
            force_publish: false,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StepReport {
    pub step: &'static str,
    pub status: StepStatus,
    pub attempts: u32,
    pub seconds: f64,
    pub rows_in: Option<i64>,
    pub rows_out: Option<i64>,
    pub detail: String,
    pub error: Option<String>,
    /// Why the step failed, when it failed with a step error (not a timeout or a stop).
    pub failure: Option<StepErrorKind>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct JobRunReport {
    pub job: String,
    pub run_id: String,
    pub as_of: NaiveDate,
    pub status: RunStatus,
    pub trigger: Trigger,
    pub seconds: f64,
    pub error: Option<String>,
    pub failed_step: Option<String>,
    /// The failed step's kind of failure, when it had one.
    pub failure: Option<StepErrorKind>,
    /// Set when this run generated the sample data first.
    pub generated_sample: Option<String>,
    pub steps: Vec<StepReport>,
    pub ingest: Option<IngestReport>,
    pub summary: Option<DatasetSummary>,
    pub abandoned_runs: u64,
    pub discarded: Discarded,
    pub model_id: Option<String>,
    pub forecast_run_id: Option<String>,
    pub allocations: Vec<StagedAllocation>,
    pub published: Option<Published>,
    pub report_path: Option<PathBuf>,
    pub notes: Vec<String>,
    pub notice: Option<NoticeDelivery>,
}

impl JobRunReport {
    /// The error to exit with when the run did not succeed.
    pub fn into_result(self) -> Result<JobRunReport, JobError> {
        match self.status {
            RunStatus::Succeeded => Ok(self),
            RunStatus::Held => Err(JobError::Held {
                job: self.job,
                run_id: self.run_id,
                reason: self.error.unwrap_or_default(),
            }),
            RunStatus::Cancelled => Err(JobError::Cancelled {
                job: self.job,
                run_id: self.run_id,
                reason: self.error.unwrap_or_default(),
            }),
            _ => Err(JobError::RunFailed {
                job: self.job,
                run_id: self.run_id,
                step: self.failed_step.unwrap_or_default(),
                message: self.error.unwrap_or_default(),
                bad_input: self.failure == Some(StepErrorKind::Input),
            }),
        }
    }
}

/// Runs `job` now with the real steps and clock (what `stockcast jobs run` does).
pub async fn run_job(
    store: &Store,
    job: &JobDefinition,
    options: &RunOptions,
) -> Result<JobRunReport, JobError> {
    run_job_with(store, job, options, &PipelineSteps, &SystemClock).await
}

enum AttemptResult {
    Finished(Result<StepOutcome, StepError>),
    /// The step panicked (a bug, not a passing failure: never retried).
    Panicked(String),
    TimedOut,
    Abandoned,
}

/// What a panicking step left: the panic's message.
struct Panic(String);

/// A step's future with a panic inside it turned into `Err(Panic)`, so the run records the
/// step failed, finishes its history and releases its lock instead of unwinding past them
/// (which left runs `running` until a later run abandoned them).
struct CatchPanic<F>(F);

impl<F: Future + Unpin> Future for CatchPanic<F> {
    type Output = Result<F::Output, Panic>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(Panic(panic_message(payload.as_ref())))),
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".to_string())
}

async fn wait_for_cancel(cancel: &Option<watch::Receiver<bool>>) {
    match cancel {
        Some(receiver) => {
            let mut receiver = receiver.clone();
            if receiver.wait_for(|cancelled| *cancelled).await.is_err() {
                // The sender is gone: nobody can cancel any more.
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

fn is_cancelled(cancel: &Option<watch::Receiver<bool>>) -> bool {
    cancel.as_ref().is_some_and(|receiver| *receiver.borrow())
}

/// Runs `job`: returns `Err` only when the run did not start (lock busy, fire already
/// answered, database unreachable); a run that started returns its report whatever its status.
pub async fn run_job_with<E: StepExecutor, C: Clock>(
    store: &Store,
    job: &JobDefinition,
    options: &RunOptions,
    executor: &E,
    clock: &C,
) -> Result<JobRunReport, JobError> {
    let started = Instant::now();
    let now = clock.now();
    let mut lock = match try_lock(store, &job.name, &options.holder, job.lease, now).await? {
        Ok(lock) => lock,
        Err(held) => {
            return Err(JobError::Busy {
                job: job.name.clone(),
                holder: held.to_string(),
            })
        }
    };
    let runner = Runner {
        store,
        job,
        options,
        executor,
        clock,
    };
    let result = runner.run_locked(&mut lock, started, now).await;
    lock.release().await;
    result
}

/// What every step of one run shares: where it is recorded, what runs the steps, the clock.
struct Runner<'a, E, C> {
    store: &'a Store,
    job: &'a JobDefinition,
    options: &'a RunOptions,
    executor: &'a E,
    clock: &'a C,
}

/// A run's history row, written before its first step.
struct StartedRun {
    run_id: String,
    as_of: NaiveDate,
    host: String,
    abandoned_runs: u64,
    discarded: Discarded,
}

/// How the steps went: their reports, and the run's status with the step that ended it.
struct StepsOutcome {
    steps: Vec<StepReport>,
    status: RunStatus,
    error: Option<String>,
    failed_step: Option<String>,
    failure: Option<StepErrorKind>,
}

/// One step's attempts: how the last one ended.
struct Attempts {
    status: StepStatus,
    outcome: Option<StepOutcome>,
    error: Option<String>,
    attempts: u32,
    failure: Option<StepErrorKind>,
}

impl<E: StepExecutor, C: Clock> Runner<'_, E, C> {
    async fn run_locked(
        &self,
        lock: &mut super::lock::JobLock,
        started: Instant,
        now: DateTime<Utc>,
    ) -> Result<JobRunReport, JobError> {
        let (store, job, options) = (self.store, self.job, self.options);
        let StartedRun {
            run_id,
            as_of,
            host,
            abandoned_runs,
            discarded,
        } = self.start_run(lock, now).await?;
        let mut context = RunContext::new(
            store.clone(),
            job.clone(),
            options.base_dir.clone(),
            run_id.clone(),
            as_of,
            options.as_of.is_some(),
            self.clock,
        );
        context.force_publish = options.force_publish;
        let StepsOutcome {
            steps,
            mut status,
            error: mut run_error,
            mut failed_step,
            failure,
        } = self.run_steps(&mut context, lock, &run_id).await?;

        // Every step ran but the guard stopped the publication: not a success, and the notice
        // fires like a failure's.
        if status == RunStatus::Succeeded {
            if let Some(reason) = &context.held {
                status = RunStatus::Held;
                run_error = Some(format!("held by the publish guard: {reason}"));
                failed_step = Some(Step::Publish.as_str().to_string());
            }
        }
        let finished_at = self.clock.now();
        let first_allocation = context.allocations.first().map(|a| a.run_id.clone());
        history::finish_run(
            store,
            &run_id,
            &RunEnd {
                status,
                finished_at,
                error: run_error.as_deref(),
                model_id: context.model_id.as_deref(),
                forecast_run_id: context.forecast_run_id.as_deref(),
                allocation_run_id: first_allocation.as_deref(),
            },
        )
        .await?;
        let notice = if status == RunStatus::Succeeded {
            None
        } else {
            Some(
                send_failure_notice(
                    &job.notify,
                    &FailureNotice {
                        job: job.name.clone(),
                        run_id: run_id.clone(),
                        as_of: context.as_of,
                        status: status.as_str().to_string(),
                        step: failed_step.clone().unwrap_or_default(),
                        error: run_error.clone().unwrap_or_default(),
                        host,
                        started_at: now,
                        finished_at,
                    },
                )
                .await,
            )
        };
        Ok(JobRunReport {
            job: job.name.clone(),
            run_id,
            as_of: context.as_of,
            status,
            trigger: options.trigger,
            seconds: started.elapsed().as_secs_f64(),
            error: run_error,
            failed_step,
            failure,
            generated_sample: context.generated_sample,
            steps,
            ingest: context.ingest,
            summary: context.summary,
            abandoned_runs,
            discarded,
            model_id: context.model_id,
            forecast_run_id: context.forecast_run_id,
            allocations: context.allocations,
            published: context.published,
            report_path: context.report_path,
            notes: context.notes,
            notice,
        })
    }

    /// Marks the job's stale runs abandoned, writes this run's history row, names it on the
    /// lock and discards what earlier runs left unpublished.
    async fn start_run(
        &self,
        lock: &mut super::lock::JobLock,
        now: DateTime<Utc>,
    ) -> Result<StartedRun, JobError> {
        let (store, job, options) = (self.store, self.job, self.options);
        let abandoned_runs = history::abandon_stale_runs(store, &job.name, now).await?;
        let as_of = options
            .as_of
            .unwrap_or_else(|| match options.scheduled_for {
                Some(fire) => as_of_for_fire(job.time_zone, fire),
                None => as_of_for_fire(job.time_zone, now),
            });
        let run_id = history::new_run_id(&job.name, now);
        let host = super::lock::host_name();
        history::insert_run(
            store,
            &NewRun {
                id: &run_id,
                job: &job.name,
                as_of,
                trigger: options.trigger,
                started_at: now,
                host: &host,
                scheduled_for: options.scheduled_for,
            },
        )
        .await?;
        lock.set_run(&run_id).await?;
        let discarded = discard_unpublished(store, &job.name, &run_id).await?;
        Ok(StartedRun {
            run_id,
            as_of,
            host,
            abandoned_runs,
            discarded,
        })
    }

    /// Runs the steps in order until one fails, times out or is stopped, recording each.
    async fn run_steps(
        &self,
        context: &mut RunContext<'_>,
        lock: &mut super::lock::JobLock,
        run_id: &str,
    ) -> Result<StepsOutcome, JobError> {
        let (store, job, options) = (self.store, self.job, self.options);
        let mut outcome = StepsOutcome {
            steps: Vec::new(),
            status: RunStatus::Succeeded,
            error: None,
            failed_step: None,
            failure: None,
        };
        for (position, (step, settings)) in job.steps.iter().zip(&job.step_settings).enumerate() {
            if is_cancelled(&options.cancel) {
                outcome.status = RunStatus::Cancelled;
                outcome.error = Some(format!(
                    "stop requested; not started: {}",
                    job.steps[position..]
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                break;
            }
            if *step == Step::Publish && !lock.still_held().await {
                outcome.status = RunStatus::Failed;
                outcome.failed_step = Some(step.as_str().to_string());
                outcome.error = Some(
                    "the job's lock was lost before publishing; nothing published".to_string(),
                );
                break;
            }
            let step_started = Instant::now();
            history::start_step(store, run_id, position, step.as_str(), self.clock.now()).await?;
            let Attempts {
                status: step_status,
                outcome: step_outcome,
                error,
                attempts,
                failure: step_failure,
            } = self
                .attempt_step(context, run_id, position, *step, settings)
                .await?;
            let finished_at = self.clock.now();
            history::finish_step(
                store,
                run_id,
                position,
                &StepEnd {
                    status: step_status,
                    attempts,
                    finished_at,
                    rows_in: step_outcome.as_ref().and_then(|o| o.rows_in),
                    rows_out: step_outcome.as_ref().and_then(|o| o.rows_out),
                    error: error.as_deref(),
                    detail: step_outcome.as_ref().map(|o| o.detail.as_str()),
                },
            )
            .await?;
            outcome.steps.push(StepReport {
                step: step.as_str(),
                status: step_status,
                attempts,
                seconds: step_started.elapsed().as_secs_f64(),
                rows_in: step_outcome.as_ref().and_then(|o| o.rows_in),
                rows_out: step_outcome.as_ref().and_then(|o| o.rows_out),
                detail: step_outcome.map(|o| o.detail).unwrap_or_default(),
                error: error.clone(),
                failure: step_failure,
            });
            match step_status {
                StepStatus::Succeeded | StepStatus::Skipped | StepStatus::Running => {}
                StepStatus::Cancelled => {
                    outcome.status = RunStatus::Cancelled;
                    outcome.error = error;
                    outcome.failed_step = Some(step.as_str().to_string());
                    break;
                }
                StepStatus::Failed | StepStatus::TimedOut => {
                    outcome.status = RunStatus::Failed;
                    outcome.error = error;
                    outcome.failed_step = Some(step.as_str().to_string());
                    outcome.failure = step_failure;
                    break;
                }
            }
        }
        Ok(outcome)
    }

    /// Runs one step under its timeout, retrying a transient failure or a timeout with
    /// backoff while attempts remain and no stop is requested.
    async fn attempt_step(
        &self,
        context: &mut RunContext<'_>,
        run_id: &str,
        position: usize,
        step: Step,
        settings: &StepSettings,
    ) -> Result<Attempts, JobError> {
        let (store, job, options, clock) = (self.store, self.job, self.options, self.clock);
        let mut attempts = 0u32;
        let mut step_failure: Option<StepErrorKind> = None;
        let (status, outcome, error) = loop {
            attempts += 1;
            history::set_step_attempts(store, run_id, position, attempts).await?;
            let execute = CatchPanic(Box::pin(self.executor.execute(context, step)));
            let attempt = tokio::select! {
                result = tokio::time::timeout(settings.timeout, execute) => {
                    match result {
                        Ok(Ok(finished)) => AttemptResult::Finished(finished),
                        Ok(Err(Panic(message))) => AttemptResult::Panicked(message),
                        Err(_) => AttemptResult::TimedOut,
                    }
                }
                _ = async { wait_for_cancel(&options.cancel).await; clock.sleep(options.grace).await } => {
                    AttemptResult::Abandoned
                }
            };
            let (failure_status, message) = match attempt {
                AttemptResult::Finished(Ok(outcome)) => {
                    let status = if outcome.skipped {
                        StepStatus::Skipped
                    } else {
                        StepStatus::Succeeded
                    };
                    break (status, Some(outcome), None);
                }
                AttemptResult::Abandoned => {
                    step_failure = None;
                    break (
                        StepStatus::Cancelled,
                        None,
                        Some(format!(
                            "abandoned after a stop request ({}s grace)",
                            options.grace.as_secs()
                        )),
                    );
                }
                AttemptResult::Panicked(message) => {
                    step_failure = Some(StepErrorKind::Internal);
                    tracing::error!(job = %job.name, step = step.as_str(), "step panicked: {message}");
                    break (
                        StepStatus::Failed,
                        None,
                        Some(format!("internal error: the step panicked: {message}")),
                    );
                }
                AttemptResult::Finished(Err(error)) => {
                    step_failure = Some(error.kind());
                    if !error.is_retryable() {
                        break (StepStatus::Failed, None, Some(error.to_string()));
                    }
                    (StepStatus::Failed, error.to_string())
                }
                AttemptResult::TimedOut => {
                    step_failure = None;
                    (
                        StepStatus::TimedOut,
                        format!(
                            "timed out after {} s (cancelled)",
                            settings.timeout.as_secs()
                        ),
                    )
                }
            };
            if attempts > settings.retries || is_cancelled(&options.cancel) {
                break (failure_status, None, Some(message));
            }
            let wait = settings.backoff_before_retry(attempts);
            tracing::warn!(
                job = %job.name,
                step = step.as_str(),
                attempt = attempts,
                "{message}; retrying in {} s",
                wait.as_secs_f64()
            );
            tokio::select! {
                _ = clock.sleep(wait) => {}
                _ = wait_for_cancel(&options.cancel) => {}
            }
        };
        Ok(Attempts {
            status,
            outcome,
            error,
            attempts,
            failure: step_failure,
        })
    }
}
