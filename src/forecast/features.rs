//! Feature rows for (cell, origin, target): what was known at the origin about the series
//! (its level, its weekday shape, its own past promotion lift, last year) plus what is known
//! in advance about the target (the calendar, named events, promotions and what other
//! series are promoting). A row never reads a sale, stock level or poll answer after its
//! origin.
//!
//! Levels enter relative to the series' regular (non-promotion) base level, so one pooled
//! model says "a 20% cut at a featured store sells 2.4× the base" for every series at once.

use chrono::Datelike;

use super::cell::{median, CategoryHistory, CellHistory, PromoState, PromotionContext};
use super::events::{bin_labels, bins, EventCalendar};
use super::model::Penalty;
use super::panel::{period_days, season_periods, Panel};
use crate::contract::Frequency;

/// Which feature groups a model uses; the ablation in `backtest` switches groups off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeatureSet {
    pub promotions: bool,
    pub polls: bool,
}

impl Default for FeatureSet {
    fn default() -> Self {
        FeatureSet {
            promotions: true,
            polls: true,
        }
    }
}

/// The columns of one fit: the feature groups plus the names behind the data-dependent
/// columns (categories, promotion-name words, events), so a saved model lines its columns up
/// with a new panel by name.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FeatureSchema {
    pub freq: Frequency,
    pub set: FeatureSet,
    pub categories: Vec<String>,
    pub vocabulary: Vec<String>,
    pub events: Vec<String>,
    /// Smooth yearly terms, only with two seasons of history (with less they extrapolate).
    pub yearly_terms: bool,
}

/// Category-specific columns (deviations from the pooled effect) are penalised this much
/// more than pooled ones, so a category with little data stays near the pool.
pub const CATEGORY_PENALTY_MULTIPLIER: f64 = 10.0;
/// A category's own deviation from the pooled event effect needs this much more evidence.
const CATEGORY_EVENT_PRIOR_MULTIPLIER: f64 = 3.0;

const LEVEL_NAMES: [&str; 17] = [
    "log_level_short",
    "log_level_month",
    "log_level_quarter",
    "log_level_season",
    "log_median_ratio",
    "promoted_share_month",
    "promoted_share_quarter",
    "log_age",
    "is_young",
    "log_sku_level",
    "category_trend",
    "horizon_fraction",
    "log_last_year",
    "last_year_missing",
    "log_category_last_year",
    "category_last_year_missing",
    "log_year_over_year",
];
const WEEKDAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "weekday_profile"];
const YEARLY_NAMES: [&str; 6] = [
    "year_sin1",
    "year_cos1",
    "year_sin2",
    "year_cos2",
    "year_sin3",
    "year_cos3",
];
const PROMOTION_NAMES: [&str; 24] = [
    "promo",
    "discount",
    "discount_over_10",
    "discount_over_20",
    "discount_over_30",
    "promo_without_price_cut",
    "promo_first_period",
    "promo_progress",
    "log_promo_length",
    "discount_per_period",
    "after_promo_1",
    "after_promo_2",
    "before_promo_1",
    "own_promo_lift",
    "sku_promo_breadth",
    "sku_promo_start_breadth",
    "sku_mean_discount",
    "category_competitors_promoted",
    "category_competitors_discount",
    "warehouse_competitors_promoted",
    "warehouse_competitors_discount",
    "deepest_competitor_discount",
    "discount_gap_to_deepest",
    "last_year_promo",
];
const POLL_NAMES: [&str; 6] = [
    "poll_interest_sku",
    "poll_intent_sku",
    "poll_attention_sku",
    "poll_interest_category",
    "poll_intent_category",
    "poll_attention_category",
];

impl FeatureSchema {
    pub fn for_panel(panel: &Panel, set: FeatureSet) -> FeatureSchema {
        FeatureSchema {
            freq: panel.freq,
            set,
            categories: panel.categories.clone(),
            vocabulary: if set.promotions {
                panel.promo_vocabulary.clone()
            } else {
                Vec::new()
            },
            events: panel.event_names.clone(),
            yearly_terms: panel.history_len >= 2 * season_periods(panel.freq),
        }
    }

    /// Column names, in the order [`RowBuilder::fill`] writes them.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = LEVEL_NAMES.iter().map(|n| n.to_string()).collect();
        if self.freq == Frequency::Day {
            names.extend(WEEKDAY_NAMES.iter().map(|n| n.to_string()));
        }
        if self.yearly_terms {
            names.extend(YEARLY_NAMES.iter().map(|n| n.to_string()));
        }
        let labels = bin_labels(self.freq);
        for event in &self.events {
            for label in &labels {
                names.push(format!("event {event} {label}"));
            }
        }
        for category in &self.categories {
            for event in &self.events {
                names.push(format!("category {category} × event {event}"));
            }
        }
        if self.set.promotions {
            names.extend(PROMOTION_NAMES.iter().map(|n| n.to_string()));
            for word in &self.vocabulary {
                names.push(format!("promo named '{word}'"));
            }
            for category in &self.categories {
                names.push(format!("category {category} × promo"));
                names.push(format!("category {category} × discount"));
            }
        }
        if self.set.polls {
            names.extend(POLL_NAMES.iter().map(|n| n.to_string()));
        }
        names
    }

    /// The penalty of each column, in the order of [`FeatureSchema::names`]: event windows
    /// are shrunk by the number of periods they were seen in (`event_prior` is ρ, see
    /// [`Penalty`]), category-specific columns toward the pooled effect.
    pub fn penalties(&self, event_prior: f64) -> Vec<Penalty> {
        self.names()
            .iter()
            .map(|name| {
                let category = name.starts_with("category ");
                let event = name.contains("event ");
                Penalty {
                    multiplier: if category {
                        CATEGORY_PENALTY_MULTIPLIER
                    } else {
                        1.0
                    },
                    per_occurrence: match (event, category) {
                        (true, false) => Some(event_prior),
                        (true, true) => Some(event_prior * CATEGORY_EVENT_PRIOR_MULTIPLIER),
                        _ => None,
                    },
                }
            })
            .collect()
    }

    fn event_columns(&self) -> usize {
        self.events.len() * bins(self.freq).len()
    }
}

/// Maps a panel's categories, name words and events onto a schema's columns by name (the
/// identity when the schema was built from the panel).
#[derive(Debug, Clone)]
pub struct FeatureLayout {
    category: Vec<Option<usize>>,
    words: Vec<(u32, usize)>,
    events: Vec<Option<usize>>,
}

impl FeatureLayout {
    pub fn new(schema: &FeatureSchema, panel: &Panel) -> FeatureLayout {
        let find = |names: &[String], name: &str| names.iter().position(|n| n == name);
        FeatureLayout {
            category: panel
                .categories
                .iter()
                .map(|c| find(&schema.categories, c))
                .collect(),
            words: panel
                .promo_vocabulary
                .iter()
                .enumerate()
                .filter_map(|(bit, word)| {
                    find(&schema.vocabulary, word).map(|column| (1u32 << bit, column))
                })
                .collect(),
            events: panel
                .event_names
                .iter()
                .map(|e| find(&schema.events, e))
                .collect(),
        }
    }
}

/// Level features enter as logs of ratios to the base; the floor keeps quiet series finite.
const RATIO_FLOOR_UNITS: f64 = 0.02;
const RATIO_FLOOR_SHARE: f64 = 0.05;
/// The base level never drops below this, so its log is finite.
pub const BASE_FLOOR_UNITS: f64 = 0.01;
/// Poll answers lead demand by one to three weeks; their weight fades with the horizon.
const POLL_DECAY_DAYS: f64 = 21.0;
/// Pseudo-counts that shrink a series' own weekday shape and promotion lift toward none.
const PROFILE_PRIOR_COUNT: f64 = 2.0;
/// Pseudo-units that shrink a cell's share of its SKU toward an even split.
const SHARE_PRIOR_UNITS: f64 = 3.0;

/// Window lengths in periods: short, month, quarter.
pub fn windows(freq: Frequency) -> [usize; 3] {
    match freq {
        Frequency::Day => [7, 28, 91],
        Frequency::Week => [1, 4, 13],
    }
}

/// Regular periods the base level is the mean of.
pub fn base_periods(freq: Frequency) -> usize {
    match freq {
        Frequency::Day => 56,
        Frequency::Week => 8,
    }
}

/// Running sums over SKU totals and poll answers, so window means are two lookups.
pub struct SkuHistory {
    history_len: usize,
    units: Vec<f64>,
    observed: Vec<u32>,
    poll_sku: Vec<[f64; 4]>,
    poll_category: Vec<[f64; 4]>,
}

impl SkuHistory {
    pub fn new(panel: &Panel) -> SkuHistory {
        let len = panel.history_len;
        let stride = len + 1;
        let mut units = vec![0.0; panel.sku_count() * stride];
        let mut observed = vec![0u32; panel.sku_count() * stride];
        for sku in 0..panel.sku_count() {
            let base = sku * stride;
            for period in 0..len {
                let seen = panel.observed(sku, period);
                let value = if seen {
                    f64::from(panel.sku_units(sku, period))
                } else {
                    0.0
                };
                units[base + period + 1] = units[base + period] + value;
                observed[base + period + 1] = observed[base + period] + u32::from(seen);
            }
        }
        let cumulate = |values: &[[f32; 4]], rows: usize| -> Vec<[f64; 4]> {
            let mut out = vec![[0.0; 4]; rows * stride];
            for row in 0..rows {
                for period in 0..len {
                    let previous = out[row * stride + period];
                    let value = values[row * len + period];
                    out[row * stride + period + 1] =
                        std::array::from_fn(|k| previous[k] + f64::from(value[k]));
                }
            }
            out
        };
        SkuHistory {
            history_len: len,
            units,
            observed,
            poll_sku: cumulate(&panel.poll_sku, panel.sku_count()),
            poll_category: cumulate(&panel.poll_category, panel.categories.len()),
        }
    }

    /// Mean SKU total per observed period over `[end − length, end)`.
    pub fn sku_mean(&self, sku: usize, end: usize, length: usize) -> (f64, u32) {
        let end = end.min(self.history_len);
        let begin = end.saturating_sub(length);
        let base = sku * (self.history_len + 1);
        let count = self.observed[base + end] - self.observed[base + begin];
        let total = self.units[base + end] - self.units[base + begin];
        (
            if count == 0 {
                0.0
            } else {
                total / f64::from(count)
            },
            count,
        )
    }

    /// SKU units summed over `[end − length, end)` (observed periods only).
    pub fn sku_total(&self, sku: usize, end: usize, length: usize) -> f64 {
        let end = end.min(self.history_len);
        let begin = end.saturating_sub(length);
        let base = sku * (self.history_len + 1);
        self.units[base + end] - self.units[base + begin]
    }

    fn poll_window(&self, sums: &[[f64; 4]], row: usize, end: usize, length: usize) -> [f64; 4] {
        let end = end.min(self.history_len);
        let begin = end.saturating_sub(length);
        let base = row * (self.history_len + 1);
        let (a, b) = (sums[base + end], sums[base + begin]);
        std::array::from_fn(|k| a[k] - b[k])
    }
}

/// Deviation of recent poll answers (short window before the origin) from the long run:
/// mean interest, intent share and answer volume.
fn poll_signals(
    recent: [f64; 4],
    long_run: [f64; 4],
    recent_periods: f64,
    long_periods: f64,
) -> [f64; 3] {
    let interest = |w: [f64; 4]| if w[0] > 0.0 { Some(w[1] / w[0]) } else { None };
    let intent = |w: [f64; 4]| if w[2] > 0.0 { Some(w[3] / w[2]) } else { None };
    let deviation = |r: Option<f64>, l: Option<f64>| match (r, l) {
        (Some(r), Some(l)) => r - l,
        _ => 0.0,
    };
    let attention =
        (1.0 + recent[0] / recent_periods).ln() - (1.0 + long_run[0] / long_periods).ln();
    [
        deviation(interest(recent), interest(long_run)),
        deviation(intent(recent), intent(long_run)),
        attention,
    ]
}

/// What a cell knew at one origin: its base level and the level features, shared by every
/// target of that origin, and the inputs of the baselines.
#[derive(Debug, Clone)]
pub struct OriginState {
    pub origin: usize,
    /// Mean units of the recent regular (non-promotion) periods: the base everything is
    /// relative to.
    pub base: f64,
    /// Median of the same periods (the promotion-aware naive's level).
    pub regular_median: Option<f64>,
    /// Mean of the last month's observed periods (the recent-level baseline).
    pub recent_mean: f64,
    /// Daily data: mean of each weekday over the last eight weeks, with the count seen.
    pub weekday_means: [(f64, u32); 7],
    level: [f64; 11],
    own_lift: f64,
    weekday_profile: [f64; 7],
    /// Level over the month before the origin a season earlier.
    level_last_year: Option<f64>,
    category_level_last_year: Option<f64>,
    year_over_year: f64,
}

/// The panel-wide inputs every row reads besides its own cell.
pub struct PanelContext {
    pub calendar: EventCalendar,
    pub promotions: PromotionContext,
    pub categories: CategoryHistory,
    pub skus: SkuHistory,
}

impl PanelContext {
    pub fn new(panel: &Panel) -> PanelContext {
        PanelContext {
            calendar: EventCalendar::new(panel),
            promotions: PromotionContext::new(panel),
            categories: CategoryHistory::new(panel),
            skus: SkuHistory::new(panel),
        }
    }
}

/// What every row of one fit or prediction shares.
pub struct RowBuilder<'a> {
    panel: &'a Panel,
    schema: &'a FeatureSchema,
    layout: FeatureLayout,
    calendar: &'a EventCalendar,
    promotions: &'a PromotionContext,
    categories: &'a CategoryHistory,
    skus: &'a SkuHistory,
    /// The horizon the model is fitted for (scales the horizon feature).
    horizon: usize,
    width: usize,
}

fn ratio(value: f64, base: f64) -> f64 {
    let floor = RATIO_FLOOR_SHARE * base + RATIO_FLOOR_UNITS;
    ((value + floor) / (base + floor)).ln()
}

impl<'a> RowBuilder<'a> {
    /// The event calendar the rows are aligned to.
    pub fn calendar(&self) -> &EventCalendar {
        self.calendar
    }

    pub fn new(
        panel: &'a Panel,
        context: &'a PanelContext,
        schema: &'a FeatureSchema,
        horizon: usize,
    ) -> RowBuilder<'a> {
        RowBuilder {
            panel,
            schema,
            layout: FeatureLayout::new(schema, panel),
            calendar: &context.calendar,
            promotions: &context.promotions,
            categories: &context.categories,
            skus: &context.skus,
            horizon,
            width: schema.names().len(),
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// The cell's state at `origin`, or `None` when it had not sold before it.
    pub fn origin_state(
        &self,
        cell: &CellHistory,
        promos: &[PromoState],
        origin: usize,
    ) -> Option<OriginState> {
        let freq = self.panel.freq;
        let [short, month, quarter] = windows(freq);
        let season = season_periods(freq);
        if cell.first.is_none_or(|first| first >= origin) || cell.age(origin) == 0 {
            return None;
        }
        let (regular, regular_count) = cell.recent_regular_mean(origin, base_periods(freq), season);
        let (quarter_mean, _) = cell.recent_mean(origin, quarter, season);
        let base = if regular_count >= 2 {
            regular
        } else {
            quarter_mean
        }
        .max(BASE_FLOOR_UNITS);
        let mut values = Vec::with_capacity(base_periods(freq));
        cell.recent_values(
            origin,
            base_periods(freq),
            season,
            |p| !promos[p].active,
            &mut values,
        );
        let regular_median = median(&mut values);
        cell.recent_values(origin, 8, season, |p| promos[p].active, &mut values);
        let promoted_count = values.len() as f64;
        let own_lift = match (median(&mut values), regular_median) {
            (Some(promoted), Some(regular)) => {
                ratio(promoted, regular.max(BASE_FLOOR_UNITS)) * promoted_count
                    / (promoted_count + PROFILE_PRIOR_COUNT)
            }
            _ => 0.0,
        };
        let level_of = |periods: usize| cell.recent_mean(origin, periods, season).0;
        let (recent_mean, _) = cell.recent_mean(origin, month, season);
        let age = cell.age(origin);
        // The cell's expected share of its SKU, shrunk toward an even split, times the SKU's
        // recent level: pooling for a sparse cell of a busy SKU.
        let share_window = 2 * quarter;
        let (cell_recent, _) = cell.window_mean(origin.saturating_sub(share_window), origin);
        let cell_total = cell_recent * f64::from(cell.age(origin).min(share_window as u32));
        let sku_total = self.skus.sku_total(cell.sku, origin, share_window);
        let warehouses = self.panel.warehouse_count() as f64;
        let share = (cell_total + SHARE_PRIOR_UNITS / warehouses) / (sku_total + SHARE_PRIOR_UNITS);
        let (sku_month, _) = self.skus.sku_mean(cell.sku, origin, month);
        let category_trend = match (
            self.categories
                .mean(cell.category, origin.saturating_sub(month), origin),
            self.categories
                .mean(cell.category, origin.saturating_sub(quarter), origin),
        ) {
            (Some(recent), Some(longer)) if longer > 0.0 => ratio(recent, longer).clamp(-1.0, 1.0),
            _ => 0.0,
        };
        let level = [
            ratio(level_of(short), base),
            ratio(level_of(month), base),
            ratio(quarter_mean, base),
            ratio(level_of(season), base),
            regular_median.map_or(0.0, |m| ratio(m, base)),
            cell.promoted_share(origin.saturating_sub(month), origin),
            cell.promoted_share(origin.saturating_sub(quarter), origin),
            f64::from(age).ln_1p(),
            if (age as usize) < month { 1.0 } else { 0.0 },
            ratio(sku_month * share.clamp(0.0, 1.0), base),
            category_trend,
        ];
        let mut weekday_means = [(0.0, 0u32); 7];
        let mut weekday_profile = [0.0; 7];
        if freq == Frequency::Day {
            let begin = origin.saturating_sub(56);
            let mut sums = [(0.0, 0u32); 7];
            for period in begin..origin {
                if cell.observed[period] {
                    let weekday =
                        self.panel.date_of(period).weekday().num_days_from_monday() as usize;
                    sums[weekday].0 += f64::from(cell.units[period]);
                    sums[weekday].1 += 1;
                }
            }
            let (all, all_count) = cell.window_mean(begin, origin);
            for weekday in 0..7 {
                let (total, count) = sums[weekday];
                let mean = if count > 0 {
                    total / f64::from(count)
                } else {
                    0.0
                };
                weekday_means[weekday] = (mean, count);
                if count > 0 && all_count > 0 {
                    let n = f64::from(count);
                    weekday_profile[weekday] = ratio(mean, all) * n / (n + PROFILE_PRIOR_COUNT);
                }
            }
        }
        let (level_last_year, category_level_last_year, year_over_year) =
            match origin.checked_sub(season) {
                Some(then) if then >= month => {
                    let (mean, count) = cell.window_mean(then - month, then);
                    let level_then =
                        (count > 0 && cell.first.is_some_and(|f| f < then)).then_some(mean);
                    let (month_now, month_count) = cell.recent_mean(origin, month, season);
                    let year_over_year = match level_then {
                        Some(then) if month_count > 0 => {
                            (ratio(month_now, base) - ratio(then, base)).clamp(-1.0, 1.0)
                        }
                        _ => 0.0,
                    };
                    (
                        level_then,
                        self.categories.mean(cell.category, then - month, then),
                        year_over_year,
                    )
                }
                _ => (None, None, 0.0),
            };
        Some(OriginState {
            origin,
            base,
            regular_median,
            recent_mean,
            weekday_means,
            level,
            own_lift,
            weekday_profile,
            level_last_year,
            category_level_last_year,
            year_over_year,
        })
    }

    /// Writes the features of one row into `out` and says whether every value is finite. A
    /// row that is not is never learned from or predicted with: callers skip it in training
    /// and fall back to seasonal naive when predicting.
    #[must_use]
    pub fn fill(
        &self,
        cell: &CellHistory,
        promos: &[PromoState],
        state: &OriginState,
        target: usize,
        out: &mut Vec<f64>,
    ) -> bool {
        debug_assert!(target >= state.origin && target < self.panel.total_len);
        out.clear();
        let h = target + 1 - state.origin;
        out.extend_from_slice(&state.level);
        out.push(h as f64 / self.horizon.max(1) as f64);
        let aligned = self.calendar.aligned_last_year(target);
        self.push_last_year(cell, state, aligned, out);
        self.push_calendar(cell, state, target, out);
        if self.schema.set.promotions {
            self.push_promotion(cell, promos, state, target, aligned, out);
        }
        if self.schema.set.polls {
            self.push_polls(cell, state.origin, h, out);
        }
        debug_assert_eq!(out.len(), self.width, "feature row and schema disagree");
        out.iter().all(|value| value.is_finite())
    }

    /// Last year at the period that lines up with the target, relative to the level at the
    /// origin's counterpart (the shape the season took from there), for the cell and its
    /// category, each with a flag for missing, and the year-over-year ratio.
    #[inline]
    fn push_last_year(
        &self,
        cell: &CellHistory,
        state: &OriginState,
        aligned: i64,
        out: &mut Vec<f64>,
    ) {
        let freq = self.panel.freq;
        let origin = state.origin;
        let spread = if freq == Frequency::Day { 3 } else { 0 };
        let around = |aligned: i64| -> Option<(usize, usize)> {
            let begin = aligned - spread;
            let end = aligned + spread + 1;
            (begin >= 0 && (end as usize) <= origin).then_some((begin as usize, end as usize))
        };
        let cell_last_year = match (state.level_last_year, around(aligned)) {
            (Some(level), Some((begin, end))) if cell.first.is_some_and(|f| f <= begin) => {
                let (mean, count) = cell.window_mean(begin, end);
                (count > 0).then(|| ratio(mean, level))
            }
            _ => None,
        };
        out.push(cell_last_year.unwrap_or(0.0));
        out.push(if cell_last_year.is_some() { 0.0 } else { 1.0 });
        let category_last_year = match (state.category_level_last_year, around(aligned)) {
            (Some(level), Some((begin, end))) if level > 0.0 => self
                .categories
                .mean(cell.category, begin, end)
                .map(|mean| ratio(mean, level)),
            _ => None,
        };
        out.push(category_last_year.unwrap_or(0.0));
        out.push(if category_last_year.is_some() {
            0.0
        } else {
            1.0
        });
        out.push(state.year_over_year);
    }

    /// Weekday (daily data), yearly terms, and the event windows the target falls in, overall
    /// and per category.
    #[inline]
    fn push_calendar(
        &self,
        cell: &CellHistory,
        state: &OriginState,
        target: usize,
        out: &mut Vec<f64>,
    ) {
        let panel = self.panel;
        let freq = panel.freq;
        let date = panel.date_of(target);
        if freq == Frequency::Day {
            let weekday = date.weekday().num_days_from_monday() as usize;
            for day in 0..6 {
                out.push(if weekday == day { 1.0 } else { 0.0 });
            }
            out.push(state.weekday_profile[weekday]);
        }
        if self.schema.yearly_terms {
            // Mid-period day of year, so weekly periods get the season of their middle day.
            let day_of_year = date.ordinal0() as f64 + (period_days(freq) as f64 - 1.0) / 2.0;
            let angle = 2.0 * std::f64::consts::PI * day_of_year / 365.25;
            for k in 1..=3 {
                out.push((k as f64 * angle).sin());
                out.push((k as f64 * angle).cos());
            }
        }
        let events_base = out.len();
        let bin_count = bins(freq).len();
        let event_count = self.schema.events.len();
        out.resize(
            events_base + self.schema.event_columns() + self.schema.categories.len() * event_count,
            0.0,
        );
        let category_column = self.layout.category[cell.category];
        for &(event, bin) in self.calendar.windows(target) {
            if let Some(event) = self.layout.events[event as usize] {
                out[events_base + event * bin_count + bin as usize] = 1.0;
                if let Some(category) = category_column {
                    out[events_base
                        + self.schema.event_columns()
                        + category * event_count
                        + event] = 1.0;
                }
            }
        }
    }

    /// The target period's promotion: depth, position and length, the periods around it,
    /// competing promotions, last year's, its name words, and per-category terms.
    #[inline]
    fn push_promotion(
        &self,
        cell: &CellHistory,
        promos: &[PromoState],
        state: &OriginState,
        target: usize,
        aligned: i64,
        out: &mut Vec<f64>,
    ) {
        let category_column = self.layout.category[cell.category];
        let own = promos[target];
        let active = if own.active { 1.0 } else { 0.0 };
        let discount = if own.active {
            f64::from(own.discount).clamp(0.0, 0.95)
        } else {
            0.0
        };
        let position = if own.active { own.position(target) } else { 0 };
        let length = if own.active { own.length() as f64 } else { 0.0 };
        let was = |back: usize| target >= back && promos[target - back].active;
        let after_1 = !own.active && was(1);
        let after_2 = !own.active && !was(1) && was(2);
        let before_1 = !own.active && promos.get(target + 1).is_some_and(|p| p.active);
        let competition = self.promotions.competition(cell, target, &own);
        let last_year_promo = if aligned >= 0 && (aligned as usize) < promos.len() {
            let then = promos[aligned as usize];
            if then.active {
                f64::from(then.discount).clamp(0.0, 0.95).max(0.01)
            } else {
                0.0
            }
        } else {
            0.0
        };
        let flag = |value: bool| if value { 1.0 } else { 0.0 };
        out.extend_from_slice(&[
            active,
            discount,
            (discount - 0.1).max(0.0),
            (discount - 0.2).max(0.0),
            (discount - 0.3).max(0.0),
            active * flag(discount < 0.005),
            active * flag(position == 1),
            active * (position.min(8) as f64) / 8.0,
            active * length.ln_1p(),
            discount / length.max(1.0),
            flag(after_1),
            flag(after_2),
            flag(before_1),
            active * state.own_lift,
            active * competition.sku_breadth,
            active * competition.sku_start_breadth,
            active * competition.sku_mean_discount,
            competition.category_promoted,
            competition.category_discount,
            competition.warehouse_promoted,
            competition.warehouse_discount,
            competition.deepest_other_discount,
            (competition.deepest_other_discount - discount).max(0.0),
            last_year_promo,
        ]);
        let words_base = out.len();
        out.resize(words_base + self.schema.vocabulary.len(), 0.0);
        if own.active {
            for &(bit, column) in &self.layout.words {
                if own.words & bit != 0 {
                    out[words_base + column] = 1.0;
                }
            }
        }
        let categories_base = out.len();
        out.resize(categories_base + 2 * self.schema.categories.len(), 0.0);
        if let Some(category) = category_column {
            out[categories_base + 2 * category] = active;
            out[categories_base + 2 * category + 1] = discount;
        }
    }

    /// Poll signals of the SKU and its category as of the origin, decaying with the step.
    #[inline]
    fn push_polls(&self, cell: &CellHistory, origin: usize, h: usize, out: &mut Vec<f64>) {
        let freq = self.panel.freq;
        let (recent, long) = match freq {
            Frequency::Day => (14, 182),
            Frequency::Week => (2, 26),
        };
        let decay = (-(h as f64) * period_days(freq) as f64 / POLL_DECAY_DAYS).exp();
        let skus = self.skus;
        let sku_signals = poll_signals(
            skus.poll_window(&skus.poll_sku, cell.sku, origin, recent),
            skus.poll_window(&skus.poll_sku, cell.sku, origin, long),
            recent as f64,
            long as f64,
        );
        let category_signals = poll_signals(
            skus.poll_window(&skus.poll_category, cell.category, origin, recent),
            skus.poll_window(&skus.poll_category, cell.category, origin, long),
            recent as f64,
            long as f64,
        );
        for value in sku_signals.into_iter().chain(category_signals) {
            out.push(value * decay);
        }
    }
}
