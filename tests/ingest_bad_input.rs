//! Bad input is expected: bad rows are quarantined with a reason, good rows still load,
//! re-ingest adds nothing, and a file that cannot be parsed loads nothing at all.

mod common;
use common::{rejected, write};

use std::path::Path;

use sqlx::Row;

fn write_bad_dataset(dir: &Path) {
    write(
        dir,
        "warehouses.csv",
        "warehouse,region,capacity_units,capacity_m3\n\
W1,East,1000,500\n\
W2,West,abc,100\n\
W1,North,5,5\n\
,South,1,1\n",
    );
    write(
        dir,
        "products.csv",
        "sku,category,unit_volume_m3,case_pack,unit_price\n\
S1,sofas,2.5,1,999\n\
S2,cushions,0.01,6,19.5\n\
S3,lighting,0.1,0,10\n",
    );
    write(
        dir,
        "promotions.csv",
        "promo_id,name,start_date,end_date,discount_pct,sku,category,warehouse\n\
P1,Black Friday,2025-11-28,2025-12-01,30,,,\n\
P2,Backwards,2025-12-10,2025-12-01,20,,,\n\
P3,Unknown sku,2025-12-10,2025-12-12,20,S9,,\n",
    );
    write(
        dir,
        "inventory.csv",
        "sku,warehouse,on_hand,inbound,min_presentation\n\
S1,W1,5,0,1\n\
S2,W1,-3,0,0\n\
S2,W9,4,,\n\
S1,W1,7,0,1\n",
    );
    write(
        dir,
        "sales.csv",
        "date,sku,warehouse,units,price,promo_id\n\
2025-11-28,S1,W1,1,700,P1\n\
2025-11-28,S1,W1,2,700,P1\n\
2025-11-29,S2,W1,4,,\n\
2025-11-29,S9,W1,1,,\n\
2025-11-30,S2,W1,many,,\n\
not-a-date,S2,W1,1,,\n",
    );
    write(
        dir,
        "poll_responses.csv",
        "responded_at,sku,category,interest,intends_to_buy\n\
2025-11-01T10:00:00Z,S1,,4,true\n\
2025-11-01T10:00:00Z,,sofas,6,false\n\
2025-11-02T10:00:00Z,,,3,true\n",
    );
}

async fn bad_rows_are_quarantined(database_url: &str, dir: &Path) {
    write_bad_dataset(dir);
    let assert = common::stockcast(database_url)
        .args(["ingest", "--data"])
        .arg(dir)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(stdout.contains("rejected"), "{stdout}");

    let warehouses = rejected(dir, "warehouses");
    assert_eq!(warehouses.len(), 3, "{warehouses:?}");
    assert_eq!(warehouses[0].0, 3);
    assert!(warehouses[0]
        .1
        .contains("capacity_units: expected a number, got 'abc'"));
    assert!(warehouses[1]
        .1
        .contains("duplicate key (warehouse) = (W1), first seen on line 2"));
    assert!(warehouses[2].1.contains("warehouse: missing"));

    let products = rejected(dir, "products");
    assert_eq!(products.len(), 1);
    assert!(products[0].1.contains("case_pack: must be ≥ 1"));

    let promotions = rejected(dir, "promotions");
    assert_eq!(promotions.len(), 2);
    assert!(promotions[0].1.contains("end_date: before start_date"));
    assert!(promotions[1].1.contains("unknown sku 'S9'"));

    let inventory = rejected(dir, "inventory");
    assert_eq!(inventory.len(), 3, "{inventory:?}");
    assert!(inventory[0].1.contains("on_hand: must be ≥ 0, got -3"));
    assert!(inventory[1].1.contains("unknown warehouse 'W9'"));
    assert!(inventory[2].1.contains("duplicate key"));

    let sales = rejected(dir, "sales");
    assert_eq!(sales.iter().map(|r| r.0).collect::<Vec<_>>(), vec![5, 6, 7]);
    assert!(sales[0].1.contains("unknown sku 'S9'"));
    assert!(sales[1].1.contains("units: expected a number, got 'many'"));
    assert!(sales[2].1.contains("date: expected a date"));

    let polls = rejected(dir, "poll_responses");
    assert_eq!(polls.len(), 2);

    let store = common::open(database_url).await;
    assert_eq!(common::count(&store, "warehouses").await, 1);
    assert_eq!(common::count(&store, "products").await, 2);
    assert_eq!(common::count(&store, "promotions").await, 1);
    assert_eq!(common::count(&store, "inventory").await, 1);
    assert_eq!(common::count(&store, "sales").await, 2);
    assert_eq!(common::count(&store, "poll_responses").await, 1);
    let summed: f64 = stockcast::on_backend!(&store, pool => {
        sqlx::query("SELECT units FROM sales WHERE sku = 'S1'")
            .fetch_one(pool).await.unwrap().get("units")
    });
    assert_eq!(
        summed, 3.0,
        "one-row-per-transaction exports are summed per day"
    );
    let (rejected_count, merged): (i64, i64) = stockcast::on_backend!(&store, pool => {
        sqlx::query_as("SELECT rows_rejected, rows_merged FROM ingest_runs WHERE table_name = 'sales'")
            .fetch_one(pool).await.unwrap()
    });
    assert_eq!((rejected_count, merged), (3, 1));

    // Re-ingest: nothing new, counts unchanged, even when forced.
    for args in [vec!["ingest"], vec!["ingest", "--force"]] {
        common::stockcast(database_url)
            .args(args)
            .arg("--data")
            .arg(dir)
            .assert()
            .success();
        assert_eq!(common::count(&store, "sales").await, 2);
        assert_eq!(common::count(&store, "warehouses").await, 1);
        assert_eq!(common::count(&store, "poll_responses").await, 1);
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_rows_are_quarantined_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    bad_rows_are_quarantined(&common::sqlite_url(dir.path()), &dir.path().join("data")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_rows_are_quarantined_postgres() {
    let Some(admin) = common::postgres_admin_url("bad_rows_are_quarantined_postgres") else {
        return;
    };
    let scratch = common::scratch_postgres(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    bad_rows_are_quarantined(&scratch.url, &dir.path().join("data")).await;
    scratch.drop_database().await.unwrap();
}

fn good_dimensions(dir: &Path) {
    write(dir, "warehouses.csv", "warehouse,region\nW1,East\n");
    write(dir, "products.csv", "sku,category\nS1,sofas\n");
}

async fn corrupt_file_loads_nothing(
    database_url: &str,
    dir: &Path,
    sales: &[u8],
    expected: &[&str],
) {
    good_dimensions(dir);
    std::fs::write(dir.join("sales.csv"), sales).unwrap();
    let assert = common::stockcast(database_url)
        .args(["ingest", "--data"])
        .arg(dir)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    for needle in expected {
        assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    }
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let store = common::open(database_url).await;
    for table in ["warehouses", "products", "sales", "ingest_runs"] {
        assert_eq!(
            common::count(&store, table).await,
            0,
            "{table} must stay empty"
        );
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_header_stops_the_ingest_and_names_file_line_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    corrupt_file_loads_nothing(
        &common::sqlite_url(dir.path()),
        &dir.path().join("data"),
        b"day,sku,warehouse,qty\n2025-01-01,S1,W1,1\n",
        &[
            "sales.csv:1",
            "missing date, units",
            "expected columns date,sku,warehouse,units",
        ],
    )
    .await;
}

/// A ragged row is quarantined (`tests/ingest_rows.rs`), but a quote that is never closed
/// swallows the rest of the file: nothing tells where its rows are.
#[tokio::test(flavor = "multi_thread")]
async fn an_unclosed_quote_stops_the_ingest_and_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    corrupt_file_loads_nothing(
        &common::sqlite_url(dir.path()),
        &dir.path().join("data"),
        b"date,sku,warehouse,units\n2025-01-01,S1,W1,1\n2025-01-02,S1,W1,1,9,9,9\n\"2025-01-03,S1,W1,1\n2025-01-04,S1,W1,1\n",
        &["sales.csv:4", "quoted field opened on this line is never closed"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_binary_file_stops_the_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let garbage: Vec<u8> = (0..2048u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    corrupt_file_loads_nothing(
        &common::sqlite_url(dir.path()),
        &dir.path().join("data"),
        &garbage,
        &["sales.csv"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_file_loads_nothing_on_postgres() {
    let Some(admin) = common::postgres_admin_url("a_corrupt_file_loads_nothing_on_postgres") else {
        return;
    };
    let scratch = common::scratch_postgres(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    corrupt_file_loads_nothing(
        &scratch.url,
        &dir.path().join("data"),
        b"date,sku,warehouse,units\n2025-01-01,S1,W1,1\n2025-01-03,S1,W1\n\"unterminated,S1,W1,1\n",
        &["sales.csv"],
    )
    .await;
    scratch.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn weekly_history_is_accepted_with_freq_week_and_the_setting_sticks() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    good_dimensions(&data);
    // Sundays, week-end dated.
    write(
        &data,
        "sales.csv",
        "date,sku,warehouse,units\n2025-01-05,S1,W1,3\n2025-01-12,S1,W1,4\n2025-01-14,S1,W1,1\n",
    );
    let url = common::sqlite_url(dir.path());
    common::stockcast(&url)
        .args(["ingest", "--freq", "week", "--data"])
        .arg(&data)
        .assert()
        .success();
    let store = common::open(&url).await;
    assert_eq!(common::count(&store, "sales").await, 2);
    assert_eq!(rejected(&data, "sales").len(), 1);
    assert_eq!(
        store.dataset_setting("freq").await.unwrap().as_deref(),
        Some("week")
    );
    // Mixing daily files into weekly history is refused with exit code 2.
    let assert = common::stockcast(&url)
        .args(["ingest", "--force", "--data"])
        .arg(&data)
        .assert()
        .code(2);
    assert!(
        String::from_utf8_lossy(&assert.get_output().stderr).contains("--freq day does not match")
    );
}

/// Well-formed dates outside 1900–2199 are quarantined as out of range, not as malformed;
/// the edges of the range load.
async fn dates_outside_the_supported_years_are_named_as_such(database_url: &str, dir: &Path) {
    good_dimensions(dir);
    write(
        dir,
        "sales.csv",
        "date,sku,warehouse,units\n\
1900-01-01,S1,W1,1\n\
2199-12-31,S1,W1,1\n\
9999-12-31,S1,W1,1\n\
0001-01-01,S1,W1,1\n\
1899-12-31,S1,W1,1\n\
2200-01-01,S1,W1,1\n\
2025-02-30,S1,W1,1\n",
    );
    common::stockcast(database_url)
        .args(["ingest", "--data"])
        .arg(dir)
        .assert()
        .success();
    let sales = rejected(dir, "sales");
    assert_eq!(
        sales.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![4, 5, 6, 7, 8],
        "{sales:?}"
    );
    for (_, reason) in &sales[..4] {
        assert!(
            reason.contains("is out of the supported range 1900–2199"),
            "{reason}"
        );
    }
    assert!(
        sales[4]
            .1
            .contains("date: expected a date (YYYY-MM-DD), got '2025-02-30'"),
        "{:?}",
        sales[4]
    );
    let store = common::open(database_url).await;
    assert_eq!(common::count(&store, "sales").await, 2);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dates_outside_the_supported_years_are_named_as_such_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    dates_outside_the_supported_years_are_named_as_such(
        &common::sqlite_url(dir.path()),
        &dir.path().join("data"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dates_outside_the_supported_years_are_named_as_such_postgres() {
    let Some(admin) =
        common::postgres_admin_url("dates_outside_the_supported_years_are_named_as_such_postgres")
    else {
        return;
    };
    let scratch = common::scratch_postgres(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    dates_outside_the_supported_years_are_named_as_such(&scratch.url, &dir.path().join("data"))
        .await;
    scratch.drop_database().await.unwrap();
}
