//! Fitting and predicting, per SKU × warehouse cell. Pure: a panel in, numbers out.
//!
//! 1. Training rows are (cell, origin, target) triples: origins every `origin_step` periods
//!    going back from the as-of date, each with targets 1..=horizon periods ahead, so every
//!    feature is what was known at that origin. One pooled model of each kind (Poisson,
//!    log-linear) learns from all categories at once, with category-specific terms shrunk
//!    toward the pool.
//! 2. The most recent origins are held out: every candidate (seasonal naive, the recent
//!    level, the weekday profile, the promotion-aware naive, and the two models fitted on
//!    the periods before the first held-out origin) forecasts them, and each category takes
//!    the candidate or pair with the lowest error there ([`selection`]).
//! 3. The models the choices use are refitted on every row, and the dispersion of each
//!    category's forecast is calibrated on the held-out actuals.

use chrono::Datelike;
use rayon::prelude::*;

pub use super::baselines::seasonal_naive;
use super::baselines::seasonal_naive_aligned;
use super::baselines::{recent_mean, weekday_mean, PromotionNaive};
use super::cell::{cell_promotions, CellHistory, PromoState};
use super::features::{FeatureSchema, FeatureSet, OriginState, PanelContext, RowBuilder};
use super::model::{fit, fit_from, FittedModel, ModelKind, Penalty, TrainingData};
use super::panel::{season_periods, Panel};
use super::quantiles::{
    calibrate_dispersion, negative_binomial_quantiles, volume_band, HeldOutTotal, VOLUME_BAND_EDGES,
};
use super::selection::{
    choose, Blend, Candidate, CandidateScore, Choice, Evidence, HeldOutBlock, CANDIDATES,
};
use crate::contract::Frequency;

pub const MAX_HORIZON_PERIODS: usize = 400;
pub const BANDS: usize = VOLUME_BAND_EDGES.len() + 1;
/// Shrinks a cell's share of its SKU toward its category's share (pseudo-units of evidence).
const SHARE_PRIOR_UNITS: f64 = 3.0;
/// Fallback dispersion when neither a band nor the pool has enough held-out evidence.
const DEFAULT_DISPERSION: f64 = 0.5;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ForecastSettings {
    pub horizon: usize,
    /// Sorted, distinct, each in (0, 1).
    pub quantiles: Vec<f64>,
    pub features: FeatureSet,
    pub training_origins: usize,
    pub origin_step: usize,
    /// Bound on training rows of each pooled model; more are subsampled evenly.
    pub max_training_rows: usize,
    /// Force one model kind instead of choosing per category on the held-out origins.
    pub model: Option<ModelKind>,
    /// The most recent training origins the choice is made on.
    #[serde(default = "default_holdout_origins")]
    pub holdout_origins: usize,
    /// Bound on the series per category scored at each held-out origin.
    #[serde(default = "default_holdout_series")]
    pub max_holdout_series: usize,
}

/// What artifacts saved before the count depended on the horizon were fitted with.
fn default_holdout_origins() -> usize {
    MIN_HOLDOUT_ORIGINS
}

const MIN_HOLDOUT_ORIGINS: usize = 3;
const MAX_HOLDOUT_ORIGINS: usize = 5;
/// Held-out forecasts each series needs for the choice: three origins of a 12-week horizon
/// (36) left a category's choice to chase the noise of a few overlapping horizons, while
/// three of a 56-day one (168) are plenty.
const MIN_HELD_OUT_PERIODS_PER_SERIES: usize = 60;

/// Enough origins that each series has [`MIN_HELD_OUT_PERIODS_PER_SERIES`] held-out
/// forecasts, within bounds.
pub fn holdout_origins_for(horizon: usize) -> usize {
    MIN_HELD_OUT_PERIODS_PER_SERIES
        .div_ceil(horizon.max(1))
        .clamp(MIN_HOLDOUT_ORIGINS, MAX_HOLDOUT_ORIGINS)
}

fn default_holdout_series() -> usize {
    500
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
            max_training_rows: 250_000,
            model: None,
            holdout_origins: holdout_origins_for(horizon),
            max_holdout_series: default_holdout_series(),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CategoryFit {
    pub category: String,
    /// What the category forecasts with.
    pub blend: Blend,
    /// The choice was made on all categories together (too little evidence of its own).
    pub pooled_choice: bool,
    /// Set when no model could be chosen: the category falls back to seasonal naive.
    pub fallback_reason: Option<String>,
    /// Held-out error of each candidate alone and of the choice, on this category.
    pub holdout: Vec<CandidateScore>,
    /// The fitted models the blend uses.
    pub models: Vec<FittedModel>,
    /// The columns those models read.
    pub schema: FeatureSchema,
    /// `[regular, promoted][volume band]`: negative-binomial dispersion.
    pub dispersion: [[f64; BANDS]; 2],
    pub training_rows: usize,
    /// Training rows left out because a feature was NaN or infinite (bad input that slipped
    /// past validation); their periods are forecast by seasonal naive.
    pub non_finite_rows: usize,
}

impl CategoryFit {
    pub fn model(&self, kind: ModelKind) -> Option<&FittedModel> {
        self.models.iter().find(|model| model.kind == kind)
    }

    /// What the category forecasts with, as reports print it: the blend, or why it fell
    /// back to seasonal naive.
    pub fn chosen(&self) -> String {
        self.fallback_reason
            .clone()
            .unwrap_or_else(|| self.blend.describe())
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Forecaster {
    pub freq: Frequency,
    pub horizon: usize,
    pub features: FeatureSet,
    pub feature_names: Vec<String>,
    pub categories: Vec<CategoryFit>,
}

impl Forecaster {
    /// One forecaster from forecasters fitted on disjoint categories (forecast shards).
    pub fn merge(freq: Frequency, horizon: usize, parts: Vec<Forecaster>) -> Forecaster {
        let feature_names = parts
            .first()
            .map(|part| part.feature_names.clone())
            .unwrap_or_default();
        let features = parts
            .first()
            .map_or_else(FeatureSet::default, |p| p.features);
        Forecaster {
            freq,
            horizon,
            features,
            feature_names,
            categories: parts.into_iter().flat_map(|part| part.categories).collect(),
        }
    }

    /// The multiplier the chosen model puts on a promotion of `discount_pct` in `category`,
    /// averaged over a promotion of `periods` periods, everything else equal. `None` when
    /// the category's forecast uses no model.
    pub fn promotion_lift(&self, category: &str, discount_pct: f64, periods: i64) -> Option<f64> {
        let fit = self
            .categories
            .iter()
            .find(|fit| fit.category == category)?;
        let model = fit
            .model(ModelKind::LogLinear)
            .or_else(|| fit.model(ModelKind::Poisson))?;
        let names = fit.schema.names();
        let column = |name: &str| names.iter().position(|n| n == name);
        let promo = column("promo")?;
        let discount = (discount_pct / 100.0).clamp(0.0, 0.95);
        let periods = periods.max(1);
        let mut total = 0.0;
        for period in 1..=periods {
            let mut multiplier = model.effect(promo, 1.0);
            for (name, value) in [
                ("discount", discount),
                ("discount_over_10", (discount - 0.1).max(0.0)),
                ("discount_over_20", (discount - 0.2).max(0.0)),
                ("discount_over_30", (discount - 0.3).max(0.0)),
                (
                    "promo_without_price_cut",
                    if discount < 0.005 { 1.0 } else { 0.0 },
                ),
                ("promo_first_period", if period == 1 { 1.0 } else { 0.0 }),
                ("promo_progress", (period.min(8) as f64) / 8.0),
                ("log_promo_length", (periods as f64).ln_1p()),
                ("discount_per_period", discount / periods as f64),
                (format!("category {category} × promo").as_str(), 1.0),
                (format!("category {category} × discount").as_str(), discount),
            ] {
                if let Some(j) = column(name) {
                    multiplier *= model.effect(j, value);
                }
            }
            total += multiplier;
        }
        Some(total / periods as f64)
    }
}

/// One forecast value per (sku, warehouse, target period), struct-of-arrays.
#[derive(Debug, Clone, Default)]
pub struct ForecastOutput {
    pub quantile_levels: Vec<f64>,
    pub sku: Vec<u32>,
    pub warehouse: Vec<u32>,
    pub period: Vec<u32>,
    pub mean: Vec<f64>,
    /// The negative binomial's dispersion φ (Var = μ + φμ²) each row's quantiles come from.
    pub dispersion: Vec<f64>,
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

/// Training origins (periods of history before each), most recent first. The earliest needs
/// a quarter of history for its levels.
fn origins(panel: &Panel, settings: &ForecastSettings) -> Vec<usize> {
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

/// A deterministic pseudo-random number in [0, 1) for a (cell, origin, target) triple, so
/// subsampling is the same on every run.
fn unit_hash(a: u64, b: u64, c: u64) -> f64 {
    let mut x = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
        .wrapping_add(c.wrapping_mul(0x1656_67B1_9E37_79F9));
    x ^= x >> 31;
    x = x.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    x ^= x >> 32;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// One cell with everything its rows read.
struct CellInputs {
    history: CellHistory,
    promos: Vec<PromoState>,
}

impl CellInputs {
    fn new(panel: &Panel, sku: usize, warehouse: usize) -> CellInputs {
        let mut promos = Vec::with_capacity(panel.total_len);
        cell_promotions(panel, sku, warehouse, &mut promos);
        CellInputs {
            history: CellHistory::new(panel, sku, warehouse, &promos),
            promos,
        }
    }
}

struct Rows {
    select: TrainingData,
    all: TrainingData,
    /// Per category: rows kept, rows left out as non-finite.
    kept: Vec<usize>,
    non_finite: Vec<usize>,
}

fn cells_with_history(panel: &Panel) -> Vec<(usize, usize)> {
    let warehouses = panel.warehouse_count();
    (0..panel.sku_count())
        .flat_map(|sku| (0..warehouses).map(move |warehouse| (sku, warehouse)))
        .filter(|(sku, warehouse)| panel.cell_active_from[sku * warehouses + warehouse].is_some())
        .collect()
}

fn build_rows(
    panel: &Panel,
    builder: &RowBuilder,
    settings: &ForecastSettings,
    origin_list: &[usize],
    select_end: usize,
) -> Rows {
    let cells = cells_with_history(panel);
    let candidates = cells.len() * origin_list.len() * settings.horizon;
    let keep_probability = (settings.max_training_rows as f64 / candidates.max(1) as f64).min(1.0);
    let width = builder.width();
    let categories = panel.categories.len();
    let empty = || Rows {
        select: TrainingData::new(width),
        all: TrainingData::new(width),
        kept: vec![0; categories],
        non_finite: vec![0; categories],
    };
    cells
        .par_iter()
        .fold(empty, |mut rows, &(sku, warehouse)| {
            let inputs = CellInputs::new(panel, sku, warehouse);
            let category = panel.sku_category[sku];
            let cell_id = (sku * panel.warehouse_count() + warehouse) as u64;
            let mut features = Vec::with_capacity(width);
            for &origin in origin_list {
                let Some(state) = builder.origin_state(&inputs.history, &inputs.promos, origin)
                else {
                    continue;
                };
                for target in origin..(origin + settings.horizon).min(panel.history_len) {
                    if !inputs.history.observed[target] {
                        continue;
                    }
                    if unit_hash(cell_id, origin as u64, target as u64) >= keep_probability {
                        continue;
                    }
                    if !builder.fill(
                        &inputs.history,
                        &inputs.promos,
                        &state,
                        target,
                        &mut features,
                    ) {
                        rows.non_finite[category] += 1;
                        continue;
                    }
                    let actual = f64::from(inputs.history.units[target]);
                    let promoted = inputs.promos[target].active;
                    rows.all
                        .push(&features, actual, state.base, promoted, target);
                    rows.kept[category] += 1;
                    if target < select_end {
                        rows.select
                            .push(&features, actual, state.base, promoted, target);
                    }
                }
            }
            rows
        })
        .reduce(empty, |mut a, b| {
            a.select.append(b.select);
            a.all.append(b.all);
            for (x, y) in a.kept.iter_mut().zip(b.kept) {
                *x += y;
            }
            for (x, y) in a.non_finite.iter_mut().zip(b.non_finite) {
                *x += y;
            }
            a
        })
}

/// Every candidate's forecast for one target, given the cell's state at the origin.
struct CandidateInputs<'a> {
    panel: &'a Panel,
    builder: &'a RowBuilder<'a>,
    promotion_naive: &'a PromotionNaive,
    poisson: Option<&'a FittedModel>,
    log_linear: Option<&'a FittedModel>,
    boosted: Option<&'a FittedModel>,
}

/// The baselines that stay flat (or repeat by weekday) over a horizon, at one origin.
struct FlatBaselines {
    recent: f64,
    /// By weekday, Monday first (daily data); the recent level otherwise.
    weekday: [f64; 7],
}

impl CandidateInputs<'_> {
    fn flat(&self, inputs: &CellInputs, origin: usize) -> FlatBaselines {
        let (sku, warehouse) = (inputs.history.sku, inputs.history.warehouse);
        let recent = recent_mean(self.panel, sku, warehouse, origin);
        let mut weekday = [recent; 7];
        if self.panel.freq == Frequency::Day {
            for (day, value) in weekday.iter_mut().enumerate() {
                // Any period with that weekday among the first seven after the origin.
                let target = origin
                    + (0..7)
                        .find(|k| {
                            self.panel
                                .date_of(origin + k)
                                .weekday()
                                .num_days_from_monday() as usize
                                == day
                        })
                        .unwrap_or(0);
                *value = weekday_mean(self.panel, sku, warehouse, origin, target);
            }
        }
        FlatBaselines { recent, weekday }
    }

    /// Forecasts of every candidate, and whether the regression features were finite (when
    /// not, the regression candidates carry seasonal naive).
    fn forecasts(
        &self,
        inputs: &CellInputs,
        state: &OriginState,
        flat: &FlatBaselines,
        target: usize,
        features: &mut Vec<f64>,
    ) -> ([f64; CANDIDATES.len()], bool) {
        let (panel, history) = (self.panel, &inputs.history);
        let (sku, warehouse, origin) = (history.sku, history.warehouse, state.origin);
        let naive = seasonal_naive_aligned(
            panel,
            self.builder.calendar(),
            sku,
            warehouse,
            origin,
            target,
        );
        let mut out = [0.0; CANDIDATES.len()];
        out[Candidate::SeasonalNaive.index()] = naive;
        out[Candidate::RecentMean.index()] = flat.recent;
        out[Candidate::WeekdayMean.index()] =
            flat.weekday[panel.date_of(target).weekday().num_days_from_monday() as usize];
        out[Candidate::PromotionNaive.index()] =
            self.promotion_naive
                .forecast(panel, sku, warehouse, &inputs.promos[target]);
        let finite = self
            .builder
            .fill(history, &inputs.promos, state, target, features);
        for (kind, model) in [
            (Candidate::Poisson, self.poisson),
            (Candidate::LogLinear, self.log_linear),
            (Candidate::Boosted, self.boosted),
        ] {
            out[kind.index()] = match model {
                Some(model) if finite => model.predict(features, state.base),
                _ => naive,
            };
        }
        (out, finite)
    }
}

/// A held-out cell-period: every candidate's forecast of it.
struct HeldOutCell {
    category: u32,
    series: u32,
    origin: u16,
    step: u16,
    promoted: bool,
    actual: f64,
    forecasts: [f64; CANDIDATES.len()],
}

/// Forecasts every candidate at the held-out origins, for a bounded subsample of each
/// category's series.
fn held_out(
    panel: &Panel,
    builder: &RowBuilder,
    settings: &ForecastSettings,
    holdouts: &[usize],
    select_models: &[FittedModel],
) -> Vec<HeldOutCell> {
    let cells = cells_with_history(panel);
    let mut per_category = vec![0usize; panel.categories.len()];
    for (sku, _) in &cells {
        per_category[panel.sku_category[*sku]] += 1;
    }
    let naives: Vec<PromotionNaive> = holdouts
        .iter()
        .map(|origin| PromotionNaive::new(panel, *origin))
        .collect();
    let find = |kind| select_models.iter().find(|m: &&FittedModel| m.kind == kind);
    let results: Vec<Vec<HeldOutCell>> = cells
        .par_iter()
        .filter(|(sku, warehouse)| {
            let share = settings.max_holdout_series as f64
                / per_category[panel.sku_category[*sku]].max(1) as f64;
            unit_hash((sku * panel.warehouse_count() + warehouse) as u64, 7, 11) < share
        })
        .map(|&(sku, warehouse)| {
            let inputs = CellInputs::new(panel, sku, warehouse);
            let category = panel.sku_category[sku] as u32;
            let series = (sku * panel.warehouse_count() + warehouse) as u32;
            let mut held = Vec::new();
            let mut features = Vec::new();
            for (index, &origin) in holdouts.iter().enumerate() {
                let Some(state) = builder.origin_state(&inputs.history, &inputs.promos, origin)
                else {
                    continue;
                };
                let candidates = CandidateInputs {
                    panel,
                    builder,
                    promotion_naive: &naives[index],
                    poisson: find(ModelKind::Poisson),
                    log_linear: find(ModelKind::LogLinear),
                    boosted: find(ModelKind::Boosted),
                };
                let flat = candidates.flat(&inputs, origin);
                for target in origin..(origin + settings.horizon).min(panel.history_len) {
                    if !inputs.history.observed[target] {
                        continue;
                    }
                    let (forecasts, _) =
                        candidates.forecasts(&inputs, &state, &flat, target, &mut features);
                    held.push(HeldOutCell {
                        category,
                        series,
                        origin: index as u16,
                        step: (target - origin) as u16,
                        promoted: inputs.promos[target].active,
                        actual: f64::from(inputs.history.units[target]),
                        forecasts,
                    });
                }
            }
            held
        })
        .collect();
    results.into_iter().flatten().collect()
}

/// Held-out cells summed into blocks of `length` consecutive periods of one series and
/// origin (cells arrive grouped by series, then origin, in step order).
fn blocks_of(cells: &[&HeldOutCell], length: usize) -> Vec<HeldOutBlock> {
    let mut blocks: Vec<HeldOutBlock> = Vec::new();
    let mut key = None;
    for cell in cells {
        let this = (cell.series, cell.origin, cell.step as usize / length);
        if key != Some(this) {
            key = Some(this);
            blocks.push(HeldOutBlock {
                category: cell.category,
                series: cell.series,
                actual: 0.0,
                forecasts: [0.0; CANDIDATES.len()],
            });
        }
        let block = blocks.last_mut().expect("a block was opened");
        block.actual += cell.actual;
        for (sum, value) in block.forecasts.iter_mut().zip(cell.forecasts) {
            *sum += value;
        }
    }
    blocks
}

/// Block lengths the choice may score on: one period, a week, four weeks, the horizon.
fn block_lengths(freq: Frequency, horizon: usize) -> Vec<usize> {
    let mut lengths = match freq {
        Frequency::Day => vec![1, 7, 28, horizon],
        Frequency::Week => vec![1, 4, horizon],
    };
    lengths.retain(|length| *length <= horizon);
    lengths.dedup();
    lengths
}

/// At most this share of the scored blocks may be empty: where nearly all are, absolute
/// error rewards forecasting nothing.
const MAX_EMPTY_BLOCK_SHARE: f64 = 0.7;
/// A per-period median model needs the median period to sell.
const MAX_EMPTY_PERIOD_SHARE_FOR_MEDIANS: f64 = 0.5;

fn empty_share(blocks: &[HeldOutBlock]) -> f64 {
    blocks.iter().filter(|b| b.actual <= 0.0).count() as f64 / blocks.len().max(1) as f64
}

/// The held-out blocks the choice is scored on: the shortest block length (a period, a
/// week, four weeks, the horizon) at which at most 70% of the blocks sold nothing, so busy
/// series are judged period by period and intermittent ones on longer totals. Also whether
/// periods sell often enough for a median model.
fn choice_blocks(
    cells: &[&HeldOutCell],
    freq: Frequency,
    horizon: usize,
) -> (Vec<HeldOutBlock>, usize, bool) {
    let periods = blocks_of(cells, 1);
    let medians_meaningful = empty_share(&periods) <= MAX_EMPTY_PERIOD_SHARE_FOR_MEDIANS;
    let lengths = block_lengths(freq, horizon);
    for (index, &length) in lengths.iter().enumerate() {
        let blocks = if length == 1 {
            periods.clone()
        } else {
            blocks_of(cells, length)
        };
        if index + 1 == lengths.len() || empty_share(&blocks) <= MAX_EMPTY_BLOCK_SHARE {
            return (blocks, length, medians_meaningful);
        }
    }
    (periods, 1, medians_meaningful)
}

/// Whether the periods since `from` sold in at least a share of cells near the one a median
/// model needs, in some category (lenient: the choice applies the exact rule per category
/// on the held-out cells).
fn any_category_busy(panel: &Panel, from: usize) -> bool {
    const LENIENT_EMPTY_SHARE: f64 = MAX_EMPTY_PERIOD_SHARE_FOR_MEDIANS + 0.1;
    let mut counts = vec![(0usize, 0usize); panel.categories.len()];
    for (sku, warehouse) in cells_with_history(panel) {
        let entry = &mut counts[panel.sku_category[sku]];
        for period in from..panel.history_len {
            if panel.cell_observed(sku, warehouse, period) {
                entry.0 += 1;
                if panel.cell(sku, warehouse, period) <= 0.0 {
                    entry.1 += 1;
                }
            }
        }
    }
    counts.iter().any(|(observed, empty)| {
        *observed > 0 && (*empty as f64) <= LENIENT_EMPTY_SHARE * *observed as f64
    })
}

/// `[category][regular, promoted][band]` dispersions from the held-out cells of each
/// category's chosen blend, falling back to the pool of all categories, then a default.
/// Each category is calibrated on the totals its choice was judged on: single periods for
/// busy series, blocks of periods for intermittent ones. A period of a slow seller is
/// nearly always covered (its p10 is 0 and so is its actual), while the total over a
/// promotion window, which the allocation plans from, varies with a level the periods
/// share: calibrated period by period, those totals were covered far below 80%.
type TotalsByBand = [[Vec<HeldOutTotal>; BANDS]; 2];

/// The block being summed while the held-out cells are walked.
struct OpenBlock {
    /// (series, origin, block index): held-out cells come series by series, origin by
    /// origin, step by step.
    key: (u32, u16, usize),
    category: usize,
    total: HeldOutTotal,
    /// Whether any of its periods was promoted.
    promoted: bool,
}

fn calibrate(
    categories: usize,
    cells: &[HeldOutCell],
    blends: &[Blend],
    block_lengths: &[usize],
) -> Vec<[[f64; BANDS]; 2]> {
    assert_eq!(blends.len(), categories);
    assert_eq!(block_lengths.len(), categories);
    let mut own: Vec<TotalsByBand> = (0..categories).map(|_| Default::default()).collect();
    let mut pool: TotalsByBand = Default::default();
    let mut open: Option<OpenBlock> = None;
    let mut close = |block: OpenBlock| {
        let length = block_lengths[block.category].max(1) as f64;
        let band = volume_band(block.total.mean / length);
        let state = usize::from(block.promoted);
        own[block.category][state][band].push(block.total);
        pool[state][band].push(block.total);
    };
    for cell in cells {
        let category = cell.category as usize;
        let mean = blends[category].value(&cell.forecasts).max(0.0);
        let key = (
            cell.series,
            cell.origin,
            cell.step as usize / block_lengths[category].max(1),
        );
        match &mut open {
            Some(block) if block.key == key => {
                block.total.add(mean, cell.actual);
                block.promoted |= cell.promoted;
            }
            _ => {
                if let Some(done) = open.take() {
                    close(done);
                }
                open = Some(OpenBlock {
                    key,
                    category,
                    total: HeldOutTotal::period(mean, cell.actual),
                    promoted: cell.promoted,
                });
            }
        }
    }
    if let Some(done) = open.take() {
        close(done);
    }
    let pooled: [[f64; BANDS]; 2] = std::array::from_fn(|state| {
        std::array::from_fn(|band| {
            calibrate_dispersion(&pool[state][band])
                .or_else(|| calibrate_dispersion(&pool[0][band]))
                .unwrap_or(DEFAULT_DISPERSION)
        })
    });
    own.into_iter()
        .map(|tables| {
            std::array::from_fn(|state| {
                std::array::from_fn(|band| {
                    calibrate_dispersion(&tables[state][band]).unwrap_or(pooled[state][band])
                })
            })
        })
        .collect()
}

/// The candidates every category may choose from: the baselines (unless a model was asked
/// for), then the models that fitted.
fn candidates(
    panel: &Panel,
    settings: &ForecastSettings,
    select_models: &[FittedModel],
) -> Vec<Candidate> {
    let mut available: Vec<Candidate> = Vec::new();
    if settings.model.is_none() {
        available.extend([Candidate::SeasonalNaive, Candidate::RecentMean]);
        if panel.freq == Frequency::Day {
            available.push(Candidate::WeekdayMean);
        }
        let promoted =
            panel.promo_period.iter().any(|p| *p > 0) || !panel.cell_promotions.is_empty();
        if promoted && settings.features.promotions {
            available.push(Candidate::PromotionNaive);
        }
    }
    for model in select_models {
        available.push(candidate_of(model.kind));
    }
    available
}

/// Each category's held-out blocks and candidates, and its block length. Each category is
/// scored at its own block length; the log-linear and boosted models forecast the median
/// period, which for intermittent series is no sale, so they are no candidates there.
fn category_evidence(
    panel: &Panel,
    settings: &ForecastSettings,
    cells: &[HeldOutCell],
    available: &[Candidate],
) -> (Vec<Evidence>, Vec<usize>) {
    (0..panel.categories.len())
        .map(|category| {
            let own: Vec<&HeldOutCell> = cells
                .iter()
                .filter(|c| c.category as usize == category)
                .collect();
            // A category with nothing held out is judged as the whole panel is, so the
            // pooled choice it takes is made under the same rules.
            let (blocks, length, medians_meaningful) = if own.is_empty() {
                let all: Vec<&HeldOutCell> = cells.iter().collect();
                let (_, length, medians) = choice_blocks(&all, panel.freq, settings.horizon);
                (Vec::new(), length, medians)
            } else {
                choice_blocks(&own, panel.freq, settings.horizon)
            };
            let mut available = available.to_vec();
            if !medians_meaningful && settings.model.is_none() {
                available.retain(|candidate| {
                    !matches!(candidate, Candidate::LogLinear | Candidate::Boosted)
                });
            }
            (
                Evidence {
                    blocks,
                    available,
                    penalise_bias: length > 1,
                },
                length,
            )
        })
        .unzip()
}

/// The blend per category, with the reason where it fell back to seasonal naive.
fn decide(
    choices: &[Option<Choice>],
    kept_rows: &[usize],
    fit_errors: &[String],
) -> Vec<(Blend, Option<String>)> {
    let fit_note = if fit_errors.is_empty() {
        String::new()
    } else {
        format!(" ({})", fit_errors.join("; "))
    };
    choices
        .iter()
        .enumerate()
        .map(|(category, choice)| match choice {
            _ if kept_rows[category] == 0 => (
                Blend::single(Candidate::SeasonalNaive),
                Some(format!(
                    "seasonal naive fallback: no training rows in this category{fit_note}"
                )),
            ),
            Some(choice) => (choice.blend.clone(), None),
            None => (
                Blend::single(Candidate::SeasonalNaive),
                Some(format!(
                    "seasonal naive fallback: nothing held out to choose on{fit_note}"
                )),
            ),
        })
        .collect()
}

/// The models some choice uses, refitted on every row from the selection fit (the selection
/// fit stands where the refit fails).
fn refit_chosen(
    select_models: &[FittedModel],
    blends: &[Blend],
    all_rows: &TrainingData,
    penalties: &[Penalty],
) -> Vec<FittedModel> {
    let mut final_models: Vec<FittedModel> = Vec::new();
    for model in select_models {
        let candidate = candidate_of(model.kind);
        if blends.iter().any(|blend| blend.uses(candidate)) {
            match fit_from(model.kind, all_rows, penalties, Some(model)) {
                Ok(refit) => final_models.push(refit),
                Err(_) => final_models.push(model.clone()),
            }
        }
    }
    final_models
}

/// Fits the forecaster: pooled models, the choice per category on the held-out origins, and
/// the dispersion calibration.
pub fn fit_forecaster(panel: &Panel, settings: &ForecastSettings) -> Forecaster {
    assert!(settings.horizon >= 1 && settings.horizon <= MAX_HORIZON_PERIODS);
    let schema = FeatureSchema::for_panel(panel, settings.features);
    let context = PanelContext::new(panel);
    let builder = RowBuilder::new(panel, &context, &schema, settings.horizon);
    let origin_list = origins(panel, settings);
    let holdouts: Vec<usize> = origin_list
        .iter()
        .take(settings.holdout_origins.max(1))
        .copied()
        .collect();
    let select_end = holdouts.iter().copied().min().unwrap_or(panel.history_len);
    let rows = build_rows(panel, &builder, settings, &origin_list, select_end);
    let prior = event_prior(&rows.select, &context.calendar, &schema);
    let penalties = schema.penalties(prior);

    let kinds: Vec<ModelKind> = match settings.model {
        Some(kind) => vec![kind],
        // Median models are candidates only where the median period sells; where no
        // category's does, fitting them is wasted work.
        None if !any_category_busy(panel, select_end) => vec![ModelKind::Poisson],
        None => vec![ModelKind::LogLinear, ModelKind::Poisson, ModelKind::Boosted],
    };
    let mut select_models = Vec::new();
    let mut fit_errors = Vec::new();
    for kind in &kinds {
        match fit(*kind, &rows.select, &penalties) {
            Ok(model) => select_models.push(model),
            Err(error) => fit_errors.push(format!("{}: {error}", kind.as_str())),
        }
    }
    let available = candidates(panel, settings, &select_models);
    let cells = held_out(panel, &builder, settings, &holdouts, &select_models);
    let (evidence, block_lengths) = category_evidence(panel, settings, &cells, &available);
    let choices = if available.is_empty() {
        vec![None; panel.categories.len()]
    } else {
        choose(&evidence)
    };
    let decided = decide(&choices, &rows.kept, &fit_errors);
    let blends: Vec<Blend> = decided.iter().map(|(blend, _)| blend.clone()).collect();

    let final_models = refit_chosen(&select_models, &blends, &rows.all, &penalties);
    // Intermittent categories are calibrated on their totals over the horizon.
    let calibration_lengths: Vec<usize> = block_lengths
        .iter()
        .map(|length| if *length > 1 { settings.horizon } else { 1 })
        .collect();
    let dispersion = calibrate(
        panel.categories.len(),
        &cells,
        &blends,
        &calibration_lengths,
    );
    let feature_names = schema.names();
    let categories = (0..panel.categories.len())
        .map(|category| {
            let (blend, fallback_reason) = decided[category].clone();
            let models = final_models
                .iter()
                .filter(|model| blend.uses(candidate_of(model.kind)))
                .cloned()
                .collect();
            let choice = choices[category].as_ref();
            CategoryFit {
                category: panel.categories[category].clone(),
                blend,
                pooled_choice: choice.is_some_and(|c| c.pooled),
                fallback_reason,
                holdout: choice.map(|c| c.scores.clone()).unwrap_or_default(),
                models,
                schema: schema.clone(),
                dispersion: dispersion[category],
                training_rows: rows.kept[category],
                non_finite_rows: rows.non_finite[category],
            }
        })
        .collect();
    Forecaster {
        freq: panel.freq,
        horizon: settings.horizon,
        features: settings.features,
        feature_names,
        categories,
    }
}

fn candidate_of(kind: ModelKind) -> Candidate {
    match kind {
        ModelKind::Poisson => Candidate::Poisson,
        ModelKind::LogLinear => Candidate::LogLinear,
        ModelKind::Boosted => Candidate::Boosted,
    }
}

/// Shrinkage of event windows never seen to matter.
const MAX_EVENT_PRIOR: f64 = 1e4;
const MIN_EVENT_PRIOR: f64 = 0.1;

/// ρ for the event windows, estimated from the data (empirical Bayes): a pilot log-linear fit
/// without events leaves each period's common shock in its mean residual. Periods vary by
/// σ²_w; an event window's mean residual over k occurrences varies by τ² + σ²_w/k, where τ²
/// is the spread of true event effects. ρ = σ²_w / τ², so events that move demand no more
/// than an ordinary week does are shrunk away, and strong ones are learned.
fn event_prior(
    rows: &TrainingData,
    calendar: &super::events::EventCalendar,
    schema: &FeatureSchema,
) -> f64 {
    if schema.events.is_empty() || rows.is_empty() {
        return MAX_EVENT_PRIOR;
    }
    let Ok(pilot) = fit(ModelKind::LogLinear, rows, &schema.penalties(f64::INFINITY)) else {
        return MAX_EVENT_PRIOR;
    };
    let residuals = rows.log_residuals(&pilot);
    let mut by_period: std::collections::BTreeMap<u32, (f64, f64, f64)> = Default::default();
    for (residual, period) in residuals.iter().zip(&rows.periods) {
        let entry = by_period.entry(*period).or_default();
        entry.0 += residual;
        entry.1 += residual * residual;
        entry.2 += 1.0;
    }
    let means: Vec<(u32, f64, f64)> = by_period
        .iter()
        .filter(|(_, (_, _, n))| *n >= 2.0)
        .map(|(period, (sum, squares, n))| {
            let mean = sum / n;
            let within = (squares / n - mean * mean).max(0.0);
            (*period, mean, within / n)
        })
        .collect();
    if means.len() < 8 {
        return MAX_EVENT_PRIOR;
    }
    let count = means.len() as f64;
    let grand = means.iter().map(|(_, m, _)| m).sum::<f64>() / count;
    let between = means
        .iter()
        .map(|(_, m, _)| (m - grand).powi(2))
        .sum::<f64>()
        / (count - 1.0);
    let sampling = means.iter().map(|(_, _, v)| v).sum::<f64>() / count;
    let shock = (between - sampling).max(1e-6);
    let mut windows: std::collections::HashMap<(u16, u8), (f64, f64)> = Default::default();
    for (period, mean, _) in &means {
        for window in calendar.windows(*period as usize) {
            let entry = windows.entry(*window).or_default();
            entry.0 += mean - grand;
            entry.1 += 1.0;
        }
    }
    if windows.is_empty() {
        return MAX_EVENT_PRIOR;
    }
    let spread = windows
        .values()
        .map(|(sum, k)| (sum / k).powi(2) - shock / k)
        .sum::<f64>()
        / windows.len() as f64;
    if spread <= 0.0 {
        return MAX_EVENT_PRIOR;
    }
    (shock / spread).clamp(MIN_EVENT_PRIOR, MAX_EVENT_PRIOR)
}

/// Warehouse shares of each category's demand over the recent window, `[category][warehouse]`
/// (even when the category sold nothing there yet).
fn category_shares(panel: &Panel) -> Vec<f64> {
    let warehouses = panel.warehouse_count();
    let window = 2 * season_periods(panel.freq) / 4;
    let begin = panel.history_len.saturating_sub(window);
    let mut totals = vec![0.0; panel.categories.len() * warehouses];
    for sku in 0..panel.sku_count() {
        let category = panel.sku_category[sku];
        for warehouse in 0..warehouses {
            totals[category * warehouses + warehouse] += (begin..panel.history_len)
                .map(|period| f64::from(panel.cell(sku, warehouse, period)))
                .sum::<f64>();
        }
    }
    for category in 0..panel.categories.len() {
        let row = &mut totals[category * warehouses..(category + 1) * warehouses];
        let sum: f64 = row.iter().sum();
        for value in row.iter_mut() {
            *value = if sum > 0.0 {
                *value / sum
            } else {
                1.0 / warehouses as f64
            };
        }
    }
    totals
}

/// Per period demand of a cell that has not sold yet: its SKU's recent level (or, for a SKU
/// never sold, its category's mean SKU level) times the warehouse's expected share.
fn cold_start_level(
    panel: &Panel,
    context: &PanelContext,
    shares: &[f64],
    sku: usize,
    warehouse: usize,
) -> f64 {
    let quarter = season_periods(panel.freq) / 4;
    let origin = panel.history_len;
    let category = panel.sku_category[sku];
    let prior = shares[category * panel.warehouse_count() + warehouse];
    if panel.active_from[sku].is_some() {
        let (level, _) = context.skus.sku_mean(sku, origin, quarter);
        let total = context.skus.sku_total(sku, origin, quarter);
        return level * SHARE_PRIOR_UNITS * prior / (total + SHARE_PRIOR_UNITS);
    }
    let peers: Vec<f64> = (0..panel.sku_count())
        .filter(|other| {
            panel.sku_category[*other] == category && panel.active_from[*other].is_some()
        })
        .map(|other| context.skus.sku_mean(other, origin, quarter).0)
        .collect();
    if peers.is_empty() {
        return 0.0;
    }
    peers.iter().sum::<f64>() / peers.len() as f64 * prior
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
    let context = PanelContext::new(panel);
    let fits: Vec<Option<&CategoryFit>> = panel
        .categories
        .iter()
        .map(|name| {
            forecaster
                .categories
                .iter()
                .find(|fit| &fit.category == name)
        })
        .collect();
    // One row builder per distinct schema (one, unless shards were merged).
    let mut schemas: Vec<&FeatureSchema> = Vec::new();
    for fit in fits.iter().flatten() {
        if !schemas.contains(&&fit.schema) {
            schemas.push(&fit.schema);
        }
    }
    let builders: Vec<RowBuilder> = schemas
        .iter()
        .map(|schema| RowBuilder::new(panel, &context, schema, forecaster.horizon))
        .collect();
    let origin = panel.history_len;
    let predictor = CellPredictor {
        panel,
        context: &context,
        fits,
        schemas,
        builders,
        promotion_naive: PromotionNaive::new(panel, origin),
        shares: category_shares(panel),
        levels: &settings.quantiles,
        origin,
        horizon: settings.horizon,
    };
    let warehouses = panel.warehouse_count();
    let cells: Vec<(usize, usize)> = (0..panel.sku_count())
        .flat_map(|sku| (0..warehouses).map(move |warehouse| (sku, warehouse)))
        .collect();
    let per_cell: Vec<CellForecast> = cells
        .par_iter()
        .map(|&(sku, warehouse)| predictor.cell(sku, warehouse))
        .collect();
    let rows = cells.len() * settings.horizon;
    let mut output = ForecastOutput {
        quantile_levels: settings.quantiles.clone(),
        sku: Vec::with_capacity(rows),
        warehouse: Vec::with_capacity(rows),
        period: Vec::with_capacity(rows),
        mean: Vec::with_capacity(rows),
        dispersion: Vec::with_capacity(rows),
        quantiles: Vec::with_capacity(rows * settings.quantiles.len()),
    };
    for (&(sku, warehouse), forecast) in cells.iter().zip(per_cell) {
        output.dispersion.extend(forecast.dispersions);
        for (step, mean) in forecast.means.into_iter().enumerate() {
            output.sku.push(sku as u32);
            output.warehouse.push(warehouse as u32);
            output.period.push((origin + step) as u32);
            output.mean.push(mean);
        }
        output.quantiles.extend(forecast.quantiles);
    }
    output
}

/// One cell's forecast over the horizon: per period its mean, dispersion and quantiles.
struct CellForecast {
    means: Vec<f64>,
    dispersions: Vec<f64>,
    quantiles: Vec<f64>,
}

/// What every cell's forecast reads, built once per prediction.
struct CellPredictor<'a> {
    panel: &'a Panel,
    context: &'a PanelContext,
    /// Per category of the panel, its fit (none for a category the forecaster never saw).
    fits: Vec<Option<&'a CategoryFit>>,
    schemas: Vec<&'a FeatureSchema>,
    builders: Vec<RowBuilder<'a>>,
    promotion_naive: PromotionNaive,
    shares: Vec<f64>,
    levels: &'a [f64],
    origin: usize,
    horizon: usize,
}

impl CellPredictor<'_> {
    fn cell(&self, sku: usize, warehouse: usize) -> CellForecast {
        let (panel, origin, horizon, levels) = (self.panel, self.origin, self.horizon, self.levels);
        let fit = self.fits[panel.sku_category[sku]];
        let inputs = CellInputs::new(panel, sku, warehouse);
        let builder_index = fit.map_or(0, |fit| {
            self.schemas
                .iter()
                .position(|schema| *schema == &fit.schema)
                .unwrap_or(0)
        });
        let blend = fit.map_or_else(
            || Blend::single(Candidate::SeasonalNaive),
            |f| f.blend.clone(),
        );
        let mut forecast = CellForecast {
            means: Vec::with_capacity(horizon),
            dispersions: Vec::with_capacity(horizon),
            quantiles: Vec::with_capacity(horizon * levels.len()),
        };
        let mut features = Vec::new();
        let mut cell_quantiles = Vec::new();
        let builder = self.builders.get(builder_index);
        let state = builder
            .and_then(|builder| builder.origin_state(&inputs.history, &inputs.promos, origin));
        let cold = cold_start_level(panel, self.context, &self.shares, sku, warehouse);
        let candidates = builder.map(|builder| CandidateInputs {
            panel,
            builder,
            promotion_naive: &self.promotion_naive,
            poisson: fit.and_then(|f| f.model(ModelKind::Poisson)),
            log_linear: fit.and_then(|f| f.model(ModelKind::LogLinear)),
            boosted: fit.and_then(|f| f.model(ModelKind::Boosted)),
        });
        let flat = candidates.as_ref().map(|c| c.flat(&inputs, origin));
        for target in origin..origin + horizon {
            let mean = match (&state, &candidates, &flat) {
                (Some(state), Some(candidates), Some(flat)) => {
                    let (forecasts, finite) =
                        candidates.forecasts(&inputs, state, flat, target, &mut features);
                    // A row with a non-finite input is forecast by seasonal naive, whatever
                    // the blend (the promotion-aware naive reads the same bad value).
                    if !finite {
                        forecasts[Candidate::SeasonalNaive.index()]
                    } else {
                        blend.value(&forecasts)
                    }
                }
                _ if inputs.history.first.is_some() => {
                    seasonal_naive(panel, sku, warehouse, origin, target)
                }
                _ => cold,
            };
            let mean = if mean.is_finite() { mean.max(0.0) } else { 0.0 };
            let promoted = usize::from(inputs.promos[target].active);
            let dispersion = fit.map_or(DEFAULT_DISPERSION, |f| {
                f.dispersion[promoted][volume_band(mean)]
            });
            negative_binomial_quantiles(mean, dispersion, levels, &mut cell_quantiles);
            forecast.means.push(mean);
            forecast.dispersions.push(dispersion);
            forecast.quantiles.extend_from_slice(&cell_quantiles);
        }
        forecast
    }
}
