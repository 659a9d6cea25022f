//! Allocation runs are published whole or not at all: a write that fails part-way leaves the
//! previous published run in force, on SQLite and PostgreSQL. And the CLI path end to end.

mod common;

use chrono::{NaiveDate, Utc};
use predicates::prelude::*;
use stockcast::allocate::{bench_instance, solve, Policy};
use stockcast::allocation::runs::{latest_published, list_runs, publish, run_targets, RunHeader};

fn header(id: &str) -> RunHeader {
    RunHeader {
        id: id.to_string(),
        created_at: Utc::now(),
        as_of: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
        promotion: "P1".to_string(),
        promotions: vec!["P1".to_string()],
        window_start: NaiveDate::from_ymd_opt(2026, 11, 20),
        window_end: NaiveDate::from_ymd_opt(2026, 11, 30),
        policy: Policy::Margin,
        input_fingerprint: "test".to_string(),
    }
}

async fn a_failed_publish_leaves_the_previous_run_in_force(url: &str) {
    let store = common::open(url).await;
    let problem = bench_instance(300, 4, 11);
    let solution = solve(&problem).unwrap();
    publish(&store, &header("run-a"), &problem, &solution)
        .await
        .unwrap();
    assert_eq!(latest_published(&store).await.unwrap().unwrap().id, "run-a");

    // A second run whose writing fails half-way: a target the database's CHECK rejects,
    // placed after hundreds of good rows.
    let mut broken = solution.clone();
    let middle = broken.targets.len() / 2;
    broken.targets[middle].expected_sales = -1.0;
    let error = publish(&store, &header("run-b"), &problem, &broken).await;
    assert!(error.is_err(), "the CHECK constraint must reject the run");

    let latest = latest_published(&store).await.unwrap().unwrap();
    assert_eq!(
        latest.id, "run-a",
        "readers still see the previous allocation"
    );
    assert_eq!(
        run_targets(&store, "run-b").await.unwrap().len(),
        0,
        "nothing of run-b was written"
    );
    assert_eq!(list_runs(&store).await.unwrap().len(), 1);
    assert_eq!(
        run_targets(&store, "run-a").await.unwrap().len(),
        solution.targets.len()
    );

    // A good third run replaces it.
    publish(&store, &header("run-c"), &problem, &solution)
        .await
        .unwrap();
    assert_eq!(latest_published(&store).await.unwrap().unwrap().id, "run-c");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_publish_leaves_the_previous_run_in_force_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    a_failed_publish_leaves_the_previous_run_in_force(&common::sqlite_url(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_publish_leaves_the_previous_run_in_force_postgres() {
    let Some(admin) =
        common::postgres_admin_url("a_failed_publish_leaves_the_previous_run_in_force_postgres")
    else {
        return;
    };
    let scratch = common::scratch_postgres(&admin).await;
    a_failed_publish_leaves_the_previous_run_in_force(&scratch.url).await;
    scratch.drop_database().await.unwrap();
}

#[test]
fn allocate_from_the_database_forecast_publishes_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::generate(&data, 20, 3, 400, 5);
    let url = common::sqlite_url(dir.path());
    common::stockcast(&url)
        .args(["ingest", "--data"])
        .arg(&data)
        .assert()
        .success();
    common::stockcast(&url)
        .current_dir(dir.path())
        .args(["forecast", "--from-db", "--horizon", "60"])
        .assert()
        .success();
    // A promotion for every SKU inside the forecast window.
    let promotions = std::fs::read_to_string(data.join("promotions.csv")).unwrap();
    let promo = promotions
        .lines()
        .skip(1)
        .map(|line| line.split(',').collect::<Vec<_>>())
        .find(|f| {
            f[2] > "2026-11-01"
                && f[3] < "2026-12-29"
                && f[5].is_empty()
                && f[6].is_empty()
                && f[7].is_empty()
        })
        .map(|f| f[0].to_string())
        .expect("the generator plans a store-wide promotion in the next 60 days");
    common::stockcast(&url)
        .args(["allocate", "--as-of", "2026-10-31", "--promotion", &promo])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("published").and(predicate::str::contains("units placed")),
        );
    common::stockcast(&url)
        .args(["allocation", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("published (in force)"));
    common::stockcast(&url)
        .args(["allocation", "show", "latest"])
        .assert()
        .success()
        .stdout(predicate::str::contains(promo.as_str()));
    common::stockcast(&url)
        .args([
            "allocate",
            "--as-of",
            "2026-10-31",
            "--promotion",
            "NO-SUCH",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no such promotion"));
}
