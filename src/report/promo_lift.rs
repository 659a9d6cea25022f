//! `report promo-lift`: how much promotions lift sales.
//!
//! - **Forecast lift** of upcoming promotions (inside the latest forecast run's horizon) is
//!   read off the fitted model, not re-forecast: each category's model is log-linear in its
//!   standardised features, so switching the promotion features on (promotion flag, log price
//!   ratio ln(1 − discount), first-day flag, progress through the promotion) multiplies
//!   expected units by exp(Σ βⱼ Δxⱼ / sⱼ), averaged over the promotion's days. For the ridge
//!   model on log1p(units) this is exact only for volumes well above one unit a day. Extra
//!   units = forecast units in the window × (1 − 1/lift).
//! - **Realised lift** of past promotions: units per day in the promotion window over units per
//!   day in the `BASELINE_DAYS` days before it, same SKUs and warehouses.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate};

use super::lookup::{latest_forecast_run, promotion, promotions_overlapping, Promotion, RunRef};
use super::query::{Bind, Sql};
use super::small_base::is_small;
use super::view::{column, cut, Chart, ReportView, Section, Value};
use super::{Filters, ReportError};
use crate::forecast::engine::Forecaster;
use crate::forecast::registry::ModelArtifact;
use crate::report_fetch;
use crate::store::Store;

pub const BASELINE_DAYS: i64 = 28;
/// Upcoming and past promotions considered at most.
pub const MAX_PROMOTIONS: usize = 8;
/// How far back past promotions are looked for.
pub const PAST_DAYS: i64 = 365;

/// (units in the window, units in the baseline days) per category.
pub type WindowAndBaseline = BTreeMap<String, (f64, f64)>;

#[derive(Debug, Clone)]
pub struct LiftInput {
    pub run: Option<RunRef>,
    pub forecaster: Option<Forecaster>,
    pub model_note: Option<String>,
    /// Upcoming promotions with forecast units per category over their window.
    pub upcoming: Vec<(Promotion, BTreeMap<String, f64>)>,
    /// Past promotions with (window units, baseline units) per category.
    pub past: Vec<(Promotion, WindowAndBaseline)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ForecastLiftRow {
    pub promotion: String,
    pub category: String,
    pub discount_pct: f64,
    pub days: i64,
    pub forecast_units: f64,
    pub lift: Option<f64>,
    pub extra_units: Option<f64>,
    /// The forecast without the promotion (forecast ÷ lift) is below the minimum base.
    pub small_base: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RealisedLiftRow {
    pub promotion: String,
    pub category: String,
    pub discount_pct: f64,
    pub start_date: NaiveDate,
    pub units_per_day: f64,
    pub baseline_units_per_day: f64,
    pub lift: Option<f64>,
    /// The units in the days before are below the minimum base.
    pub small_base: bool,
    /// Promotions that overlapped this one for the category: their days are the same sales,
    /// counted once, here.
    pub overlapping: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DepthRow {
    pub discount_band: String,
    pub model_lift: Option<f64>,
    pub realised_lift: Option<f64>,
    pub realised_promotions: usize,
    pub realised_small_base: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LiftReport {
    pub forecast_run: Option<String>,
    pub forecast: Vec<ForecastLiftRow>,
    pub realised: Vec<RealisedLiftRow>,
    pub realised_left_out: usize,
    pub by_depth: Vec<DepthRow>,
    pub notes: Vec<String>,
}

pub fn discount_band(discount_pct: f64) -> &'static str {
    match discount_pct {
        d if d < 20.0 => "under 20%",
        d if d < 30.0 => "20–29%",
        d if d < 40.0 => "30–39%",
        _ => "40% and more",
    }
}

/// The model's promotion multiplier for a category at a discount over a promotion of `days`.
pub fn model_lift(
    forecaster: &Forecaster,
    category: &str,
    discount_pct: f64,
    days: i64,
) -> Option<f64> {
    let periods = match forecaster.freq {
        crate::contract::Frequency::Day => days,
        crate::contract::Frequency::Week => (days + 6) / 7,
    };
    forecaster.promotion_lift(category, discount_pct, periods)
}

fn load_forecaster(path: &str) -> Result<Forecaster, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let artifact: ModelArtifact =
        serde_json::from_str(&text).map_err(|e| format!("{path}: not a model artifact: {e}"))?;
    Ok(artifact.forecaster)
}

pub async fn load(store: &Store, filters: &Filters) -> Result<LiftInput, ReportError> {
    let run = match latest_forecast_run(store, filters.as_of).await {
        Ok(run) => Some(run),
        Err(ReportError::Empty(_)) => None,
        Err(error) => return Err(error),
    };
    let chosen = match &filters.promotion {
        Some(id) => Some(promotion(store, id).await?),
        None => None,
    };
    let (mut forecaster, mut model_note) = (None, None);
    let mut upcoming = Vec::new();
    if let Some(run) = &run {
        let mut sql = Sql::new("SELECT artifact_path FROM model_runs WHERE ");
        sql.clause("id = ?", vec![Bind::Text(run.model_id.clone())]);
        match report_fetch!(store, sql, (String,)).into_iter().next() {
            Some((path,)) => match load_forecaster(&path) {
                Ok(loaded) => forecaster = Some(loaded),
                Err(message) => model_note = Some(format!("model {}: {message}", run.model_id)),
            },
            None => model_note = Some(format!("model {} is not in model_runs", run.model_id)),
        }
        let promotions = match &chosen {
            Some(p) => vec![p.clone()],
            None => promotions_overlapping(store, run.first_date(), run.last_date()).await?,
        };
        for promotion in promotions
            .into_iter()
            .filter(|p| p.end_date >= run.first_date() && p.start_date <= run.last_date())
            .filter(|p| filters.matches_promotion(p))
            .take(MAX_PROMOTIONS)
        {
            let from = promotion.start_date.max(run.first_date());
            let to = promotion.end_date.min(run.last_date());
            let mut sql = Sql::new(
                "SELECT p.category, SUM(w.units) FROM (SELECT f.sku, SUM(f.mean) AS units FROM forecasts f WHERE ",
            );
            sql.clause(
                "f.run_id = ? AND f.date >= ? AND f.date <= ?",
                vec![Bind::Text(run.id.clone()), Bind::Date(from), Bind::Date(to)],
            );
            sql.restrict_to_promotion(&promotion, "f");
            filters.restrict(&mut sql, "f");
            sql.push(" GROUP BY f.sku) w JOIN products p ON p.sku = w.sku GROUP BY p.category");
            let units = report_fetch!(store, sql, (String, f64))
                .into_iter()
                .collect();
            upcoming.push((promotion, units));
        }
    }

    // Past promotions: ended before the history does, within the last year.
    let history_end = match &run {
        Some(run) => Some(run.as_of),
        None => super::lookup::last_sales_date(store).await?,
    };
    let mut past = Vec::new();
    if let Some(end) = history_end {
        let mut candidates = match &chosen {
            Some(p) => vec![p.clone()],
            None => promotions_overlapping(store, end - Duration::days(PAST_DAYS), end).await?,
        };
        candidates.retain(|p| p.end_date <= end && filters.matches_promotion(p));
        candidates.sort_by(|a, b| {
            b.end_date
                .cmp(&a.end_date)
                .then(a.promo_id.cmp(&b.promo_id))
        });
        candidates.truncate(MAX_PROMOTIONS);
        if !candidates.is_empty() {
            past = realised_units(store, &candidates, filters).await?;
        }
    }
    Ok(LiftInput {
        run,
        forecaster,
        model_note,
        upcoming,
        past,
    })
}

/// Window and baseline units per category for each past promotion, from two queries: one
/// per (category, warehouse, day) for store-, category- and warehouse-wide promotions, one per
/// (sku, warehouse, day) for the SKU-scoped ones (an indexed range per SKU).
async fn realised_units(
    store: &Store,
    promotions: &[Promotion],
    filters: &Filters,
) -> Result<Vec<(Promotion, WindowAndBaseline)>, ReportError> {
    let from = promotions
        .iter()
        .map(|p| p.start_date - Duration::days(BASELINE_DAYS))
        .min()
        .expect("at least one promotion");
    let to = promotions.iter().map(|p| p.end_date).max().expect("one");
    let categories = super::lookup::categories(store).await?;
    // (category, sku or "", warehouse, date) → units.
    let mut daily: Vec<(String, String, String, NaiveDate, f64)> = Vec::new();
    if promotions.iter().any(|p| p.sku.is_none()) {
        let mut sql = Sql::new(
            "SELECT p.category, s.warehouse, s.date, SUM(s.units) FROM sales_in_force s JOIN products p ON p.sku = s.sku WHERE ",
        );
        sql.clause(
            "s.date >= ? AND s.date <= ?",
            vec![Bind::Date(from), Bind::Date(to)],
        );
        filters.restrict(&mut sql, "s");
        sql.push(" GROUP BY p.category, s.warehouse, s.date");
        for (category, warehouse, date, units) in
            report_fetch!(store, sql, (String, String, NaiveDate, f64))
        {
            daily.push((category, String::new(), warehouse, date, units));
        }
    }
    let skus: Vec<String> = {
        let mut skus: Vec<String> = promotions.iter().filter_map(|p| p.sku.clone()).collect();
        skus.sort();
        skus.dedup();
        skus
    };
    if !skus.is_empty() {
        let mut sql = Sql::new(
            "SELECT s.sku, s.warehouse, s.date, SUM(s.units) FROM sales_in_force s WHERE s.sku IN (",
        );
        for (index, sku) in skus.iter().enumerate() {
            if index > 0 {
                sql.push(", ");
            }
            sql.clause("?", vec![Bind::Text(sku.clone())]);
        }
        sql.clause(
            ") AND s.date >= ? AND s.date <= ?",
            vec![Bind::Date(from), Bind::Date(to)],
        );
        filters.restrict(&mut sql, "s");
        sql.push(" GROUP BY s.sku, s.warehouse, s.date");
        for (sku, warehouse, date, units) in
            report_fetch!(store, sql, (String, String, NaiveDate, f64))
        {
            let category = categories.get(&sku).cloned().unwrap_or_default();
            daily.push((category, sku, warehouse, date, units));
        }
    }
    Ok(promotions
        .iter()
        .map(|promotion| {
            let baseline_from = promotion.start_date - Duration::days(BASELINE_DAYS);
            let mut per_category: BTreeMap<String, (f64, f64)> = BTreeMap::new();
            for (category, sku, warehouse, date, units) in &daily {
                // SKU rows serve SKU-scoped promotions only, category rows the others.
                let warehouse_ok = promotion
                    .warehouse
                    .as_deref()
                    .is_none_or(|w| w == warehouse);
                let applies = if sku.is_empty() {
                    promotion.sku.is_none()
                        && promotion.category.as_deref().is_none_or(|c| c == category)
                } else {
                    promotion.sku.as_deref() == Some(sku.as_str())
                };
                if !(applies && warehouse_ok) {
                    continue;
                }
                let entry = per_category.entry(category.clone()).or_default();
                if *date >= promotion.start_date && *date <= promotion.end_date {
                    entry.0 += units;
                } else if *date >= baseline_from && *date < promotion.start_date {
                    entry.1 += units;
                }
            }
            (promotion.clone(), per_category)
        })
        .collect())
}

pub fn build(input: &LiftInput, filters: &Filters) -> Result<LiftReport, ReportError> {
    let mut notes = Vec::new();
    if let Some(note) = &input.model_note {
        notes.push(format!("forecast lift unavailable: {note}"));
    }
    let mut forecast = Vec::new();
    for (promotion, units) in &input.upcoming {
        for (category, units) in units {
            let lift = input
                .forecaster
                .as_ref()
                .and_then(|f| model_lift(f, category, promotion.discount_pct, promotion.days()));
            // The base of a lift is what would sell without the promotion.
            let small_base = lift.is_some_and(|l| l <= 0.0 || is_small(units / l));
            let lift = lift.filter(|_| !small_base);
            forecast.push(ForecastLiftRow {
                promotion: promotion.promo_id.clone(),
                category: category.clone(),
                discount_pct: promotion.discount_pct,
                days: promotion.days(),
                forecast_units: *units,
                lift,
                extra_units: lift.filter(|l| *l > 0.0).map(|l| units * (1.0 - 1.0 / l)),
                small_base,
            });
        }
    }
    let mut realised: Vec<RealisedLiftRow> = Vec::new();
    // (category, row index, promotion) of each row kept: a later promotion overlapping a kept
    // one for the same category and warehouses is the same sales, so it is not a second row.
    let mut kept: Vec<(String, usize, &Promotion)> = Vec::new();
    for (promotion, per_category) in &input.past {
        for (category, (window, baseline)) in per_category {
            let same_sales = kept.iter().find(|(kept_category, _, other)| {
                kept_category == category
                    && other.start_date <= promotion.end_date
                    && promotion.start_date <= other.end_date
                    && (other.warehouse.is_none()
                        || promotion.warehouse.is_none()
                        || other.warehouse == promotion.warehouse)
            });
            if let Some((_, index, _)) = same_sales {
                realised[*index]
                    .overlapping
                    .push(promotion.promo_id.clone());
                continue;
            }
            let per_day = window / promotion.days() as f64;
            let baseline_per_day = baseline / BASELINE_DAYS as f64;
            let small_base = *baseline > 0.0 && is_small(*baseline);
            kept.push((category.clone(), realised.len(), promotion));
            realised.push(RealisedLiftRow {
                promotion: promotion.promo_id.clone(),
                category: category.clone(),
                discount_pct: promotion.discount_pct,
                start_date: promotion.start_date,
                units_per_day: per_day,
                baseline_units_per_day: baseline_per_day,
                lift: (baseline_per_day > 0.0 && !small_base).then(|| per_day / baseline_per_day),
                small_base,
                overlapping: Vec::new(),
            });
        }
    }
    if forecast.is_empty() && realised.is_empty() {
        return Err(ReportError::Empty(format!(
            "no promotion in the forecast horizon and none in the last {PAST_DAYS} days{}",
            filters.describe_suffix()
        )));
    }
    let mut bands: BTreeMap<&'static str, (f64, f64, f64, f64, usize)> = BTreeMap::new();
    for row in &forecast {
        if let (Some(lift), true) = (row.lift, row.forecast_units > 0.0) {
            let entry = bands.entry(discount_band(row.discount_pct)).or_default();
            entry.0 += lift * row.forecast_units;
            entry.1 += row.forecast_units;
        }
    }
    let mut counted: HashMap<(&'static str, &str), ()> = HashMap::new();
    for row in &realised {
        let band = discount_band(row.discount_pct);
        let entry = bands.entry(band).or_default();
        entry.2 += row.units_per_day;
        entry.3 += row.baseline_units_per_day;
        if counted.insert((band, row.promotion.as_str()), ()).is_none() {
            entry.4 += 1;
        }
    }
    let order = ["under 20%", "20–29%", "30–39%", "40% and more"];
    let mut by_depth: Vec<DepthRow> = bands
        .into_iter()
        .map(|(band, (weighted, units, window, baseline, promotions))| {
            // Baseline per day summed over rows; the base is its units over the days.
            let small = baseline > 0.0 && is_small(baseline * BASELINE_DAYS as f64);
            DepthRow {
                discount_band: band.to_string(),
                model_lift: (units > 0.0).then(|| weighted / units),
                realised_lift: (baseline > 0.0 && !small).then(|| window / baseline),
                realised_promotions: promotions,
                realised_small_base: small,
            }
        })
        .collect();
    by_depth.sort_by_key(|row| order.iter().position(|b| *b == row.discount_band));
    forecast.sort_by(|a, b| {
        b.extra_units
            .unwrap_or(0.0)
            .total_cmp(&a.extra_units.unwrap_or(0.0))
            .then_with(|| a.promotion.cmp(&b.promotion))
            .then_with(|| a.category.cmp(&b.category))
    });
    let realised_left_out = cut(&mut realised, filters.rows());
    Ok(LiftReport {
        forecast_run: input.run.as_ref().map(|r| r.id.clone()),
        forecast,
        realised,
        realised_left_out,
        by_depth,
        notes,
    })
}

fn lift_value(lift: Option<f64>, small_base: bool) -> Value {
    if small_base {
        Value::SmallBase
    } else {
        Value::opt_multiplier(lift)
    }
}

impl LiftReport {
    pub fn view(&self) -> ReportView {
        let mut view = ReportView::new("Promotion lift");
        if let Some(run) = &self.forecast_run {
            view.context.push(format!(
                "Forecast lift from the fitted model of run {run}; realised lift vs the {BASELINE_DAYS} days before each promotion"
            ));
        }
        let mut section = Section::new(
            "Forecast lift of upcoming promotions, by category",
            vec![
                column("promotion", "promotion"),
                column("category", "category"),
                column("discount_pct", "discount"),
                column("forecast_units", "forecast, units"),
                column("lift", "lift"),
                column("extra_units", "extra, units"),
            ],
        );
        for row in &self.forecast {
            section.push(vec![
                Value::text(&row.promotion),
                Value::text(&row.category),
                Value::Share(row.discount_pct / 100.0),
                Value::Units(row.forecast_units),
                lift_value(row.lift, row.small_base),
                Value::opt_units(row.extra_units),
            ]);
        }
        view.sections.push(section);
        let mut section = Section::new(
            "Lift by discount depth",
            vec![
                column("discount_band", "discount"),
                column("model_lift", "model lift"),
                column("realised_lift", "realised lift"),
                column("realised_promotions", "past promotions"),
            ],
        );
        for row in &self.by_depth {
            section.push(vec![
                Value::text(&row.discount_band),
                Value::opt_multiplier(row.model_lift),
                lift_value(row.realised_lift, row.realised_small_base),
                Value::Count(row.realised_promotions as i64),
            ]);
        }
        view.sections.push(section);
        let mut section = Section::new(
            "Realised lift of past promotions (most recent first)",
            vec![
                column("promotion", "promotion"),
                column("category", "category"),
                column("discount_pct", "discount"),
                column("start_date", "start"),
                column("units_per_day", "units/day"),
                column("baseline_units_per_day", "before, units/day"),
                column("lift", "lift"),
            ],
        );
        for row in &self.realised {
            let promotion = if row.overlapping.is_empty() {
                row.promotion.clone()
            } else {
                format!("{} (with {})", row.promotion, row.overlapping.join(", "))
            };
            section.push(vec![
                Value::Text(promotion),
                Value::text(&row.category),
                Value::Share(row.discount_pct / 100.0),
                Value::Date(row.start_date),
                Value::Units(row.units_per_day),
                Value::Units(row.baseline_units_per_day),
                lift_value(row.lift, row.small_base),
            ]);
        }
        section.rows_left_out = self.realised_left_out;
        view.sections.push(section);
        view.charts.push(Chart::Bars {
            title: "Lift by discount depth: model vs realised (1 = no lift)".to_string(),
            unit: "× units".to_string(),
            labels: self
                .by_depth
                .iter()
                .map(|r| r.discount_band.clone())
                .collect(),
            series: vec![
                (
                    "model".to_string(),
                    self.by_depth
                        .iter()
                        .map(|r| r.model_lift.unwrap_or(0.0))
                        .collect(),
                ),
                (
                    "realised".to_string(),
                    self.by_depth
                        .iter()
                        .map(|r| r.realised_lift.unwrap_or(0.0))
                        .collect(),
                ),
            ],
            reference: Some(1.0),
        });
        view.notes.extend(self.notes.iter().cloned());
        view.notes.push("Forecast lift = exp(Σ β·Δx / scale) of the category model's promotion features (flag, ln(1 − discount), first day, progress), averaged over the promotion's days; extra units = forecast × (1 − 1/lift). Realised lift = units/day in the window ÷ units/day in the 28 days before, same scope; promotions overlapping for a category share its sales, so they are one row (\"with …\") and count once by depth.".to_string());
        view.notes.push(super::small_base::note());
        view
    }
}
