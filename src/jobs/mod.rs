//! Jobs: named, ordered pipelines defined in `jobs/*.toml`, run by `stockcast jobs run NAME`,
//! a system crontab line or `stockcast scheduler`, all through the same runner.
//!
//! - `definition`: job files, validated at load time (file and line in every error).
//! - `schedule` (pure): when a job fires, as a function of (schedule, zone, last fire, now).
//! - `run`: the runner (lock, history, timeouts, retries of transient failures, failure
//!   notice); `clock`: the clock it reads and sleeps on, which the steps see too.
//! - `steps`: what each step does, through the same library calls as the CLI commands;
//!   `context`: what one step hands the next; `step_error`: how a step fails (input,
//!   transient, internal), which decides whether it is retried.
//! - `outputs`: staging and publishing a run's forecast and allocations; idempotent re-runs.
//! - `lock`: one run per job (PostgreSQL advisory lock / SQLite lease).
//! - `history`: `job_runs`, `job_steps`, `job_outputs`.
//! - `notice`: failure notices (log, webhook, command).
//! - `guard` (pure): the publish guard's rule; `publish_guard` loads its input; `holds`: runs
//!   the guard held, and `jobs approve`.
//! - `scheduler`: the long-running loop; `shards`: the PostgreSQL forecast shard queue.
//! - `reservation_hook`: the one wiring point for the reservation core's steps.

pub mod clock;
pub mod context;
mod definition;
pub mod guard;
pub mod history;
pub mod holds;
pub mod lock;
mod notice;
pub mod outputs;
pub mod publish_guard;
pub mod reservation_hook;
mod run;
pub mod schedule;
pub mod scheduler;
pub mod shards;
mod step_error;
pub mod steps;

pub use clock::{Clock, StepClock, SystemClock};
pub use context::{RunContext, StagedAllocation, StepOutcome};
pub use definition::{
    default_sample_end_date, find_job, load_job, load_jobs_dir, parse_job, AllocateStepSettings,
    BacktestStepSettings, ForecastStepSettings, JobDefinition, JobError, MissedRuns,
    NotifySettings, PolicySetting, SampleData, Step, StepSettings, ALL_STEPS,
};
pub use notice::{send_failure_notice, FailureNotice, NoticeDelivery};
pub use run::{run_job, run_job_with, JobRunReport, RunOptions, StepReport};
pub use step_error::{StepError, StepErrorKind};
