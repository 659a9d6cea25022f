//! `report accuracy`: how good recent forecasts were once the sales came in (realised WAPE,
//! bias and p10–p90 coverage by category and horizon, beside seasonal naive: the same
//! SKU × warehouse 364 days earlier), the trend over the last runs, and the backtest metrics
//! saved with the latest model when there are any.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{Duration, NaiveDate};

use super::lookup::{forecast_runs, last_sales_date, RunRef};
use super::query::{Bind, Sql};
use super::view::{column, Chart, ReportView, Section, Value};
use super::{Filters, ReportError};
use crate::calendar::LAST_YEAR_DAYS;
use crate::report_fetch;
use crate::store::Store;

/// Runs whose realised accuracy is shown (the trend), newest first.
pub const ACCURACY_RUNS: usize = 5;
/// Realised days scored per run at most.
pub const MAX_REALISED_DAYS: i64 = 92;
/// Connections the realised-accuracy scoring is spread over.
const SCORING_CONNECTIONS: usize = 4;

/// Sums over forecast rows of one category and day.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Sums {
    pub points: i64,
    pub forecast: f64,
    pub actual: f64,
    pub abs_error: f64,
    pub naive: f64,
    pub naive_abs_error: f64,
    pub covered: i64,
}

impl Sums {
    fn add(&mut self, other: &Sums) {
        self.points += other.points;
        self.forecast += other.forecast;
        self.actual += other.actual;
        self.abs_error += other.abs_error;
        self.naive += other.naive;
        self.naive_abs_error += other.naive_abs_error;
        self.covered += other.covered;
    }

    pub fn wape(&self) -> Option<f64> {
        (self.actual > 0.0).then(|| self.abs_error / self.actual)
    }

    pub fn naive_wape(&self) -> Option<f64> {
        (self.actual > 0.0).then(|| self.naive_abs_error / self.actual)
    }

    pub fn bias(&self) -> Option<f64> {
        (self.actual > 0.0).then(|| self.forecast / self.actual - 1.0)
    }

    pub fn coverage(&self) -> Option<f64> {
        (self.points > 0).then(|| self.covered as f64 / self.points as f64)
    }
}

#[derive(Debug, Clone)]
pub struct RealisedRun {
    pub run: RunRef,
    /// (category, date) → sums.
    pub cells: Vec<(String, NaiveDate, Sums)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BacktestLine {
    pub scope: String,
    pub method: String,
    pub wape: Option<f64>,
    pub bias: Option<f64>,
    pub coverage_p10_p90: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct AccuracyInput {
    pub last_sales: Option<NaiveDate>,
    pub runs: Vec<RealisedRun>,
    pub backtest: Option<(String, Vec<BacktestLine>)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AccuracyRow {
    pub category: String,
    pub horizon: String,
    pub points: i64,
    pub actual_units: f64,
    pub wape: Option<f64>,
    pub naive_wape: Option<f64>,
    pub bias: Option<f64>,
    pub coverage_p10_p90: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TrendRow {
    pub run: String,
    pub as_of: NaiveDate,
    pub realised_days: usize,
    pub wape: Option<f64>,
    pub naive_wape: Option<f64>,
    pub bias: Option<f64>,
    pub coverage_p10_p90: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AccuracyReport {
    pub last_sales_date: Option<NaiveDate>,
    pub latest_run: String,
    pub rows: Vec<AccuracyRow>,
    pub trend: Vec<TrendRow>,
    pub backtest_model: Option<String>,
    pub backtest: Vec<BacktestLine>,
}

pub fn horizon_band(days_ahead: i64) -> &'static str {
    match days_ahead {
        ..=7 => "1–7 days",
        8..=14 => "8–14 days",
        15..=28 => "15–28 days",
        _ => "29+ days",
    }
}

async fn realised(
    store: &Store,
    run: &RunRef,
    last_sales: NaiveDate,
    filters: &Filters,
) -> Result<Vec<(String, NaiveDate, Sums)>, ReportError> {
    let first = run.first_date();
    let to = run
        .last_date()
        .min(last_sales)
        .min(first + Duration::days(MAX_REALISED_DAYS - 1));
    if to < first {
        return Ok(Vec::new());
    }
    // Scoring is one sales lookup pair per forecast row (560k rows on the 2000 × 10 bench),
    // CPU-bound inside the database: SKU ranges (the run's key order, so each range is an
    // index range) are scored on separate connections at once so every core works.
    let bounds = sku_bounds(store, SCORING_CONNECTIONS).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..=bounds.len() {
        let from_sku = index.checked_sub(1).map(|i| bounds[i].clone());
        let until_sku = bounds.get(index).cloned();
        let (store, run_id, filters) = (store.clone(), run.id.clone(), filters.clone());
        tasks.spawn(async move {
            let skus = (from_sku.as_deref(), until_sku.as_deref());
            (
                index,
                realised_range(&store, &run_id, (first, to), skus, &filters).await,
            )
        });
    }
    let mut parts = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        // A scoring task only fails by panicking; that panic is the caller's.
        let (index, cells) = joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        parts.push((index, cells?));
    }
    // In range order, so the float sums do not depend on which task finished first.
    parts.sort_by_key(|(index, _)| *index);
    let mut merged: BTreeMap<(String, NaiveDate), Sums> = BTreeMap::new();
    for (category, date, sums) in parts.into_iter().flat_map(|(_, cells)| cells) {
        merged.entry((category, date)).or_default().add(&sums);
    }
    Ok(merged
        .into_iter()
        .map(|((category, date), sums)| (category, date, sums))
        .collect())
}

/// SKUs that split the catalogue into `parts` ranges of about equal size (ascending).
async fn sku_bounds(store: &Store, parts: usize) -> Result<Vec<String>, ReportError> {
    let skus: Vec<(String,)> = report_fetch!(
        store,
        Sql::new("SELECT sku FROM products ORDER BY sku"),
        (String,)
    );
    Ok((1..parts)
        .filter_map(|part| {
            skus.get(part * skus.len() / parts)
                .map(|(sku,)| sku.clone())
        })
        .collect())
}

/// Realised sums per category and day over `[first, to]` for the SKUs in
/// `[from_sku, until_sku)` (an open end is unbounded) of one run.
async fn realised_range(
    store: &Store,
    run_id: &str,
    (first, to): (NaiveDate, NaiveDate),
    (from_sku, until_sku): (Option<&str>, Option<&str>),
    filters: &Filters,
) -> Result<Vec<(String, NaiveDate, Sums)>, ReportError> {
    // The same day last year is computed per row (the one backend-specific expression here):
    // joining a list of (day, day − 364) pairs instead costs a comparison per pair per row.
    let last_year = store.backend().date_minus_days("f.date", LAST_YEAR_DAYS);
    // `x` is materialised so each row's two sales lookups run once (a flattened subquery
    // re-evaluates them in every aggregate that names them).
    let mut sql = Sql::new(&format!(
        "WITH x AS MATERIALIZED (SELECT f.sku, f.date, f.mean, f.p10, f.p90, \
         COALESCE((SELECT SUM(s.units) FROM sales_in_force s WHERE s.sku = f.sku AND s.warehouse = f.warehouse AND s.date = f.date), 0.0) AS actual, \
         COALESCE((SELECT SUM(s.units) FROM sales_in_force s WHERE s.sku = f.sku AND s.warehouse = f.warehouse AND s.date = {last_year}), 0.0) AS naive \
         FROM forecasts f WHERE "
    ));
    sql.clause(
        "f.run_id = ? AND f.date >= ? AND f.date <= ?",
        vec![
            Bind::Text(run_id.to_string()),
            Bind::Date(first),
            Bind::Date(to),
        ],
    );
    if let Some(sku) = from_sku {
        sql.clause(" AND f.sku >= ?", vec![Bind::Text(sku.to_string())]);
    }
    if let Some(sku) = until_sku {
        sql.clause(" AND f.sku < ?", vec![Bind::Text(sku.to_string())]);
    }
    filters.restrict(&mut sql, "f");
    sql.push(
        ") SELECT p.category, x.date, COUNT(*), SUM(x.mean), SUM(x.actual), \
         SUM(ABS(x.mean - x.actual)), SUM(x.naive), SUM(ABS(x.naive - x.actual)), \
         SUM(CASE WHEN x.actual >= x.p10 AND x.actual <= x.p90 THEN 1 ELSE 0 END) \
         FROM x JOIN products p ON p.sku = x.sku GROUP BY p.category, x.date",
    );
    type Row = (String, NaiveDate, i64, f64, f64, f64, f64, f64, i64);
    Ok(report_fetch!(store, sql, Row)
        .into_iter()
        .map(
            |(
                category,
                date,
                points,
                forecast,
                actual,
                abs_error,
                naive,
                naive_abs_error,
                covered,
            )| {
                (
                    category,
                    date,
                    Sums {
                        points,
                        forecast,
                        actual,
                        abs_error,
                        naive,
                        naive_abs_error,
                        covered,
                    },
                )
            },
        )
        .collect())
}

/// Backtest rows saved in the latest model's artifact, if it has any.
async fn saved_backtest(
    store: &Store,
    model_id: &str,
) -> Result<Option<(String, Vec<BacktestLine>)>, ReportError> {
    let mut sql = Sql::new("SELECT artifact_path FROM model_runs WHERE ");
    sql.clause("id = ?", vec![Bind::Text(model_id.to_string())]);
    let Some((path,)) = report_fetch!(store, sql, (String,)).into_iter().next() else {
        return Ok(None);
    };
    let path = PathBuf::from(path);
    // A missing or unreadable artifact only loses this section, not the report.
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let Ok(artifact) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(None);
    };
    let Some(rows) = artifact
        .get("backtest")
        .and_then(|b| b.get("rows"))
        .and_then(|r| r.as_array())
    else {
        return Ok(None);
    };
    let lines = rows
        .iter()
        .map(|row| BacktestLine {
            scope: row
                .get("scope")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string(),
            method: row
                .get("method")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string(),
            wape: row.get("wape").and_then(|v| v.as_f64()),
            bias: row.get("bias").and_then(|v| v.as_f64()),
            coverage_p10_p90: row.get("coverage_p10_p90").and_then(|v| v.as_f64()),
        })
        .collect();
    Ok(Some((model_id.to_string(), lines)))
}

pub async fn load(store: &Store, filters: &Filters) -> Result<AccuracyInput, ReportError> {
    let last_sales = last_sales_date(store).await?;
    let candidates = forecast_runs(store, filters.as_of, 50).await?;
    let latest_model = candidates.first().map(|run| run.model_id.clone());
    let mut runs = Vec::new();
    if let Some(last_sales) = last_sales {
        for run in candidates.into_iter().filter(|run| run.as_of < last_sales) {
            if runs.len() == ACCURACY_RUNS {
                break;
            }
            let cells = realised(store, &run, last_sales, filters).await?;
            runs.push(RealisedRun { run, cells });
        }
    }
    let backtest = match latest_model {
        Some(model) => saved_backtest(store, &model).await?,
        None => None,
    };
    Ok(AccuracyInput {
        last_sales,
        runs,
        backtest,
    })
}

pub fn build(input: &AccuracyInput, filters: &Filters) -> Result<AccuracyReport, ReportError> {
    let scored: Vec<&RealisedRun> = input.runs.iter().filter(|r| !r.cells.is_empty()).collect();
    let Some(latest) = scored.first() else {
        return Err(ReportError::Empty(format!(
            "no forecast run has realised sales yet (last sales date {}){}",
            input
                .last_sales
                .map_or("none".to_string(), |d| d.to_string()),
            filters.describe_suffix()
        )));
    };
    // Category × horizon band for the latest scored run, then "all" per band.
    let mut bands: BTreeMap<(String, &'static str), Sums> = BTreeMap::new();
    for (category, date, sums) in &latest.cells {
        let band = horizon_band((*date - latest.run.as_of).num_days());
        bands.entry((category.clone(), band)).or_default().add(sums);
        bands
            .entry(("(all)".to_string(), band))
            .or_default()
            .add(sums);
    }
    let band_order = |band: &str| {
        ["1–7 days", "8–14 days", "15–28 days", "29+ days"]
            .iter()
            .position(|b| *b == band)
            .unwrap_or(9)
    };
    let mut keys: Vec<(String, &'static str)> = bands.keys().cloned().collect();
    keys.sort_by(|a, b| {
        (a.0 != "(all)")
            .cmp(&(b.0 != "(all)"))
            .then_with(|| a.0.cmp(&b.0))
            .then_with(|| band_order(a.1).cmp(&band_order(b.1)))
    });
    let rows = keys
        .into_iter()
        .map(|key| {
            let sums = &bands[&key];
            AccuracyRow {
                category: key.0.clone(),
                horizon: key.1.to_string(),
                points: sums.points,
                actual_units: sums.actual,
                wape: sums.wape(),
                naive_wape: sums.naive_wape(),
                bias: sums.bias(),
                coverage_p10_p90: sums.coverage(),
            }
        })
        .collect();
    let trend = scored
        .iter()
        .map(|realised| {
            let mut total = Sums::default();
            let mut days: Vec<NaiveDate> = Vec::new();
            for (_, date, sums) in &realised.cells {
                total.add(sums);
                days.push(*date);
            }
            days.sort();
            days.dedup();
            TrendRow {
                run: realised.run.id.clone(),
                as_of: realised.run.as_of,
                realised_days: days.len(),
                wape: total.wape(),
                naive_wape: total.naive_wape(),
                bias: total.bias(),
                coverage_p10_p90: total.coverage(),
            }
        })
        .collect();
    let (backtest_model, backtest) = match &input.backtest {
        Some((model, lines)) => (
            Some(model.clone()),
            lines
                .iter()
                .filter(|line| {
                    filters
                        .category
                        .as_deref()
                        .is_none_or(|c| line.scope == c || line.scope == "all")
                })
                .cloned()
                .collect(),
        ),
        None => (None, Vec::new()),
    };
    Ok(AccuracyReport {
        last_sales_date: input.last_sales,
        latest_run: latest.run.id.clone(),
        rows,
        trend,
        backtest_model,
        backtest,
    })
}

impl AccuracyReport {
    pub fn view(&self) -> ReportView {
        let mut view = ReportView::new("Forecast accuracy");
        view.context.push(format!(
            "Realised accuracy of run {} against sales up to {}; seasonal naive = same SKU × warehouse 364 days earlier",
            self.latest_run,
            self.last_sales_date.map_or("–".to_string(), |d| d.to_string())
        ));
        let mut section = Section::new(
            "Realised accuracy by category and horizon (latest scored run)",
            vec![
                column("category", "category"),
                column("horizon", "horizon"),
                column("points", "points"),
                column("actual_units", "actual, units"),
                column("wape", "WAPE"),
                column("naive_wape", "naive"),
                column("bias", "bias"),
                column("coverage_p10_p90", "in p10–p90"),
            ],
        );
        for row in &self.rows {
            section.push(vec![
                Value::text(&row.category),
                Value::text(&row.horizon),
                Value::Count(row.points),
                Value::Units(row.actual_units),
                Value::opt_share(row.wape),
                Value::opt_share(row.naive_wape),
                Value::opt_change(row.bias),
                Value::opt_share(row.coverage_p10_p90),
            ]);
        }
        view.sections.push(section);
        let mut section = Section::new(
            "Trend over the last runs (newest first)",
            vec![
                column("run", "run"),
                column("as_of", "as of"),
                column("realised_days", "days"),
                column("wape", "WAPE"),
                column("naive_wape", "naive"),
                column("bias", "bias"),
                column("coverage_p10_p90", "in p10–p90"),
            ],
        );
        for row in &self.trend {
            section.push(vec![
                Value::text(&row.run),
                Value::Date(row.as_of),
                Value::Count(row.realised_days as i64),
                Value::opt_share(row.wape),
                Value::opt_share(row.naive_wape),
                Value::opt_change(row.bias),
                Value::opt_share(row.coverage_p10_p90),
            ]);
        }
        view.sections.push(section);
        match &self.backtest_model {
            Some(model) => {
                let mut section = Section::new(
                    format!("Backtest saved with model {model}"),
                    vec![
                        column("scope", "scope"),
                        column("method", "method"),
                        column("wape", "WAPE"),
                        column("bias", "bias"),
                        column("coverage_p10_p90", "in p10–p90"),
                    ],
                );
                for line in &self.backtest {
                    section.push(vec![
                        Value::text(&line.scope),
                        Value::text(&line.method),
                        Value::opt_share(line.wape),
                        Value::opt_change(line.bias),
                        Value::opt_share(line.coverage_p10_p90),
                    ]);
                }
                view.sections.push(section);
            }
            None => view.notes.push(
                "The latest model has no saved backtest metrics; `stockcast backtest` prints them."
                    .to_string(),
            ),
        }
        let categories: Vec<&AccuracyRow> = {
            let mut seen = BTreeMap::new();
            for row in &self.rows {
                let entry = seen.entry(row.category.clone()).or_insert((0i64, row));
                // The band with the most points stands for the category in the chart.
                if row.points > entry.0 {
                    *entry = (row.points, row);
                }
            }
            seen.into_values().map(|(_, row)| row).collect()
        };
        view.charts.push(Chart::Bars {
            title: "WAPE by category (largest horizon band): stockcast vs seasonal naive"
                .to_string(),
            unit: "WAPE".to_string(),
            labels: categories.iter().map(|r| r.category.clone()).collect(),
            series: vec![
                (
                    "stockcast".to_string(),
                    categories.iter().map(|r| r.wape.unwrap_or(0.0)).collect(),
                ),
                (
                    "seasonal naive".to_string(),
                    categories
                        .iter()
                        .map(|r| r.naive_wape.unwrap_or(0.0))
                        .collect(),
                ),
            ],
            reference: None,
        });
        view.notes.push("WAPE = Σ|forecast − actual| / Σ actual over SKU × warehouse × day; bias = Σ forecast / Σ actual − 1; coverage = share of days whose actual fell inside p10–p90.".to_string());
        view
    }
}
