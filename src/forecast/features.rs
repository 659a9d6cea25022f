//! Feature rows for (sku, origin, target): what was known at the origin (levels, last year,
//! poll signals) plus what is known in advance about the target (calendar, promotions).
//! A row never reads a sale, stock level or poll answer after its origin.

use chrono::Datelike;

use super::panel::{period_days, season_periods, Panel, EVENT_DISTANCE_CAP_DAYS, PROMO_DIP_DAYS};
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

/// Levels enter in logs, so a log-link model can say "demand is proportional to the recent
/// level"; the floor keeps a quiet SKU finite.
const LEVEL_FLOOR_UNITS: f64 = 0.02;

fn log_level(units_per_period: f64) -> f64 {
    (units_per_period + LEVEL_FLOOR_UNITS).ln()
}

/// Poll answers lead demand by one to three weeks; their weight fades with the horizon.
const POLL_DECAY_DAYS: f64 = 21.0;

/// Running sums over each SKU's observed periods (active and in stock), so any window mean
/// is two lookups.
pub struct SeriesSums {
    history_len: usize,
    units: Vec<f64>,
    observed: Vec<u32>,
    category_units: Vec<f64>,
    category_observed: Vec<u32>,
    poll_sku: Vec<[f64; 4]>,
    poll_category: Vec<[f64; 4]>,
}

impl SeriesSums {
    pub fn new(panel: &Panel) -> SeriesSums {
        let len = panel.history_len;
        let stride = len + 1;
        let mut units = vec![0.0; panel.sku_count() * stride];
        let mut observed = vec![0u32; panel.sku_count() * stride];
        let mut category_units = vec![0.0; panel.categories.len() * stride];
        let mut category_observed = vec![0u32; panel.categories.len() * stride];
        for sku in 0..panel.sku_count() {
            let base = sku * stride;
            for period in 0..len {
                let seen = panel.observed(sku, period);
                let value = if seen {
                    panel.sku_units(sku, period) as f64
                } else {
                    0.0
                };
                units[base + period + 1] = units[base + period] + value;
                observed[base + period + 1] = observed[base + period] + u32::from(seen);
                let category = panel.sku_category[sku] * stride;
                category_units[category + period + 1] += value;
                category_observed[category + period + 1] += u32::from(seen);
            }
        }
        for category in 0..panel.categories.len() {
            let base = category * stride;
            for period in 0..len {
                category_units[base + period + 1] += category_units[base + period];
                category_observed[base + period + 1] += category_observed[base + period];
            }
        }
        let cumulate = |values: &[[f32; 4]], rows: usize| -> Vec<[f64; 4]> {
            let mut out = vec![[0.0; 4]; rows * stride];
            for row in 0..rows {
                for period in 0..len {
                    let previous = out[row * stride + period];
                    let value = values[row * len + period];
                    out[row * stride + period + 1] = [
                        previous[0] + value[0] as f64,
                        previous[1] + value[1] as f64,
                        previous[2] + value[2] as f64,
                        previous[3] + value[3] as f64,
                    ];
                }
            }
            out
        };
        SeriesSums {
            history_len: len,
            poll_sku: cumulate(&panel.poll_sku, panel.sku_count()),
            poll_category: cumulate(&panel.poll_category, panel.categories.len()),
            units,
            observed,
            category_units,
            category_observed,
        }
    }

    /// Mean units per observed period over `[end − length, end)`, with how many were observed.
    fn window(
        &self,
        sums: &[f64],
        counts: &[u32],
        row: usize,
        end: usize,
        length: usize,
    ) -> (f64, u32) {
        let end = end.min(self.history_len);
        let begin = end.saturating_sub(length);
        let base = row * (self.history_len + 1);
        let count = counts[base + end] - counts[base + begin];
        let total = sums[base + end] - sums[base + begin];
        if count == 0 {
            (0.0, 0)
        } else {
            (total / count as f64, count)
        }
    }

    fn sku_level(&self, sku: usize, end: usize, length: usize) -> (f64, u32) {
        self.window(&self.units, &self.observed, sku, end, length)
    }

    /// Mean units over the SKU's last `observed_periods` observed periods before `end`,
    /// looking back at most `max_lookback` periods: a stock-out spell is skipped over rather
    /// than shrinking the window, so the level is last month's demand, not last month's sales.
    fn recent_sku_level(
        &self,
        sku: usize,
        end: usize,
        observed_periods: usize,
        max_lookback: usize,
    ) -> (f64, u32) {
        let end = end.min(self.history_len);
        let base = sku * (self.history_len + 1);
        let counts = &self.observed[base..base + self.history_len + 1];
        let earliest = end.saturating_sub(max_lookback.max(observed_periods));
        let wanted = observed_periods as u32;
        // The observed count of [begin, end) shrinks as begin grows: find the latest begin
        // that still holds `wanted` observed periods (or the earliest allowed).
        let (mut low, mut high) = (earliest, end.saturating_sub(observed_periods).max(earliest));
        if counts[end] - counts[earliest] < wanted {
            high = earliest;
        }
        while low < high {
            let middle = (low + high).div_ceil(2);
            if counts[end] - counts[middle] >= wanted {
                low = middle;
            } else {
                high = middle - 1;
            }
        }
        self.window(&self.units, &self.observed, sku, end, end - low)
    }

    fn category_level(&self, category: usize, end: usize, length: usize) -> (f64, u32) {
        self.window(
            &self.category_units,
            &self.category_observed,
            category,
            end,
            length,
        )
    }

    fn poll_window(
        sums: &[[f64; 4]],
        history_len: usize,
        row: usize,
        end: usize,
        length: usize,
    ) -> [f64; 4] {
        let end = end.min(history_len);
        let begin = end.saturating_sub(length);
        let base = row * (history_len + 1);
        let (a, b) = (sums[base + end], sums[base + begin]);
        [a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]]
    }
}

/// Window lengths in periods: short, month, quarter.
fn windows(freq: Frequency) -> [usize; 3] {
    match freq {
        Frequency::Day => [7, 28, 91],
        Frequency::Week => [1, 4, 13],
    }
}

pub fn feature_names(freq: Frequency, set: FeatureSet) -> Vec<&'static str> {
    let mut names = vec![
        "log_level_short",
        "log_level_month",
        "log_level_quarter",
        "log_last_year",
        "last_year_missing",
        "log_year_over_year",
        "log_category_level",
        "is_new",
        "log_age",
        "horizon_fraction",
    ];
    if freq == Frequency::Day {
        names.extend(["mon", "tue", "wed", "thu", "fri", "sat"]);
    }
    names.extend([
        "year_sin1",
        "year_cos1",
        "year_sin2",
        "year_cos2",
        "year_sin3",
        "year_cos3",
        "event_ahead",
        "event_behind",
    ]);
    if set.promotions {
        names.extend([
            "promo",
            "log_price_ratio",
            "promo_first_period",
            "promo_progress",
            "post_promo_dip",
            "last_year_promo",
        ]);
    }
    if set.polls {
        names.extend([
            "poll_interest_sku",
            "poll_intent_sku",
            "poll_attention_sku",
            "poll_interest_category",
            "poll_intent_category",
            "poll_attention_category",
        ]);
    }
    names
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
    let interest_dev = match (interest(recent), interest(long_run)) {
        (Some(r), Some(l)) => r - l,
        _ => 0.0,
    };
    let intent_dev = match (intent(recent), intent(long_run)) {
        (Some(r), Some(l)) => r - l,
        _ => 0.0,
    };
    let attention =
        (1.0 + recent[0] / recent_periods).ln() - (1.0 + long_run[0] / long_periods).ln();
    [interest_dev, intent_dev, attention]
}

/// What every row of one fit or prediction shares.
#[derive(Clone, Copy)]
pub struct RowBuilder<'a> {
    pub panel: &'a Panel,
    pub sums: &'a SeriesSums,
    pub set: FeatureSet,
    /// The horizon the model was fitted for (scales the horizon feature).
    pub horizon: usize,
}

impl RowBuilder<'_> {
    /// Writes the features of one row into `out` (length = feature_names().len()).
    /// Fills `out` with the feature row and says whether every value is finite. A row that
    /// is not is never learned from or predicted with: callers skip it in training and fall
    /// back to seasonal naive when predicting.
    #[must_use]
    pub fn fill(&self, sku: usize, origin_len: usize, target: usize, out: &mut Vec<f64>) -> bool {
        fill_row(
            self.panel,
            self.sums,
            self.set,
            self.horizon,
            (sku, origin_len, target),
            out,
        );
        out.iter().all(|value| value.is_finite())
    }
}

fn fill_row(
    panel: &Panel,
    sums: &SeriesSums,
    set: FeatureSet,
    horizon: usize,
    (sku, origin_len, target): (usize, usize, usize),
    out: &mut Vec<f64>,
) {
    debug_assert!(target >= origin_len && target < panel.total_len);
    debug_assert!(origin_len <= panel.history_len);
    out.clear();
    let freq = panel.freq;
    let [short, month, quarter] = windows(freq);
    let season = season_periods(freq);
    let h = target + 1 - origin_len;

    let lookback = season;
    let (level_short, _) = sums.recent_sku_level(sku, origin_len, short, lookback);
    let (level_month, observed_month) = sums.recent_sku_level(sku, origin_len, month, lookback);
    let (level_quarter, _) = sums.recent_sku_level(sku, origin_len, quarter, lookback);
    let category = panel.sku_category[sku];
    let (category_level, _) = sums.category_level(category, origin_len, month);
    // A SKU with no observed month yet borrows its category's level (cold start).
    let base_month = if observed_month == 0 {
        category_level
    } else {
        level_month
    };
    out.push(log_level(if observed_month == 0 {
        category_level
    } else {
        level_short
    }));
    out.push(log_level(base_month));
    out.push(log_level(if observed_month == 0 {
        category_level
    } else {
        level_quarter
    }));

    // Same period last year: the target a season back, ±3 days for daily data.
    let spread = if freq == Frequency::Day { 3 } else { 0 };
    let last_year = if target >= season + spread && target - season + spread < origin_len {
        let centre = target - season;
        let (mean, count) = sums.sku_level(sku, centre + spread + 1, 2 * spread + 1);
        (count > 0).then_some(mean)
    } else {
        None
    };
    out.push(log_level(last_year.unwrap_or(base_month)));
    out.push(if last_year.is_some() { 0.0 } else { 1.0 });
    let year_over_year = if origin_len > season + month {
        let (earlier, count) = sums.sku_level(sku, origin_len - season, month);
        if count > 0 && observed_month > 0 {
            (log_level(level_month) - log_level(earlier)).clamp(-1.0, 1.0)
        } else {
            0.0
        }
    } else {
        0.0
    };
    out.push(year_over_year);
    out.push(log_level(category_level));
    let age = sums.sku_level(sku, origin_len, origin_len).1 as f64;
    out.push(if (age as usize) < month { 1.0 } else { 0.0 });
    out.push(age.ln_1p());
    out.push(h as f64 / horizon.max(1) as f64);

    let date = panel.date_of(target);
    if freq == Frequency::Day {
        let weekday = date.weekday().num_days_from_monday();
        for day in 0..6 {
            out.push(if weekday == day { 1.0 } else { 0.0 });
        }
    }
    // Mid-period day of year, so weekly periods get the season of their middle day.
    let day_of_year = date.ordinal0() as f64 + (period_days(freq) as f64 - 1.0) / 2.0;
    let angle = 2.0 * std::f64::consts::PI * day_of_year / 365.25;
    for k in 1..=3 {
        out.push((k as f64 * angle).sin());
        out.push((k as f64 * angle).cos());
    }
    let cap = f64::from(EVENT_DISTANCE_CAP_DAYS);
    out.push(1.0 - f64::from(panel.days_to_event[target]) / cap);
    out.push(1.0 - f64::from(panel.days_since_event[target]) / cap);

    if set.promotions {
        let index = panel.future_index(sku, target);
        let discount = f64::from(panel.discount[index]).clamp(0.0, 0.95);
        let promo_period = panel.promo_period[index];
        let since_end = panel.since_promo_end[index];
        out.push(if discount > 0.0 { 1.0 } else { 0.0 });
        out.push((1.0 - discount).ln());
        out.push(if promo_period == 1 { 1.0 } else { 0.0 });
        out.push(f64::from(promo_period.min(14)) / 14.0);
        let dip_periods = (PROMO_DIP_DAYS / period_days(freq)).max(1) as f64;
        out.push(if since_end > 0 {
            (dip_periods + 1.0 - f64::from(since_end)).max(0.0) / dip_periods
        } else {
            0.0
        });
        let last_year_promo = if target >= season {
            f64::from(panel.discount[panel.future_index(sku, target - season)])
        } else {
            0.0
        };
        out.push(last_year_promo);
    }

    if set.polls {
        let (recent, long) = match freq {
            Frequency::Day => (14, 182),
            Frequency::Week => (2, 26),
        };
        let decay = (-(h as f64) * period_days(freq) as f64 / POLL_DECAY_DAYS).exp();
        let sku_signals = poll_signals(
            SeriesSums::poll_window(&sums.poll_sku, sums.history_len, sku, origin_len, recent),
            SeriesSums::poll_window(&sums.poll_sku, sums.history_len, sku, origin_len, long),
            recent as f64,
            long as f64,
        );
        let category_signals = poll_signals(
            SeriesSums::poll_window(
                &sums.poll_category,
                sums.history_len,
                category,
                origin_len,
                recent,
            ),
            SeriesSums::poll_window(
                &sums.poll_category,
                sums.history_len,
                category,
                origin_len,
                long,
            ),
            recent as f64,
            long as f64,
        );
        for value in sku_signals.into_iter().chain(category_signals) {
            out.push(value * decay);
        }
    }
}
