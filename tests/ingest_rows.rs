//! Rows that are wrong in shape or content: ragged rows are quarantined whichever way they
//! are ragged, optional columns may be left out, control characters are refused the same way
//! on both backends, a count below live holds stops the ingest with one clear line, and a
//! database error is printed once. On SQLite and PostgreSQL.

mod common;
use common::{rejected, write};

use std::path::Path;

use sqlx::AssertSqlSafe;
use stockcast::contract::Table;
use stockcast::store::Store;

async fn execute(store: &Store, sql: &str) {
    stockcast::on_backend!(store, pool => {
        sqlx::raw_sql(AssertSqlSafe(sql.to_string())).execute(pool).await.unwrap();
    });
}

async fn integer(store: &Store, sql: &str) -> i64 {
    stockcast::on_backend!(store, pool => {
        sqlx::query_scalar(AssertSqlSafe(sql.to_string())).fetch_one(pool).await.unwrap()
    })
}

async fn text(store: &Store, sql: &str) -> String {
    stockcast::on_backend!(store, pool => {
        sqlx::query_scalar(AssertSqlSafe(sql.to_string())).fetch_one(pool).await.unwrap()
    })
}

fn dimensions(dir: &Path) {
    write(dir, "warehouses.csv", "warehouse,region\nW1,East\n");
    write(dir, "products.csv", "sku,category\nS1,sofas\nS2,lamps\n");
}

/// A row with too many fields and one with too few are both quarantined with their line and
/// "expected N fields, found M"; the good rows around them load.
async fn ragged_rows_are_quarantined(url: &str, dir: &Path) {
    dimensions(dir);
    write(
        dir,
        "sales.csv",
        "date,sku,warehouse,units,price\n\
2025-01-01,S1,W1,1,10\n\
2025-01-02,S1,W1,1,10,9,9\n\
2025-01-03,S1,W1,1\n\
2025-01-04,S1,W1,2,\n\
2025-01-05,S1\n",
    );
    common::stockcast(url)
        .args(["ingest", "--data"])
        .arg(dir)
        .assert()
        .success();
    let rows = rejected(dir, "sales");
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0].0, 3);
    assert!(
        rows[0].1.contains("expected 5 fields like the header") && rows[0].1.contains("found 7"),
        "{rows:?}"
    );
    assert_eq!(rows[1].0, 4);
    assert!(rows[1].1.contains("found 4"), "{rows:?}");
    assert_eq!(rows[2].0, 6);
    assert!(
        rows[2].1.contains("found 2") && !rows[2].1.contains("missing"),
        "the shape is the reason, not its consequences: {rows:?}"
    );
    let store = common::open(url).await;
    assert_eq!(
        common::count(&store, "sales").await,
        2,
        "an empty trailing value is not a missing field"
    );
    store.close().await;
}

/// The required columns of `table`, in contract order.
fn required_columns(table: Table) -> Vec<&'static str> {
    table
        .columns()
        .iter()
        .filter(|column| column.required)
        .map(|column| column.name)
        .collect()
}

/// One row of `table` with only its required columns (plus `sku` for poll responses, which
/// need a sku or a category).
fn required_only_file(table: Table) -> (Vec<&'static str>, &'static str) {
    match table {
        Table::Warehouses => (required_columns(table), "W9,North"),
        Table::Products => (required_columns(table), "S9,beds"),
        Table::Promotions => (
            required_columns(table),
            "P1,Black Friday,2025-11-28,2025-12-01,30",
        ),
        Table::Inventory => (required_columns(table), "S1,W1,12"),
        Table::StockLevels => (required_columns(table), "2025-11-28,S1,W1,0"),
        Table::Sales => (required_columns(table), "2025-11-28,S1,W1,3"),
        Table::PollResponses => (
            vec!["responded_at", "sku", "interest"],
            "2025-11-01T10:00:00Z,S1,4",
        ),
        Table::Events => (required_columns(table), "2025-11-28,BlackFriday"),
    }
}

/// Every column the README marks optional may be left out: the file loads, and an absent
/// inventory `inbound` or `min_presentation` is 0.
async fn only_required_columns_load(table: Table, url: &str, dir: &Path) {
    dimensions(dir);
    let (columns, row) = required_only_file(table);
    let name = format!("{}.csv", table.name());
    let existing = match table {
        Table::Warehouses | Table::Products => {
            common::stockcast(url)
                .args(["ingest", "--data"])
                .arg(dir)
                .assert()
                .success();
            let store = common::open(url).await;
            let rows = common::count(&store, table.name()).await;
            store.close().await;
            rows
        }
        _ => 0,
    };
    write(dir, &name, format!("{}\n{row}\n", columns.join(",")));
    let assert = common::stockcast(url)
        .args(["ingest", "--data"])
        .arg(dir)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(!dir.join(format!("{}.rejected.csv", table.name())).exists());
    let store = common::open(url).await;
    assert_eq!(
        common::count(&store, table.name()).await,
        existing + 1,
        "{name} with only {columns:?} loads: {stdout}"
    );
    if table == Table::Inventory {
        let inbound = integer(&store, "SELECT inbound FROM inventory").await;
        let minimum = integer(&store, "SELECT min_presentation FROM inventory").await;
        assert_eq!(
            (inbound, minimum),
            (0, 0),
            "absent columns take the default"
        );
    }
    store.close().await;
}

/// An inventory count below the units live reservations hold is refused with one line naming
/// the file, line and field, exit 2, and nothing of the ingest loads.
async fn a_count_below_the_holds_is_refused(url: &str, dir: &Path) {
    dimensions(dir);
    write(
        dir,
        "inventory.csv",
        "sku,warehouse,on_hand,inbound\nS1,W1,10,0\n",
    );
    common::stockcast(url)
        .args(["ingest", "--data"])
        .arg(dir)
        .assert()
        .success();
    let store = common::open(url).await;
    execute(
        &store,
        "UPDATE inventory SET reserved = 6 WHERE sku = 'S1' AND warehouse = 'W1'",
    )
    .await;
    write(
        dir,
        "inventory.csv",
        "sku,warehouse,on_hand,inbound\nS2,W1,3,0\nS1,W1,4,0\n",
    );
    write(dir, "events.csv", "date,event\n2025-11-28,BlackFriday\n");
    let stderr = common::ingest_refused(url, dir);
    assert!(stderr.contains("inventory.csv:3: on_hand: 4"), "{stderr}");
    assert!(
        stderr.contains("below the 6 unit(s) held by live reservations"),
        "{stderr}"
    );
    assert!(!stderr.contains("CHECK"), "{stderr}");
    assert_eq!(
        integer(&store, "SELECT on_hand FROM inventory WHERE sku = 'S1'").await,
        10
    );
    assert_eq!(common::count(&store, "inventory").await, 1, "S2 not loaded");
    assert_eq!(common::count(&store, "events").await, 0, "nothing loaded");
    store.close().await;
}

/// A NUL (or any control character but tab) in a text field quarantines the row, naming the
/// field, on both backends alike; a tab is kept.
async fn control_characters_are_quarantined(url: &str, dir: &Path) {
    dimensions(dir);
    write(
        dir,
        "promotions.csv",
        "promo_id,name,start_date,end_date,discount_pct\n\
P1,Black Friday,2025-11-28,2025-12-01,30\n\
P2,Boxing\u{0}Day,2025-12-26,2025-12-28,20\n\
P3,Cyber\tMonday,2025-12-01,2025-12-02,10\n\
P4,Escape\u{1b}[31m,2025-12-01,2025-12-02,10\n",
    );
    common::stockcast(url)
        .args(["ingest", "--data"])
        .arg(dir)
        .assert()
        .success();
    let rows = rejected(dir, "promotions");
    assert_eq!(
        rows.iter().map(|row| row.0).collect::<Vec<_>>(),
        vec![3, 5],
        "{rows:?}"
    );
    assert!(
        rows[0].1.contains("name: control character U+0000"),
        "{rows:?}"
    );
    assert!(
        rows[1].1.contains("name: control character U+001B"),
        "{rows:?}"
    );
    let store = common::open(url).await;
    assert_eq!(common::count(&store, "promotions").await, 2);
    assert_eq!(
        text(&store, "SELECT name FROM promotions WHERE promo_id = 'P3'").await,
        "Cyber\tMonday"
    );
    store.close().await;
}

/// A database error reaches the user once, on one line (not once per layer of the error
/// chain). A trigger makes the database refuse the sales rows.
async fn a_database_error_is_printed_once(url: &str, dir: &Path) {
    dimensions(dir);
    write(
        dir,
        "sales.csv",
        "date,sku,warehouse,units\n2025-11-28,S1,W1,5\n",
    );
    let store = common::open(url).await;
    match &store {
        Store::Sqlite(_) => {
            execute(
                &store,
                "CREATE TRIGGER sales_frozen BEFORE INSERT ON sales \
                 BEGIN SELECT RAISE(ABORT, 'sales are frozen for the audit'); END",
            )
            .await
        }
        Store::Postgres(_) => {
            execute(
                &store,
                "CREATE FUNCTION sales_frozen() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'sales are frozen for the audit'; END $$; \
                 CREATE TRIGGER sales_frozen BEFORE INSERT ON sales \
                 FOR EACH ROW EXECUTE FUNCTION sales_frozen()",
            )
            .await
        }
    }
    let assert = common::stockcast(url)
        .args(["ingest", "--data"])
        .arg(dir)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert_eq!(
        stderr.matches("sales are frozen for the audit").count(),
        1,
        "printed once: {stderr}"
    );
    assert_eq!(common::count(&store, "products").await, 0, "rolled back");
    store.close().await;
}

macro_rules! on_both_backends {
    ($($name:ident => $body:expr),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread")]
                async fn sqlite() {
                    let dir = tempfile::tempdir().unwrap();
                    ($body)(
                        super::common::sqlite_url(dir.path()),
                        dir.path().join("data"),
                    )
                    .await;
                }

                #[tokio::test(flavor = "multi_thread")]
                async fn postgres() {
                    super::common::on_scratch_postgres(
                        concat!(stringify!($name), "::postgres"),
                        |url, dir| async move { ($body)(url, dir.join("data")).await },
                    )
                    .await;
                }
            }
        )*
    };
}

/// Adapts `async fn(&str, &Path)` to the owned arguments the macro passes.
macro_rules! case {
    ($body:path) => {
        |url: String, dir: std::path::PathBuf| async move { $body(&url, &dir).await }
    };
    ($body:path, $table:expr) => {
        |url: String, dir: std::path::PathBuf| async move { $body($table, &url, &dir).await }
    };
}

on_both_backends! {
    ragged_rows => case!(super::ragged_rows_are_quarantined),
    only_required_warehouses => case!(super::only_required_columns_load, super::Table::Warehouses),
    only_required_products => case!(super::only_required_columns_load, super::Table::Products),
    only_required_promotions => case!(super::only_required_columns_load, super::Table::Promotions),
    only_required_inventory => case!(super::only_required_columns_load, super::Table::Inventory),
    only_required_stock_levels => case!(super::only_required_columns_load, super::Table::StockLevels),
    only_required_sales => case!(super::only_required_columns_load, super::Table::Sales),
    only_required_poll_responses => case!(super::only_required_columns_load, super::Table::PollResponses),
    only_required_events => case!(super::only_required_columns_load, super::Table::Events),
    count_below_holds => case!(super::a_count_below_the_holds_is_refused),
    control_characters => case!(super::control_characters_are_quarantined),
    database_error_once => case!(super::a_database_error_is_printed_once),
}
