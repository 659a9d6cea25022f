//! Fitting and predicting: pooled per-category models over SKU totals, split to warehouses by
//! their recent share, with negative-binomial quantiles. Pure: a panel in, numbers out.
//!
//! Training rows are (origin, target) pairs: origins every `origin_step` periods going back
//! from the as-of date, each with targets 1..=horizon periods ahead, so every feature is what
//! was known at that origin. The most recent origin is held out to choose each category's
//! model (Poisson GLM or log-linear) and to calibrate the quantile dispersion; the chosen
//! model is then refitted on all rows.

use super::features::{feature_names, FeatureSet, RowBuilder, SeriesSums};
use super::model::{fit, fit_from, FittedModel, ModelKind, TrainingData};
use super::panel::{season_periods, Panel};
use super::quantiles::{
    negative_binomial_cdf, negative_binomial_quantiles, volume_band, DispersionSums,
    LevelCalibration, VOLUME_BAND_EDGES,
};
use crate::contract::Frequency;

pub const MAX_HORIZON_PERIODS: usize = 400;
const BANDS: usize = VOLUME_BAND_EDGES.len() + 1;
/// Shrinks a warehouse's share toward its category's share (pseudo-units of evidence).
const SHARE_PRIOR_UNITS: f64 = 3.0;
/// Fallback dispersion when a category has too little held-out evidence.
const DEFAULT_DISPERSION: f64 = 0.5;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ForecastSettings {
    pub horizon: usize,
    /// Sorted, distinct, each in (0, 1).
    pub quantiles: Vec<f64>,
    pub features: FeatureSet,
    pub training_origins: usize,
    pub origin_step: usize,
    /// Bound on rows per category model; larger categories are subsampled by SKU.
    pub max_training_rows: usize,
    /// Force one model kind instead of choosing per category on the held-out origin.
    pub model: Option<ModelKind>,
}

impl ForecastSettings {
    pub fn new(freq: Frequency, horizon: usize) -> ForecastSettings {
        ForecastSettings {
            horizon,
            quantiles: vec![0.1, 0.5, 0.9],
            features: FeatureSet::default(),
            training_origins: 13,
            origin_step: match freq {
                Frequency::Day => 28,
                Frequency::Week => 4,
            },
            max_training_rows: 200_000,
            model: None,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CategoryFit {
    pub category: String,
    /// `None` when the category could not be fitted: it falls back to seasonal naive.
    pub model: Option<FittedModel>,
    pub fallback_reason: Option<String>,
    /// Held-out SKU-level WAPE of each candidate model.
    pub holdout_wape: Vec<(ModelKind, Option<f64>)>,
    pub dispersion: [f64; BANDS],
    /// Per volume band: nominal quantile level → fitted-distribution level (held-out PIT).
    #[serde(default)]
    pub level_calibration: [LevelCalibration; BANDS],
    pub training_rows: usize,
    /// Training rows left out because a feature was NaN or infinite (bad input that slipped
    /// past validation); their periods are forecast by seasonal naive.
    #[serde(default)]
    pub non_finite_rows: usize,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Forecaster {
    pub freq: Frequency,
    pub horizon: usize,
    pub features: FeatureSet,
    pub feature_names: Vec<String>,
    pub categories: Vec<CategoryFit>,
}

/// One forecast value per (sku, warehouse, target period), struct-of-arrays.
#[derive(Debug, Clone, Default)]
pub struct ForecastOutput {
    pub quantile_levels: Vec<f64>,
    pub sku: Vec<u32>,
    pub warehouse: Vec<u32>,
    pub period: Vec<u32>,
    pub mean: Vec<f64>,
    /// `len() × quantile_levels.len()`, row-major.
    pub quantiles: Vec<f64>,
}

impl ForecastOutput {
    pub fn len(&self) -> usize {
        self.mean.len()
    }

    pub fn is_empty(&self) -> bool {
        self.mean.is_empty()
    }

    pub fn quantile(&self, row: usize, index: usize) -> f64 {
        self.quantiles[row * self.quantile_levels.len() + index]
    }
}

/// Warehouse shares of each SKU's demand over the recent window before `origin_len`,
/// shrunk toward the category's shares. `[sku][warehouse]`.
pub fn warehouse_shares(panel: &Panel, origin_len: usize) -> Vec<f64> {
    let warehouses = panel.warehouse_count();
    let window = match panel.freq {
        Frequency::Day => 182,
        Frequency::Week => 26,
    };
    let begin = origin_len.saturating_sub(window);
    let mut cell_totals = vec![0.0; panel.sku_count() * warehouses];
    let mut category_totals = vec![0.0; panel.categories.len() * warehouses];
    for sku in 0..panel.sku_count() {
        for warehouse in 0..warehouses {
            let total: f64 = (begin..origin_len)
                .map(|period| f64::from(panel.cell(sku, warehouse, period)))
                .sum();
            cell_totals[sku * warehouses + warehouse] = total;
            category_totals[panel.sku_category[sku] * warehouses + warehouse] += total;
        }
    }
    let mut shares = vec![0.0; panel.sku_count() * warehouses];
    for sku in 0..panel.sku_count() {
        let category = panel.sku_category[sku];
        let category_row = &category_totals[category * warehouses..(category + 1) * warehouses];
        let category_sum: f64 = category_row.iter().sum();
        let prior: Vec<f64> = if category_sum > 0.0 {
            category_row.iter().map(|v| v / category_sum).collect()
        } else {
            vec![1.0 / warehouses as f64; warehouses]
        };
        let row = &cell_totals[sku * warehouses..(sku + 1) * warehouses];
        let sku_sum: f64 = row.iter().sum();
        for warehouse in 0..warehouses {
            shares[sku * warehouses + warehouse] = (row[warehouse]
                + SHARE_PRIOR_UNITS * prior[warehouse])
                / (sku_sum + SHARE_PRIOR_UNITS);
        }
    }
    shares
}

/// Seasonal naive at cell level: the same period a season earlier, or, when the SKU has no
/// season of history (a short history, or launched within the last season), its mean since
/// it started selling over the last season.
pub fn seasonal_naive(
    panel: &Panel,
    sku: usize,
    warehouse: usize,
    origin_len: usize,
    target: usize,
) -> f64 {
    let season = season_periods(panel.freq);
    let first_active = panel.active_from[sku].unwrap_or(origin_len);
    match target.checked_sub(season) {
        Some(last_season) if last_season < origin_len && last_season >= first_active => {
            f64::from(panel.cell(sku, warehouse, last_season))
        }
        _ => {
            let begin = origin_len.saturating_sub(season).max(first_active);
            if begin >= origin_len {
                return 0.0;
            }
            (begin..origin_len)
                .map(|period| f64::from(panel.cell(sku, warehouse, period)))
                .sum::<f64>()
                / (origin_len - begin) as f64
        }
    }
}

fn builder<'a>(
    panel: &'a Panel,
    sums: &'a SeriesSums,
    settings: &ForecastSettings,
) -> RowBuilder<'a> {
    RowBuilder {
        panel,
        sums,
        set: settings.features,
        horizon: settings.horizon,
    }
}

struct CategoryRows {
    select: TrainingData,
    all: TrainingData,
    /// Held-out rows: (sku, origin_len, target, features).
    holdout: Vec<(usize, usize, usize)>,
    /// Rows left out because a feature was not finite.
    non_finite: usize,
}

fn origins(panel: &Panel, settings: &ForecastSettings) -> Vec<usize> {
    // The earliest origin needs a quarter of history for its levels.
    let minimum = match panel.freq {
        Frequency::Day => 91,
        Frequency::Week => 13,
    };
    (0..settings.training_origins)
        .filter_map(|k| {
            let back = settings.horizon + k * settings.origin_step;
            panel
                .history_len
                .checked_sub(back)
                .filter(|origin| *origin >= minimum)
        })
        .collect()
}

fn build_rows(
    panel: &Panel,
    sums: &SeriesSums,
    settings: &ForecastSettings,
    category: usize,
    width: usize,
) -> CategoryRows {
    let origin_list = origins(panel, settings);
    let holdout_origin = origin_list.first().copied();
    let skus: Vec<usize> = (0..panel.sku_count())
        .filter(|s| panel.sku_category[*s] == category)
        .collect();
    let rows_per_sku = origin_list.len() * settings.horizon;
    let stride = ((skus.len() * rows_per_sku) / settings.max_training_rows.max(1)).max(1);
    let mut rows = CategoryRows {
        select: TrainingData::new(width),
        all: TrainingData::new(width),
        holdout: Vec::new(),
        non_finite: 0,
    };
    let mut features = Vec::with_capacity(width);
    for (index, &sku) in skus.iter().enumerate() {
        if index % stride != 0 {
            continue;
        }
        for &origin_len in &origin_list {
            for target in origin_len..(origin_len + settings.horizon).min(panel.history_len) {
                if !panel.observed(sku, target) {
                    continue;
                }
                if !builder(panel, sums, settings).fill(sku, origin_len, target, &mut features) {
                    rows.non_finite += 1;
                    continue;
                }
                let actual = f64::from(panel.sku_units(sku, target));
                rows.all.push(&features, actual);
                match holdout_origin {
                    Some(holdout) if origin_len == holdout => {
                        rows.holdout.push((sku, origin_len, target))
                    }
                    Some(holdout) if target < holdout => rows.select.push(&features, actual),
                    _ => {}
                }
            }
        }
    }
    rows
}

fn holdout_wape(
    panel: &Panel,
    sums: &SeriesSums,
    settings: &ForecastSettings,
    model: &FittedModel,
    holdout: &[(usize, usize, usize)],
) -> Option<f64> {
    let mut features = Vec::new();
    let (mut error, mut total) = (0.0, 0.0);
    for &(sku, origin_len, target) in holdout {
        let finite = builder(panel, sums, settings).fill(sku, origin_len, target, &mut features);
        debug_assert!(finite, "held-out rows were checked when they were built");
        let actual = f64::from(panel.sku_units(sku, target));
        error += (model.predict(&features) - actual).abs();
        total += actual;
    }
    (total > 0.0).then(|| error / total)
}

fn fit_category(
    panel: &Panel,
    sums: &SeriesSums,
    settings: &ForecastSettings,
    category: usize,
    width: usize,
) -> CategoryFit {
    let name = panel.categories[category].clone();
    let rows = build_rows(panel, sums, settings, category, width);
    let candidates: Vec<ModelKind> = match settings.model {
        Some(kind) => vec![kind],
        None => vec![ModelKind::Poisson, ModelKind::LogLinear],
    };
    let mut scored = Vec::new();
    let mut best: Option<(ModelKind, f64, FittedModel)> = None;
    for kind in &candidates {
        let score = fit(*kind, &rows.select).ok().and_then(|model| {
            holdout_wape(panel, sums, settings, &model, &rows.holdout).map(|wape| (wape, model))
        });
        scored.push((*kind, score.as_ref().map(|(wape, _)| *wape)));
        if let Some((wape, model)) = score {
            if best
                .as_ref()
                .is_none_or(|(_, best_wape, _)| wape < *best_wape)
            {
                best = Some((*kind, wape, model));
            }
        }
    }
    // Dispersion and level calibration from the held-out origin, at cell level, with the
    // selection-time model.
    let mut dispersion_sums = [DispersionSums::default(); BANDS];
    let mut held_out_cells: Vec<(f64, f32)> = Vec::new();
    if let Some((_, _, model)) = &best {
        if let Some(&(_, holdout_origin, _)) = rows.holdout.first() {
            let shares = warehouse_shares(panel, holdout_origin);
            let warehouses = panel.warehouse_count();
            let mut features = Vec::new();
            for &(sku, origin_len, target) in &rows.holdout {
                let finite =
                    builder(panel, sums, settings).fill(sku, origin_len, target, &mut features);
                debug_assert!(finite, "held-out rows were checked when they were built");
                let mean = model.predict(&features);
                for warehouse in 0..warehouses {
                    let cell_mean = mean * shares[sku * warehouses + warehouse];
                    let actual = panel.cell(sku, warehouse, target);
                    dispersion_sums[volume_band(cell_mean)].add(f64::from(actual), cell_mean);
                    held_out_cells.push((cell_mean, actual));
                }
            }
        }
    }
    let dispersion = dispersion_sums.map(|sums| sums.dispersion(DEFAULT_DISPERSION));
    let mut pit: [Vec<f64>; BANDS] = Default::default();
    for (mean, actual) in held_out_cells {
        let band = volume_band(mean);
        pit[band].push(negative_binomial_cdf(
            f64::from(actual),
            mean,
            dispersion[band],
        ));
    }
    let level_calibration = pit.map(LevelCalibration::from_pit);

    let chosen = best
        .as_ref()
        .map(|(kind, _, _)| *kind)
        .or(settings.model)
        .unwrap_or(ModelKind::Poisson);
    let warm_start = best
        .as_ref()
        .filter(|(kind, _, _)| *kind == chosen)
        .map(|(_, _, model)| model);
    let (model, fallback_reason) = match fit_from(chosen, &rows.all, warm_start) {
        Ok(model) => (Some(model), None),
        Err(message) => match best {
            Some((_, _, model)) => (Some(model), None),
            None => (None, Some(format!("seasonal naive fallback: {message}"))),
        },
    };
    CategoryFit {
        category: name,
        model,
        fallback_reason,
        holdout_wape: scored,
        dispersion,
        level_calibration,
        training_rows: rows.all.len(),
        non_finite_rows: rows.non_finite,
    }
}

/// Fits one model per category. Categories are independent, so two threads share them.
pub fn fit_forecaster(panel: &Panel, settings: &ForecastSettings) -> Forecaster {
    assert!(settings.horizon >= 1 && settings.horizon <= MAX_HORIZON_PERIODS);
    let names = feature_names(panel.freq, settings.features);
    let width = names.len();
    let sums = SeriesSums::new(panel);
    let category_count = panel.categories.len();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let mut fits: Vec<Option<CategoryFit>> = (0..category_count).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let sums = &sums;
                scope.spawn(move || {
                    (thread..category_count)
                        .step_by(threads)
                        .map(|category| {
                            (
                                category,
                                fit_category(panel, sums, settings, category, width),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            for (category, fitted) in handle.join().expect("category fit thread") {
                fits[category] = Some(fitted);
            }
        }
    });
    Forecaster {
        freq: panel.freq,
        horizon: settings.horizon,
        features: settings.features,
        feature_names: names.into_iter().map(str::to_string).collect(),
        categories: fits
            .into_iter()
            .map(|fit| fit.expect("every category fitted"))
            .collect(),
    }
}

/// Forecasts the `horizon` periods after the panel's history for every SKU × warehouse.
pub fn predict(
    panel: &Panel,
    forecaster: &Forecaster,
    settings: &ForecastSettings,
) -> ForecastOutput {
    assert_eq!(
        panel.freq, forecaster.freq,
        "forecaster and panel frequency differ"
    );
    assert!(
        panel.total_len >= panel.history_len + settings.horizon,
        "panel lacks the future periods"
    );
    let sums = SeriesSums::new(panel);
    let origin_len = panel.history_len;
    let shares = warehouse_shares(panel, origin_len);
    let warehouses = panel.warehouse_count();
    let levels = &settings.quantiles;
    let rows = panel.sku_count() * warehouses * settings.horizon;
    let mut output = ForecastOutput {
        quantile_levels: levels.clone(),
        sku: Vec::with_capacity(rows),
        warehouse: Vec::with_capacity(rows),
        period: Vec::with_capacity(rows),
        mean: Vec::with_capacity(rows),
        quantiles: Vec::with_capacity(rows * levels.len()),
    };
    let mut features = Vec::new();
    let mut quantiles = Vec::new();
    // `[category][band]`: the levels to ask each band's fitted distribution for.
    let calibrated_levels: Vec<[Vec<f64>; BANDS]> = forecaster
        .categories
        .iter()
        .map(|category| {
            std::array::from_fn(|band| {
                levels
                    .iter()
                    .map(|level| category.level_calibration[band].map(*level))
                    .collect()
            })
        })
        .collect();
    for sku in 0..panel.sku_count() {
        let category_index = panel.sku_category[sku];
        let category = &forecaster.categories[category_index];
        for target in origin_len..origin_len + settings.horizon {
            let sku_mean = category.model.as_ref().and_then(|model| {
                RowBuilder {
                    panel,
                    sums: &sums,
                    set: forecaster.features,
                    horizon: forecaster.horizon,
                }
                .fill(sku, origin_len, target, &mut features)
                .then(|| model.predict(&features))
            });
            for warehouse in 0..warehouses {
                let mean = match sku_mean {
                    Some(mean) => mean * shares[sku * warehouses + warehouse],
                    None => seasonal_naive(panel, sku, warehouse, origin_len, target),
                };
                let mean = if mean.is_finite() { mean.max(0.0) } else { 0.0 };
                let band = volume_band(mean);
                negative_binomial_quantiles(
                    mean,
                    category.dispersion[band],
                    &calibrated_levels[category_index][band],
                    &mut quantiles,
                );
                output.sku.push(sku as u32);
                output.warehouse.push(warehouse as u32);
                output.period.push(target as u32);
                output.mean.push(mean);
                output.quantiles.extend_from_slice(&quantiles);
            }
        }
    }
    output
}
