//! A week in the life, as a retailer would run it, on SQLite and PostgreSQL with a controlled
//! clock: the nightly runs; the next days the HTTP service holds and commits web orders; a
//! nightly in the middle of the week, before any new file, stays on the ingested data; the
//! sales export for those days arrives (it includes the web orders) and the nightly runs
//! again. No unit is counted twice, the as-of follows the ingested data, the forecast stays
//! within the publish guard and the accuracy report gives sane figures.

mod common;

use common::{at, day, FixedClock};
mod reserve_support;

use std::collections::BTreeMap;
use std::path::Path;

use axum::http::StatusCode;
use chrono::{Duration, NaiveDate};
use reserve_support::spawn_app;
use serde_json::json;
use stockcast::jobs::history::{RunStatus, StepStatus};
use stockcast::jobs::steps::PipelineSteps;
use stockcast::jobs::{parse_job, run_job_with, JobDefinition, JobRunReport, RunOptions};
use stockcast::keys::Role;
use stockcast::on_backend;
use stockcast::report::{build_report, dataset_summary, Filters, ReportKind};
use stockcast::serve::ServeConfig;
use stockcast::store::sales_source::ingested_through;
use stockcast::store::Store;

fn nightly(dir: &Path) -> JobDefinition {
    parse_job(
        &dir.join("nightly.toml"),
        "name = \"nightly\"\ndata_dir = \"data\"\nschedule = \"0 30 2 * * *\"\n\
         time_zone = \"America/New_York\"\n\
         steps = [\"ingest\", \"refresh-poll-signals\", \"forecast\", \"allocate\", \"publish\", \"report\"]\n\
         [retry]\nretries = 0\ntimeout_seconds = 600\n",
    )
    .expect("valid job")
}

/// The nightly as cron starts it at 02:30 New York time on `morning` (for the day before).
async fn nightly_on(store: &Store, dir: &Path, morning: &str) -> JobRunReport {
    let report = run_job_with(
        store,
        &nightly(dir),
        &RunOptions::manual(dir.to_path_buf(), None),
        &PipelineSteps,
        &FixedClock(at(&format!("{morning}T07:30:00Z"))),
    )
    .await
    .unwrap();
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let publish = report.steps.iter().find(|s| s.step == "publish").unwrap();
    assert_eq!(publish.status, StepStatus::Succeeded, "{}", publish.detail);
    report
}

type Cell = (NaiveDate, String, String);

/// Sales rows of a CSV in the contract: (date, sku, warehouse) → units, and the other lines.
fn read_sales(text: &str) -> (String, Vec<(Cell, f64, String)>) {
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_string();
    let rows = lines
        .map(|line| {
            let fields: Vec<&str> = line.splitn(5, ',').collect();
            let cell = (day(fields[0]), fields[1].to_string(), fields[2].to_string());
            (cell, fields[3].parse().unwrap(), fields[4].to_string())
        })
        .collect();
    (header, rows)
}

/// Generates history up to 11-05, then keeps only what was known on 10-31 in `data/`; the
/// sales of 11-01 … 11-05 are returned, to arrive later.
fn history_and_the_week_after(dir: &Path) -> Vec<(Cell, f64, String)> {
    let full = dir.join("full");
    let config = stockcast::generate::GenerateConfig {
        skus: 24,
        warehouses: 3,
        days: 405,
        seed: 5,
        format: stockcast::generate::OutputFormat::Csv,
        end_date: day("2026-11-05"),
        truth_days: 7,
        latent_popularity: false,
    };
    stockcast::generate::generate(&config, &full).unwrap();
    let data = dir.join("data");
    let cutoff = day("2026-10-31");
    for name in [
        "warehouses.csv",
        "products.csv",
        "promotions.csv",
        "inventory.csv",
        "events.csv",
        "poll_responses.csv",
    ] {
        std::fs::create_dir_all(&data).unwrap();
        std::fs::copy(full.join(name), data.join(name)).unwrap();
    }
    let stock = std::fs::read_to_string(full.join("stock_levels.csv")).unwrap();
    let mut known = String::new();
    for (index, line) in stock.lines().enumerate() {
        if index == 0 || day(&line[..10]) <= cutoff {
            known.push_str(line);
            known.push('\n');
        }
    }
    common::write(&data, "stock_levels.csv", known);
    let (header, rows) = read_sales(&std::fs::read_to_string(full.join("sales.csv")).unwrap());
    let mut history = format!("{header}\n");
    let mut week = Vec::new();
    for (cell, units, rest) in rows {
        if cell.0 <= cutoff {
            history.push_str(&format!(
                "{},{},{},{units},{rest}\n",
                cell.0, cell.1, cell.2
            ));
        } else {
            week.push((cell, units, rest));
        }
    }
    common::write(&data, "sales.csv", history);
    assert!(week.len() > 20, "the week after has sales");
    week
}

async fn sum(store: &Store, sql: &str, from: NaiveDate, to: NaiveDate) -> f64 {
    on_backend!(store, pool => {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .bind(from).bind(to).fetch_one(pool).await.unwrap()
    })
}

async fn week_in_the_life(url: &str, dir: &Path) {
    let week = history_and_the_week_after(dir);
    let store = common::open(url).await;
    let (first_day, last_day) = (day("2026-11-01"), day("2026-11-05"));

    // 11-01, 02:30: the nightly on the history that ends 10-31.
    let first = nightly_on(&store, dir, "2026-11-01").await;
    assert_eq!(first.as_of, day("2026-10-31"));
    let history_units = dataset_summary(&store).await.unwrap().units_total;

    // The week: web orders held and committed over HTTP, one a day per SKU with stock.
    let skus: Vec<(String, String)> = on_backend!(&store, pool => {
        sqlx::query_as("SELECT sku, warehouse FROM inventory WHERE on_hand >= 10 ORDER BY sku, warehouse LIMIT 4")
            .fetch_all(pool).await.unwrap()
    });
    assert_eq!(skus.len(), 4, "stock to sell");
    let app = spawn_app(store.clone(), ServeConfig::default()).await;
    let mut live: BTreeMap<Cell, f64> = BTreeMap::new();
    for offset in 0..5 {
        let date = first_day + Duration::days(offset);
        app.clock.set(at(&format!("{date}T15:00:00Z")));
        for (index, (sku, warehouse)) in skus.iter().enumerate() {
            let qty = 1 + (index as i64 + offset) % 2;
            let created = app
                .post(
                    Role::Service,
                    "/v1/reservations",
                    json!({
                        "idempotency_key": format!("order-{date}-{index}"),
                        "ttl_seconds": 900,
                        "lines": [{"sku": sku, "warehouse": warehouse, "qty": qty}],
                    }),
                )
                .await;
            assert_eq!(created.status(), StatusCode::CREATED);
            let id = created.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string();
            let committed = app
                .post(
                    Role::Service,
                    &format!("/v1/reservations/{id}/commit"),
                    json!({}),
                )
                .await;
            assert_eq!(committed.status(), StatusCode::OK);
            *live
                .entry((date, sku.clone(), warehouse.clone()))
                .or_default() += qty as f64;
        }
        if offset == 2 {
            // 11-04, 02:30, no file yet: the live sales of 11-01 … 11-03 must not move the
            // as-of (it stays on 10-31 and reruns it), so no day without a file is read as
            // a day without sales.
            let midweek = nightly_on(&store, dir, "2026-11-04").await;
            assert_eq!(midweek.as_of, day("2026-10-31"));
            assert!(
                midweek
                    .notes
                    .iter()
                    .any(|n| n.contains("ingested sales cover")),
                "{:?}",
                midweek.notes
            );
        }
    }
    app.stop().await;
    let live_units: f64 = live.values().sum();
    let stored_live = sum(
        &store,
        "SELECT COALESCE(SUM(units), 0.0) FROM sales WHERE source = 'live' AND date >= $1 AND date <= $2",
        first_day,
        last_day,
    )
    .await;
    assert_eq!(stored_live, live_units);
    assert_eq!(
        ingested_through(&store).await.unwrap(),
        Some(day("2026-10-31"))
    );

    // The export for 11-01 … 11-05 arrives. It includes the web orders the core committed.
    let mut file: BTreeMap<Cell, (f64, String)> = BTreeMap::new();
    for (cell, units, rest) in week {
        file.insert(cell, (units, rest));
    }
    for (cell, units) in &live {
        file.entry(cell.clone()).or_insert((0.0, ",".to_string())).0 += units;
    }
    let mut text = "date,sku,warehouse,units,price,promo_id\n".to_string();
    for ((date, sku, warehouse), (units, rest)) in &file {
        text.push_str(&format!("{date},{sku},{warehouse},{units},{rest}\n"));
    }
    common::write(&dir.join("data"), "sales_2026-11-01.csv", text);
    let file_units: f64 = file.values().map(|(units, _)| units).sum();

    // 11-06, 02:30: the nightly for 11-05, on the file.
    let last = nightly_on(&store, dir, "2026-11-06").await;
    assert_eq!(last.as_of, last_day, "the as-of follows the ingested data");
    assert_eq!(ingested_through(&store).await.unwrap(), Some(last_day));

    // No unit counted twice: the week counts what the file says, and the live rows are kept
    // beside it for reconciliation.
    let in_force = sum(
        &store,
        "SELECT COALESCE(SUM(units), 0.0) FROM sales_in_force WHERE date >= $1 AND date <= $2",
        first_day,
        last_day,
    )
    .await;
    assert!(
        (in_force - file_units).abs() < 1e-9,
        "{in_force} vs {file_units}"
    );
    let summary = dataset_summary(&store).await.unwrap();
    assert!((summary.units_total - (history_units + file_units)).abs() < 1e-6);
    let reconciliation = build_report(&store, ReportKind::Reconciliation, &Filters::default())
        .await
        .unwrap()
        .json;
    assert_eq!(reconciliation["provisional_units"], 0.0);
    assert_eq!(reconciliation["superseded_live_units"], live_units);
    assert_eq!(reconciliation["cells_below_live"], 0);

    // The accuracy report scores the 10-31 run on the five days the file covers, sanely.
    let accuracy = build_report(&store, ReportKind::Accuracy, &Filters::default())
        .await
        .unwrap()
        .json;
    assert_eq!(accuracy["last_sales_date"], "2026-11-05");
    let trend = accuracy["trend"].as_array().unwrap();
    let scored = trend
        .iter()
        .find(|row| row["as_of"] == "2026-10-31")
        .expect("the 10-31 run is scored");
    assert_eq!(scored["realised_days"], 5);
    let wape = scored["wape"].as_f64().unwrap();
    assert!(wape.is_finite() && wape < 2.0, "WAPE {wape}");
    let bias = scored["bias"].as_f64().unwrap();
    assert!(bias.abs() < 1.0, "bias {bias}");
    let coverage = scored["coverage_p10_p90"].as_f64().unwrap();
    assert!(coverage > 0.5, "p10–p90 coverage {coverage}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_week_in_the_life_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    week_in_the_life(&common::sqlite_url(dir.path()), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_week_in_the_life_on_postgres() {
    common::on_scratch_postgres("a_week_in_the_life_on_postgres", |url, dir| async move {
        week_in_the_life(&url, &dir).await
    })
    .await;
}
