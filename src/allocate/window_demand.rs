//! Demand for one SKU × warehouse over a promotion window, from a forecast's daily rows, and
//! the distribution it implies. The allocation problem and the reports both read window
//! demand through this, so a cell has the same p10, p90 and shortfall everywhere.
//!
//! A day's p10–p90 width is read as a normal's (p90 − p10 = 2 · z₉₀ · σ); the days' means and
//! variances add up over the window, as if days were independent. The window's p10/p50/p90
//! are read off a normal with that mean and variance, clipped at zero, and [`Demand`] turns
//! them into the piecewise-linear distribution with an exponential tail the solver uses.

use serde::Serialize;

use super::demand::Demand;
use super::problem::QuantilePoint;

/// z of the 90th percentile of a standard normal.
pub const Z90: f64 = 1.281_551_565_5;

/// A p10–p90 width is this many standard deviations.
const P10_P90_WIDTH_IN_SD: f64 = 2.0 * Z90;

/// The z the allocation problem reads its window p10/p90 off with: [`Z90`] rounded to four
/// decimals. Published runs' expected sales depend on it (at the fourth decimal), so it is
/// kept apart until those figures may move.
const ALLOCATION_Z90: f64 = 1.2816;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct WindowDemand {
    /// Expected units over the window.
    pub mean: f64,
    /// Variance of the window total (units²).
    pub variance: f64,
}

impl WindowDemand {
    /// Adds one day's forecast row; negative (or NaN) means and widths add nothing.
    pub fn add_day(&mut self, mean: f64, p10: f64, p90: f64) {
        self.mean += mean.max(0.0);
        self.variance += ((p90 - p10) / P10_P90_WIDTH_IN_SD).powi(2).max(0.0);
    }

    /// From sums over the window's days of the means and of the squared p10–p90 widths, as
    /// a query adds them up (the same total as adding the days one by one).
    pub fn from_daily_sums(mean: f64, squared_width: f64) -> WindowDemand {
        WindowDemand {
            mean: mean.max(0.0),
            variance: squared_width.max(0.0) / (P10_P90_WIDTH_IN_SD * P10_P90_WIDTH_IN_SD),
        }
    }

    /// The demand of several cells (or windows) together.
    pub fn total<'a>(parts: impl IntoIterator<Item = &'a WindowDemand>) -> WindowDemand {
        parts
            .into_iter()
            .fold(WindowDemand::default(), |total, part| WindowDemand {
                mean: total.mean + part.mean,
                variance: total.variance + part.variance,
            })
    }

    pub fn sd(&self) -> f64 {
        self.variance.max(0.0).sqrt()
    }

    pub fn p10(&self) -> f64 {
        (self.mean - Z90 * self.sd()).max(0.0)
    }

    pub fn p90(&self) -> f64 {
        (self.mean + Z90 * self.sd()).max(0.0)
    }

    /// Quantile points for [`Demand`] at levels 0.1, 0.5, 0.9; all zero when no demand is
    /// expected, however wide the spread.
    pub fn quantile_points(&self) -> [QuantilePoint; 3] {
        self.quantile_points_at(Z90)
    }

    /// The quantile points of the allocation problem's cells: as [`Self::quantile_points`],
    /// read off with [`ALLOCATION_Z90`].
    pub fn allocation_quantile_points(&self) -> [QuantilePoint; 3] {
        self.quantile_points_at(ALLOCATION_Z90)
    }

    fn quantile_points_at(&self, z90: f64) -> [QuantilePoint; 3] {
        let (p10, p50, p90) = if self.mean <= 0.0 {
            (0.0, 0.0, 0.0)
        } else {
            let sd = self.sd();
            let p10 = (self.mean - z90 * sd).max(0.0);
            let p50 = self.mean.max(p10);
            (p10, p50, (self.mean + z90 * sd).max(p50))
        };
        [
            QuantilePoint {
                level: 0.1,
                units: p10,
            },
            QuantilePoint {
                level: 0.5,
                units: p50,
            },
            QuantilePoint {
                level: 0.9,
                units: p90,
            },
        ]
    }

    /// The forecast mean the solver's distribution is calibrated to, when there is demand.
    pub fn calibration_mean(&self) -> Option<f64> {
        (self.mean > 0.0).then_some(self.mean)
    }

    /// P(D > stock) and the expected shortfall E[(D − stock)⁺].
    pub fn shortfall(&self, stock: f64) -> (f64, f64) {
        if self.mean <= 0.0 {
            return (0.0, 0.0);
        }
        let points = self.quantile_points();
        let demand = Demand::new(&points, Some(self.mean));
        if demand.is_zero() {
            return (0.0, 0.0);
        }
        let stock = stock.max(0.0);
        let probability = demand.survival(stock);
        let expected_sales = demand.integral(0.0, stock);
        let short = (demand.mean() - expected_sales).max(0.0);
        // A sparse cell (small mean, wide p10–p90) interpolates to a distribution whose mean
        // exceeds the forecast's; its shortfall is scaled back so it never exceeds the mean.
        let scale = if demand.mean() > self.mean {
            self.mean / demand.mean()
        } else {
            1.0
        };
        (probability, short * scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(mean: f64, sd: f64) -> WindowDemand {
        WindowDemand {
            mean,
            variance: sd * sd,
        }
    }

    #[test]
    fn days_add_up_as_the_query_sums_do() {
        let rows = [(2.0, 1.0, 4.0), (3.0, 2.0, 3.5), (-1.0, 0.0, 0.0)];
        let mut by_day = WindowDemand::default();
        for (mean, p10, p90) in rows {
            by_day.add_day(mean, p10, p90);
        }
        let sums = WindowDemand::from_daily_sums(5.0, 3.0f64.powi(2) + 1.5f64.powi(2));
        assert!((by_day.mean - sums.mean).abs() < 1e-12);
        assert!((by_day.variance - sums.variance).abs() < 1e-12);
        // One day's p10–p90 comes back out of its own width.
        let mut one = WindowDemand::default();
        one.add_day(10.0, 6.0, 14.0);
        assert!((one.p10() - 6.0).abs() < 1e-9 && (one.p90() - 14.0).abs() < 1e-9);
        let total = WindowDemand::total(&[by_day, one]);
        assert!((total.mean - 15.0).abs() < 1e-12);
    }

    #[test]
    fn no_expected_demand_has_zero_quantiles() {
        let spread_only = demand(0.0, 3.0);
        assert!(spread_only.quantile_points().iter().all(|q| q.units == 0.0));
        assert_eq!(spread_only.calibration_mean(), None);
        assert_eq!(spread_only.shortfall(5.0), (0.0, 0.0));
    }

    #[test]
    fn shortfall_falls_as_stock_rises() {
        let c = demand(100.0, 20.0);
        let (p_low, short_low) = c.shortfall(60.0);
        let (p_mid, short_mid) = c.shortfall(100.0);
        let (p_high, short_high) = c.shortfall(160.0);
        assert!(p_low > 0.9 - 1e-9 && p_low <= 1.0, "{p_low}");
        assert!((p_mid - 0.5).abs() < 1e-6, "{p_mid}");
        assert!(p_high < 0.1, "{p_high}");
        assert!(short_low > short_mid && short_mid > short_high && short_high >= 0.0);
        // With no stock, the whole mean is short.
        let (p_zero, short_zero) = c.shortfall(0.0);
        assert_eq!(p_zero, 1.0);
        assert!((short_zero - 100.0).abs() < 1e-6);
        assert_eq!(demand(0.0, 0.0).shortfall(5.0), (0.0, 0.0));
        // Sparse and wide: the shortfall stays below the forecast mean at any stock.
        let sparse = demand(1.5, 20.0);
        for stock in [0.0, 1.0, 6.0, 30.0] {
            let (_, short) = sparse.shortfall(stock);
            assert!(short <= 1.5 + 1e-9, "stock {stock}: shortfall {short}");
        }
    }
}
