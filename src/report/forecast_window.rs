//! `report forecast`: expected units and p10–p90 per SKU × warehouse over a promotion window,
//! with last year's same window (364 days earlier, so weekdays line up) beside it.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};

use super::lookup::{latest_forecast_run, promotion_in_run, Promotion, RunRef};
use super::query::{Bind, Sql};
use super::view::{column, cut, Chart, FanSeries, ReportView, Section, Value};
use super::window_demand::{load_window, CellWindow};
use super::{Filters, ReportError};
use crate::allocate::WindowDemand;
use crate::calendar::LAST_YEAR_DAYS;
use crate::report_fetch;
use crate::store::Store;

/// SKUs drawn as fan charts in the HTML form.
pub const FAN_SKUS: usize = 3;
/// Days of history before the origin in each fan chart.
pub const FAN_HISTORY_DAYS: i64 = 56;

#[derive(Debug, Clone)]
pub struct ForecastInput {
    pub run: RunRef,
    pub promotion: Promotion,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub cells: Vec<CellWindow>,
    /// Units sold per (sku, warehouse) in the same window last year.
    pub last_year: HashMap<(String, String), f64>,
    /// Daily rows for the fan charts, per SKU (summed over the warehouses in scope).
    pub fan_forecast: HashMap<String, Vec<(NaiveDate, f64, f64)>>,
    pub fan_sales: HashMap<String, Vec<(NaiveDate, f64)>>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ForecastRow {
    pub sku: String,
    pub warehouse: String,
    pub category: String,
    pub expected_units: f64,
    pub p10_units: f64,
    pub p90_units: f64,
    pub last_year_units: f64,
    pub change: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ForecastTotals {
    pub cells: usize,
    pub expected_units: f64,
    pub p10_units: f64,
    pub p90_units: f64,
    pub last_year_units: f64,
    pub change: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ForecastReport {
    pub forecast_run: String,
    pub forecast_as_of: NaiveDate,
    pub promotion: Promotion,
    pub window_from: NaiveDate,
    pub window_to: NaiveDate,
    pub last_year_from: NaiveDate,
    pub last_year_to: NaiveDate,
    pub totals: ForecastTotals,
    pub rows: Vec<ForecastRow>,
    pub rows_left_out: usize,
    pub fans: Vec<FanSeries>,
}

/// Growth over last year, only against a base of at least `small_base::MIN_BASE_UNITS`.
fn change(now: f64, before: f64) -> Option<f64> {
    (before > 0.0 && !super::small_base::is_small(before)).then(|| now / before - 1.0)
}

/// The cell for a growth figure: `n/a (small base)` when last year had some units, but too
/// few to compare against; "–" when it had none.
fn change_value(change: Option<f64>, before: f64) -> Value {
    match change {
        Some(change) => Value::Change(change),
        None if before > 0.0 => Value::SmallBase,
        None => Value::Missing,
    }
}

/// The SKUs with the most expected units over the window, for the fan charts.
pub fn top_skus(cells: &[CellWindow], n: usize) -> Vec<String> {
    let mut by_sku: HashMap<&str, f64> = HashMap::new();
    for cell in cells {
        *by_sku.entry(cell.sku.as_str()).or_default() += cell.demand.mean;
    }
    let mut ranked: Vec<(&str, f64)> = by_sku.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    ranked
        .into_iter()
        .take(n)
        .map(|(s, _)| s.to_string())
        .collect()
}

pub async fn load(store: &Store, filters: &Filters) -> Result<ForecastInput, ReportError> {
    let run = latest_forecast_run(store, filters.as_of).await?;
    let (promotion, from, to) = promotion_in_run(store, filters, &run).await?;
    let cells = load_window(store, &run, &promotion, from, to, filters).await?;
    let shift = Duration::days(LAST_YEAR_DAYS);

    let mut sql = Sql::new("SELECT s.sku, s.warehouse, SUM(s.units) FROM sales_in_force s WHERE ");
    sql.clause(
        "s.date >= ? AND s.date <= ?",
        vec![Bind::Date(from - shift), Bind::Date(to - shift)],
    );
    sql.restrict_to_promotion(&promotion, "s");
    filters.restrict(&mut sql, "s");
    sql.push(" GROUP BY s.sku, s.warehouse");
    let last_year: HashMap<(String, String), f64> =
        report_fetch!(store, sql, (String, String, f64))
            .into_iter()
            .map(|(sku, warehouse, units)| ((sku, warehouse), units))
            .collect();

    let mut fan_forecast: HashMap<String, Vec<(NaiveDate, f64, f64)>> = HashMap::new();
    let mut fan_sales: HashMap<String, Vec<(NaiveDate, f64)>> = HashMap::new();
    for sku in top_skus(&cells, FAN_SKUS) {
        let mut sql = Sql::new(
            "SELECT f.date, SUM(f.mean), SUM((f.p90 - f.p10) * (f.p90 - f.p10)) FROM forecasts f WHERE ",
        );
        sql.clause(
            "f.run_id = ? AND f.sku = ? AND f.date >= ? AND f.date <= ?",
            vec![
                Bind::Text(run.id.clone()),
                Bind::Text(sku.clone()),
                Bind::Date(from),
                Bind::Date(to),
            ],
        );
        sql.restrict_to_promotion(&promotion, "f");
        filters.restrict(&mut sql, "f");
        sql.push(" GROUP BY f.date ORDER BY f.date");
        fan_forecast.insert(
            sku.clone(),
            report_fetch!(store, sql, (NaiveDate, f64, f64)),
        );

        // History before the origin and last year's window, in one indexed range per SKU.
        let mut sql = Sql::new("SELECT s.date, SUM(s.units) FROM sales_in_force s WHERE ");
        sql.clause(
            "s.sku = ? AND ((s.date >= ? AND s.date <= ?) OR (s.date >= ? AND s.date <= ?))",
            vec![
                Bind::Text(sku.clone()),
                Bind::Date(run.as_of - Duration::days(FAN_HISTORY_DAYS - 1)),
                Bind::Date(run.as_of),
                Bind::Date(from - shift),
                Bind::Date(to - shift),
            ],
        );
        sql.restrict_to_promotion(&promotion, "s");
        filters.restrict(&mut sql, "s");
        sql.push(" GROUP BY s.date ORDER BY s.date");
        fan_sales.insert(sku, report_fetch!(store, sql, (NaiveDate, f64)));
    }
    Ok(ForecastInput {
        run,
        promotion,
        from,
        to,
        cells,
        last_year,
        fan_forecast,
        fan_sales,
    })
}

pub fn build(input: &ForecastInput, filters: &Filters) -> Result<ForecastReport, ReportError> {
    if input.cells.is_empty() {
        return Err(ReportError::Empty(format!(
            "no forecast rows for promotion {} ({}) in {} … {}{}",
            input.promotion.promo_id,
            input.promotion.scope(),
            input.from,
            input.to,
            filters.describe_suffix()
        )));
    }
    let shift = Duration::days(LAST_YEAR_DAYS);
    let mut rows: Vec<ForecastRow> = input
        .cells
        .iter()
        .map(|cell| {
            let last_year = input
                .last_year
                .get(&(cell.sku.clone(), cell.warehouse.clone()))
                .copied()
                .unwrap_or(0.0);
            ForecastRow {
                sku: cell.sku.clone(),
                warehouse: cell.warehouse.clone(),
                category: cell.category.clone(),
                expected_units: cell.demand.mean,
                p10_units: cell.demand.p10(),
                p90_units: cell.demand.p90(),
                last_year_units: last_year,
                change: change(cell.demand.mean, last_year),
            }
        })
        .collect();
    let total = WindowDemand::total(input.cells.iter().map(|c| &c.demand));
    let last_year: f64 = rows.iter().map(|r| r.last_year_units).sum();
    let totals = ForecastTotals {
        cells: rows.len(),
        expected_units: total.mean,
        p10_units: total.p10(),
        p90_units: total.p90(),
        last_year_units: last_year,
        change: change(total.mean, last_year),
    };
    rows.sort_by(|a, b| {
        b.expected_units
            .total_cmp(&a.expected_units)
            .then_with(|| a.sku.cmp(&b.sku))
            .then_with(|| a.warehouse.cmp(&b.warehouse))
    });
    let rows_left_out = cut(&mut rows, filters.rows());

    let mut fans = Vec::new();
    for sku in top_skus(&input.cells, FAN_SKUS) {
        let sales = input.fan_sales.get(&sku).cloned().unwrap_or_default();
        let history_from = input.run.as_of - Duration::days(FAN_HISTORY_DAYS - 1);
        let history: Vec<(NaiveDate, f64)> = sales
            .iter()
            .copied()
            .filter(|(date, _)| *date >= history_from && *date <= input.run.as_of)
            .collect();
        let last_year: Vec<(NaiveDate, f64)> = sales
            .iter()
            .copied()
            .filter(|(date, _)| *date >= input.from - shift && *date <= input.to - shift)
            .collect();
        let history = fill_days(&history, history_from, input.run.as_of);
        let last_year = fill_days(&last_year, input.from - shift, input.to - shift)
            .into_iter()
            .map(|(date, units)| (date + shift, units))
            .collect();
        let forecast = input
            .fan_forecast
            .get(&sku)
            .map(|days| {
                days.iter()
                    .map(|(date, mean, spread)| {
                        let day = WindowDemand::from_daily_sums(*mean, *spread);
                        (*date, day.p10(), *mean, day.p90())
                    })
                    .collect()
            })
            .unwrap_or_default();
        fans.push(FanSeries {
            label: sku,
            history,
            last_year,
            forecast,
        });
    }

    Ok(ForecastReport {
        forecast_run: input.run.id.clone(),
        forecast_as_of: input.run.as_of,
        promotion: input.promotion.clone(),
        window_from: input.from,
        window_to: input.to,
        last_year_from: input.from - shift,
        last_year_to: input.to - shift,
        totals,
        rows,
        rows_left_out,
        fans,
    })
}

/// Daily points over `[from, to]`, zero where no sales row exists (no row = nothing sold).
fn fill_days(points: &[(NaiveDate, f64)], from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, f64)> {
    let known: HashMap<NaiveDate, f64> = points.iter().copied().collect();
    let mut out = Vec::new();
    let mut date = from;
    while date <= to {
        out.push((date, known.get(&date).copied().unwrap_or(0.0)));
        date += Duration::days(1);
    }
    out
}

impl ForecastReport {
    pub fn view(&self) -> ReportView {
        let mut view = ReportView::new(format!(
            "Forecast for promotion {} \"{}\"",
            self.promotion.promo_id, self.promotion.name
        ));
        view.context.push(format!(
            "Scope: {}, {}% off; window {} … {} ({} days); forecast run {} as of {}",
            self.promotion.scope(),
            self.promotion.discount_pct,
            self.window_from,
            self.window_to,
            (self.window_to - self.window_from).num_days() + 1,
            self.forecast_run,
            self.forecast_as_of
        ));
        view.context.push(format!(
            "Total over {} SKU × warehouse cells: {} units expected (p10–p90 {} – {}), last year {} units ({})",
            super::format::grouped(self.totals.cells as f64, 0),
            super::format::units(self.totals.expected_units),
            super::format::units(self.totals.p10_units),
            super::format::units(self.totals.p90_units),
            super::format::units(self.totals.last_year_units),
            super::format::display(&change_value(
                self.totals.change,
                self.totals.last_year_units
            ))
        ));
        let mut section = Section::new(
            "Expected units per SKU × warehouse (largest first)",
            vec![
                column("sku", "sku"),
                column("warehouse", "warehouse"),
                column("category", "category"),
                column("expected_units", "expected, units"),
                column("p10_units", "p10, units"),
                column("p90_units", "p90, units"),
                column("last_year_units", "last year, units"),
                column("change", "vs last year"),
            ],
        );
        for row in &self.rows {
            section.push(vec![
                Value::text(&row.sku),
                Value::text(&row.warehouse),
                Value::text(&row.category),
                Value::Units(row.expected_units),
                Value::Units(row.p10_units),
                Value::Units(row.p90_units),
                Value::Units(row.last_year_units),
                change_value(row.change, row.last_year_units),
            ]);
        }
        section.rows_left_out = self.rows_left_out;
        view.sections.push(section);
        view.charts.push(Chart::Fan {
            title: format!(
                "Daily units: {} days of history, last year's window and the forecast (top {} SKUs)",
                FAN_HISTORY_DAYS,
                self.fans.len()
            ),
            series: self.fans.clone(),
        });
        view.notes.push(format!(
            "p10–p90 of a window adds the daily variances (read off each day's p10–p90) as if days were independent; last year is {} … {} (364 days earlier).",
            self.last_year_from, self.last_year_to
        ));
        view.notes.push(super::small_base::note());
        view
    }
}
