//! The simple forecasts a planner would otherwise use, per SKU × warehouse cell: seasonal
//! naive, the recent level, the same-weekday profile and a promotion-aware naive. They are
//! candidates of the model choice (so the chosen forecast is never worse than the best of
//! them on the held-out origins) and the benchmark's reference points. Pure.

use chrono::Datelike;

use super::cell::{cell_promotions, median, PromoState};
use super::events::EventCalendar;
use super::panel::{season_periods, Panel};
use crate::contract::Frequency;

/// Periods of the recent-level baseline: the last 4 weeks, or the last 28 days.
pub fn recent_periods(freq: Frequency) -> usize {
    match freq {
        Frequency::Day => 28,
        Frequency::Week => 4,
    }
}

/// Mean units of the cell's last `periods` observed periods before `origin_len` (looking back
/// at most a season; a stock-out is skipped, not counted as zero demand).
fn last_observed_mean(
    panel: &Panel,
    sku: usize,
    warehouse: usize,
    origin_len: usize,
    periods: usize,
) -> f64 {
    let earliest = origin_len.saturating_sub(season_periods(panel.freq));
    let (mut total, mut count) = (0.0, 0usize);
    for period in (earliest..origin_len).rev() {
        if count == periods {
            break;
        }
        if panel.cell_observed(sku, warehouse, period) {
            total += f64::from(panel.cell(sku, warehouse, period));
            count += 1;
        }
    }
    if count == 0 {
        0.0
    } else {
        total / count as f64
    }
}

/// The recent level, flat: weekly data, the mean of the last 4 observed weeks; daily data,
/// the mean of the last 28 days, where a day before the cell's first sale counts as a day
/// without sales (the first sale is what makes a series start, so a mean from it onward
/// overstates a slow seller) and a stock-out day does not count at all.
pub fn recent_mean(panel: &Panel, sku: usize, warehouse: usize, origin_len: usize) -> f64 {
    let periods = recent_periods(panel.freq);
    if panel.freq == Frequency::Week {
        return last_observed_mean(panel, sku, warehouse, origin_len, periods);
    }
    let (mut total, mut count) = (0.0, 0usize);
    for period in origin_len.saturating_sub(periods)..origin_len {
        if !panel.is_cell_censored(sku, warehouse, period) {
            total += f64::from(panel.cell(sku, warehouse, period));
            count += 1;
        }
    }
    if count == 0 {
        last_observed_mean(panel, sku, warehouse, origin_len, periods)
    } else {
        total / count as f64
    }
}

/// Seasonal naive at cell level: the same period a season earlier (364 days, 52 weeks).
/// Where that period is not observed (before the cell started selling, or a stock-out), the
/// mean of the last 4 observed weeks or 28 observed days instead (for a cell launched within
/// the season: its mean since its first sale).
pub fn seasonal_naive(
    panel: &Panel,
    sku: usize,
    warehouse: usize,
    origin_len: usize,
    target: usize,
) -> f64 {
    let last_season = target.checked_sub(season_periods(panel.freq));
    match last_season.and_then(|period| known_units(panel, sku, warehouse, origin_len, period)) {
        Some(units) => units,
        None => last_observed_mean(
            panel,
            sku,
            warehouse,
            origin_len,
            recent_periods(panel.freq),
        ),
    }
}

/// Seasonal naive read from the period a season back that lines up with the target by
/// event ([`EventCalendar::aligned_last_year`]): last year's Thanksgiving week for this
/// year's, where plain seasonal naive reads the week 52 weeks back. Away from events the
/// two agree.
pub fn seasonal_naive_aligned(
    panel: &Panel,
    calendar: &EventCalendar,
    sku: usize,
    warehouse: usize,
    origin_len: usize,
    target: usize,
) -> f64 {
    let aligned = usize::try_from(calendar.aligned_last_year(target)).ok();
    match aligned.and_then(|period| known_units(panel, sku, warehouse, origin_len, period)) {
        Some(units) => units,
        None => seasonal_naive(panel, sku, warehouse, origin_len, target),
    }
}

/// The cell's units in `period` when that period is before the origin and observed.
fn known_units(
    panel: &Panel,
    sku: usize,
    warehouse: usize,
    origin_len: usize,
    period: usize,
) -> Option<f64> {
    (period < origin_len && panel.cell_observed(sku, warehouse, period))
        .then(|| f64::from(panel.cell(sku, warehouse, period)))
}

/// Daily data: the mean of the target's weekday over the last eight weeks (observed days);
/// weekly data: the recent level.
pub fn weekday_mean(
    panel: &Panel,
    sku: usize,
    warehouse: usize,
    origin_len: usize,
    target: usize,
) -> f64 {
    if panel.freq == Frequency::Week {
        return recent_mean(panel, sku, warehouse, origin_len);
    }
    let weekday = panel.date_of(target).weekday();
    let (mut total, mut count) = (0.0, 0usize);
    for period in origin_len.saturating_sub(56)..origin_len {
        if panel.date_of(period).weekday() == weekday && panel.cell_observed(sku, warehouse, period)
        {
            total += f64::from(panel.cell(sku, warehouse, period));
            count += 1;
        }
    }
    if count == 0 {
        recent_mean(panel, sku, warehouse, origin_len)
    } else {
        total / count as f64
    }
}

/// Discount buckets of the promotion-aware naive: none, up to 10%, 10–20%, 20–30%, more.
pub const DISCOUNT_BUCKETS: usize = 5;

pub fn discount_bucket(discount: f64) -> usize {
    match discount {
        d if d <= 0.0 => 0,
        d if d <= 0.10 + 1e-9 => 1,
        d if d <= 0.20 + 1e-9 => 2,
        d if d <= 0.30 + 1e-9 => 3,
        _ => 4,
    }
}

fn discount_of(state: &PromoState) -> f64 {
    if state.active && state.discount.is_finite() {
        f64::from(state.discount)
    } else {
        0.0
    }
}

/// A median over many non-negative ratios in fixed memory: zeros counted apart, the rest
/// binned by log ratio (bins of 0.001, a relative error under 0.1%).
#[derive(Clone)]
struct MedianSketch {
    zeros: u64,
    bins: Vec<u64>,
}

const SKETCH_LOG_RANGE: f64 = 8.0;
const SKETCH_BIN_WIDTH: f64 = 0.001;

impl MedianSketch {
    fn new() -> MedianSketch {
        MedianSketch {
            zeros: 0,
            bins: vec![0; (2.0 * SKETCH_LOG_RANGE / SKETCH_BIN_WIDTH) as usize + 1],
        }
    }

    fn add(&mut self, ratio: f64) {
        if ratio <= 0.0 {
            self.zeros += 1;
            return;
        }
        let position = ((ratio.ln() + SKETCH_LOG_RANGE) / SKETCH_BIN_WIDTH).round();
        let bin = position.clamp(0.0, (self.bins.len() - 1) as f64) as usize;
        self.bins[bin] += 1;
    }

    fn median(&self) -> Option<f64> {
        let total = self.zeros + self.bins.iter().sum::<u64>();
        if total == 0 {
            return None;
        }
        let half = total.div_ceil(2);
        if self.zeros >= half {
            return Some(0.0);
        }
        let mut seen = self.zeros;
        for (bin, count) in self.bins.iter().enumerate() {
            seen += count;
            if seen >= half {
                return Some((bin as f64 * SKETCH_BIN_WIDTH - SKETCH_LOG_RANGE).exp());
            }
        }
        None
    }
}

/// Regular periods the promotion-aware naive's level is made of: the median of the last 8
/// (weekly data), the mean of the last 56 (daily data, where most single days sell nothing
/// and a median would be zero).
fn promotion_naive_level_periods(freq: Frequency) -> usize {
    match freq {
        Frequency::Day => 56,
        Frequency::Week => 8,
    }
}

/// The promotion-aware naive at one origin: each cell's recent level without a price cut
/// times its category's past lift (units over that level) in the target's discount bucket.
/// Weekly data take the median level and the median lift (the usual retail rule of thumb);
/// daily data the mean level and the ratio of units to level summed over the bucket, since
/// the median of a day's sales is zero for most series.
pub struct PromotionNaive {
    origin_len: usize,
    /// `[sku × warehouse]`: the level, `None` without a period lacking a price cut.
    levels: Vec<Option<f64>>,
    /// `[category][bucket]`: the lift, `None` when never seen.
    lifts: Vec<[Option<f64>; DISCOUNT_BUCKETS]>,
}

impl PromotionNaive {
    pub fn new(panel: &Panel, origin_len: usize) -> PromotionNaive {
        let warehouses = panel.warehouse_count();
        let by_median = panel.freq == Frequency::Week;
        let level_periods = promotion_naive_level_periods(panel.freq);
        let mut levels = vec![None; panel.cell_count()];
        let mut medians: Vec<[MedianSketch; DISCOUNT_BUCKETS]> = if by_median {
            vec![std::array::from_fn(|_| MedianSketch::new()); panel.categories.len()]
        } else {
            Vec::new()
        };
        // [category][bucket][units, level]
        let mut sums = vec![[[0.0f64; 2]; DISCOUNT_BUCKETS]; panel.categories.len()];
        let mut promos = Vec::with_capacity(panel.total_len);
        let mut regular = Vec::with_capacity(level_periods);
        for sku in 0..panel.sku_count() {
            let category = panel.sku_category[sku];
            for warehouse in 0..warehouses {
                if panel.cell_active_from[sku * warehouses + warehouse].is_none() {
                    continue;
                }
                cell_promotions(panel, sku, warehouse, &mut promos);
                regular.clear();
                for period in (0..origin_len).rev() {
                    if regular.len() == level_periods {
                        break;
                    }
                    if panel.cell_observed(sku, warehouse, period)
                        && discount_of(&promos[period]) <= 0.0
                    {
                        regular.push(f64::from(panel.cell(sku, warehouse, period)));
                    }
                }
                let level = if by_median {
                    median(&mut regular)
                } else {
                    (!regular.is_empty())
                        .then(|| regular.iter().sum::<f64>() / regular.len() as f64)
                };
                levels[sku * warehouses + warehouse] = level;
                let Some(level) = level.filter(|level| *level > 0.0) else {
                    continue;
                };
                // The lift is learned over the last two seasons.
                let first = origin_len.saturating_sub(2 * season_periods(panel.freq));
                for (period, promo) in promos.iter().enumerate().take(origin_len).skip(first) {
                    if panel.cell_observed(sku, warehouse, period) {
                        let bucket = discount_bucket(discount_of(promo));
                        let units = f64::from(panel.cell(sku, warehouse, period));
                        if by_median {
                            medians[category][bucket].add(units / level);
                        } else {
                            sums[category][bucket][0] += units;
                            sums[category][bucket][1] += level;
                        }
                    }
                }
            }
        }
        let lifts = if by_median {
            medians
                .into_iter()
                .map(|buckets| buckets.map(|sketch| sketch.median()))
                .collect()
        } else {
            sums.into_iter()
                .map(|buckets| buckets.map(|[units, level]| (level > 0.0).then(|| units / level)))
                .collect()
        };
        PromotionNaive {
            origin_len,
            levels,
            lifts,
        }
    }

    pub fn origin_len(&self) -> usize {
        self.origin_len
    }

    /// The forecast for one cell at a target whose promotion state is `state`.
    pub fn forecast(&self, panel: &Panel, sku: usize, warehouse: usize, state: &PromoState) -> f64 {
        let Some(level) = self.levels[sku * panel.warehouse_count() + warehouse] else {
            return 0.0;
        };
        let lift = self.lifts[panel.sku_category[sku]][discount_bucket(discount_of(state))];
        level * lift.unwrap_or(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discount_buckets_close_on_the_right() {
        assert_eq!(discount_bucket(0.0), 0);
        assert_eq!(discount_bucket(0.05), 1);
        assert_eq!(discount_bucket(0.10), 1);
        assert_eq!(discount_bucket(0.15), 2);
        assert_eq!(discount_bucket(0.30), 3);
        assert_eq!(discount_bucket(0.382), 4);
    }

    #[test]
    fn the_median_sketch_is_within_a_tenth_of_a_percent() {
        let mut sketch = MedianSketch::new();
        for value in [0.0, 0.5, 1.3, 2.0, 7.5] {
            sketch.add(value);
        }
        assert!((sketch.median().unwrap() / 1.3 - 1.0).abs() < 1e-3);
        let mut zeros = MedianSketch::new();
        for value in [0.0, 0.0, 3.0] {
            zeros.add(value);
        }
        assert_eq!(zeros.median(), Some(0.0));
        assert_eq!(MedianSketch::new().median(), None);
    }
}
