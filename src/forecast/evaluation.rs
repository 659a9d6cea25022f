//! Scoring forecasts of one origin against what happened after it, per SKU × warehouse
//! cell: the figures of `stockcast bench forecast --data`. Pure: panels and dense forecasts
//! in, numbers out.
//!
//! A cell is scored when its series had sold by the origin. A period is scored when it has
//! an actual: not a stock-out or gap (on_hand 0 in `stock_levels`) and not past the end of
//! the data. A missing sales row inside the data is zero sales.

use super::cell::cell_promotions;
use super::panel::Panel;
use super::quantiles::negative_binomial_quantiles;
use crate::contract::Frequency;

/// What happened over the horizon after an origin, laid out `[cell][step]`.
#[derive(Debug, Clone)]
pub struct Actuals {
    pub horizon: usize,
    pub cells: usize,
    pub actual: Vec<f64>,
    pub scored: Vec<bool>,
    pub promoted: Vec<bool>,
    /// Per cell: the mean squared period-to-period change over its history (the RMSSE
    /// scale), `None` without two consecutive observed periods.
    pub scale: Vec<Option<f64>>,
    /// Periods summed into one block of the weekly WAPE (7 for daily data).
    pub block_periods: usize,
    /// Scored periods that were left out as gaps.
    pub gap_cells: usize,
}

impl Actuals {
    /// `history` is the panel the forecast was made from; `full` the same data with the
    /// horizon's periods as history (it may end earlier, when the data does).
    pub fn from_panels(history: &Panel, full: &Panel, horizon: usize) -> Actuals {
        assert_eq!(history.start, full.start, "the two panels share their grid");
        assert_eq!(history.skus, full.skus);
        assert_eq!(history.warehouses, full.warehouses);
        let origin = history.history_len;
        let cells = history.cell_count();
        let warehouses = history.warehouse_count();
        let mut actuals = Actuals {
            horizon,
            cells,
            actual: vec![0.0; cells * horizon],
            scored: vec![false; cells * horizon],
            promoted: vec![false; cells * horizon],
            scale: vec![None; cells],
            block_periods: match history.freq {
                Frequency::Day => 7,
                Frequency::Week => 1,
            },
            gap_cells: 0,
        };
        let mut promos = Vec::new();
        for sku in 0..history.sku_count() {
            for warehouse in 0..warehouses {
                let cell = sku * warehouses + warehouse;
                if history.cell_active_from[cell].is_none() {
                    continue;
                }
                cell_promotions(history, sku, warehouse, &mut promos);
                for step in 0..horizon {
                    let period = origin + step;
                    let slot = cell * horizon + step;
                    actuals.promoted[slot] = promos[period].active;
                    if period >= full.history_len {
                        continue;
                    }
                    if full.is_cell_censored(sku, warehouse, period) {
                        actuals.gap_cells += 1;
                        continue;
                    }
                    actuals.scored[slot] = true;
                    actuals.actual[slot] = f64::from(full.cell(sku, warehouse, period));
                }
                let (mut squares, mut count) = (0.0, 0usize);
                for period in 1..origin {
                    if history.cell_observed(sku, warehouse, period)
                        && history.cell_observed(sku, warehouse, period - 1)
                    {
                        let change = f64::from(history.cell(sku, warehouse, period))
                            - f64::from(history.cell(sku, warehouse, period - 1));
                        squares += change * change;
                        count += 1;
                    }
                }
                actuals.scale[cell] = (count > 0 && squares > 0.0).then(|| squares / count as f64);
            }
        }
        actuals
    }

    pub fn scored_cells(&self) -> usize {
        self.scored.iter().filter(|s| **s).count()
    }

    pub fn scored_series(&self) -> usize {
        (0..self.cells)
            .filter(|cell| {
                self.scored[cell * self.horizon..(cell + 1) * self.horizon]
                    .iter()
                    .any(|s| *s)
            })
            .count()
    }

    pub fn actual_units(&self) -> f64 {
        self.actual.iter().sum()
    }
}

/// The figures of one forecaster on one origin.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Scores {
    /// Σ|f − a| / Σa over scored cell-periods.
    pub wape: Option<f64>,
    /// The same on each cell's 7-day blocks from the origin (daily data; = WAPE weekly).
    pub weekly_wape: Option<f64>,
    /// The same on each cell's total over the horizon.
    pub window_wape: Option<f64>,
    /// Root mean squared error of the cells' horizon totals.
    pub window_rmse: Option<f64>,
    /// Root mean squared scaled error per cell (the M5 scale), mean and median over cells.
    pub rmsse_mean: Option<f64>,
    pub rmsse_median: Option<f64>,
    /// Σ(f − a) / Σa.
    pub bias: Option<f64>,
    pub promotion_wape: Option<f64>,
    pub other_wape: Option<f64>,
    /// Share of scored cell-periods inside [p10, p90], edges included.
    pub coverage_p10_p90: Option<f64>,
    /// The same for the cells' horizon totals, from the negative binomial of the sum.
    pub window_coverage_p10_p90: Option<f64>,
    /// Where the misses fell: shares of scored cell-periods below p10 and above p90. An
    /// interval that covers 80% with 20% above p90 and nothing below sits too low, which
    /// the coverage alone hides.
    pub below_p10: Option<f64>,
    pub above_p90: Option<f64>,
    /// Per-period coverage of promoted and of other cell-periods.
    pub promotion_coverage_p10_p90: Option<f64>,
    pub other_coverage_p10_p90: Option<f64>,
}

fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0).then(|| numerator / denominator)
}

/// Scores a `[cell][step]` forecast of the means.
pub fn score(actuals: &Actuals, forecast: &[f64]) -> Scores {
    assert_eq!(forecast.len(), actuals.actual.len());
    let horizon = actuals.horizon;
    let (mut absolute, mut signed, mut total) = (0.0, 0.0, 0.0);
    let mut by_promotion = [[0.0f64; 2]; 2];
    let (mut block_error, mut window_error, mut window_squares, mut windows) =
        (0.0, 0.0, 0.0, 0usize);
    let mut rmsse = Vec::new();
    for cell in 0..actuals.cells {
        let range = cell * horizon..(cell + 1) * horizon;
        if !actuals.scored[range.clone()].iter().any(|s| *s) {
            continue;
        }
        let (mut cell_forecast, mut cell_actual, mut squares, mut count) = (0.0, 0.0, 0.0, 0usize);
        let (mut block_forecast, mut block_actual) = (0.0, 0.0);
        for step in 0..horizon {
            let slot = cell * horizon + step;
            if actuals.scored[slot] {
                let (f, a) = (forecast[slot], actuals.actual[slot]);
                absolute += (f - a).abs();
                signed += f - a;
                total += a;
                let promo = usize::from(actuals.promoted[slot]);
                by_promotion[promo][0] += (f - a).abs();
                by_promotion[promo][1] += a;
                cell_forecast += f;
                cell_actual += a;
                block_forecast += f;
                block_actual += a;
                squares += (f - a) * (f - a);
                count += 1;
            }
            if (step + 1) % actuals.block_periods == 0 || step + 1 == horizon {
                block_error += (block_forecast - block_actual).abs();
                block_forecast = 0.0;
                block_actual = 0.0;
            }
        }
        window_error += (cell_forecast - cell_actual).abs();
        window_squares += (cell_forecast - cell_actual).powi(2);
        windows += 1;
        if let Some(scale) = actuals.scale[cell] {
            rmsse.push((squares / count as f64 / scale).sqrt());
        }
    }
    rmsse.sort_by(f64::total_cmp);
    Scores {
        wape: ratio(absolute, total),
        weekly_wape: ratio(block_error, total),
        window_wape: ratio(window_error, total),
        window_rmse: (windows > 0).then(|| (window_squares / windows as f64).sqrt()),
        rmsse_mean: (!rmsse.is_empty()).then(|| rmsse.iter().sum::<f64>() / rmsse.len() as f64),
        rmsse_median: (!rmsse.is_empty()).then(|| rmsse[rmsse.len() / 2]),
        bias: ratio(signed, total),
        promotion_wape: ratio(by_promotion[1][0], by_promotion[1][1]),
        other_wape: ratio(by_promotion[0][0], by_promotion[0][1]),
        ..Scores::default()
    }
}

/// Fills the per-period interval figures of `scores`: coverage (p10 ≤ actual ≤ p90, edges
/// included), where the misses fell, and coverage by promotion state.
pub fn score_intervals(scores: &mut Scores, actuals: &Actuals, p10: &[f64], p90: &[f64]) {
    assert_eq!(p10.len(), actuals.actual.len());
    assert_eq!(p90.len(), actuals.actual.len());
    // [other, promoted] × [below, inside, above].
    let mut counts = [[0usize; 3]; 2];
    for slot in 0..actuals.actual.len() {
        if actuals.scored[slot] {
            let a = actuals.actual[slot];
            let place = if a < p10[slot] - 1e-9 {
                0
            } else if a > p90[slot] + 1e-9 {
                2
            } else {
                1
            };
            counts[usize::from(actuals.promoted[slot])][place] += 1;
        }
    }
    let share = |part: usize, whole: usize| (whole > 0).then(|| part as f64 / whole as f64);
    let all: [usize; 3] = std::array::from_fn(|place| counts[0][place] + counts[1][place]);
    let total: usize = all.iter().sum();
    scores.coverage_p10_p90 = share(all[1], total);
    scores.below_p10 = share(all[0], total);
    scores.above_p90 = share(all[2], total);
    scores.promotion_coverage_p10_p90 = share(counts[1][1], counts[1].iter().sum());
    scores.other_coverage_p10_p90 = share(counts[0][1], counts[0].iter().sum());
}

/// Coverage of the cells' horizon totals by the p10–p90 of their sum: a negative binomial
/// with the summed mean and the summed variance μ + φμ² of the periods (`dispersion` per
/// cell-period).
pub fn window_coverage(actuals: &Actuals, mean: &[f64], dispersion: &[f64]) -> Option<f64> {
    let horizon = actuals.horizon;
    let (mut inside, mut count) = (0usize, 0usize);
    let mut quantiles = Vec::new();
    for cell in 0..actuals.cells {
        let (mut total_mean, mut variance, mut actual, mut any) = (0.0, 0.0, 0.0, false);
        for step in 0..horizon {
            let slot = cell * horizon + step;
            if actuals.scored[slot] {
                let m = mean[slot];
                total_mean += m;
                variance += m + dispersion[slot] * m * m;
                actual += actuals.actual[slot];
                any = true;
            }
        }
        if !any {
            continue;
        }
        let phi = if total_mean > 0.0 {
            ((variance - total_mean) / (total_mean * total_mean)).max(0.0)
        } else {
            0.0
        };
        negative_binomial_quantiles(total_mean, phi, &[0.1, 0.9], &mut quantiles);
        inside += usize::from(actual >= quantiles[0] - 1e-9 && actual <= quantiles[1] + 1e-9);
        count += 1;
    }
    (count > 0).then(|| inside as f64 / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_misses_are_split_by_side_and_promotion_state() {
        // One cell, five periods: the last is a gap and is not scored.
        let actuals = Actuals {
            horizon: 5,
            cells: 1,
            actual: vec![1.0, 5.0, 9.0, 2.0, 100.0],
            scored: vec![true, true, true, true, false],
            promoted: vec![false, false, true, true, true],
            scale: vec![None],
            block_periods: 1,
            gap_cells: 1,
        };
        let p10 = [2.0, 2.0, 2.0, 2.0, 2.0];
        let p90 = [6.0, 6.0, 6.0, 6.0, 6.0];
        let mut scores = Scores::default();
        score_intervals(&mut scores, &actuals, &p10, &p90);
        // Below, inside, above, on the edge (inside).
        assert_eq!(scores.coverage_p10_p90, Some(0.5));
        assert_eq!(scores.below_p10, Some(0.25));
        assert_eq!(scores.above_p90, Some(0.25));
        assert_eq!(scores.other_coverage_p10_p90, Some(0.5));
        assert_eq!(scores.promotion_coverage_p10_p90, Some(0.5));
    }
}
