//! Rolling-origin backtests: refit at each origin on the history up to it, forecast the next
//! horizon, and score against what happened, side by side with seasonal naive.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::baselines::seasonal_naive;
use super::engine::{fit_forecaster, predict, ForecastOutput, ForecastSettings, Forecaster};
use super::features::FeatureSet;
use super::metrics::{bias, interval_coverage, mase, pinball, share_below, wape, BlockSums};
use super::panel::{season_periods, Panel};
use crate::contract::Frequency;

pub const MAX_BACKTEST_ORIGINS: usize = 52;

#[derive(Debug, Clone, serde::Serialize)]
pub struct MetricRow {
    pub scope: String,
    pub method: &'static str,
    pub points: usize,
    pub actual_units: f64,
    pub wape: Option<f64>,
    pub mase: Option<f64>,
    pub bias: Option<f64>,
    pub pinball_p10: Option<f64>,
    pub pinball_p50: Option<f64>,
    pub pinball_p90: Option<f64>,
    pub below_p10: Option<f64>,
    pub below_p50: Option<f64>,
    pub below_p90: Option<f64>,
    pub coverage_p10_p90: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AblationRow {
    pub features: String,
    pub wape: Option<f64>,
    pub promo_wape: Option<f64>,
    pub weekly_wape: Option<f64>,
    pub promotion_week_wape: Option<f64>,
}

/// WAPE of weekly totals per SKU × warehouse (what a stock decision depends on; daily cells
/// are so sparse that their WAPE rewards forecasting zero).
#[derive(Debug, Clone, serde::Serialize)]
pub struct WeeklyRow {
    pub method: &'static str,
    pub all_weeks: Option<f64>,
    pub promotion_weeks: Option<f64>,
    pub other_weeks: Option<f64>,
    pub promotion_week_count: usize,
}

/// What one category forecast with at one origin, and how each candidate scored on that
/// fit's held-out origins.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChoiceRow {
    pub origin: NaiveDate,
    pub category: String,
    pub chosen: String,
    pub pooled: bool,
    pub holdout: Vec<super::selection::CandidateScore>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BacktestReport {
    pub origins: Vec<NaiveDate>,
    pub horizon: usize,
    pub rows: Vec<MetricRow>,
    pub choices: Vec<ChoiceRow>,
    /// stockcast, then seasonal naive.
    pub weekly: Vec<WeeklyRow>,
    pub ablation: Vec<AblationRow>,
}

impl BacktestReport {
    pub fn row(&self, scope: &str, method: &str) -> Option<&MetricRow> {
        self.rows
            .iter()
            .find(|row| row.scope == scope && row.method == method)
    }
}

#[derive(Default)]
struct Pairs {
    actual: Vec<f64>,
    mean: Vec<f64>,
    p10: Vec<f64>,
    p50: Vec<f64>,
    p90: Vec<f64>,
    naive: Vec<f64>,
    /// Σ|naive in-sample error| and its count, for MASE.
    scale_error: f64,
    scale_count: f64,
}

impl Pairs {
    fn rows(&self, scope: &str) -> [MetricRow; 2] {
        let scale = (self.scale_count > 0.0).then(|| self.scale_error / self.scale_count);
        let total = self.actual.iter().sum();
        let model = MetricRow {
            scope: scope.to_string(),
            method: "stockcast",
            points: self.actual.len(),
            actual_units: total,
            wape: wape(&self.actual, &self.mean),
            mase: scale.and_then(|s| mase(&self.actual, &self.mean, s)),
            bias: bias(&self.actual, &self.mean),
            pinball_p10: pinball(&self.actual, &self.p10, 0.1),
            pinball_p50: pinball(&self.actual, &self.p50, 0.5),
            pinball_p90: pinball(&self.actual, &self.p90, 0.9),
            below_p10: share_below(&self.actual, &self.p10),
            below_p50: share_below(&self.actual, &self.p50),
            below_p90: share_below(&self.actual, &self.p90),
            coverage_p10_p90: interval_coverage(&self.actual, &self.p10, &self.p90),
        };
        let naive = MetricRow {
            scope: scope.to_string(),
            method: "seasonal_naive",
            points: self.actual.len(),
            actual_units: total,
            wape: wape(&self.actual, &self.naive),
            mase: scale.and_then(|s| mase(&self.actual, &self.naive, s)),
            bias: bias(&self.actual, &self.naive),
            pinball_p10: None,
            pinball_p50: pinball(&self.actual, &self.naive, 0.5),
            pinball_p90: None,
            below_p10: None,
            below_p50: None,
            below_p90: None,
            coverage_p10_p90: None,
        };
        [model, naive]
    }
}

/// `[cell][period]` over the grid: whether a promotion acts on the cell.
pub fn promoted_cells(panel: &Panel) -> Vec<bool> {
    let mut out = Vec::with_capacity(panel.cell_count() * panel.total_len);
    let mut promos = Vec::with_capacity(panel.total_len);
    for sku in 0..panel.sku_count() {
        for warehouse in 0..panel.warehouse_count() {
            super::cell::cell_promotions(panel, sku, warehouse, &mut promos);
            out.extend(promos.iter().map(|state| state.active));
        }
    }
    out
}

/// The in-sample seasonal-naive absolute error of one SKU × warehouse over the last season
/// before the origin (lag 1 when there is less than two seasons of history).
fn naive_scale(panel: &Panel, sku: usize, warehouse: usize) -> (f64, f64) {
    let season = season_periods(panel.freq);
    let lag = if panel.history_len >= 2 * season {
        season
    } else {
        1
    };
    let begin = panel.history_len.saturating_sub(season).max(lag);
    let mut error = 0.0;
    let mut count = 0.0;
    for period in begin..panel.history_len {
        error += (f64::from(panel.cell(sku, warehouse, period))
            - f64::from(panel.cell(sku, warehouse, period - lag)))
        .abs();
        count += 1.0;
    }
    (error, count)
}

fn origin_lengths(panel: &Panel, horizon: usize, origins: usize) -> Vec<usize> {
    (0..origins.min(MAX_BACKTEST_ORIGINS))
        .filter_map(|i| panel.history_len.checked_sub(horizon + i * horizon))
        .filter(|origin_len| *origin_len >= season_periods(panel.freq) / 2)
        .collect()
}

fn level_index(levels: &[f64], level: f64) -> usize {
    levels
        .iter()
        .position(|l| (l - level).abs() < 1e-9)
        .expect("backtests forecast p10, p50 and p90")
}

/// Runs the backtest. `settings.quantiles` gains 0.1/0.5/0.9 if missing.
pub fn backtest(panel: &Panel, settings: &ForecastSettings, origins: usize) -> BacktestReport {
    let settings = with_interval_levels(settings);
    let horizon = settings.horizon;
    let origin_list = origin_lengths(panel, horizon, origins);
    let mut sums = BacktestSums::new(panel, &settings);
    let mut choices = Vec::new();
    for &origin_len in &origin_list {
        let history = panel.truncated(origin_len, horizon);
        let forecaster = fit_forecaster(&history, &settings);
        choices.extend(origin_choices(panel, origin_len, &forecaster));
        let output = predict(&history, &forecaster, &settings);
        sums.add_naive_scales(panel, &history);
        sums.add_origin(panel, &history, &output, origin_len);
    }
    let weekly_row = |method: &'static str, sums: &BlockSums| WeeklyRow {
        method,
        all_weeks: sums.all_wape(),
        promotion_weeks: sums.promotion_wape(),
        other_weeks: sums.other_wape(),
        promotion_week_count: sums.promotion_blocks,
    };
    let weekly = vec![
        weekly_row("stockcast", &sums.weekly_model),
        weekly_row("seasonal_naive", &sums.weekly_naive),
    ];
    BacktestReport {
        origins: origin_list
            .iter()
            .map(|len| panel.date_of(len - 1))
            .collect(),
        horizon,
        rows: scope_rows(&sums.scopes),
        choices,
        weekly,
        ablation: Vec::new(),
    }
}

/// The settings with p10, p50 and p90 among the levels, which the scores read.
fn with_interval_levels(settings: &ForecastSettings) -> ForecastSettings {
    let mut settings = settings.clone();
    for level in [0.1, 0.5, 0.9] {
        if !settings.quantiles.iter().any(|l| (l - level).abs() < 1e-9) {
            settings.quantiles.push(level);
        }
    }
    settings.quantiles.sort_by(f64::total_cmp);
    settings
}

fn origin_choices(panel: &Panel, origin_len: usize, forecaster: &Forecaster) -> Vec<ChoiceRow> {
    forecaster
        .categories
        .iter()
        .map(|fit| ChoiceRow {
            origin: panel.date_of(origin_len - 1),
            category: fit.category.clone(),
            chosen: fit.chosen(),
            pooled: fit.pooled_choice,
            holdout: fit.holdout.clone(),
        })
        .collect()
}

/// Overall, promotion and normal periods first, then the categories.
fn scope_rows(scopes: &BTreeMap<String, Pairs>) -> Vec<MetricRow> {
    let mut rows = Vec::new();
    let order = ["overall", "promotion periods", "normal periods"];
    for scope in order {
        if let Some(pairs) = scopes.get(scope) {
            rows.extend(pairs.rows(scope));
        }
    }
    for (scope, pairs) in scopes {
        if !order.contains(&scope.as_str()) {
            rows.extend(pairs.rows(scope));
        }
    }
    rows
}

/// What the origins add up to: forecast–actual pairs per scope, and weekly block sums of
/// stockcast and seasonal naive.
struct BacktestSums {
    scopes: BTreeMap<String, Pairs>,
    weekly_model: BlockSums,
    weekly_naive: BlockSums,
    /// Promotions are per cell (a store's own price cut), so each series is its own group.
    series: Vec<usize>,
    promoted: Vec<bool>,
    horizon: usize,
    block_periods: usize,
    /// Indices of p10, p50 and p90 among the forecast's levels.
    levels: (usize, usize, usize),
}

impl BacktestSums {
    fn new(panel: &Panel, settings: &ForecastSettings) -> BacktestSums {
        BacktestSums {
            scopes: BTreeMap::new(),
            weekly_model: BlockSums::default(),
            weekly_naive: BlockSums::default(),
            series: (0..panel.cell_count()).collect(),
            promoted: promoted_cells(panel),
            horizon: settings.horizon,
            block_periods: match panel.freq {
                Frequency::Day => 7,
                Frequency::Week => 1,
            },
            levels: (
                level_index(&settings.quantiles, 0.1),
                level_index(&settings.quantiles, 0.5),
                level_index(&settings.quantiles, 0.9),
            ),
        }
    }

    fn add_naive_scales(&mut self, panel: &Panel, history: &Panel) {
        for sku in 0..panel.sku_count() {
            let category = format!("category:{}", panel.categories[panel.sku_category[sku]]);
            for warehouse in 0..panel.warehouse_count() {
                let (error, count) = naive_scale(history, sku, warehouse);
                for key in ["overall", category.as_str()] {
                    let pairs = self.scopes.entry(key.to_string()).or_default();
                    pairs.scale_error += error;
                    pairs.scale_count += count;
                }
            }
        }
    }

    fn add_origin(
        &mut self,
        panel: &Panel,
        history: &Panel,
        output: &ForecastOutput,
        origin_len: usize,
    ) {
        let (horizon, warehouses) = (self.horizon, panel.warehouse_count());
        let (i10, i50, i90) = self.levels;
        let dense = self.series.len() * horizon;
        let (mut actual_dense, mut model_dense, mut naive_dense) =
            (vec![0.0; dense], vec![0.0; dense], vec![0.0; dense]);
        let mut promo_dense = vec![false; dense];
        for row in 0..output.len() {
            let (sku, warehouse, target) = (
                output.sku[row] as usize,
                output.warehouse[row] as usize,
                output.period[row] as usize,
            );
            // A stock-out period has no actual demand to score.
            if panel.is_cell_censored(sku, warehouse, target) {
                continue;
            }
            let actual = f64::from(panel.cell(sku, warehouse, target));
            let naive = seasonal_naive(history, sku, warehouse, origin_len, target);
            let promo = self.promoted[(sku * warehouses + warehouse) * panel.total_len + target];
            let slot = (sku * warehouses + warehouse) * horizon + (target - origin_len);
            actual_dense[slot] = actual;
            model_dense[slot] = output.mean[row];
            naive_dense[slot] = naive;
            promo_dense[slot] = promo;
            let category = format!("category:{}", panel.categories[panel.sku_category[sku]]);
            let keys = [
                "overall",
                if promo {
                    "promotion periods"
                } else {
                    "normal periods"
                },
                category.as_str(),
            ];
            for key in keys {
                let pairs = self.scopes.entry(key.to_string()).or_default();
                pairs.actual.push(actual);
                pairs.mean.push(output.mean[row]);
                pairs.p10.push(output.quantile(row, i10));
                pairs.p50.push(output.quantile(row, i50));
                pairs.p90.push(output.quantile(row, i90));
                pairs.naive.push(naive);
            }
        }
        let (series, block_periods) = (&self.series, self.block_periods);
        self.weekly_model.add(
            &actual_dense,
            &model_dense,
            horizon,
            block_periods,
            series,
            &promo_dense,
        );
        self.weekly_naive.add(
            &actual_dense,
            &naive_dense,
            horizon,
            block_periods,
            series,
            &promo_dense,
        );
    }
}

/// WAPE with each feature group switched off in turn, on the same origins.
pub fn ablation(panel: &Panel, settings: &ForecastSettings, origins: usize) -> Vec<AblationRow> {
    let variants = [
        ("all features", FeatureSet::default()),
        (
            "without poll signals",
            FeatureSet {
                polls: false,
                ..FeatureSet::default()
            },
        ),
        (
            "without promotion features",
            FeatureSet {
                promotions: false,
                ..FeatureSet::default()
            },
        ),
    ];
    variants
        .into_iter()
        .map(|(label, features)| {
            let report = backtest(
                panel,
                &ForecastSettings {
                    features,
                    ..settings.clone()
                },
                origins,
            );
            AblationRow {
                features: label.to_string(),
                wape: report.row("overall", "stockcast").and_then(|row| row.wape),
                promo_wape: report
                    .row("promotion periods", "stockcast")
                    .and_then(|row| row.wape),
                weekly_wape: report.weekly.first().and_then(|row| row.all_weeks),
                promotion_week_wape: report.weekly.first().and_then(|row| row.promotion_weeks),
            }
        })
        .collect()
}
