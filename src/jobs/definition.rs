//! Parsing and validating job files. A typo, an unknown step, a bad cron expression or time
//! zone is reported with the file and line when the file is read, never at run time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::NaiveDate;
use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use super::guard::GuardSettings;
use crate::contract::Frequency;

#[derive(Debug, Error)]
pub enum JobError {
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("no job named '{name}' in {} (known: {known})", dir.display())]
    UnknownJob {
        name: String,
        dir: PathBuf,
        known: String,
    },
    #[error("job {job} is already running (lock held by {holder}); not started")]
    Busy { job: String, holder: String },
    #[error(
        "job {job}: the run scheduled for {scheduled_for} was already started by another scheduler"
    )]
    AlreadyFired { job: String, scheduled_for: String },
    #[error("job {job}: run {run_id} failed at step {step}: {message}")]
    RunFailed {
        job: String,
        run_id: String,
        step: String,
        message: String,
        /// The step failed on bad input (a missing data folder, a broken file): the user's
        /// to fix, exit code 2.
        bad_input: bool,
    },
    #[error("job {job}: run {run_id} was cancelled before it finished ({reason})")]
    Cancelled {
        job: String,
        run_id: String,
        reason: String,
    },
    #[error("no job run '{0}'")]
    UnknownRun(String),
    #[error(
        "job {job}: run {run_id} published nothing, the run in force stays in force: {reason}; `stockcast jobs approve {run_id}` publishes it"
    )]
    Held {
        job: String,
        run_id: String,
        reason: String,
    },
    #[error("run {run_id} cannot be approved: {why}")]
    NotHeld { run_id: String, why: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl JobError {
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            JobError::Invalid { .. }
                | JobError::UnknownJob { .. }
                | JobError::UnknownRun(_)
                | JobError::NotHeld { .. }
                | JobError::RunFailed {
                    bad_input: true,
                    ..
                }
        )
    }
}

impl From<sqlx::Error> for JobError {
    fn from(error: sqlx::Error) -> Self {
        JobError::Store(crate::store::StoreError::from(error))
    }
}

/// Every step a job may list, in the order the nightly pipeline runs them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Load new or changed files from the job's data folder.
    Ingest,
    /// Recompute per-SKU poll interest (responses up to the as-of date) into `poll_signals`.
    RefreshPollSignals,
    /// Fit per-category models and stage a forecast run (unpublished until `publish`).
    Forecast,
    /// Solve and stage an allocation for every promotion in the look-ahead window.
    Allocate,
    /// Expire reservation holds past their TTL (the reservation core's sweeper).
    ExpireHolds,
    /// Flip this run's staged forecast and allocations to published in one transaction.
    Publish,
    /// Write a run report under `reports/`.
    Report,
    /// Rolling-origin backtest of the forecasting engine against seasonal naive.
    Backtest,
    /// Print what the store now holds.
    Summary,
}

pub const ALL_STEPS: [Step; 9] = [
    Step::Ingest,
    Step::RefreshPollSignals,
    Step::Forecast,
    Step::Allocate,
    Step::ExpireHolds,
    Step::Publish,
    Step::Report,
    Step::Backtest,
    Step::Summary,
];

impl MissedRuns {
    pub fn as_str(self) -> &'static str {
        match self {
            MissedRuns::RunOnce => "run-once",
            MissedRuns::Skip => "skip",
        }
    }
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Ingest => "ingest",
            Step::RefreshPollSignals => "refresh-poll-signals",
            Step::Forecast => "forecast",
            Step::Allocate => "allocate",
            Step::ExpireHolds => "expire-holds",
            Step::Publish => "publish",
            Step::Report => "report",
            Step::Backtest => "backtest",
            Step::Summary => "summary",
        }
    }

    pub fn parse(name: &str) -> Option<Step> {
        ALL_STEPS.into_iter().find(|step| step.as_str() == name)
    }
}

/// Synthetic data generated into `data_dir` when the folder holds no input files: for
/// throw-away demo and test jobs only. A production job never has it, so a mistyped or empty
/// data folder fails its ingest instead of publishing plans made from invented sales.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleData {
    pub skus: usize,
    pub warehouses: usize,
    pub days: usize,
    pub seed: u64,
    /// Last day of generated history; fixed so the sample is the same on every machine.
    #[serde(default = "default_sample_end_date")]
    pub end_date: NaiveDate,
}

/// The last history day of generated sample data unless a job or `--end-date` says otherwise.
pub fn default_sample_end_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 31).expect("valid date")
}

/// What the scheduler does with fires it missed while it was not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissedRuns {
    /// Run once on start-up for the latest missed fire (however many were missed).
    #[default]
    RunOnce,
    /// Skip them and wait for the next fire.
    Skip,
}

/// Timeout and retry settings; `[retry]` sets them for every step, `[step.NAME]` overrides.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSettingsToml {
    pub timeout_seconds: Option<u64>,
    pub retries: Option<u32>,
    pub backoff_seconds: Option<u64>,
    pub backoff_factor: Option<f64>,
    pub max_backoff_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepSettings {
    pub timeout: Duration,
    /// Attempts after the first one.
    pub retries: u32,
    pub backoff: Duration,
    pub backoff_factor: f64,
    pub max_backoff: Duration,
}

impl StepSettings {
    /// The wait before attempt `attempt + 1` (attempt counts from 1): exponential, capped.
    pub fn backoff_before_retry(&self, attempt: u32) -> Duration {
        let factor = self.backoff_factor.powi(attempt.saturating_sub(1) as i32);
        let seconds = (self.backoff.as_secs_f64() * factor).min(self.max_backoff.as_secs_f64());
        Duration::from_secs_f64(seconds.max(0.0))
    }
}

pub const MAX_TIMEOUT_SECONDS: u64 = 24 * 3600;
pub const MAX_RETRIES: u32 = 10;
pub const MAX_BACKOFF_SECONDS: u64 = 3600;

/// Failure notices: always logged; optionally POSTed to a webhook and/or given to a command.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// `http://host[:port]/path`; receives a JSON body. (For https, use `command` with curl.)
    pub webhook: Option<String>,
    /// Program and arguments; the notice is in STOCKCAST_JOB, STOCKCAST_RUN_ID,
    /// STOCKCAST_STEP, STOCKCAST_ERROR and as JSON on stdin.
    pub command: Option<Vec<String>>,
    #[serde(default = "default_notify_timeout")]
    pub timeout_seconds: u64,
}

fn default_notify_timeout() -> u64 {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastStepSettings {
    /// Days forecast after the as-of date (at least the end of every allocated promotion).
    #[serde(default = "default_horizon_days")]
    pub horizon_days: usize,
    /// Split the forecast into one shard per category, claimed by `stockcast jobs worker`
    /// processes from a PostgreSQL queue (ignored on SQLite).
    #[serde(default)]
    pub shards: bool,
    /// How long the run waits for workers to finish every shard.
    #[serde(default = "default_shard_wait")]
    pub shard_wait_seconds: u64,
    /// Whether the run that queues the shards also works them (false: workers only).
    #[serde(default = "default_true")]
    pub coordinator_works_shards: bool,
}

fn default_true() -> bool {
    true
}

fn default_horizon_days() -> usize {
    56
}

fn default_shard_wait() -> u64 {
    3600
}

impl Default for ForecastStepSettings {
    fn default() -> Self {
        ForecastStepSettings {
            horizon_days: default_horizon_days(),
            shards: false,
            shard_wait_seconds: default_shard_wait(),
            coordinator_works_shards: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicySetting {
    #[default]
    Margin,
    FairShare,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocateStepSettings {
    /// Promotions that start within this many days after the as-of date (and have not ended).
    #[serde(default = "default_lookahead_days")]
    pub lookahead_days: i64,
    #[serde(default = "default_max_promotions")]
    pub max_promotions: usize,
    #[serde(default)]
    pub policy: PolicySetting,
    #[serde(default)]
    pub flagship: Vec<String>,
}

fn default_lookahead_days() -> i64 {
    28
}

fn default_max_promotions() -> usize {
    20
}

impl Default for AllocateStepSettings {
    fn default() -> Self {
        AllocateStepSettings {
            lookahead_days: default_lookahead_days(),
            max_promotions: default_max_promotions(),
            policy: PolicySetting::Margin,
            flagship: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestStepSettings {
    #[serde(default = "default_horizon_days")]
    pub horizon_days: usize,
    #[serde(default = "default_origins")]
    pub origins: usize,
}

fn default_origins() -> usize {
    3
}

impl Default for BacktestStepSettings {
    fn default() -> Self {
        BacktestStepSettings {
            horizon_days: default_horizon_days(),
            origins: default_origins(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobToml {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    schedule: Spanned<String>,
    #[serde(default = "default_time_zone")]
    time_zone: Spanned<String>,
    #[serde(default)]
    missed_runs: MissedRuns,
    data_dir: PathBuf,
    #[serde(default)]
    freq: Frequency,
    steps: Spanned<Vec<Spanned<Step>>>,
    #[serde(default)]
    retry: StepSettingsToml,
    #[serde(default)]
    step: BTreeMap<String, StepSettingsToml>,
    #[serde(default = "default_lease_seconds")]
    lease_seconds: u64,
    #[serde(default)]
    notify: NotifySettings,
    #[serde(default)]
    forecast: ForecastStepSettings,
    #[serde(default)]
    allocate: AllocateStepSettings,
    #[serde(default)]
    backtest: BacktestStepSettings,
    #[serde(default)]
    guard: GuardSettings,
    #[serde(default = "default_models_dir")]
    models_dir: PathBuf,
    #[serde(default = "default_reports_dir")]
    reports_dir: PathBuf,
    sample: Option<SampleData>,
}

fn default_time_zone() -> Spanned<String> {
    Spanned::new(0..0, "UTC".to_string())
}

fn default_lease_seconds() -> u64 {
    300
}

fn default_models_dir() -> PathBuf {
    PathBuf::from("models")
}

fn default_reports_dir() -> PathBuf {
    PathBuf::from("reports")
}

#[derive(Debug, Clone)]
pub struct JobDefinition {
    pub name: String,
    pub description: String,
    /// Six- or seven-field cron expression (sec min hour day-of-month month day-of-week [year]).
    pub schedule: String,
    pub cron: cron::Schedule,
    pub time_zone: chrono_tz::Tz,
    pub missed_runs: MissedRuns,
    /// Input folder, relative to the directory the job runs from.
    pub data_dir: PathBuf,
    pub freq: Frequency,
    pub steps: Vec<Step>,
    /// Settings per position in `steps`.
    pub step_settings: Vec<StepSettings>,
    /// SQLite lease length; renewed every third of it while the run lives.
    pub lease: Duration,
    pub notify: NotifySettings,
    pub forecast: ForecastStepSettings,
    pub allocate: AllocateStepSettings,
    pub backtest: BacktestStepSettings,
    /// The publish guard's bound (`[guard]`).
    pub guard: GuardSettings,
    pub models_dir: PathBuf,
    pub reports_dir: PathBuf,
    pub sample: Option<SampleData>,
    pub source: PathBuf,
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where `[step.NAME]` (or `step.NAME` in dotted form) appears, for messages.
fn line_of_step_table(text: &str, name: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim();
            line.starts_with(&format!("[step.{name}]"))
                || line.starts_with(&format!("[step.\"{name}\"]"))
                || line.starts_with(&format!("step.{name}"))
        })
        .map(|index| index + 1)
}

fn settings_for(defaults: &StepSettingsToml, own: Option<&StepSettingsToml>) -> StepSettings {
    let pick = |own: Option<u64>, default: Option<u64>, fallback: u64| -> u64 {
        own.or(default).unwrap_or(fallback)
    };
    let own_default = StepSettingsToml::default();
    let own = own.unwrap_or(&own_default);
    StepSettings {
        timeout: Duration::from_secs(pick(own.timeout_seconds, defaults.timeout_seconds, 3600)),
        retries: own.retries.or(defaults.retries).unwrap_or(0),
        backoff: Duration::from_secs(pick(own.backoff_seconds, defaults.backoff_seconds, 30)),
        backoff_factor: own
            .backoff_factor
            .or(defaults.backoff_factor)
            .unwrap_or(2.0),
        max_backoff: Duration::from_secs(pick(
            own.max_backoff_seconds,
            defaults.max_backoff_seconds,
            600,
        )),
    }
}

/// A `[retry]` or `[step.NAME]` setting out of its bounds.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StepSettingsError {
    #[error("timeout_seconds must be between 1 and {}", MAX_TIMEOUT_SECONDS)]
    Timeout,
    #[error("retries must be at most {}", MAX_RETRIES)]
    Retries,
    #[error(
        "backoff_seconds and max_backoff_seconds must be at most {}",
        MAX_BACKOFF_SECONDS
    )]
    Backoff,
    #[error("backoff_factor must be between 1 and 10")]
    BackoffFactor,
}

fn check_settings(settings: &StepSettings) -> Result<(), StepSettingsError> {
    if settings.timeout.is_zero() || settings.timeout.as_secs() > MAX_TIMEOUT_SECONDS {
        return Err(StepSettingsError::Timeout);
    }
    if settings.retries > MAX_RETRIES {
        return Err(StepSettingsError::Retries);
    }
    if settings.backoff.as_secs() > MAX_BACKOFF_SECONDS
        || settings.max_backoff.as_secs() > MAX_BACKOFF_SECONDS
    {
        return Err(StepSettingsError::Backoff);
    }
    if !(1.0..=10.0).contains(&settings.backoff_factor) {
        return Err(StepSettingsError::BackoffFactor);
    }
    Ok(())
}

/// The fields a schedule holds, in order, with the range of a plain number in each (the day of
/// the week and the optional year are left to the cron crate, which also takes names).
const SCHEDULE_FIELDS: [(&str, u32, u32); 5] = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
];

const SCHEDULE_FORM: &str = "second minute hour day-of-month month day-of-week";

/// Why a `schedule` is refused.
#[derive(Debug, Error)]
pub enum ScheduleError {
    #[error(
        "expected six fields ({}), got five; the five-field '{schedule}' is '0 {schedule}'",
        SCHEDULE_FORM
    )]
    FiveFields { schedule: String },
    #[error(
        "expected six fields ({}), got {count}; e.g. '0 30 2 * * *' is 02:30 every day",
        SCHEDULE_FORM
    )]
    FieldCount { count: usize },
    #[error("{field} {value} is out of range {low}–{high}")]
    OutOfRange {
        field: &'static str,
        value: u32,
        low: u32,
        high: u32,
    },
    /// The cron crate's own message.
    #[error("{0}")]
    Syntax(cron::error::Error),
    #[error("never fires (such as the 31st of a month that has 30 days or fewer)")]
    NeverFires,
}

/// A six-field (or seven, with a year) cron expression that fires at least once. The crate's
/// own messages are off by one on ranges and only show a caret for a wrong field count, so
/// both are checked here first.
pub fn parse_schedule(schedule: &str) -> Result<cron::Schedule, ScheduleError> {
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    match fields.len() {
        6 | 7 => {}
        5 => {
            return Err(ScheduleError::FiveFields {
                schedule: schedule.to_string(),
            })
        }
        count => return Err(ScheduleError::FieldCount { count }),
    }
    for (field, (name, low, high)) in fields.iter().zip(SCHEDULE_FIELDS) {
        for part in field.split(',') {
            // A step's divisor is not a value of the field.
            let values = part.split('/').next().unwrap_or("");
            for number in values.split('-') {
                if let Ok(value) = number.parse::<u32>() {
                    if value < low || value > high {
                        return Err(ScheduleError::OutOfRange {
                            field: name,
                            value,
                            low,
                            high,
                        });
                    }
                }
            }
        }
    }
    let parsed = cron::Schedule::from_str(schedule).map_err(ScheduleError::Syntax)?;
    let epoch = chrono::DateTime::<chrono::Utc>::from_timestamp(946_684_800, 0)
        .expect("2000-01-01 is a valid instant");
    if parsed.after(&epoch).next().is_none() {
        return Err(ScheduleError::NeverFires);
    }
    Ok(parsed)
}

/// A job file's path and text, to name the file and line in its errors.
struct JobFile<'f> {
    path: &'f Path,
    text: &'f str,
}

impl JobFile<'_> {
    fn invalid(&self, message: String) -> JobError {
        JobError::Invalid {
            path: self.path.to_path_buf(),
            message,
        }
    }

    /// An error at the line `span` starts on.
    fn at(&self, span: std::ops::Range<usize>, message: String) -> JobError {
        self.invalid(format!(
            "line {}: {message}",
            line_at(self.text, span.start)
        ))
    }

    /// `line N: ` for the `[step.<name>]` table, or nothing when it is not found.
    fn step_table_line(&self, name: &str) -> String {
        line_of_step_table(self.text, name)
            .map(|line| format!("line {line}: "))
            .unwrap_or_default()
    }
}

/// Parses and validates one job file's text; `path` only names the file in messages.
pub fn parse_job(path: &Path, text: &str) -> Result<JobDefinition, JobError> {
    let file = JobFile { path, text };
    let job: JobToml = toml::from_str(text).map_err(|error| {
        let message = error.message().trim().to_string();
        match error.span() {
            Some(span) => file.at(span, message),
            None => file.invalid(message),
        }
    })?;
    let schedule = job.schedule.get_ref().clone();
    let cron = parse_schedule(&schedule).map_err(|message| {
        file.at(
            job.schedule.span(),
            format!("schedule '{schedule}': {message}"),
        )
    })?;
    let time_zone = chrono_tz::Tz::from_str(job.time_zone.get_ref()).map_err(|_| {
        file.at(
            job.time_zone.span(),
            format!(
                "time_zone '{}' is not an IANA time zone (e.g. America/New_York, UTC)",
                job.time_zone.get_ref()
            ),
        )
    })?;
    let steps = check_steps(&file, &job.steps)?;
    check_step_tables(&file, &job.step, &steps)?;
    let step_settings = step_settings(&file, &job, &steps)?;
    check_options(&file, &job, &steps)?;
    let expected_name = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().to_string());
    if expected_name.as_deref() != Some(job.name.get_ref().as_str()) {
        return Err(file.at(
            job.name.span(),
            format!("name '{}' must match the file name", job.name.get_ref()),
        ));
    }
    Ok(JobDefinition {
        name: job.name.into_inner(),
        description: job.description,
        schedule,
        cron,
        time_zone,
        missed_runs: job.missed_runs,
        data_dir: job.data_dir,
        freq: job.freq,
        steps,
        step_settings,
        lease: Duration::from_secs(job.lease_seconds),
        notify: job.notify,
        forecast: job.forecast,
        allocate: job.allocate,
        backtest: job.backtest,
        guard: job.guard,
        models_dir: job.models_dir,
        reports_dir: job.reports_dir,
        sample: job.sample,
        source: path.to_path_buf(),
    })
}

/// The steps: at least one, none twice, each after the steps it needs.
fn check_steps(
    file: &JobFile<'_>,
    spanned: &Spanned<Vec<Spanned<Step>>>,
) -> Result<Vec<Step>, JobError> {
    let spanned_steps = spanned.get_ref();
    if spanned_steps.is_empty() {
        return Err(file.at(
            spanned.span(),
            "steps: a job needs at least one step".to_string(),
        ));
    }
    let steps: Vec<Step> = spanned_steps.iter().map(|s| *s.get_ref()).collect();
    for (index, step) in spanned_steps.iter().enumerate() {
        let earlier = &steps[..index];
        if earlier.contains(step.get_ref()) {
            return Err(file.at(
                step.span(),
                format!("step '{}' is listed twice", step.get_ref().as_str()),
            ));
        }
        let later = &steps[index + 1..];
        let must_follow = |required: Step| later.contains(&required);
        let ordering_error = match step.get_ref() {
            Step::Allocate if must_follow(Step::Forecast) => Some("forecast"),
            Step::Publish if must_follow(Step::Forecast) => Some("forecast"),
            Step::Publish if must_follow(Step::Allocate) => Some("allocate"),
            _ => None,
        };
        if let Some(required) = ordering_error {
            return Err(file.at(
                step.span(),
                format!(
                    "step '{}' must come after '{required}'",
                    step.get_ref().as_str()
                ),
            ));
        }
    }
    Ok(steps)
}

/// Each `[step.<name>]` table names a known step of this job.
fn check_step_tables(
    file: &JobFile<'_>,
    tables: &BTreeMap<String, StepSettingsToml>,
    steps: &[Step],
) -> Result<(), JobError> {
    for name in tables.keys() {
        let line = file.step_table_line(name);
        match Step::parse(name) {
            None => {
                return Err(file.invalid(format!(
                    "{line}[step.{name}]: unknown step '{name}' (known: {})",
                    ALL_STEPS.map(Step::as_str).join(", ")
                )))
            }
            Some(step) if !steps.contains(&step) => {
                return Err(file.invalid(format!(
                    "{line}[step.{name}]: '{name}' is not in this job's steps"
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Each step's timeout and retries: its own table's, else `[retry]`'s, else the defaults.
fn step_settings(
    file: &JobFile<'_>,
    job: &JobToml,
    steps: &[Step],
) -> Result<Vec<StepSettings>, JobError> {
    let mut step_settings = Vec::new();
    for step in steps {
        let settings = settings_for(&job.retry, job.step.get(step.as_str()));
        check_settings(&settings).map_err(|message| {
            let line = file.step_table_line(step.as_str());
            file.invalid(format!("{line}step {}: {message}", step.as_str()))
        })?;
        step_settings.push(settings);
    }
    Ok(step_settings)
}

/// The lease, notice, forecast, allocate and guard settings.
fn check_options(file: &JobFile<'_>, job: &JobToml, steps: &[Step]) -> Result<(), JobError> {
    if !(10..=3600).contains(&job.lease_seconds) {
        return Err(file.invalid("lease_seconds must be between 10 and 3600".to_string()));
    }
    if let Some(url) = &job.notify.webhook {
        if !url.starts_with("http://") {
            return Err(file.invalid(format!(
                "notify.webhook '{url}' must start with http:// (for https, use notify.command with curl)"
            )));
        }
    }
    if job.notify.command.as_ref().is_some_and(Vec::is_empty) {
        return Err(file.invalid("notify.command needs a program to run".to_string()));
    }
    if job.forecast.shards && !steps.contains(&Step::Publish) {
        return Err(file.invalid(
            "forecast.shards needs a publish step (shards write a staged forecast)".to_string(),
        ));
    }
    if job.forecast.horizon_days == 0 || job.forecast.horizon_days > 366 {
        return Err(file.invalid("forecast.horizon_days must be between 1 and 366".to_string()));
    }
    if !(0..=366).contains(&job.allocate.lookahead_days) || job.allocate.max_promotions == 0 {
        return Err(file.invalid(
            "allocate.lookahead_days must be between 0 and 366 and max_promotions at least 1"
                .to_string(),
        ));
    }
    if let Some(problem) = job.guard.problem() {
        return Err(file.invalid(problem));
    }
    Ok(())
}

pub fn load_job(path: &Path) -> Result<JobDefinition, JobError> {
    let text = std::fs::read_to_string(path).map_err(|error| JobError::Invalid {
        path: path.to_path_buf(),
        message: error.to_string(),
    })?;
    parse_job(path, &text)
}

/// Reads and validates every `*.toml` in `dir`; one bad file fails the whole call.
pub fn load_jobs_dir(dir: &Path) -> Result<Vec<JobDefinition>, JobError> {
    let entries = std::fs::read_dir(dir).map_err(|error| JobError::Invalid {
        path: dir.to_path_buf(),
        message: error.to_string(),
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|path| load_job(path)).collect()
}

/// Finds `name` among `jobs`, or says which jobs exist.
pub fn find_job<'a>(
    jobs: &'a [JobDefinition],
    name: &str,
    dir: &Path,
) -> Result<&'a JobDefinition, JobError> {
    jobs.iter()
        .find(|job| job.name == name)
        .ok_or_else(|| JobError::UnknownJob {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            known: jobs
                .iter()
                .map(|job| job.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<JobDefinition, JobError> {
        parse_job(Path::new("jobs/nightly.toml"), text)
    }

    const HEAD: &str = "name = \"nightly\"\nschedule = \"0 0 2 * * *\"\ndata_dir = \"data\"\n";

    #[test]
    fn schedules_are_checked_for_field_count_ranges_and_ever_firing() {
        let error = parse_schedule("0 60 2 * * *").unwrap_err().to_string();
        assert_eq!(error, "minute 60 is out of range 0–59");
        assert!(parse_schedule("0 59 2 * * *").is_ok());
        assert_eq!(
            parse_schedule("0 0 24 * * *").unwrap_err().to_string(),
            "hour 24 is out of range 0–23"
        );
        assert!(parse_schedule("0 */15 1-3 * * *").is_ok());
        let five = parse_schedule("30 2 * * *").unwrap_err().to_string();
        assert!(five.contains("expected six fields"), "{five}");
        assert!(five.contains("'0 30 2 * * *'"), "{five}");
        assert!(parse_schedule("0 30")
            .unwrap_err()
            .to_string()
            .contains("got 2"));
        let never = parse_schedule("0 0 0 31 2 *").unwrap_err().to_string();
        assert!(never.contains("never fires"), "{never}");
        assert!(parse_schedule("0 0 0 29 2 *").is_ok(), "leap days do come");
        let text = format!(
            "{}steps = [\"ingest\"]\n",
            HEAD.replace("0 0 2 * * *", "30 2 * * *")
        );
        let error = parse(&text).unwrap_err().to_string();
        assert!(
            error.contains("jobs/nightly.toml") && error.contains("line 2"),
            "{error}"
        );
    }

    #[test]
    fn a_typo_is_reported_with_file_and_line() {
        let error = parse(&format!("{HEAD}stepz = [\"ingest\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("nightly.toml: line 4"), "{error}");
        assert!(error.contains("stepz"), "{error}");
    }

    #[test]
    fn unknown_steps_bad_cron_and_bad_time_zones_name_their_line() {
        let error = parse(&format!("{HEAD}steps = [\"ingest\", \"frobnicate\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 4") && error.contains("frobnicate"),
            "{error}"
        );

        let error = parse("name = \"nightly\"\ndata_dir = \"d\"\nschedule = \"every night\"\nsteps = [\"ingest\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 3") && error.contains("schedule 'every night'"),
            "{error}"
        );

        let error = parse(&format!(
            "{HEAD}time_zone = \"Europe/Pariss\"\nsteps = [\"ingest\"]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("line 4") && error.contains("Europe/Pariss"),
            "{error}"
        );

        let error = parse(&format!(
            "{HEAD}steps = [\"ingest\"]\n\n[step.forecast]\ntimeout_seconds = 5\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("line 6") && error.contains("not in this job's steps"),
            "{error}"
        );

        let error = parse(&format!(
            "{HEAD}steps = [\"ingest\"]\n[step.ingest]\ntimeout_secs = 5\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("line 6") && error.contains("timeout_secs"),
            "{error}"
        );

        let error = parse(&format!("{HEAD}steps = [\"publish\", \"allocate\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("must come after 'allocate'"), "{error}");
    }

    #[test]
    fn step_settings_inherit_retry_defaults_and_back_off_exponentially() {
        let job = parse(&format!(
            "{HEAD}steps = [\"ingest\", \"forecast\"]\n[retry]\nretries = 2\nbackoff_seconds = 10\n\
             [step.forecast]\ntimeout_seconds = 60\nretries = 3\nmax_backoff_seconds = 25\n"
        ))
        .unwrap();
        assert_eq!(job.step_settings[0].retries, 2);
        assert_eq!(job.step_settings[1].retries, 3);
        assert_eq!(job.step_settings[1].timeout, Duration::from_secs(60));
        let forecast = &job.step_settings[1];
        assert_eq!(forecast.backoff_before_retry(1), Duration::from_secs(10));
        assert_eq!(forecast.backoff_before_retry(2), Duration::from_secs(20));
        assert_eq!(forecast.backoff_before_retry(3), Duration::from_secs(25));
    }

    #[test]
    fn the_publish_guard_is_set_per_job_with_a_default_and_checked() {
        let default = parse(&format!("{HEAD}steps = [\"summary\"]\n")).unwrap();
        assert_eq!(default.guard.max_ratio, 3.0);
        assert!(default.guard.enabled);
        let loose = parse(&format!(
            "{HEAD}steps = [\"summary\"]\n[guard]\nmax_ratio = 5.0\nrun_rate_days = 14\n"
        ))
        .unwrap();
        assert_eq!(
            (loose.guard.max_ratio, loose.guard.run_rate_days),
            (5.0, 14)
        );
        let error = parse(&format!(
            "{HEAD}steps = [\"summary\"]\n[guard]\nmax_ratio = 0.5\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(error.contains("guard.max_ratio"), "{error}");
        let error = parse(&format!(
            "{HEAD}steps = [\"summary\"]\n[guard]\nmax_ration = 3.0\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(error.contains("max_ration"), "{error}");
    }

    #[test]
    fn the_shipped_jobs_are_valid() {
        let jobs =
            load_jobs_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs").as_path()).unwrap();
        let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
        assert_eq!(names, ["hourly", "nightly", "weekly-backtest"]);
        let nightly = &jobs[1];
        assert_eq!(nightly.guard, GuardSettings::default());
        assert_eq!(
            nightly.steps,
            [
                Step::Ingest,
                Step::RefreshPollSignals,
                Step::Forecast,
                Step::Allocate,
                Step::Publish,
                Step::Report
            ]
        );
    }
}
