//! End-to-end tests of the generator on tiny configurations.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use chrono::NaiveDate;

use super::catalog::build_skus;
use super::*;

fn config(format: OutputFormat) -> GenerateConfig {
    GenerateConfig {
        skus: 60,
        warehouses: 4,
        days: 400,
        seed: 42,
        format,
        end_date: NaiveDate::from_ymd_opt(2025, 10, 31).unwrap(),
        truth_days: 30,
        latent_popularity: false,
    }
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// Data rows of a CSV file split on commas (none of the checked files have
/// quoted fields).
fn rows(dir: &Path, name: &str) -> Vec<Vec<String>> {
    read(dir, name)
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn header(dir: &Path, name: &str) -> String {
    read(dir, name).lines().next().unwrap().to_string()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

const FILES: [&str; 10] = [
    "warehouses",
    "products",
    "promotions",
    "sales",
    "inventory",
    "stock_levels",
    "poll_responses",
    "events",
    "truth/expected_demand",
    "truth/future_sales",
];

#[test]
fn rejects_bad_settings() {
    let ok = config(OutputFormat::Csv);
    assert!(validate(&ok).is_ok());
    for bad in [
        GenerateConfig {
            skus: 0,
            ..ok.clone()
        },
        GenerateConfig {
            warehouses: 0,
            ..ok.clone()
        },
        GenerateConfig {
            warehouses: 501,
            ..ok.clone()
        },
        GenerateConfig {
            days: 27,
            ..ok.clone()
        },
        GenerateConfig {
            truth_days: 401,
            latent_popularity: false,
            ..ok.clone()
        },
        GenerateConfig {
            skus: 1_000_000,
            warehouses: 500,
            days: 100,
            ..ok.clone()
        },
    ] {
        let err = validate(&bad).unwrap_err();
        assert!(matches!(err, GenerateError::Invalid(_)));
        assert!(err.to_string().starts_with("invalid generator setting: "));
    }
}

#[test]
fn csv_is_deterministic_and_matches_contract() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let cfg = config(OutputFormat::Csv);
    let sa = generate(&cfg, a.path()).unwrap();
    let sb = generate(&cfg, b.path()).unwrap();
    assert_eq!(sa.files.len(), 10);
    for (i, name) in FILES.iter().enumerate() {
        let file = format!("{name}.csv");
        assert_eq!(sa.files[i].0, a.path().join(&file));
        let bytes_a = std::fs::read(a.path().join(&file)).unwrap();
        let bytes_b = std::fs::read(b.path().join(&file)).unwrap();
        assert!(bytes_a == bytes_b, "{file} differs between runs");
        assert_eq!(sa.files[i].1, sb.files[i].1);
        let lines = bytes_a.iter().filter(|&&c| c == b'\n').count();
        assert_eq!(lines, sa.files[i].1 + 1, "{file} row count");
    }
    // A different seed gives different data.
    let c = tempfile::tempdir().unwrap();
    generate(
        &GenerateConfig {
            seed: 43,
            ..cfg.clone()
        },
        c.path(),
    )
    .unwrap();
    assert_ne!(read(a.path(), "sales.csv"), read(c.path(), "sales.csv"));

    let dir = a.path();
    assert_eq!(
        header(dir, "warehouses.csv"),
        "warehouse,region,capacity_units,capacity_m3"
    );
    assert_eq!(
        header(dir, "products.csv"),
        "sku,category,unit_volume_m3,case_pack,unit_price"
    );
    assert_eq!(
        header(dir, "promotions.csv"),
        "promo_id,name,start_date,end_date,discount_pct,sku,category,warehouse"
    );
    assert_eq!(
        header(dir, "sales.csv"),
        "date,sku,warehouse,units,price,promo_id"
    );
    assert_eq!(
        header(dir, "inventory.csv"),
        "sku,warehouse,on_hand,inbound,min_presentation"
    );
    assert_eq!(
        header(dir, "stock_levels.csv"),
        "date,sku,warehouse,on_hand"
    );
    assert_eq!(
        header(dir, "poll_responses.csv"),
        "responded_at,sku,category,interest,intends_to_buy"
    );
    assert_eq!(header(dir, "events.csv"), "date,event");
    assert_eq!(
        header(dir, "truth/expected_demand.csv"),
        "date,sku,warehouse,expected_units"
    );
    assert_eq!(
        header(dir, "truth/future_sales.csv"),
        "date,sku,warehouse,units"
    );
}

#[test]
fn csv_content_invariants() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = config(OutputFormat::Csv);
    generate(&cfg, dir).unwrap();
    let start = cfg.start_date();
    let end = cfg.end_date;
    let horizon_end = cfg.horizon_end();

    let products = rows(dir, "products.csv");
    assert_eq!(products.len(), cfg.skus);
    let known_skus: HashSet<String> = products.iter().map(|r| r[0].clone()).collect();
    let warehouses = rows(dir, "warehouses.csv");
    assert_eq!(warehouses.len(), cfg.warehouses);
    assert_eq!(warehouses[0][0], "WH01");
    assert_eq!(warehouses[0][1], "Northeast");
    let known_whs: HashSet<String> = warehouses.iter().map(|r| r[0].clone()).collect();
    for p in &products {
        let price: f64 = p[4].parse().unwrap();
        let volume: f64 = p[2].parse().unwrap();
        if p[1] == "sofas" {
            assert!((600.0..=2500.0).contains(&price) && volume >= 1.0);
        }
        assert!(price > 0.0 && volume > 0.0);
    }

    // Promotions extend 90 days past the last sales date.
    let promos = rows(dir, "promotions.csv");
    let promo_ids: HashSet<String> = promos.iter().map(|r| r[0].clone()).collect();
    let starts: Vec<NaiveDate> = promos.iter().map(|r| date(&r[2])).collect();
    assert!(starts.iter().any(|&d| d > end && d <= horizon_end));
    assert!(starts.iter().all(|&d| d <= horizon_end));
    assert!(promos.iter().all(|r| date(&r[3]) >= start));
    assert!(promos.iter().all(|r| {
        let d: u32 = r[4].parse().unwrap();
        (10..=50).contains(&d)
    }));

    // Sales: no zero rows, known ids, inside history, none before launch.
    let catalog = build_skus(cfg.seed, cfg.skus, cfg.warehouses, cfg.days);
    let launch: HashMap<&str, NaiveDate> = catalog
        .iter()
        .map(|s| {
            (
                s.id.as_str(),
                start + chrono::Duration::days(s.launch_day as i64),
            )
        })
        .collect();
    assert!(catalog.iter().any(|s| s.launch_day > 0));
    let sales = rows(dir, "sales.csv");
    assert!(!sales.is_empty());
    let mut total_units = 0u64;
    let mut promo_rows = 0;
    for r in &sales {
        let units: u64 = r[3].parse().unwrap();
        assert!(units > 0, "zero-unit sales row {r:?}");
        total_units += units;
        assert!(known_skus.contains(&r[1]), "unknown sku {}", r[1]);
        assert!(known_whs.contains(&r[2]));
        let d = date(&r[0]);
        assert!(d >= start && d <= end);
        assert!(d >= launch[r[1].as_str()], "sale before launch: {r:?}");
        if !r[5].is_empty() {
            assert!(promo_ids.contains(&r[5]));
            promo_rows += 1;
        }
    }
    assert!(promo_rows > 0);
    let cells = (cfg.skus * cfg.warehouses * cfg.days) as f64;
    let density = total_units as f64 / cells;
    assert!((0.05..1.0).contains(&density), "density {density}");

    // Inventory: one row per (sku, warehouse).
    let inventory = rows(dir, "inventory.csv");
    assert_eq!(inventory.len(), cfg.skus * cfg.warehouses);

    // Stock-outs exist and censor sales: on stock-out days sales never
    // exceed what was available (the day's on-hand ended at zero).
    let stock = rows(dir, "stock_levels.csv");
    assert!(stock.iter().any(|r| r[3] == "0"));
    for r in &stock {
        let d = date(&r[0]);
        assert!(d >= start && d <= end);
        assert!(d >= launch[r[1].as_str()]);
    }

    // Truth: every (date, sku, warehouse) in the truth window.
    let expected = rows(dir, "truth/expected_demand.csv");
    assert_eq!(
        expected.len(),
        cfg.skus * cfg.warehouses * (cfg.truth_days + FUTURE_DAYS)
    );
    let first_truth = end - chrono::Duration::days(cfg.truth_days as i64 - 1);
    assert!(expected.iter().all(|r| {
        let d = date(&r[0]);
        d >= first_truth && d <= horizon_end
    }));
    let future = rows(dir, "truth/future_sales.csv");
    assert!(!future.is_empty());
    assert!(future.iter().all(|r| {
        let d = date(&r[0]);
        d > end && d <= horizon_end && r[3].parse::<u32>().unwrap() > 0
    }));

    // Polls: exactly one subject per row, interest 1..=5.
    let polls = rows(dir, "poll_responses.csv");
    assert!(polls.iter().any(|r| !r[1].is_empty()));
    assert!(polls.iter().any(|r| !r[2].is_empty()));
    for r in &polls {
        assert!(r[1].is_empty() != r[2].is_empty());
        let i: u8 = r[3].parse().unwrap();
        assert!((1..=5).contains(&i));
        assert!(r[4] == "true" || r[4] == "false");
        assert_eq!(r[0].len(), 20);
        assert!(chrono::DateTime::parse_from_rfc3339(&r[0]).is_ok());
    }

    // Events cover the whole range including the future window.
    let events = rows(dir, "events.csv");
    assert!(events.iter().all(|r| {
        let d = date(&r[0]);
        d >= start && d <= horizon_end
    }));
    assert!(events.iter().any(|r| r[1] == "Black Friday"));
}

#[test]
fn parquet_matches_csv_row_counts() {
    use polars::prelude::*;
    let csv_dir = tempfile::tempdir().unwrap();
    let pq_dir = tempfile::tempdir().unwrap();
    let pq_dir2 = tempfile::tempdir().unwrap();
    let cfg = GenerateConfig {
        skus: 25,
        warehouses: 3,
        days: 60,
        truth_days: 10,
        latent_popularity: false,
        ..config(OutputFormat::Csv)
    };
    let c = generate(&cfg, csv_dir.path()).unwrap();
    let pcfg = GenerateConfig {
        format: OutputFormat::Parquet,
        ..cfg.clone()
    };
    let p = generate(&pcfg, pq_dir.path()).unwrap();
    generate(&pcfg, pq_dir2.path()).unwrap();
    for (i, name) in FILES.iter().enumerate() {
        assert_eq!(c.files[i].1, p.files[i].1, "{name}");
        let path = pq_dir.path().join(format!("{name}.parquet"));
        assert_eq!(p.files[i].0, path);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            bytes,
            std::fs::read(pq_dir2.path().join(format!("{name}.parquet"))).unwrap()
        );
        let df = ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .unwrap();
        assert_eq!(df.height(), p.files[i].1, "{name}");
        let csv_header = header(csv_dir.path(), &format!("{name}.csv"));
        let cols: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(cols.join(","), csv_header, "{name}");
    }
    let sales =
        ParquetReader::new(std::fs::File::open(pq_dir.path().join("sales.parquet")).unwrap())
            .finish()
            .unwrap();
    assert_eq!(sales.column("date").unwrap().dtype(), &DataType::Date);
    assert_eq!(sales.column("units").unwrap().dtype(), &DataType::Int64);
}

/// Every input file the generator writes has the contract's columns, in its order, and a
/// Parquet type that parses as the contract's kind.
#[test]
fn tables_agree_with_the_contract() {
    use crate::contract::{ColumnKind, Table};
    use polars::prelude::{DataType, TimeUnit, TimeZone};
    use tables::{
        EventRow, InventoryRow, PollRow, ProductRow, PromoRow, SalesRow, StockRow, TableDef,
        TableRow, WarehouseRow,
    };

    fn check<R: TableRow>(table: Table) {
        assert!(
            matches!(R::DEF, TableDef::Input(t) if *t == table),
            "{table}"
        );
        assert_eq!(R::DEF.path(), table.name());
        let names = tables::Names {
            epoch_day0: 0,
            dates: Vec::new(),
            skus: Vec::new(),
            warehouses: Vec::new(),
            promos: Vec::new(),
        };
        let schema = R::schema(&names).unwrap();
        let ours: Vec<&str> = schema.iter_names().map(|name| name.as_str()).collect();
        let theirs: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
        assert_eq!(ours, theirs, "{table}");
        for (column, dtype) in table.columns().iter().zip(schema.iter_values()) {
            let agrees = match column.kind {
                ColumnKind::Text => *dtype == DataType::String,
                ColumnKind::Date => *dtype == DataType::Date,
                ColumnKind::Timestamp => {
                    *dtype == DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
                }
                ColumnKind::Integer => *dtype == DataType::Int64,
                ColumnKind::Number => matches!(dtype, DataType::Int64 | DataType::Float64),
                ColumnKind::Bool => *dtype == DataType::Boolean,
            };
            assert!(
                agrees,
                "{table}.{}: {dtype} for {:?}",
                column.name, column.kind
            );
        }
    }
    check::<WarehouseRow>(Table::Warehouses);
    check::<ProductRow>(Table::Products);
    check::<PromoRow>(Table::Promotions);
    check::<InventoryRow>(Table::Inventory);
    check::<StockRow>(Table::StockLevels);
    check::<SalesRow>(Table::Sales);
    check::<PollRow>(Table::PollResponses);
    check::<EventRow>(Table::Events);
}

#[test]
fn smallest_config_works() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = GenerateConfig {
        skus: 1,
        warehouses: 1,
        days: MIN_DAYS,
        truth_days: 0,
        latent_popularity: false,
        ..config(OutputFormat::Csv)
    };
    let summary = generate(&cfg, tmp.path()).unwrap();
    let counts: HashMap<String, usize> = summary
        .files
        .iter()
        .map(|(p, n)| (p.file_name().unwrap().to_string_lossy().to_string(), *n))
        .collect();
    assert_eq!(counts["warehouses.csv"], 1);
    assert_eq!(counts["products.csv"], 1);
    assert_eq!(counts["inventory.csv"], 1);
    assert_eq!(counts["expected_demand.csv"], FUTURE_DAYS);
    assert!(counts["promotions.csv"] > 0);
}
