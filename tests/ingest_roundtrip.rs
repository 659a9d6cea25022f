//! generate → ingest → the database holds exactly what the files say, on SQLite and PostgreSQL.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use sqlx::Row;
use stockcast::contract::Table;

fn file_rows(path: &Path) -> usize {
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader.records().count()
}

fn file_units_by_sku(path: &Path) -> BTreeMap<String, f64> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let sku = headers.iter().position(|h| h == "sku").unwrap();
    let units = headers.iter().position(|h| h == "units").unwrap();
    let mut sums = BTreeMap::new();
    for record in reader.records() {
        let record = record.unwrap();
        *sums.entry(record[sku].to_string()).or_insert(0.0) +=
            record[units].parse::<f64>().unwrap();
    }
    sums
}

async fn round_trip(database_url: &str, dir: &Path) {
    common::generate(dir, 24, 3, 120, 11);
    common::stockcast(database_url)
        .args(["ingest", "--data"])
        .arg(dir)
        .assert()
        .success();

    let store = common::open(database_url).await;
    for table in Table::LOAD_ORDER {
        let path = dir.join(format!("{}.csv", table.name()));
        if !path.exists() {
            continue;
        }
        assert_eq!(
            common::count(&store, table.name()).await as usize,
            file_rows(&path),
            "row count of {table}"
        );
    }

    let expected = file_units_by_sku(&dir.join("sales.csv"));
    assert!(expected.len() > 10, "the generated sales cover many skus");
    let stored: BTreeMap<String, f64> = stockcast::on_backend!(&store, pool => {
        sqlx::query("SELECT sku, SUM(units) AS units FROM sales GROUP BY sku")
            .fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .map(|row| (row.get::<String, _>("sku"), row.get::<f64, _>("units")))
            .collect()
    });
    assert_eq!(stored.len(), expected.len());
    for (sku, units) in &expected {
        let got = stored[sku];
        assert!(
            (got - units).abs() < 1e-6,
            "{sku}: file {units}, database {got}"
        );
    }

    // Re-ingesting the same files adds nothing, and says so.
    let before = common::count(&store, "sales").await;
    let output = common::stockcast(database_url)
        .args(["ingest", "--data"])
        .arg(dir)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8_lossy(&output).contains("unchanged"));
    assert_eq!(common::count(&store, "sales").await, before);
    // Even forced, a reload replaces rows instead of duplicating them.
    common::stockcast(database_url)
        .args(["ingest", "--force", "--data"])
        .arg(dir)
        .assert()
        .success();
    assert_eq!(common::count(&store, "sales").await, before);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn generate_and_ingest_round_trip_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    round_trip(&common::sqlite_url(dir.path()), &data).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn generate_and_ingest_round_trip_postgres() {
    let Some(admin) = common::postgres_admin_url("generate_and_ingest_round_trip_postgres") else {
        return;
    };
    let scratch = common::scratch_postgres(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    round_trip(&scratch.url, &dir.path().join("data")).await;
    scratch.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn parquet_input_loads_like_csv() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = stockcast::generate::GenerateConfig {
        skus: 12,
        warehouses: 2,
        days: 60,
        seed: 5,
        format: stockcast::generate::OutputFormat::Parquet,
        end_date: stockcast::jobs::default_sample_end_date(),
        truth_days: 28,
        latent_popularity: false,
    };
    stockcast::generate::generate(&config, &data).unwrap();
    let url = common::sqlite_url(dir.path());
    common::stockcast(&url)
        .args(["ingest", "--data"])
        .arg(&data)
        .assert()
        .success();
    let store = common::open(&url).await;
    let frame = polars::prelude::LazyFrame::scan_parquet(
        polars::prelude::PlRefPath::try_from_path(&data.join("sales.parquet")).unwrap(),
        Default::default(),
    )
    .unwrap()
    .collect()
    .unwrap();
    assert!(frame.height() > 0);
    assert_eq!(
        common::count(&store, "sales").await as usize,
        frame.height()
    );
}

/// A first load of ≥ 100k rows into an empty table drops its secondary indexes (and, on
/// PostgreSQL, the primary key) and rebuilds them after the load; every one must be back
/// afterwards, so reloading still merges and date-range reads stay indexed.
async fn a_large_first_load_keeps_every_index(url: &str, dir: &Path) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("warehouses.csv"),
        "warehouse,region\n".to_string()
            + &(0..10).map(|w| format!("W{w:02},R\n")).collect::<String>(),
    )
    .unwrap();
    std::fs::write(
        data.join("products.csv"),
        "sku,category\n".to_string()
            + &(0..40)
                .map(|s| format!("S{s:03},sofas\n"))
                .collect::<String>(),
    )
    .unwrap();
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    let mut sales = String::from("date,sku,warehouse,units\n");
    for sku in 0..40 {
        for warehouse in 0..10 {
            for day in 0..300 {
                sales.push_str(&format!(
                    "{},S{sku:03},W{warehouse:02},1\n",
                    start + chrono::Duration::days(day)
                ));
            }
        }
    }
    std::fs::write(data.join("sales.csv"), sales).unwrap();
    for args in [vec!["ingest"], vec!["ingest", "--force"]] {
        common::stockcast(url)
            .args(args)
            .arg("--data")
            .arg(&data)
            .assert()
            .success();
        let store = common::open(url).await;
        assert_eq!(common::count(&store, "sales").await, 120_000);
        let (primary_keys, date_indexes): (i64, i64) = match &store {
            stockcast::store::Store::Postgres(pool) => (
                sqlx::query_scalar("SELECT COUNT(*) FROM pg_constraint WHERE contype = 'p' AND conrelid = 'sales'::regclass")
                    .fetch_one(pool).await.unwrap(),
                sqlx::query_scalar("SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'sales' AND indexname = 'sales_by_date'")
                    .fetch_one(pool).await.unwrap(),
            ),
            stockcast::store::Store::Sqlite(pool) => (
                1,
                sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'sales_by_date'")
                    .fetch_one(pool).await.unwrap(),
            ),
        };
        assert_eq!(primary_keys, 1, "the sales primary key was rebuilt");
        assert_eq!(date_indexes, 1, "sales_by_date was rebuilt");
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_first_load_on_sqlite_keeps_every_index() {
    let dir = tempfile::tempdir().unwrap();
    a_large_first_load_keeps_every_index(&common::sqlite_url(dir.path()), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_first_load_on_postgres_keeps_the_primary_key_and_every_index() {
    common::on_scratch_postgres(
        "a_large_first_load_on_postgres_keeps_the_primary_key_and_every_index",
        |url, dir| async move { a_large_first_load_keeps_every_index(&url, &dir).await },
    )
    .await;
}
