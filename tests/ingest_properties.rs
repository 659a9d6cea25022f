//! Property tests over the ingest validator, through the CLI: any bytes in a sales file end
//! as rows loaded, rows quarantined or one clean error (exit 2, one line naming the file,
//! nothing loaded), never a panic, and the good rows beside the bad ones load intact.
//!
//! `cargo test` runs a bounded number of cases; `PROPTEST_CASES=500 cargo test --test
//! ingest_properties` runs more.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const DEFAULT_CASES: u32 = 16;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

const HEADER: &str = "date,sku,warehouse,units,price,promo_id";

/// A field a hostile or careless export could hold. Never a March 2024 date, which the good
/// rows own, so a bad row can never add to a good row's key.
fn hostile_field() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"S1".to_vec()),
        Just(b"W1".to_vec()),
        Just(b"2025-06-01".to_vec()),
        Just(b"9999-12-31".to_vec()),
        Just(b"2025-02-30".to_vec()),
        Just(b"-4".to_vec()),
        Just(b"1e309".to_vec()),
        Just(b"NaN".to_vec()),
        Just(b"99999999999999999999999".to_vec()),
        Just(b"\"unbalanced".to_vec()),
        Just(b"\"quoted, with comma\"".to_vec()),
        Just(b"".to_vec()),
        "[a-zA-Z0-9 .:-]{0,12}".prop_map(String::into_bytes),
        "\\PC{1,8}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 1..12),
    ]
}

/// A hostile row: from none to eight fields, joined with commas.
fn hostile_row() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(hostile_field(), 0..8).prop_map(|fields| fields.join(&b","[..]))
}

/// A good row: a March 2024 day, a known SKU and warehouse, positive units.
fn good_row() -> impl Strategy<Value = (u32, usize, u32)> {
    (1u32..=31, 0usize..2, 1u32..500)
}

#[derive(Debug, Clone)]
struct SalesFile {
    good: Vec<(u32, usize, u32)>,
    /// (position among the rows, row bytes)
    hostile: Vec<(usize, Vec<u8>)>,
    crlf: bool,
}

fn sales_file() -> impl Strategy<Value = SalesFile> {
    (
        prop::collection::vec(good_row(), 1..6),
        prop::collection::vec((0usize..8, hostile_row()), 0..6),
        any::<bool>(),
    )
        .prop_map(|(good, hostile, crlf)| SalesFile {
            good,
            hostile,
            crlf,
        })
}

const SKUS: [&str; 2] = ["S1", "S2"];

impl SalesFile {
    /// The file's bytes and the units each good key should hold (good keys may repeat: a
    /// repeated sales key is summed).
    fn render(&self) -> (Vec<u8>, BTreeMap<(String, String), i64>) {
        let newline: &[u8] = if self.crlf { b"\r\n" } else { b"\n" };
        let mut rows: Vec<Vec<u8>> = Vec::new();
        let mut expected: BTreeMap<(String, String), i64> = BTreeMap::new();
        for (day, sku, units) in &self.good {
            let date = format!("2024-03-{day:02}");
            rows.push(format!("{date},{},W1,{units},,", SKUS[*sku]).into_bytes());
            *expected.entry((date, SKUS[*sku].to_string())).or_default() += i64::from(*units);
        }
        for (position, row) in &self.hostile {
            let at = (*position).min(rows.len());
            rows.insert(at, row.clone());
        }
        let mut bytes = HEADER.as_bytes().to_vec();
        for row in rows {
            bytes.extend_from_slice(newline);
            bytes.extend_from_slice(&row);
        }
        bytes.extend_from_slice(newline);
        (bytes, expected)
    }
}

fn write_reference_tables(dir: &Path) {
    std::fs::write(
        dir.join("warehouses.csv"),
        "warehouse,region,capacity_units,capacity_m3\nW1,East,1000,500\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("products.csv"),
        "sku,category,unit_volume_m3,case_pack,unit_price\nS1,sofas,2.5,1,999\nS2,cushions,0.01,6,19.5\n",
    )
    .unwrap();
}

async fn stored_sales(url: &str) -> BTreeMap<(String, String), i64> {
    let store = common::open(url).await;
    let rows: Vec<(String, String, f64)> = stockcast::on_backend!(&store, pool => {
        sqlx::query_as(
            "SELECT CAST(date AS TEXT), sku, CAST(SUM(units) AS DOUBLE PRECISION) FROM sales \
             WHERE warehouse = 'W1' GROUP BY date, sku",
        )
        .fetch_all(pool)
        .await
        .expect("sales query")
    });
    store.close().await;
    rows.into_iter()
        .map(|(date, sku, units)| ((date, sku), units as i64))
        .collect()
}

async fn check(file: &SalesFile) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_reference_tables(&data);
    let (bytes, expected) = file.render();
    std::fs::write(data.join("sales.csv"), &bytes).unwrap();
    let url = common::sqlite_url(dir.path());
    let output = common::stockcast(&url)
        .args(["ingest", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    prop_assert!(!stderr.contains("panicked"), "{stderr}");
    let code = output.status.code();
    prop_assert!(
        code == Some(0) || code == Some(2),
        "exit {code:?}: {stderr}"
    );
    let stored = stored_sales(&url).await;
    if code == Some(0) {
        for (key, units) in &expected {
            let hostile_on_key = stored.get(key).copied();
            prop_assert_eq!(
                hostile_on_key,
                Some(*units),
                "good row {:?} not intact; stderr: {}",
                key,
                stderr
            );
        }
    } else {
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|line| line.starts_with("error"))
            .collect();
        prop_assert_eq!(errors.len(), 1, "{}", stderr);
        prop_assert!(errors[0].contains("sales.csv"), "{}", stderr);
        prop_assert!(stored.is_empty(), "a refused file loaded {stored:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_sales_file_loads_quarantines_or_fails_cleanly() {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::block_in_place(|| {
        runner.run(&sales_file(), |file| handle.block_on(check(&file)))
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}
