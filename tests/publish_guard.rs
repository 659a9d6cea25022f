//! The publish guard at the database boundary, on SQLite and PostgreSQL: a nightly whose input
//! is broken (a month of sales missing) is held, publishes nothing, leaves the run in force in
//! force and sends its notice; a later run does not discard its staged outputs; `stockcast
//! jobs approve RUN` then publishes it on purpose, and `jobs run --force` publishes past the
//! guard.

mod common;

use common::{at, day, FixedClock};

use std::path::Path;

use chrono::NaiveDate;
use stockcast::jobs::history::{find_run, list_runs, RunStatus, StepStatus};
use stockcast::jobs::holds::find_hold;
use stockcast::jobs::outputs::discard_unpublished;
use stockcast::jobs::steps::PipelineSteps;
use stockcast::jobs::{parse_job, run_job, run_job_with, JobDefinition, JobError, RunOptions};
use stockcast::on_backend;
use stockcast::store::Store;

fn nightly(dir: &Path, notice_file: &Path) -> JobDefinition {
    let text = format!(
        "name = \"nightly\"\ndata_dir = \"data\"\nschedule = \"0 30 2 * * *\"\n\
         time_zone = \"America/New_York\"\n\
         steps = [\"ingest\", \"refresh-poll-signals\", \"forecast\", \"allocate\", \"publish\", \"report\"]\n\
         [retry]\nretries = 0\ntimeout_seconds = 600\n\
         [guard]\nmax_ratio = 3.0\n\
         [notify]\ncommand = [\"sh\", \"-c\", \"cat > '{}'\"]\n",
        notice_file.display()
    );
    parse_job(&dir.join("nightly.toml"), &text).expect("valid job")
}

async fn complete_forecasts(store: &Store) -> Vec<(String, NaiveDate)> {
    on_backend!(store, pool => {
        sqlx::query_as::<_, (String, NaiveDate)>(
            "SELECT id, as_of FROM forecast_runs WHERE status = 'complete' ORDER BY as_of, id",
        )
        .fetch_all(pool).await.unwrap()
    })
}

async fn published_allocations(store: &Store) -> Vec<String> {
    on_backend!(store, pool => {
        sqlx::query_scalar::<_, String>("SELECT id FROM allocation_runs WHERE status = 'published' ORDER BY id")
            .fetch_all(pool).await.unwrap()
    })
}

/// The last week of `sales.csv` again, moved forward by `days`: a realistic week of sales,
/// as `sales_<first day>.csv`.
fn last_week_moved(data: &Path, days: i64) -> NaiveDate {
    let sales = std::fs::read_to_string(data.join("sales.csv")).unwrap();
    let mut lines = sales.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    let last_week = day("2026-10-25");
    for line in lines {
        let (date, rest) = line.split_once(',').unwrap();
        let date = day(date);
        if date >= last_week {
            out.push_str(&format!("{},{rest}\n", date + chrono::Duration::days(days)));
        }
    }
    assert!(out.lines().count() > 20, "the last week has sales: {out}");
    let first = last_week + chrono::Duration::days(days);
    common::write(data, &format!("sales_{first}.csv"), out);
    first + chrono::Duration::days(6)
}

async fn a_month_of_missing_sales_is_held_then_approved(url: &str, dir: &Path) {
    common::generate(&dir.join("data"), 24, 3, 400, 5);
    let store = common::open(url).await;
    let notice_file = dir.join("notice.json");
    let job = nightly(dir, &notice_file);
    let good = run_job(
        &store,
        &job,
        &RunOptions::manual(dir.to_path_buf(), Some(day("2026-10-31"))),
    )
    .await
    .unwrap();
    assert_eq!(good.status, RunStatus::Succeeded, "{:?}", good.error);
    assert!(
        !notice_file.exists(),
        "a run within the guard sends no notice"
    );
    let in_force = complete_forecasts(&store).await;
    assert_eq!(in_force.len(), 1);
    let allocations = published_allocations(&store).await;
    assert!(!allocations.is_empty());

    // The next file is the first week of December: November never arrived. Read as a month
    // without sales, the forecast collapses (or the run-rate does), and the guard holds the
    // run. The as-of follows the file (no --as-of given).
    let last = last_week_moved(&dir.join("data"), 37);
    assert_eq!(last, day("2026-12-07"));
    let held = run_job_with(
        &store,
        &job,
        &RunOptions::manual(dir.to_path_buf(), None),
        &PipelineSteps,
        &FixedClock(at("2026-12-08T08:00:00Z")),
    )
    .await
    .unwrap();
    assert_eq!(held.status, RunStatus::Held, "{:?}", held.error);
    assert_eq!(held.as_of, day("2026-12-07"));
    let publish = held.steps.iter().find(|s| s.step == "publish").unwrap();
    assert_eq!(publish.status, StepStatus::Skipped);
    assert!(
        publish.detail.contains("held by the publish guard"),
        "{}",
        publish.detail
    );
    assert!(held.published.is_none());
    let reason = held.error.clone().unwrap();
    assert!(reason.contains('×') || reason.contains("where"), "{reason}");
    // Nothing reached the readers: the run in force stays in force.
    assert_eq!(complete_forecasts(&store).await, in_force);
    assert_eq!(published_allocations(&store).await, allocations);
    // Recorded as held, with the reason; the notice fired.
    let hold = find_hold(&store, &held.run_id).await.unwrap().unwrap();
    assert_eq!(hold.status, "held");
    assert!(hold.findings.contains("run-rate") || hold.findings.contains("in-force"));
    assert_eq!(find_run(&store, &held.run_id).await.unwrap().status, "held");
    assert_eq!(
        list_runs(&store, Some("nightly"), 10).await.unwrap()[0].status,
        "held"
    );
    let delivery = held.notice.clone().unwrap();
    assert_eq!(delivery.delivered, ["log", "command"], "{delivery:?}");
    let notice: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&notice_file).unwrap()).unwrap();
    assert_eq!(notice["status"], "held");
    assert_eq!(notice["step"], "publish");
    let error = held.clone().into_result().unwrap_err();
    assert!(matches!(error, JobError::Held { .. }), "{error}");
    assert!(error.to_string().contains("jobs approve"), "{error}");
    let staged_forecast = held.forecast_run_id.clone().unwrap();
    // The next run of the job clears earlier runs' staged outputs, but not a held run's.
    let discarded = discard_unpublished(&store, "nightly", "job-nightly-next")
        .await
        .unwrap();
    assert_eq!(discarded.total(), 0, "{discarded:?}");

    // Someone looks, decides the data is right, and publishes it on purpose.
    let shown = common::stockcast(url)
        .args(["jobs", "show", &held.run_id])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&shown.stdout).contains("publish guard: held"));
    let approved = common::stockcast(url)
        .args(["jobs", "approve", &held.run_id])
        .output()
        .unwrap();
    assert!(approved.status.success(), "{approved:?}");
    let text = String::from_utf8_lossy(&approved.stdout);
    assert!(text.contains("published 1 forecast run(s)"), "{text}");
    let forecasts = complete_forecasts(&store).await;
    assert_eq!(
        forecasts.last().unwrap(),
        &(staged_forecast, day("2026-12-07")),
        "the approved run is in force"
    );
    let allocations_now = published_allocations(&store).await;
    for allocation in &held.allocations {
        assert!(allocations_now.contains(&allocation.run_id));
    }
    assert_eq!(
        find_hold(&store, &held.run_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "approved"
    );
    assert_eq!(
        find_run(&store, &held.run_id).await.unwrap().status,
        "succeeded"
    );
    // A run is approved once.
    common::stockcast(url)
        .args(["jobs", "approve", &held.run_id])
        .assert()
        .code(2);

    // `--force` publishes past the guard on purpose, and says what it overrode.
    let forced = run_job_with(
        &store,
        &job,
        &RunOptions {
            force_publish: true,
            ..RunOptions::manual(dir.to_path_buf(), None)
        },
        &PipelineSteps,
        &FixedClock(at("2026-12-08T08:00:00Z")),
    )
    .await
    .unwrap();
    assert_eq!(forced.status, RunStatus::Succeeded, "{:?}", forced.error);
    assert!(
        forced
            .notes
            .iter()
            .any(|n| n.contains("overridden by --force")),
        "{:?}",
        forced.notes
    );
    assert_eq!(
        complete_forecasts(&store).await.last().unwrap(),
        &(forced.forecast_run_id.clone().unwrap(), day("2026-12-07"))
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_of_missing_sales_is_held_then_approved_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    a_month_of_missing_sales_is_held_then_approved(&common::sqlite_url(dir.path()), dir.path())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_of_missing_sales_is_held_then_approved_on_postgres() {
    common::on_scratch_postgres(
        "a_month_of_missing_sales_is_held_then_approved_on_postgres",
        |url, dir| async move { a_month_of_missing_sales_is_held_then_approved(&url, &dir).await },
    )
    .await;
}
