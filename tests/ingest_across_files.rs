//! A table may be split over several files (`sales_a.csv`, `sales_b.csv`). A key repeated in
//! two files of one ingest meets the same rule as a key repeated within one file: sales rows
//! are summed and counted as merged, every other table quarantines the later row and names
//! the file and line the key was first seen on. Each table is checked on SQLite and
//! PostgreSQL.

#[macro_use]
mod common;
use common::{rejected, write};

use std::path::Path;

use sqlx::AssertSqlSafe;
use stockcast::store::Store;

fn ingest(url: &str, dir: &Path, extra: &[&str]) {
    common::stockcast(url)
        .arg("ingest")
        .args(extra)
        .arg("--data")
        .arg(dir)
        .assert()
        .success();
}

async fn text(store: &Store, sql: &str) -> String {
    stockcast::on_backend!(store, pool => {
        sqlx::query_scalar(AssertSqlSafe(sql.to_string())).fetch_one(pool).await.unwrap()
    })
}

async fn number(store: &Store, sql: &str) -> f64 {
    stockcast::on_backend!(store, pool => {
        sqlx::query_scalar(AssertSqlSafe(sql.to_string())).fetch_one(pool).await.unwrap()
    })
}

/// `(rows_read, rows_accepted, rows_rejected, rows_merged)` recorded for the file named
/// `name` in the latest batch.
async fn counts(store: &Store, name: &str) -> (i64, i64, i64, i64) {
    let sql = format!(
        "SELECT rows_read, rows_accepted, rows_rejected, rows_merged FROM ingest_runs \
         WHERE file LIKE '%/{name}' ORDER BY started_at DESC LIMIT 1"
    );
    stockcast::on_backend!(store, pool => {
        sqlx::query_as(AssertSqlSafe(sql)).fetch_one(pool).await.unwrap()
    })
}

fn dimensions(dir: &Path) {
    write(
        dir,
        "warehouses.csv",
        "warehouse,region\nW1,East\nW2,West\n",
    );
    write(dir, "products.csv", "sku,category\nS1,sofas\nS2,lamps\n");
}

/// Asserts that the one rejected row of `<stem>.rejected.csv` is the later file's `line`,
/// and that its reason names the earlier file and line.
fn assert_rejected_naming_first(dir: &Path, stem: &str, line: i64, first: &str) {
    let rows = rejected(dir, stem);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, line, "{rows:?}");
    assert!(rows[0].1.contains("duplicate key"), "{rows:?}");
    assert!(rows[0].1.contains(first), "expected {first:?} in {rows:?}");
}

async fn sales_rows_are_summed(url: &str, dir: &Path) {
    dimensions(dir);
    write(
        dir,
        "sales_a.csv",
        "date,sku,warehouse,units,price\n2025-11-28,S1,W1,5,10\n2025-11-29,S1,W1,1,10\n",
    );
    write(
        dir,
        "sales_b.csv",
        "date,sku,warehouse,units,price\n2025-11-28,S1,W1,4,19\n2025-11-30,S2,W2,2,5\n",
    );
    for extra in [&[][..], &["--force"][..]] {
        ingest(url, dir, extra);
        let store = common::open(url).await;
        let units = number(
            &store,
            "SELECT units FROM sales WHERE sku = 'S1' AND date = '2025-11-28'",
        )
        .await;
        assert_eq!(units, 9.0, "5 + 4 from two files, after ingest {extra:?}");
        let price = number(
            &store,
            "SELECT price FROM sales WHERE sku = 'S1' AND date = '2025-11-28'",
        )
        .await;
        assert!((price - 14.0).abs() < 1e-9, "units-weighted price: {price}");
        assert_eq!(common::count(&store, "sales").await, 3);
        assert_eq!(counts(&store, "sales_a.csv").await, (2, 2, 0, 0));
        assert_eq!(
            counts(&store, "sales_b.csv").await,
            (2, 1, 0, 1),
            "the later file's row is counted as merged"
        );
        store.close().await;
    }
    assert!(!dir.join("sales_b.rejected.csv").exists());
}

async fn warehouses_reject_the_later_row(url: &str, dir: &Path) {
    write(dir, "warehouses_a.csv", "warehouse,region\nW1,East\n");
    write(
        dir,
        "warehouses_b.csv",
        "warehouse,region\nW2,West\nW1,North\n",
    );
    ingest(url, dir, &[]);
    let store = common::open(url).await;
    assert_eq!(common::count(&store, "warehouses").await, 2);
    assert_eq!(
        text(
            &store,
            "SELECT region FROM warehouses WHERE warehouse = 'W1'"
        )
        .await,
        "East"
    );
    assert_eq!(counts(&store, "warehouses_b.csv").await, (2, 1, 1, 0));
    store.close().await;
    assert_rejected_naming_first(dir, "warehouses_b", 3, "warehouses_a.csv line 2");
}

async fn products_reject_the_later_row(url: &str, dir: &Path) {
    write(dir, "products_a.csv", "sku,category\nS1,sofas\n");
    write(dir, "products_b.csv", "sku,category\nS1,beds\nS2,lamps\n");
    ingest(url, dir, &[]);
    let store = common::open(url).await;
    assert_eq!(common::count(&store, "products").await, 2);
    assert_eq!(
        text(&store, "SELECT category FROM products WHERE sku = 'S1'").await,
        "sofas"
    );
    store.close().await;
    assert_rejected_naming_first(dir, "products_b", 2, "products_a.csv line 2");
}

async fn promotions_reject_the_later_row(url: &str, dir: &Path) {
    dimensions(dir);
    let header = "promo_id,name,start_date,end_date,discount_pct\n";
    write(
        dir,
        "promotions_a.csv",
        format!("{header}P1,Black Friday,2025-11-28,2025-12-01,30\n"),
    );
    write(
        dir,
        "promotions_b.csv",
        format!(
            "{header}P2,Boxing Day,2025-12-26,2025-12-28,20\nP1,Cyber Monday,2025-12-01,2025-12-02,10\n"
        ),
    );
    ingest(url, dir, &[]);
    let store = common::open(url).await;
    assert_eq!(common::count(&store, "promotions").await, 2);
    assert_eq!(
        text(&store, "SELECT name FROM promotions WHERE promo_id = 'P1'").await,
        "Black Friday"
    );
    store.close().await;
    assert_rejected_naming_first(dir, "promotions_b", 3, "promotions_a.csv line 2");
}

async fn inventory_rejects_the_later_row(url: &str, dir: &Path) {
    dimensions(dir);
    write(dir, "inventory_a.csv", "sku,warehouse,on_hand\nS1,W1,5\n");
    write(
        dir,
        "inventory_b.csv",
        "sku,warehouse,on_hand\nS2,W1,3\nS1,W1,7\n",
    );
    ingest(url, dir, &[]);
    let store = common::open(url).await;
    assert_eq!(common::count(&store, "inventory").await, 2);
    assert_eq!(
        number(
            &store,
            "SELECT CAST(on_hand AS DOUBLE PRECISION) FROM inventory WHERE sku = 'S1' AND warehouse = 'W1'"
        )
        .await,
        5.0
    );
    store.close().await;
    assert_rejected_naming_first(dir, "inventory_b", 3, "inventory_a.csv line 2");
}

async fn stock_levels_reject_the_later_row(url: &str, dir: &Path) {
    dimensions(dir);
    write(
        dir,
        "stock_levels_a.csv",
        "date,sku,warehouse,on_hand\n2025-11-28,S1,W1,0\n",
    );
    write(
        dir,
        "stock_levels_b.csv",
        "date,sku,warehouse,on_hand\n2025-11-28,S1,W1,6\n2025-11-29,S1,W1,4\n",
    );
    ingest(url, dir, &[]);
    let store = common::open(url).await;
    assert_eq!(common::count(&store, "stock_levels").await, 2);
    assert_eq!(
        number(
            &store,
            "SELECT CAST(on_hand AS DOUBLE PRECISION) FROM stock_levels WHERE date = '2025-11-28'"
        )
        .await,
        0.0,
        "the stock-out day of the first file stays"
    );
    store.close().await;
    assert_rejected_naming_first(dir, "stock_levels_b", 2, "stock_levels_a.csv line 2");
}

async fn events_reject_the_later_row(url: &str, dir: &Path) {
    dimensions(dir);
    write(dir, "events_a.csv", "date,event\n2025-11-28,BlackFriday\n");
    write(
        dir,
        "events-2025.csv",
        "date,event\n2025-12-26,BoxingDay\n2025-11-28,BlackFriday\n",
    );
    ingest(url, dir, &[]);
    let store = common::open(url).await;
    assert_eq!(common::count(&store, "events").await, 2);
    store.close().await;
    // `events-2025.csv` sorts before `events_a.csv`, so it is the first.
    assert_rejected_naming_first(dir, "events_a", 2, "events-2025.csv line 3");
}

/// Poll answers have no key of their own: two identical answers are two respondents, kept
/// both within one file, and so across files too.
async fn identical_poll_answers_are_both_kept(url: &str, dir: &Path) {
    dimensions(dir);
    let answer = "2025-11-01T10:00:00Z,S1,,4,true\n";
    let header = "responded_at,sku,category,interest,intends_to_buy\n";
    write(dir, "poll_responses_a.csv", format!("{header}{answer}"));
    write(dir, "poll_responses_b.csv", format!("{header}{answer}"));
    for extra in [&[][..], &["--force"][..]] {
        ingest(url, dir, extra);
        let store = common::open(url).await;
        assert_eq!(
            common::count(&store, "poll_responses").await,
            2,
            "after ingest {extra:?}"
        );
        store.close().await;
    }
}

ingest_on_both_backends! {
    sales_across_files => sales_rows_are_summed,
    warehouses_across_files => warehouses_reject_the_later_row,
    products_across_files => products_reject_the_later_row,
    promotions_across_files => promotions_reject_the_later_row,
    inventory_across_files => inventory_rejects_the_later_row,
    stock_levels_across_files => stock_levels_reject_the_later_row,
    events_across_files => events_reject_the_later_row,
    poll_responses_across_files => identical_poll_answers_are_both_kept,
}
