//! Overlapping promotions planned together, one plan in force, and one set of figures: a
//! nightly-style job and `allocate` on a small hand-made dataset, read back through every
//! reader (`allocation list/show/diff`, `report allocation`, `GET /v1/allocations`), on SQLite
//! and PostgreSQL. The forecast is written by hand, so every number is deterministic.

mod common;
mod reserve_support;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Duration, NaiveDate, Utc};
use serde_json::Value;
use stockcast::allocation::in_force::{load_published, resolve, Standing};
use stockcast::allocation::runs::{
    figures_line, find_run, run_targets, warehouse_figures, RunSummary,
};
use stockcast::keys::Role;
use stockcast::serve::ServeConfig;
use stockcast::store::Store;

const AS_OF: &str = "2026-10-31";

/// Capacities: W2 is nearly full (37 of 45 units), so the two promotions compete for it.
const WAREHOUSES: &str = "warehouse,region,capacity_units,capacity_m3\n\
W1,north,70,\nW2,north,45,\nW3,south,60,\n";
const PRODUCTS: &str = "sku,category,unit_volume_m3,case_pack,unit_price\n\
SOFA,sofas,,1,500\nLAMP,lamps,,1,40\nRUG,rugs,,1,120\n";
const INVENTORY: &str = "sku,warehouse,on_hand,inbound,min_presentation\n\
SOFA,W1,30,0,0\nSOFA,W2,2,0,0\nSOFA,W3,6,10,0\n\
LAMP,W1,25,0,0\nLAMP,W2,20,0,0\nLAMP,W3,3,8,0\n\
RUG,W1,5,0,0\nRUG,W2,15,0,0\nRUG,W3,10,0,0\n";
/// P1 (store-wide) and P2 (lamps) overlap on 11-10 … 11-12; P3 is weeks later.
const PROMOTIONS: &str = "promo_id,name,start_date,end_date,discount_pct,sku,category,warehouse\n\
P1,Sofa days,2026-11-05,2026-11-12,20,,,\n\
P2,Lamp week,2026-11-10,2026-11-16,30,,lamps,\n\
P3,Winter,2026-12-20,2026-12-24,15,,,\n";

/// Daily mean demand per cell of the hand-made forecast.
const MEANS: [(&str, &str, f64); 9] = [
    ("SOFA", "W1", 1.0),
    ("SOFA", "W2", 3.0),
    ("SOFA", "W3", 2.0),
    ("LAMP", "W1", 0.5),
    ("LAMP", "W2", 2.0),
    ("LAMP", "W3", 4.0),
    ("RUG", "W1", 0.8),
    ("RUG", "W2", 0.8),
    ("RUG", "W3", 0.8),
];

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

/// Sales: October history, and last year's P1 window, where SOFA@W2 sold 2 units (a base too
/// small for a growth figure) and LAMP@W3 sold 40.
fn sales_csv() -> String {
    let mut out = String::from("date,sku,warehouse,units\n");
    let mut day = date("2026-10-01");
    while day <= date(AS_OF) {
        out.push_str(&format!("{day},LAMP,W3,3\n{day},SOFA,W2,2\n"));
        day += Duration::days(1);
    }
    let last_year = date("2026-11-05") - Duration::days(364);
    out.push_str(&format!("{last_year},SOFA,W2,2\n"));
    for offset in 0..8 {
        out.push_str(&format!(
            "{},LAMP,W3,5\n",
            last_year + Duration::days(offset)
        ));
    }
    out
}

/// (date, sku, warehouse, mean, p10, p90) for 2026-11-01 … 2026-12-31.
fn forecast_rows() -> Vec<(NaiveDate, &'static str, &'static str, f64, f64, f64)> {
    let mut rows = Vec::new();
    let mut day = date("2026-11-01");
    while day <= date("2026-12-31") {
        for (sku, warehouse, mean) in MEANS {
            rows.push((day, sku, warehouse, mean, 0.5 * mean, 1.8 * mean));
        }
        day += Duration::days(1);
    }
    rows
}

fn write_inputs(dir: &Path) {
    let data = dir.join("data");
    common::write(&data, "warehouses.csv", WAREHOUSES);
    common::write(&data, "products.csv", PRODUCTS);
    common::write(&data, "inventory.csv", INVENTORY);
    common::write(&data, "promotions.csv", PROMOTIONS);
    common::write(&data, "sales.csv", sales_csv());
    let mut forecast = String::from("date,sku,warehouse,mean,p10,p90\n");
    for (day, sku, warehouse, mean, p10, p90) in forecast_rows() {
        forecast.push_str(&format!("{day},{sku},{warehouse},{mean},{p10},{p90}\n"));
    }
    common::write(dir, "forecast.csv", forecast);
    common::write(
        &dir.join("jobs"),
        "plan.toml",
        "name = \"plan\"\nschedule = \"0 30 2 * * *\"\ndata_dir = \"data\"\n\
         steps = [\"allocate\", \"report\"]\n\n[allocate]\nlookahead_days = 60\n",
    );
}

/// The same forecast as a complete run in the store, as `forecast --from-db` leaves it.
async fn store_forecast(store: &Store) {
    let now = Utc::now();
    let rows = forecast_rows();
    stockcast::on_backend!(store, pool => {
        sqlx::query("INSERT INTO model_runs (id, created_at, as_of, freq, horizon, training_start, training_end, data_fingerprint, crate_version, artifact_path, summary) \
                     VALUES ('mdl-hand', $1, $2, 'day', 61, $2, $2, 'x', 'x', 'none', 'hand-made')")
            .bind(now).bind(date(AS_OF)).execute(pool).await.unwrap();
        sqlx::query("INSERT INTO forecast_runs (id, model_id, created_at, as_of, freq, horizon, status, rows) \
                     VALUES ('fc-hand', 'mdl-hand', $1, $2, 'day', 61, 'complete', $3)")
            .bind(now).bind(date(AS_OF)).bind(rows.len() as i64).execute(pool).await.unwrap();
        for (day, sku, warehouse, mean, p10, p90) in &rows {
            sqlx::query("INSERT INTO forecasts (run_id, sku, warehouse, date, mean, p10, p50, p90) VALUES ('fc-hand', $1, $2, $3, $4, $5, $4, $6)")
                .bind(*sku).bind(*warehouse).bind(*day).bind(*mean).bind(*p10).bind(*p90)
                .execute(pool).await.unwrap();
        }
    });
}

fn stdout(url: &str, dir: &Path, args: &[&str]) -> String {
    let assert = common::stockcast(url)
        .current_dir(dir)
        .args(args)
        .assert()
        .success();
    String::from_utf8_lossy(&assert.get_output().stdout).to_string()
}

fn json(url: &str, dir: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&stdout(url, dir, args)).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(1.0)
}

/// The stored run figures agree with the stored rows they sum (transfers, inbound
/// placements, per-warehouse rows), and a warehouse's change is only what moves carry out.
async fn assert_figures_are_consistent(store: &Store, run: &RunSummary) {
    let figures = run.figures.as_ref().expect("figures stored with the run");
    let transfers: Vec<(String, String, String, i64)> = stockcast::on_backend!(store, pool => {
        sqlx::query_as("SELECT sku, from_warehouse, to_warehouse, units FROM allocation_transfers WHERE run_id = $1")
            .bind(&run.id).fetch_all(pool).await.unwrap()
    });
    let between: i64 = transfers
        .iter()
        .filter(|t| t.1 != "inbound")
        .map(|t| t.3)
        .sum();
    let inbound: i64 = transfers
        .iter()
        .filter(|t| t.1 == "inbound")
        .map(|t| t.3)
        .sum();
    assert_eq!(
        figures.units_to_move, between,
        "to move = transfers between warehouses"
    );
    assert_eq!(
        figures.units_from_inbound, inbound,
        "from inbound = inbound placements"
    );
    let rows = warehouse_figures(store, &run.id).await.unwrap();
    assert!(!rows.is_empty());
    for row in &rows {
        let moved_in: i64 = transfers
            .iter()
            .filter(|t| t.2 == row.warehouse)
            .map(|t| t.3)
            .sum();
        let moved_out: i64 = transfers
            .iter()
            .filter(|t| t.1 == row.warehouse)
            .map(|t| t.3)
            .sum();
        assert_eq!(
            row.change_units,
            moved_in - moved_out,
            "{}: a change is only what transfers and inbound carry out",
            row.warehouse
        );
        assert_eq!(
            row.current_units + row.change_units - row.target_units,
            row.untargeted_units,
            "{}: stock left in place is what no transfer moves",
            row.warehouse
        );
    }
    let targets = run_targets(store, &run.id).await.unwrap();
    assert_eq!(
        figures.units_placed,
        targets.iter().map(|t| t.target_units).sum::<i64>()
    );
    let sales: f64 = rows.iter().map(|r| r.expected_sales_units).sum();
    let demand: f64 = rows.iter().map(|r| r.expected_demand_units).sum();
    assert!(close(figures.fill_rate.unwrap(), sales / demand));
    assert!(
        figures.fill_rate.unwrap() <= 1.0,
        "fill rate never above 100%"
    );
}

/// The joint plan stays within stock (on hand + inbound per SKU) and unit capacity.
async fn assert_within_stock_and_capacity(store: &Store, run_id: &str) {
    let targets = run_targets(store, run_id).await.unwrap();
    let mut per_sku: BTreeMap<String, i64> = BTreeMap::new();
    let mut per_warehouse: BTreeMap<String, i64> = BTreeMap::new();
    for t in &targets {
        *per_sku.entry(t.sku.clone()).or_default() += t.target_units;
        *per_warehouse.entry(t.warehouse.clone()).or_default() += t.target_units;
    }
    let stock: Vec<(String, i64)> = stockcast::on_backend!(store, pool => {
        sqlx::query_as("SELECT sku, CAST(SUM(on_hand + inbound) AS BIGINT) FROM inventory GROUP BY sku")
            .fetch_all(pool).await.unwrap()
    });
    for (sku, available) in stock {
        assert!(
            per_sku.get(&sku).copied().unwrap_or(0) <= available,
            "{sku}: targets {per_sku:?} exceed the {available} units there are"
        );
    }
    for (warehouse, capacity) in [("W1", 70), ("W2", 45), ("W3", 60)] {
        assert!(
            per_warehouse.get(warehouse).copied().unwrap_or(0) <= capacity,
            "{warehouse}: {per_warehouse:?} over capacity {capacity}"
        );
    }
    assert_eq!(
        per_warehouse.get("W2").copied(),
        Some(45),
        "W2's capacity binds: both promotions want it, and the joint plan fills it exactly"
    );
}

/// What every reader says is in force.
async fn assert_readers_agree(url: &str, dir: &Path, store: &Store, in_force: &str) {
    let list = stdout(url, dir, &["allocation", "list"]);
    assert!(list.contains(&format!("in force: {in_force}")), "{list}");
    let show = stdout(url, dir, &["allocation", "show", "latest"]);
    assert!(show.starts_with(in_force), "{show}");
    let report = json(url, dir, &["report", "allocation", "--format", "json"]);
    assert_eq!(report["run"]["id"], in_force);
    assert_eq!(report["run"]["standing"], "in force");
    let app = reserve_support::spawn_app(store.clone(), ServeConfig::default()).await;
    let page: Value = app
        .get(Role::Merchandiser, "/v1/allocations?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["run"]["id"], in_force);
    assert_eq!(page["run"]["standing"], "in force");
    let served: Vec<(String, String, i64)> = page["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["sku"].as_str().unwrap().to_string(),
                t["warehouse"].as_str().unwrap().to_string(),
                t["target_units"].as_i64().unwrap(),
            )
        })
        .collect();
    let stored: Vec<(String, String, i64)> = run_targets(store, in_force)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.sku, t.warehouse, t.target_units))
        .collect();
    assert_eq!(
        served, stored,
        "HTTP serves the in-force run's targets, one per cell"
    );
    for (promotion, expected) in [("P1", in_force), ("P2", in_force)] {
        let page: Value = app
            .get(
                Role::Merchandiser,
                &format!("/v1/allocations?promotion={promotion}"),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["run"]["id"], expected, "?promotion={promotion}");
    }
    app.stop().await;
}

/// Runs the whole scenario; returns the in-force run's promotions and targets, to compare
/// across backends.
async fn scenario(url: &str, dir: &Path) -> (Vec<String>, Vec<(String, String, i64)>) {
    write_inputs(dir);
    stdout(url, dir, &["ingest", "--data", "data"]);
    let store = common::open(url).await;
    store_forecast(&store).await;

    // A nightly-style run: allocate every upcoming promotion, then write the summary.
    stdout(
        url,
        dir,
        &[
            "jobs",
            "--jobs-dir",
            "jobs",
            "run",
            "plan",
            "--as-of",
            AS_OF,
        ],
    );
    let published = load_published(&store, None).await.unwrap();
    assert_eq!(
        published.len(),
        2,
        "one run per group of overlapping promotions"
    );
    let resolution = resolve(&published);
    let joint = published
        .iter()
        .find(|r| r.promotions == ["P1", "P2"])
        .expect("P1 and P2 overlap and are planned together in one run");
    let later = published
        .iter()
        .find(|r| r.promotions == ["P3"])
        .expect("P3 has a run of its own");
    assert_eq!(resolution.in_force.as_deref(), Some(joint.id.as_str()));
    assert_eq!(resolution.standings[&later.id], Standing::Scheduled);
    assert_eq!(joint.window_start, Some(date("2026-11-05")));
    assert_eq!(joint.window_end, Some(date("2026-11-16")));

    // The summary's lines are the stored figures, word for word.
    let summary = std::fs::read_to_string(dir.join("reports/plan-2026-10-31.txt")).unwrap();
    for run in [&joint.id, &later.id] {
        let run = find_run(&store, run).await.unwrap();
        assert!(
            summary.contains(&figures_line(&run)),
            "summary:\n{summary}\nexpected: {}",
            figures_line(&run)
        );
        assert_figures_are_consistent(&store, &run).await;
    }
    assert_within_stock_and_capacity(&store, &joint.id).await;
    assert_readers_agree(url, dir, &store, &joint.id).await;
    let show_p3 = stdout(
        url,
        dir,
        &["allocation", "show", "latest", "--promotion", "P3"],
    );
    assert!(show_p3.starts_with(&later.id), "{show_p3}");

    // `report allocation` prints the stored figures.
    let stored = find_run(&store, &joint.id).await.unwrap();
    let figures = stored.figures.clone().unwrap();
    let report = json(url, dir, &["report", "allocation", "--format", "json"]);
    assert!(close(
        report["fill_rate"].as_f64().unwrap(),
        figures.fill_rate.unwrap()
    ));
    assert_eq!(report["transfer_units_total"], figures.units_to_move);
    assert_eq!(report["transfers_total"], figures.transfers);
    assert_eq!(
        report["from_inbound_units_total"],
        figures.units_from_inbound
    );
    let by_warehouse: BTreeMap<String, (f64, Option<f64>)> = warehouse_figures(&store, &joint.id)
        .await
        .unwrap()
        .into_iter()
        .map(|w| (w.warehouse, (w.change_units as f64, w.fill_rate)))
        .collect();
    for row in report["warehouses"].as_array().unwrap() {
        let (change, fill) = &by_warehouse[row["warehouse"].as_str().unwrap()];
        assert_eq!(row["change_units"].as_f64().unwrap(), *change);
        assert!(close(row["fill_rate"].as_f64().unwrap(), fill.unwrap()));
    }

    // `allocate` for either promotion plans the whole group again, prints the stored
    // figures, and supersedes the nightly's joint run.
    let out = stdout(
        url,
        dir,
        &[
            "allocate",
            "--as-of",
            AS_OF,
            "--promotion",
            "P2",
            "--forecast",
            "forecast.csv",
        ],
    );
    assert!(out.contains("planned together"), "{out}");
    let published = load_published(&store, None).await.unwrap();
    let rerun = published
        .iter()
        .find(|r| r.promotions == ["P1", "P2"] && r.id != joint.id)
        .expect("a new run for P1 and P2");
    let rerun_summary = find_run(&store, &rerun.id).await.unwrap();
    assert!(out.contains(&figures_line(&rerun_summary)), "{out}");
    let resolution = resolve(&published);
    assert_eq!(resolution.in_force.as_deref(), Some(rerun.id.as_str()));
    assert_eq!(
        resolution.standings[&joint.id],
        Standing::Superseded {
            by: rerun.id.clone()
        }
    );
    assert_readers_agree(url, dir, &store, &rerun.id).await;
    let targets = |id: String| {
        let store = store.clone();
        async move {
            run_targets(&store, &id)
                .await
                .unwrap()
                .into_iter()
                .map(|t| (t.sku, t.warehouse, t.target_units))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        targets(rerun.id.clone()).await,
        targets(joint.id.clone()).await,
        "the same inputs give the same plan, from the store's forecast or the file"
    );

    // diff compares like with like, and says so when it cannot.
    let same = stdout(url, dir, &["allocation", "diff", &joint.id, &rerun.id]);
    assert!(same.contains("both runs plan P1, P2"), "{same}");
    assert!(same.contains("0 target(s) differ"), "{same}");
    let different = stdout(url, dir, &["allocation", "diff", &rerun.id, &later.id]);
    assert!(
        different.contains("warning: the runs plan different promotions"),
        "{different}"
    );
    let report = json(
        url,
        dir,
        &[
            "report",
            "allocation",
            "--promotion",
            "P3",
            "--diff",
            "--format",
            "json",
        ],
    );
    assert_eq!(report["run"]["id"], later.id.as_str());
    assert!(
        report["diff_note"]
            .as_str()
            .unwrap()
            .contains("same promotions"),
        "P3's run is not compared with P1 and P2's: {report}"
    );

    // Growth against a base of 2 units is not a finding.
    let table = stdout(
        url,
        dir,
        &["report", "forecast", "--promotion", "P1", "--top", "0"],
    );
    let line = |sku: &str, warehouse: &str| {
        table
            .lines()
            .find(|l| l.contains(sku) && l.contains(&format!(" {warehouse} ")))
            .unwrap_or_else(|| panic!("{sku}@{warehouse} in\n{table}"))
            .to_string()
    };
    // The cell wraps in the 100-column table ("n/a (small" / "base)"); CSV says "n/a".
    assert!(line("SOFA", "W2").contains("n/a (small"), "{table}");
    let csv = stdout(
        url,
        dir,
        &[
            "report",
            "forecast",
            "--promotion",
            "P1",
            "--top",
            "0",
            "--format",
            "csv",
        ],
    );
    assert!(
        csv.lines()
            .any(|l| l.starts_with("SOFA,W2,") && l.ends_with(",n/a")),
        "{csv}"
    );
    let lamp = line("LAMP", "W3");
    assert!(
        lamp.contains('%') && !lamp.contains("n/a"),
        "40 units last year is base enough: {lamp}"
    );

    let result = (
        rerun_summary.promotions.clone(),
        targets(rerun.id.clone()).await,
    );
    store.close().await;
    result
}

#[tokio::test(flavor = "multi_thread")]
async fn overlapping_promotions_have_one_plan_in_force_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let (promotions, targets) = scenario(&common::sqlite_url(dir.path()), dir.path()).await;
    assert_eq!(promotions, ["P1", "P2"]);
    assert_eq!(targets.len(), 9, "one target per cell");
}

#[tokio::test(flavor = "multi_thread")]
async fn overlapping_promotions_have_one_plan_in_force_on_postgres() {
    let Some(admin) =
        common::postgres_admin_url("overlapping_promotions_have_one_plan_in_force_on_postgres")
    else {
        return;
    };
    let scratch = common::scratch_postgres(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let on_postgres = scenario(&scratch.url, dir.path()).await;
    scratch.drop_database().await.unwrap();
    let sqlite_dir = tempfile::tempdir().unwrap();
    let on_sqlite = scenario(&common::sqlite_url(sqlite_dir.path()), sqlite_dir.path()).await;
    assert_eq!(
        on_postgres, on_sqlite,
        "the plan in force is the same on PostgreSQL and SQLite"
    );
}
