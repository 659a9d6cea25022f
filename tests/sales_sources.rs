//! Where sales come from, at the database boundary on SQLite and PostgreSQL: live units the
//! reservation core commits count provisionally until an ingested file covers their day, are
//! then superseded (never added on top) and kept for `report reconciliation`; the nightly's
//! as-of and every reader's "last sales date" follow the ingested files, never live rows.

mod common;

use common::{at, day};

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use stockcast::forecast::dataset::Dataset;
use stockcast::ingest::{ingest_dir, IngestOptions};
use stockcast::jobs::parse_job;
use stockcast::jobs::{RunContext, SystemClock};
use stockcast::on_backend;
use stockcast::report::{build_report, dataset_summary, lookup, Filters, ReportKind};
use stockcast::reservation_store::{apply_batch, Durability};
use stockcast::reserve::{LineRequest, Operation, Outcome, Request, ReserveRequest};
use stockcast::store::sales_source::ingested_through;
use stockcast::store::Store;

/// Two sofas in one warehouse, October sold: S1 2 units a day, S2 1 unit a day (93 units).
fn october(data: &Path) {
    common::write(data, "warehouses.csv", "warehouse,region\nW1,north\n");
    common::write(data, "products.csv", "sku,category\nS1,sofas\nS2,sofas\n");
    common::write(
        data,
        "inventory.csv",
        "sku,warehouse,on_hand\nS1,W1,100\nS2,W1,100\n",
    );
    let mut sales = String::from("date,sku,warehouse,units\n");
    for d in 1..=31 {
        sales.push_str(&format!("2026-10-{d:02},S1,W1,2\n2026-10-{d:02},S2,W1,1\n"));
    }
    common::write(data, "sales.csv", sales);
}

/// Holds `qty` of `sku` and commits it at `now`, as a checkout would.
async fn sell(store: &Store, key: &str, sku: &str, qty: i64, now: DateTime<Utc>) {
    let reserve = Request {
        who: "test".into(),
        operation: Operation::Reserve(ReserveRequest {
            idempotency_key: key.into(),
            ttl_seconds: 600,
            lines: vec![LineRequest {
                sku: sku.into(),
                warehouse: "W1".into(),
                qty,
            }],
        }),
    };
    let mut held = apply_batch(store, &[reserve], now, 1000, Durability::OnCommit)
        .await
        .expect("reserve batch");
    let id = match held.outcomes.pop().unwrap() {
        Ok(Outcome::Reservation { reservation, .. }) => reservation.id,
        other => panic!("expected a hold, got {other:?}"),
    };
    let commit = Request {
        who: "test".into(),
        operation: Operation::Commit { id, lines: None },
    };
    let mut committed = apply_batch(store, &[commit], now, 1000, Durability::OnCommit)
        .await
        .expect("commit batch");
    assert!(committed.outcomes.pop().unwrap().is_ok());
}

async fn in_force_units(store: &Store, date: NaiveDate) -> f64 {
    on_backend!(store, pool => {
        sqlx::query_scalar("SELECT COALESCE(SUM(units), 0.0) FROM sales_in_force WHERE date = $1")
            .bind(date).fetch_one(pool).await.unwrap()
    })
}

async fn stored_units(store: &Store, date: NaiveDate, source: &str) -> f64 {
    on_backend!(store, pool => {
        sqlx::query_scalar("SELECT COALESCE(SUM(units), 0.0) FROM sales WHERE date = $1 AND source = $2")
            .bind(date).bind(source).fetch_one(pool).await.unwrap()
    })
}

fn dataset_units(dataset: &Dataset) -> f64 {
    dataset
        .sales
        .column("units")
        .unwrap()
        .as_materialized_series()
        .sum::<f64>()
        .unwrap()
}

/// The nightly's as-of resolution for a run scheduled for `scheduled` (not given explicitly).
async fn nightly_as_of(
    store: &Store,
    dir: &Path,
    scheduled: NaiveDate,
) -> (NaiveDate, Vec<String>) {
    let job = parse_job(
        &dir.join("nightly.toml"),
        "name = \"nightly\"\ndata_dir = \"data\"\nschedule = \"0 30 2 * * *\"\nsteps = [\"forecast\"]\n",
    )
    .unwrap();
    let mut context = RunContext::new(
        store.clone(),
        job,
        dir.to_path_buf(),
        "job-nightly-test".to_string(),
        scheduled,
        false,
        &SystemClock,
    );
    let as_of = context.resolve_as_of().await.unwrap();
    (as_of, context.notes)
}

async fn a_live_sale_then_a_file_for_the_same_day_is_counted_once(url: &str, dir: &Path) {
    let data = dir.join("data");
    october(&data);
    let store = common::open(url).await;
    ingest_dir(&store, &data, &IngestOptions::default())
        .await
        .unwrap();
    assert_eq!(
        ingested_through(&store).await.unwrap(),
        Some(day("2026-10-31"))
    );

    // Web orders on the next two days, before any file covers them.
    sell(&store, "k1", "S1", 3, at("2026-11-01T15:00:00Z")).await;
    sell(&store, "k2", "S2", 2, at("2026-11-01T16:00:00Z")).await;
    sell(&store, "k3", "S1", 4, at("2026-11-02T10:00:00Z")).await;
    assert_eq!(stored_units(&store, day("2026-11-01"), "live").await, 5.0);

    // Live rows are provisional: counted, but they move neither the as-of nor the history.
    assert_eq!(in_force_units(&store, day("2026-11-01")).await, 5.0);
    assert_eq!(in_force_units(&store, day("2026-11-02")).await, 4.0);
    assert_eq!(
        ingested_through(&store).await.unwrap(),
        Some(day("2026-10-31"))
    );
    let (as_of, notes) = nightly_as_of(&store, dir, day("2026-11-02")).await;
    assert_eq!(
        as_of,
        day("2026-10-31"),
        "live sales must not move the as-of"
    );
    assert!(notes[0].contains("ingested"), "{notes:?}");
    assert_eq!(
        lookup::last_sales_date(&store).await.unwrap(),
        Some(day("2026-10-31"))
    );
    let dataset = Dataset::from_store(&store).await.unwrap();
    assert_eq!(dataset_units(&dataset), 93.0 + 5.0 + 4.0);

    // The export for 11-01 arrives. It includes the web orders: S1 sold 6 in all (3 online, 3
    // in store); S2's 2 online units are missing from it.
    common::write(
        &data,
        "sales_2026-11-01.csv",
        "date,sku,warehouse,units\n2026-11-01,S1,W1,6\n",
    );
    ingest_dir(&store, &data, &IngestOptions::default())
        .await
        .unwrap();
    assert_eq!(
        ingested_through(&store).await.unwrap(),
        Some(day("2026-11-01"))
    );
    // The file is authoritative for its day: 6, not 6 + 3 + 2.
    assert_eq!(in_force_units(&store, day("2026-11-01")).await, 6.0);
    // The live rows are kept for reconciliation, and 11-02 is still provisional.
    assert_eq!(stored_units(&store, day("2026-11-01"), "live").await, 5.0);
    assert_eq!(in_force_units(&store, day("2026-11-02")).await, 4.0);
    let (as_of, _) = nightly_as_of(&store, dir, day("2026-11-02")).await;
    assert_eq!(
        as_of,
        day("2026-11-01"),
        "the as-of follows the ingested data"
    );
    let dataset = Dataset::from_store(&store).await.unwrap();
    assert_eq!(
        dataset_units(&dataset),
        93.0 + 6.0 + 4.0,
        "no unit counted twice"
    );
    let summary = dataset_summary(&store).await.unwrap();
    assert_eq!(summary.units_total, 93.0 + 6.0 + 4.0);
    assert_eq!(summary.sales_last_date, Some(day("2026-11-01")));

    // Reconciliation: live vs ingested per day and SKU, with the file's shortfall flagged.
    let built = build_report(&store, ReportKind::Reconciliation, &Filters::default())
        .await
        .unwrap();
    let json = built.json;
    assert_eq!(json["ingested_through"], "2026-11-01");
    assert_eq!(json["provisional_units"], 4.0);
    assert_eq!(json["superseded_live_units"], 5.0);
    assert_eq!(json["cells_below_live"], 1);
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 3);
    assert_eq!(cells[0]["sku"], "S2");
    assert_eq!(cells[0]["standing"], "file-below-live");
    assert_eq!(cells[0]["counted_units"], 0.0);
    let s1 = cells
        .iter()
        .find(|c| c["sku"] == "S1" && c["date"] == "2026-11-01")
        .unwrap();
    assert_eq!(s1["standing"], "superseded");
    assert_eq!(
        (s1["live_units"].clone(), s1["counted_units"].clone()),
        (3.0.into(), 6.0.into())
    );
    let days = json["days"].as_array().unwrap();
    assert_eq!(days[0]["date"], "2026-11-02");
    assert_eq!(days[0]["covered"], false);
    assert_eq!(days[1]["counted_units"], 6.0);

    // The same through the CLI, as CSV.
    let output = common::stockcast(url)
        .args(["report", "reconciliation", "--format", "csv"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let csv = String::from_utf8(output.stdout).unwrap();
    assert!(csv.contains("2026-11-01,S2,W1,2"), "{csv}");
    assert!(csv.contains("file below live"), "{csv}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_sale_then_a_file_for_the_same_day_is_counted_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    a_live_sale_then_a_file_for_the_same_day_is_counted_once(
        &common::sqlite_url(dir.path()),
        dir.path(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_sale_then_a_file_for_the_same_day_is_counted_once_on_postgres() {
    common::on_scratch_postgres(
        "a_live_sale_then_a_file_for_the_same_day_is_counted_once_on_postgres",
        |url, dir| async move {
            a_live_sale_then_a_file_for_the_same_day_is_counted_once(&url, &dir).await
        },
    )
    .await;
}
