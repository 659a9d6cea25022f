//! Scheduled jobs at the database boundary, with controlled time: the nightly pipeline
//! publishes atomically and re-runs replace instead of duplicating; a failure anywhere leaves
//! the last publication in force; retries back off; timeouts cancel; failure notices reach a
//! webhook and a command; two schedulers on one database never overlap nor fire twice;
//! missed runs are caught up once or skipped; leases of dead holders are recovered.

mod common;

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use predicates::prelude::*;
use stockcast::jobs::history::{list_runs, run_steps, RunStatus, StepStatus};
use stockcast::jobs::lock::{try_lock, Holder};
use stockcast::jobs::outputs::output_counts;
use stockcast::jobs::schedule::Trigger;
use stockcast::jobs::scheduler::{FireOutcome, Scheduler};
use stockcast::jobs::steps::{PipelineSteps, StepExecutor};
use stockcast::jobs::{
    parse_job, run_job, run_job_with, Clock, JobDefinition, JobError, RunContext, RunOptions, Step,
    StepError, StepErrorKind, StepOutcome,
};
use stockcast::on_backend;
use stockcast::store::Store;

const AS_OF: &str = "2026-10-31";

fn as_of() -> NaiveDate {
    AS_OF.parse().unwrap()
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// A clock that never waits: sleeping advances it and records how long was asked for.
#[derive(Default)]
struct TestClock {
    now: Mutex<Option<DateTime<Utc>>>,
    sleeps: Mutex<Vec<Duration>>,
}

impl TestClock {
    fn at(now: DateTime<Utc>) -> TestClock {
        TestClock {
            now: Mutex::new(Some(now)),
            sleeps: Mutex::new(Vec::new()),
        }
    }

    fn sleeps(&self) -> Vec<Duration> {
        self.sleeps.lock().unwrap().clone()
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        self.now.lock().unwrap().unwrap_or_else(Utc::now)
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        self.sleeps.lock().unwrap().push(duration);
        if let Some(now) = self.now.lock().unwrap().as_mut() {
            *now += chrono::Duration::from_std(duration).unwrap();
        }
        tokio::task::yield_now()
    }
}

/// The real steps, except that `step` fails its first `failures` attempts (or every one).
struct Flaky {
    step: Step,
    failures: usize,
    attempts: AtomicUsize,
}

impl Flaky {
    fn new(step: Step, failures: usize) -> Flaky {
        Flaky {
            step,
            failures,
            attempts: AtomicUsize::new(0),
        }
    }
}

impl StepExecutor for Flaky {
    async fn execute(
        &self,
        context: &mut RunContext<'_>,
        step: Step,
    ) -> Result<StepOutcome, StepError> {
        if step == self.step {
            let attempt = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
            if attempt <= self.failures {
                return Err(StepError::transient(format!("injected failure {attempt}")));
            }
        }
        PipelineSteps.execute(context, step).await
    }
}

/// Steps that never finish (for timeouts).
struct Hangs;

impl StepExecutor for Hangs {
    async fn execute(
        &self,
        _context: &mut RunContext<'_>,
        _step: Step,
    ) -> Result<StepOutcome, StepError> {
        std::future::pending().await
    }
}

/// The real steps, except that `step` panics (a bug in a step, as an unexpected input once
/// made the ingest step do).
struct Panics {
    step: Step,
    attempts: AtomicUsize,
}

impl StepExecutor for Panics {
    async fn execute(
        &self,
        context: &mut RunContext<'_>,
        step: Step,
    ) -> Result<StepOutcome, StepError> {
        if step == self.step {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            panic!("injected panic in {}", step.as_str());
        }
        PipelineSteps.execute(context, step).await
    }
}

/// Steps that take a while and record how many run at once, across schedulers.
#[derive(Default)]
struct Slow {
    active: AtomicUsize,
    max_active: AtomicUsize,
    runs: AtomicUsize,
}

impl StepExecutor for Slow {
    async fn execute(
        &self,
        _context: &mut RunContext<'_>,
        _step: Step,
    ) -> Result<StepOutcome, StepError> {
        let now_active = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_active.fetch_max(now_active, Ordering::SeqCst);
        self.runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.active.fetch_sub(1, Ordering::SeqCst);
        Ok(StepOutcome {
            rows_in: Some(1),
            rows_out: Some(1),
            detail: "slept".to_string(),
            skipped: false,
        })
    }
}

fn job(dir: &Path, name: &str, body: &str) -> JobDefinition {
    let text = format!("name = \"{name}\"\ndata_dir = \"data\"\n{body}");
    parse_job(&dir.join(format!("{name}.toml")), &text).expect("valid job")
}

fn nightly(dir: &Path, extra: &str) -> JobDefinition {
    job(
        dir,
        "nightly",
        &format!(
            "schedule = \"0 30 2 * * *\"\ntime_zone = \"America/New_York\"\n\
             steps = [\"ingest\", \"refresh-poll-signals\", \"forecast\", \"allocate\", \"publish\", \"report\"]\n\
             [retry]\nretries = 0\ntimeout_seconds = 600\n{extra}"
        ),
    )
}

fn options(dir: &Path) -> RunOptions {
    RunOptions::manual(dir.to_path_buf(), Some(as_of()))
}

/// A small dataset whose history ends on AS_OF, with promotions in the 28 days after it.
fn small_data(dir: &Path) {
    common::generate(&dir.join("data"), 24, 3, 400, 5);
}

async fn published_allocations(store: &Store) -> Vec<String> {
    on_backend!(store, pool => {
        sqlx::query_scalar::<_, String>("SELECT id FROM allocation_runs WHERE status = 'published' ORDER BY id")
            .fetch_all(pool).await.unwrap()
    })
}

async fn complete_forecasts(store: &Store) -> Vec<String> {
    on_backend!(store, pool => {
        sqlx::query_scalar::<_, String>("SELECT id FROM forecast_runs WHERE status = 'complete' ORDER BY id")
            .fetch_all(pool).await.unwrap()
    })
}

async fn forecast_rows(store: &Store) -> i64 {
    common::count(store, "forecasts").await
}

async fn nightly_publishes_and_reruns_replace(url: &str, dir: &Path) {
    small_data(dir);
    let store = common::open(url).await;
    let job = nightly(dir, "");
    let first = run_job(&store, &job, &options(dir)).await.unwrap();
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error);
    assert_eq!(first.steps.len(), 6);
    assert!(first
        .steps
        .iter()
        .all(|s| s.status == StepStatus::Succeeded));
    assert!(
        !first.allocations.is_empty(),
        "a promotion starts within 28 days of {AS_OF}"
    );
    let published = first.published.clone().unwrap();
    assert_eq!(published.forecast_runs, 1);
    assert_eq!(published.allocation_runs as usize, first.allocations.len());
    let counts = output_counts(&store).await.unwrap();
    let rows = forecast_rows(&store).await;
    let first_allocations = published_allocations(&store).await;
    assert_eq!(
        complete_forecasts(&store).await,
        vec![first.forecast_run_id.clone().unwrap()]
    );
    // History: rows in/out and durations per step, outputs on the run row.
    let runs = list_runs(&store, Some("nightly"), 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "succeeded");
    assert_eq!(runs[0].as_of, as_of());
    assert_eq!(runs[0].forecast_run_id, first.forecast_run_id);
    assert!(runs[0].model_id.is_some() && runs[0].allocation_run_id.is_some());
    let steps = run_steps(&store, &first.run_id).await.unwrap();
    assert_eq!(steps.len(), 6);
    let forecast = steps.iter().find(|s| s.step == "forecast").unwrap();
    assert!(forecast.rows_in.unwrap() > 0 && forecast.rows_out.unwrap() > 0);
    assert!(steps
        .iter()
        .all(|s| s.finished_at.is_some() && s.attempts == 1));
    assert!(first.report_path.as_ref().unwrap().exists());

    // The same job for the same as-of again: new outputs replace the old, nothing doubles.
    let second = run_job(&store, &job, &options(dir)).await.unwrap();
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.error);
    assert_eq!(output_counts(&store).await.unwrap(), counts);
    assert_eq!(forecast_rows(&store).await, rows);
    assert_eq!(
        complete_forecasts(&store).await,
        vec![second.forecast_run_id.clone().unwrap()]
    );
    let second_allocations = published_allocations(&store).await;
    assert_eq!(second_allocations.len(), first_allocations.len());
    assert!(second_allocations
        .iter()
        .all(|id| !first_allocations.contains(id)));
    let replaced = second.published.unwrap().replaced;
    assert_eq!(replaced.forecast_runs, 1);
    assert_eq!(replaced.allocation_runs as usize, first_allocations.len());
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nightly_publishes_and_a_rerun_for_the_same_date_replaces_instead_of_duplicating() {
    let dir = tempfile::tempdir().unwrap();
    nightly_publishes_and_reruns_replace(&common::sqlite_url(dir.path()), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nightly_publishes_and_a_rerun_replaces_on_postgres() {
    common::on_scratch_postgres(
        "nightly_publishes_and_a_rerun_replaces_on_postgres",
        |url, dir| async move { nightly_publishes_and_reruns_replace(&url, &dir).await },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_fails_after_forecasting_leaves_the_last_publication_in_force() {
    let dir = tempfile::tempdir().unwrap();
    small_data(dir.path());
    let store = common::open(&common::sqlite_url(dir.path())).await;
    let job = nightly(dir.path(), "");
    let good = run_job(&store, &job, &options(dir.path())).await.unwrap();
    assert_eq!(good.status, RunStatus::Succeeded, "{:?}", good.error);
    let allocations = published_allocations(&store).await;
    let forecasts = complete_forecasts(&store).await;

    // Fails at allocate: its forecast is already staged, nothing is published.
    let failing = Flaky::new(Step::Allocate, usize::MAX);
    let failed = run_job_with(
        &store,
        &job,
        &options(dir.path()),
        &failing,
        &TestClock::default(),
    )
    .await
    .unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.failed_step.as_deref(), Some("allocate"));
    assert!(failed
        .error
        .as_deref()
        .unwrap()
        .contains("injected failure"));
    assert!(failed.forecast_run_id.is_some(), "the forecast was staged");
    assert_eq!(published_allocations(&store).await, allocations);
    assert_eq!(complete_forecasts(&store).await, forecasts);
    assert!(failed.into_result().is_err());

    // The next run discards the failed run's staged forecast and publishes its own.
    let next = run_job(&store, &job, &options(dir.path())).await.unwrap();
    assert_eq!(next.status, RunStatus::Succeeded, "{:?}", next.error);
    assert_eq!(next.discarded.forecast_runs, 1);
    assert_eq!(output_counts(&store).await.unwrap().0, 1);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_back_off_exponentially_then_succeed_or_give_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(&common::sqlite_url(dir.path())).await;
    let job = job(
        dir.path(),
        "hourly",
        "schedule = \"0 5 * * * *\"\nsteps = [\"expire-holds\", \"summary\"]\n\
         [retry]\nretries = 3\nbackoff_seconds = 10\nbackoff_factor = 2.0\nmax_backoff_seconds = 30\n",
    );
    let clock = TestClock::at(utc("2026-06-01T10:05:00Z"));
    let flaky = Flaky::new(Step::Summary, 2);
    let report = run_job_with(&store, &job, &options(dir.path()), &flaky, &clock)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(
        clock.sleeps(),
        [Duration::from_secs(10), Duration::from_secs(20)]
    );
    let steps = run_steps(&store, &report.run_id).await.unwrap();
    // expire-holds runs the reservation core's sweeper (nothing is held in this store).
    assert_eq!(steps[0].status, "succeeded");
    assert!(steps[0]
        .detail
        .as_deref()
        .unwrap()
        .contains("0 hold(s) expired"));
    assert_eq!(
        (steps[1].status.as_str(), steps[1].attempts),
        ("succeeded", 3)
    );

    // Four failures with three retries: the step gives up after waits of 10, 20, 30 (capped).
    let clock = TestClock::at(utc("2026-06-01T11:05:00Z"));
    let flaky = Flaky::new(Step::Summary, 4);
    let report = run_job_with(&store, &job, &options(dir.path()), &flaky, &clock)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(
        clock.sleeps(),
        [10, 20, 30].map(Duration::from_secs).to_vec()
    );
    let steps = run_steps(&store, &report.run_id).await.unwrap();
    assert_eq!((steps[1].status.as_str(), steps[1].attempts), ("failed", 4));
    assert_eq!(
        steps[1].error.as_deref(),
        Some("injected failure 4"),
        "the last attempt's error is recorded"
    );
    store.close().await;
}

/// Bad input fails the same way on every attempt: an ingest whose file cannot be read fails at
/// its first attempt with no backoff, though the job allows retries, and the run exits as bad
/// input naming the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_that_fails_on_bad_input_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(&common::sqlite_url(dir.path())).await;
    // The sales header lacks the warehouse column: the file as a whole is refused.
    common::write(
        &dir.path().join("data"),
        "sales.csv",
        "date,sku,units\n2026-10-30,SKU-1,3\n",
    );
    let job = nightly(
        dir.path(),
        "[step.ingest]\nretries = 3\nbackoff_seconds = 10\n",
    );
    let clock = TestClock::at(utc("2026-11-01T07:30:00Z"));
    let report = run_job_with(&store, &job, &options(dir.path()), &PipelineSteps, &clock)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.failed_step.as_deref(), Some("ingest"));
    assert_eq!(report.failure, Some(StepErrorKind::Input));
    assert_eq!(report.steps.len(), 1, "later steps do not start");
    assert_eq!(report.steps[0].attempts, 1, "bad input is not retried");
    assert!(clock.sleeps().is_empty(), "no backoff before giving up");
    let error = report.error.clone().unwrap();
    assert!(
        error.contains("sales.csv") && error.contains("header is missing warehouse"),
        "{error}"
    );
    let steps = run_steps(&store, &report.run_id).await.unwrap();
    assert_eq!((steps[0].status.as_str(), steps[0].attempts), ("failed", 1));
    let error = report.into_result().unwrap_err();
    assert!(error.is_bad_input(), "{error}");

    // The same job on a transient failure still retries (the runner's other half).
    let clock = TestClock::at(utc("2026-11-01T08:30:00Z"));
    let flaky = Flaky::new(Step::Ingest, 1);
    let report = run_job_with(&store, &job, &options(dir.path()), &flaky, &clock)
        .await
        .unwrap();
    assert_eq!(
        report.steps[0].attempts, 2,
        "a transient failure is retried"
    );
    assert_eq!(clock.sleeps(), [Duration::from_secs(10)]);
    assert_eq!(report.failure, Some(StepErrorKind::Input));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_over_its_timeout_is_cancelled_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(&common::sqlite_url(dir.path())).await;
    let job = job(
        dir.path(),
        "nightly",
        "schedule = \"0 30 2 * * *\"\nsteps = [\"ingest\", \"summary\"]\n[step.ingest]\ntimeout_seconds = 1\n",
    );
    let started = std::time::Instant::now();
    let report = run_job_with(
        &store,
        &job,
        &options(dir.path()),
        &Hangs,
        &TestClock::default(),
    )
    .await
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.steps.len(), 1, "later steps do not start");
    assert_eq!(report.steps[0].status, StepStatus::TimedOut);
    let steps = run_steps(&store, &report.run_id).await.unwrap();
    assert_eq!(steps[0].status, "timed_out");
    assert!(steps[0]
        .error
        .as_deref()
        .unwrap()
        .contains("timed out after 1 s"));
    // The lock is released: the next run starts.
    let again = run_job_with(
        &store,
        &job,
        &options(dir.path()),
        &Hangs,
        &TestClock::default(),
    )
    .await
    .unwrap();
    assert_eq!(again.status, RunStatus::Failed);
    store.close().await;
}

/// A step that panics is a failed step in the history (not a run left `running`), is not
/// retried, gets a failure notice, and leaves the lock free for the next run.
async fn a_panicking_step_is_recorded_failed(url: &str, dir: &Path) {
    let store = common::open(url).await;
    let notified = dir.join("notified.txt");
    let job = job(
        dir,
        "hourly",
        &format!(
            "schedule = \"0 5 * * * *\"\nsteps = [\"expire-holds\", \"summary\"]\n\
             [retry]\nretries = 2\nbackoff_seconds = 1\n\
             [notify]\ncommand = [\"sh\", \"-c\", \"echo \\\"$STOCKCAST_STEP: $STOCKCAST_ERROR\\\" > {}\"]\n",
            notified.display()
        ),
    );
    let panics = Panics {
        step: Step::Summary,
        attempts: AtomicUsize::new(0),
    };
    let clock = TestClock::at(utc("2026-06-01T10:05:00Z"));
    let report = run_job_with(&store, &job, &options(dir), &panics, &clock)
        .await
        .expect("a panicking step ends the run, not the runner");
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.failed_step.as_deref(), Some("summary"));
    assert_eq!(
        panics.attempts.load(Ordering::SeqCst),
        1,
        "a panic is not retried"
    );
    assert!(clock.sleeps().is_empty(), "no backoff after a panic");
    let error = report.error.clone().unwrap();
    assert!(
        error.contains("panicked: injected panic in summary"),
        "{error}"
    );

    let runs = list_runs(&store, Some("hourly"), 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "failed", "not left running");
    assert!(runs[0].finished_at.is_some());
    assert!(runs[0].error.as_deref().unwrap().contains("injected panic"));
    let steps = run_steps(&store, &report.run_id).await.unwrap();
    assert_eq!(steps[0].status, "succeeded");
    assert_eq!((steps[1].status.as_str(), steps[1].attempts), ("failed", 1));
    assert!(steps[1].finished_at.is_some());
    assert!(steps[1]
        .error
        .as_deref()
        .unwrap()
        .contains("injected panic"));
    let notice = std::fs::read_to_string(&notified).expect("the failure notice ran");
    assert!(notice.starts_with("summary: "), "{notice}");
    assert!(notice.contains("injected panic"), "{notice}");

    // The lock was released and nothing is left half-done: the next run starts and succeeds.
    let next = run_job(&store, &job, &options(dir)).await.unwrap();
    assert_eq!(next.status, RunStatus::Succeeded, "{:?}", next.error);
    assert_eq!(
        next.abandoned_runs, 0,
        "the panicked run was finished, not abandoned"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_step_is_recorded_failed_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    a_panicking_step_is_recorded_failed(&common::sqlite_url(dir.path()), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_step_is_recorded_failed_on_postgres() {
    common::on_scratch_postgres(
        "a_panicking_step_is_recorded_failed_on_postgres",
        |url, dir| async move { a_panicking_step_is_recorded_failed(&url, &dir).await },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_notice_reaches_the_webhook_and_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(&common::sqlite_url(dir.path())).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let read = socket.read(&mut buffer).await.unwrap();
            request.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                if body.len() >= length || read == 0 {
                    socket
                        .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                        .await
                        .unwrap();
                    return text;
                }
            }
        }
    });
    let notice_file = dir.path().join("notice.json");
    let job = job(
        dir.path(),
        "nightly",
        &format!(
            "schedule = \"0 30 2 * * *\"\nsteps = [\"summary\"]\n\
             [notify]\nwebhook = \"http://127.0.0.1:{port}/hooks/stockcast\"\n\
             command = [\"sh\", \"-c\", \"cat > '{}'; test \\\"$STOCKCAST_STEP\\\" = summary\"]\n",
            notice_file.display()
        ),
    );
    let report = run_job_with(
        &store,
        &job,
        &options(dir.path()),
        &Flaky::new(Step::Summary, usize::MAX),
        &TestClock::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    let delivery = report.notice.clone().unwrap();
    assert_eq!(
        delivery.delivered,
        ["log", "webhook", "command"],
        "{delivery:?}"
    );
    let request = received.await.unwrap();
    assert!(request.starts_with("POST /hooks/stockcast HTTP/1.1"));
    assert!(request.contains(&format!("\"run_id\":\"{}\"", report.run_id)));
    assert!(request.contains("injected failure"));
    let from_command: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&notice_file).unwrap()).unwrap();
    assert_eq!(from_command["job"], "nightly");
    assert_eq!(from_command["step"], "summary");
    // A successful run sends nothing.
    let _ = std::fs::remove_file(&notice_file);
    let ok = run_job(&store, &job, &options(dir.path())).await.unwrap();
    assert_eq!(ok.status, RunStatus::Succeeded);
    assert!(ok.notice.is_none() && !notice_file.exists());
    store.close().await;
}

async fn two_schedulers_never_overlap(url: &str, dir: &Path) {
    let first_store = common::open(url).await;
    let second_store = common::open(url).await;
    let every_minute = job(
        dir,
        "hourly",
        "schedule = \"0 * * * * *\"\nsteps = [\"expire-holds\", \"summary\"]\n",
    );
    let slow = Slow::default();
    let start = utc("2026-06-01T10:00:30Z");
    let clock_a = TestClock::at(start);
    let clock_b = TestClock::at(start);
    let (_stop, cancel) = tokio::sync::watch::channel(false);
    let mut a = Scheduler::new(
        first_store.clone(),
        vec![every_minute.clone()],
        dir.to_path_buf(),
        Duration::from_secs(1),
        &slow,
        &clock_a,
    )
    .await
    .unwrap();
    let mut b = Scheduler::new(
        second_store.clone(),
        vec![every_minute],
        dir.to_path_buf(),
        Duration::from_secs(1),
        &slow,
        &clock_b,
    )
    .await
    .unwrap();
    // Both wake for the same fires, three minutes running.
    let mut ran = 0;
    let mut not_started = 0;
    for minute in 1..=3 {
        let fire = start + chrono::Duration::seconds(30 + 60 * (minute - 1));
        let ((outcomes_a, _), (outcomes_b, _)) =
            tokio::join!(a.tick(fire, &cancel), b.tick(fire, &cancel));
        for outcome in outcomes_a.iter().chain(&outcomes_b) {
            match outcome {
                FireOutcome::Ran(report) => {
                    assert_eq!(report.status, RunStatus::Succeeded);
                    assert_eq!(report.trigger, Trigger::Schedule);
                    ran += 1;
                }
                FireOutcome::NotStarted { .. } => not_started += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!((ran, not_started), (3, 3), "each fire ran exactly once");
    assert_eq!(
        slow.max_active.load(Ordering::SeqCst),
        1,
        "never two at once"
    );
    let runs = list_runs(&first_store, Some("hourly"), 10).await.unwrap();
    assert_eq!(runs.len(), 3);
    let fires: HashSet<_> = runs.iter().map(|r| r.scheduled_for.unwrap()).collect();
    assert_eq!(fires.len(), 3);
    first_store.close().await;
    second_store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_on_one_sqlite_database_never_overlap_nor_fire_twice() {
    let dir = tempfile::tempdir().unwrap();
    two_schedulers_never_overlap(&common::sqlite_url(dir.path()), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_on_one_postgres_database_never_overlap_nor_fire_twice() {
    common::on_scratch_postgres(
        "two_schedulers_on_one_postgres_database_never_overlap_nor_fire_twice",
        |url, dir| async move { two_schedulers_never_overlap(&url, &dir).await },
    )
    .await;
}

async fn a_held_lock_refuses_a_second_run(url: &str, dir: &Path) {
    let store = common::open(url).await;
    let job = job(
        dir,
        "hourly",
        "schedule = \"0 5 * * * *\"\nsteps = [\"summary\"]\n",
    );
    let other = Holder::for_this_process();
    let held = try_lock(
        &store,
        "hourly",
        &other,
        Duration::from_secs(60),
        Utc::now(),
    )
    .await
    .unwrap()
    .expect("free lock taken");
    let error = run_job(&store, &job, &options(dir)).await.unwrap_err();
    assert!(matches!(error, JobError::Busy { .. }), "{error}");
    assert!(error.to_string().contains(&other.0), "{error}");
    held.release().await;
    let report = run_job(&store, &job, &options(dir)).await.unwrap();
    assert_eq!(report.status, RunStatus::Succeeded);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_sqlite_lease_refuses_a_second_run_until_released() {
    let dir = tempfile::tempdir().unwrap();
    a_held_lock_refuses_a_second_run(&common::sqlite_url(dir.path()), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_postgres_advisory_lock_refuses_a_second_run_until_released() {
    common::on_scratch_postgres(
        "a_held_postgres_advisory_lock_refuses_a_second_run_until_released",
        |url, dir| async move { a_held_lock_refuses_a_second_run(&url, &dir).await },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_taken_over_and_a_live_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(&common::sqlite_url(dir.path())).await;
    let elsewhere = Holder("another-host:4242:00000001".to_string());
    let now = utc("2026-06-01T10:00:00Z");
    let lease = Duration::from_secs(120);
    let held = try_lock(&store, "nightly", &elsewhere, lease, now)
        .await
        .unwrap()
        .ok()
        .unwrap();
    // Simulate the holder's machine dying: its renewals stop, its row stays.
    if let stockcast::jobs::lock::JobLock::Lease { renewer, .. } = &held {
        renewer.abort();
    }
    std::mem::forget(held);
    let me = Holder::for_this_process();
    let refused = try_lock(
        &store,
        "nightly",
        &me,
        lease,
        now + chrono::Duration::seconds(119),
    )
    .await
    .unwrap();
    assert!(refused.is_err(), "the lease has a second left");
    let taken = try_lock(
        &store,
        "nightly",
        &me,
        lease,
        now + chrono::Duration::seconds(121),
    )
    .await
    .unwrap();
    assert!(taken.is_ok(), "an expired lease is taken over");
    taken.ok().unwrap().release().await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_catches_up_a_missed_run_once_or_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(&common::sqlite_url(dir.path())).await;
    let body = |policy: &str| {
        format!(
            "schedule = \"0 30 2 * * *\"\ntime_zone = \"America/New_York\"\nmissed_runs = \"{policy}\"\nsteps = [\"summary\"]\n"
        )
    };
    // The last scheduled run answered the fire of June 1st, 02:30 EDT.
    let run_once = job(dir.path(), "nightly", &body("run-once"));
    let clock = TestClock::at(utc("2026-06-01T06:29:00Z"));
    let (_stop, cancel) = tokio::sync::watch::channel(false);
    let mut scheduler = Scheduler::new(
        store.clone(),
        vec![run_once.clone()],
        dir.path().to_path_buf(),
        Duration::from_secs(1),
        &PipelineSteps,
        &clock,
    )
    .await
    .unwrap();
    let (outcomes, _) = scheduler.tick(utc("2026-06-01T06:30:05Z"), &cancel).await;
    assert!(matches!(&outcomes[..], [FireOutcome::Ran(r)] if r.trigger == Trigger::Schedule));

    // Down for three nights; started again on June 4th at 09:00 local.
    let restarted_at = utc("2026-06-04T13:00:00Z");
    let clock = TestClock::at(restarted_at);
    let mut scheduler = Scheduler::new(
        store.clone(),
        vec![run_once],
        dir.path().to_path_buf(),
        Duration::from_secs(1),
        &PipelineSteps,
        &clock,
    )
    .await
    .unwrap();
    let (outcomes, wake) = scheduler.tick(restarted_at, &cancel).await;
    match &outcomes[..] {
        [FireOutcome::Ran(report)] => {
            assert_eq!(report.trigger, Trigger::CatchUp);
            assert_eq!(report.status, RunStatus::Succeeded);
        }
        other => panic!("expected one catch-up run, got {other:?}"),
    }
    assert!(wake.is_some());
    let (outcomes, wake) = scheduler.tick(restarted_at, &cancel).await;
    assert!(outcomes.is_empty(), "caught up once, not three times");
    assert_eq!(wake, Some(utc("2026-06-05T06:30:00Z")));
    let runs = list_runs(&store, Some("nightly"), 10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].trigger, "catch-up");
    assert_eq!(runs[0].scheduled_for, Some(utc("2026-06-04T06:30:00Z")));
    assert_eq!(
        runs[0].as_of,
        NaiveDate::from_ymd_opt(2026, 6, 3).unwrap(),
        "a fire runs for the local day before it"
    );

    // The same outage with missed_runs = "skip": nothing runs until the next fire.
    let skip = job(dir.path(), "nightly", &body("skip"));
    let later = utc("2026-06-08T13:00:00Z");
    let clock = TestClock::at(later);
    let mut scheduler = Scheduler::new(
        store.clone(),
        vec![skip],
        dir.path().to_path_buf(),
        Duration::from_secs(1),
        &PipelineSteps,
        &clock,
    )
    .await
    .unwrap();
    let (outcomes, _) = scheduler.tick(later, &cancel).await;
    assert!(
        matches!(&outcomes[..], [FireOutcome::Skipped { missed: 4, .. }]),
        "{outcomes:?}"
    );
    assert_eq!(
        list_runs(&store, Some("nightly"), 10).await.unwrap().len(),
        2
    );
    store.close().await;
}

fn write_jobs_dir(dir: &Path, nightly_extra: &str) -> PathBuf {
    let jobs = dir.join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    std::fs::write(
        jobs.join("nightly.toml"),
        format!(
            "name = \"nightly\"\nschedule = \"0 30 2 * * *\"\ndata_dir = \"data\"\n\
             steps = [\"ingest\", \"refresh-poll-signals\", \"forecast\", \"allocate\", \"publish\", \"report\"]\n\
             lease_seconds = 600\n{nightly_extra}"
        ),
    )
    .unwrap();
    jobs
}

/// Runs nightly, SIGKILLs a second run once it is past ingest, then checks readers still see
/// the first run's publication and the next run recovers the lock and publishes.
fn a_killed_run_keeps_the_previous_publication(url: &str, dir: &Path) {
    common::generate(&dir.join("data"), 60, 4, 500, 9);
    write_jobs_dir(dir, "");
    let url = url.to_string();
    common::stockcast(&url)
        .current_dir(dir)
        .args(["jobs", "run", "nightly", "--as-of", AS_OF])
        .assert()
        .success();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime.block_on(common::open(&url));
    let allocations = runtime.block_on(published_allocations(&store));
    let forecasts = runtime.block_on(complete_forecasts(&store));
    assert!(!allocations.is_empty());

    // Run again and SIGKILL it once it is past ingest.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("stockcast"))
        .current_dir(dir)
        .env("STOCKCAST_DATABASE_URL", &url)
        .args(["jobs", "run", "nightly", "--as-of", AS_OF, "--quiet"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let killed_in = loop {
        let running: Option<String> = runtime.block_on(async {
            on_backend!(&store, pool => {
                sqlx::query_scalar("SELECT s.step FROM job_steps s JOIN job_runs r ON r.id = s.run_id \
                     WHERE r.status = 'running' AND s.status = 'running' AND s.position >= 2")
                    .fetch_optional(pool).await.unwrap()
            })
        });
        if let Some(step) = running {
            child.kill().unwrap();
            child.wait().unwrap();
            break step;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            panic!("the run finished ({status}) before it could be killed: {stderr}");
        }
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    };
    // Killed mid-step: on SQLite the dead holder's lease row is still there (PostgreSQL drops
    // an advisory lock with its session), the run still says running, and readers still see
    // the previous forecast and allocation.
    if url.starts_with("sqlite:") {
        let lease_holder: Option<String> = runtime.block_on(async {
            on_backend!(&store, pool => {
                sqlx::query_scalar("SELECT holder FROM job_leases WHERE job = 'nightly'")
                    .fetch_optional(pool).await.unwrap()
            })
        });
        assert!(
            lease_holder.is_some(),
            "killed in {killed_in}: lease left behind"
        );
    }
    assert_eq!(runtime.block_on(published_allocations(&store)), allocations);
    assert_eq!(runtime.block_on(complete_forecasts(&store)), forecasts);

    // The next run takes the dead holder's lease at once, marks the killed run failed and
    // publishes.
    common::stockcast(&url)
        .current_dir(dir)
        .args(["jobs", "run", "nightly", "--as-of", AS_OF])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "recovered the job's lock from 1 abandoned run(s)",
        ));
    let runs = runtime
        .block_on(list_runs(&store, Some("nightly"), 10))
        .unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0].status, "succeeded");
    assert_eq!(runs[1].status, "failed");
    assert!(runs[1].error.as_deref().unwrap().contains("abandoned"));
    assert_eq!(runs[2].status, "succeeded");
    let now_published = runtime.block_on(published_allocations(&store));
    assert_eq!(now_published.len(), allocations.len());
    assert!(now_published.iter().all(|id| !allocations.contains(id)));
    assert_eq!(runtime.block_on(output_counts(&store)).unwrap().0, 1);
    common::stockcast(&url)
        .args(["jobs", "history", "nightly"])
        .assert()
        .success()
        .stdout(predicates::str::contains("abandoned"));
    common::stockcast(&url)
        .args(["jobs", "show", &runs[0].id])
        .assert()
        .success()
        .stdout(
            predicates::str::contains("refresh-poll-signals")
                .and(predicates::str::contains("published 1 forecast run(s)")),
        );
    runtime.block_on(store.close());
}

#[test]
fn a_killed_run_keeps_the_previous_publication_and_its_lock_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    a_killed_run_keeps_the_previous_publication(&common::sqlite_url(dir.path()), dir.path());
}

#[test]
fn a_killed_run_keeps_the_previous_publication_and_its_lock_is_recovered_on_postgres() {
    let Some(admin) = common::postgres_admin_url(
        "a_killed_run_keeps_the_previous_publication_and_its_lock_is_recovered_on_postgres",
    ) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let scratch = runtime.block_on(common::scratch_postgres(&admin));
    let dir = tempfile::tempdir().unwrap();
    a_killed_run_keeps_the_previous_publication(&scratch.url, dir.path());
    runtime.block_on(scratch.drop_database()).unwrap();
}

#[test]
fn the_scheduler_fires_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    std::fs::write(
        jobs.join("every-second.toml"),
        "name = \"every-second\"\nschedule = \"* * * * * *\"\ndata_dir = \"data\"\nmissed_runs = \"skip\"\nsteps = [\"expire-holds\", \"summary\"]\n",
    )
    .unwrap();
    let url = common::sqlite_url(dir.path());
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("stockcast"))
        .current_dir(dir.path())
        .env("STOCKCAST_DATABASE_URL", &url)
        .args(["scheduler", "--grace-seconds", "5"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for its start-up line: it has migrated the database by then (two processes
    // migrating one new SQLite file at once would race).
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert!(line.starts_with("scheduling every-second"), "{line}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let ran = runtime.block_on(async {
            let store = common::open(&url).await;
            let runs = list_runs(&store, Some("every-second"), 10).await.unwrap();
            store.close().await;
            runs.iter().filter(|r| r.status == "succeeded").count()
        }) >= 2;
        if ran {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the scheduler exited early"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the scheduler never fired"
        );
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(rest.contains("scheduler stopped after"), "{rest}");
    let store = runtime.block_on(common::open(&url));
    let runs = runtime
        .block_on(list_runs(&store, Some("every-second"), 100))
        .unwrap();
    assert!(
        runs.iter().all(|r| r.status != "running"),
        "no run left running"
    );
    assert!(runs.iter().all(|r| r.trigger == "schedule"));
    let lease: i64 = runtime.block_on(common::count(&store, "job_leases"));
    assert_eq!(lease, 0, "the lease was released");
    runtime.block_on(store.close());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forecast_shards_are_claimed_by_two_workers_with_skip_locked_on_postgres() {
    let Some(admin) = common::postgres_admin_url(
        "forecast_shards_are_claimed_by_two_workers_with_skip_locked_on_postgres",
    ) else {
        return;
    };
    let scratch = common::scratch_postgres(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    small_data(dir.path());
    let store = common::open(&scratch.url).await;
    // The run only queues and waits: the two workers do every shard.
    let job = nightly(
        dir.path(),
        "[forecast]\nshards = true\ncoordinator_works_shards = false\nshard_wait_seconds = 300\n",
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let models = dir.path().join("models");
    let workers: Vec<_> = ["worker-a", "worker-b"]
        .into_iter()
        .map(|name| {
            let store = store.clone();
            let models = models.clone();
            let stopped = stopped.clone();
            tokio::spawn(async move {
                stockcast::jobs::shards::run_worker(&store, name, &models, None, stopped)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let report = run_job(&store, &job, &options(dir.path())).await.unwrap();
    stop.send(true).unwrap();
    let mut done = Vec::new();
    for worker in workers {
        done.push(worker.await.unwrap());
    }
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let categories: Vec<String> = on_backend!(&store, pool => {
        sqlx::query_scalar("SELECT DISTINCT category FROM products ORDER BY category")
            .fetch_all(pool).await.unwrap()
    });
    let mut claimed: Vec<String> = done
        .iter()
        .flatten()
        .map(|shard| shard.category.clone())
        .collect();
    claimed.sort();
    assert_eq!(claimed, categories, "every category once, none twice");
    assert!(
        done.iter().all(|worker| !worker.is_empty()),
        "both workers took shards: {:?}",
        done.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let rows: usize = done.iter().flatten().map(|shard| shard.rows).sum();
    assert_eq!(forecast_rows(&store).await as usize, rows);
    assert_eq!(
        complete_forecasts(&store).await,
        vec![report.forecast_run_id.clone().unwrap()]
    );
    assert!(!published_allocations(&store).await.is_empty());
    let model_path = models.join(format!("{}.json", report.model_id.clone().unwrap()));
    let artifact: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model_path).unwrap()).unwrap();
    assert_eq!(
        artifact["forecaster"]["categories"]
            .as_array()
            .unwrap()
            .len(),
        categories.len(),
        "the merged model has every category's fit"
    );
    store.close().await;
    scratch.drop_database().await.unwrap();
}
