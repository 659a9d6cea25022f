//! Weekly and yearly seasonality profiles, precomputed per day index.

use chrono::{Datelike, Duration, NaiveDate};

use super::catalog::Category;

/// Per-day seasonal multipliers for every category over the whole
/// generation horizon (history + future window). Day index 0 is the first
/// history day.
pub(crate) struct DayProfile {
    pub dates: Vec<NaiveDate>,
    /// `yearly[c][t]`: yearly seasonality of category `c` on day `t` (mean ≈ 1 over a year).
    pub yearly: Vec<Vec<f64>>,
    /// `seasonal[c][t]`: yearly × day-of-week multiplier.
    pub seasonal: Vec<Vec<f64>>,
}

/// Circular distance in days between two day-of-year positions.
fn circular_distance(a: f64, b: f64) -> f64 {
    let d = (a - b).abs() % 365.25;
    d.min(365.25 - d)
}

/// Unnormalised yearly seasonality of a category at a fractional day of year.
fn raw_yearly(category: Category, doy: f64) -> f64 {
    let log: f64 = category
        .params()
        .yearly
        .iter()
        .map(|&(peak, width, amp)| {
            let z = circular_distance(doy, peak) / width;
            amp * (-0.5 * z * z).exp()
        })
        .sum();
    log.exp()
}

/// Yearly multiplier normaliser (mean over a 365-day year becomes 1).
fn yearly_norm(category: Category) -> f64 {
    let total: f64 = (0..365)
        .map(|d| raw_yearly(category, f64::from(d) + 1.0))
        .sum();
    total / 365.0
}

/// Yearly multiplier of a category on a date (mean ≈ 1 over a year).
pub(crate) fn yearly_factor(category: Category, date: NaiveDate, norm: f64) -> f64 {
    // Map day-of-year onto a 365.25-day circle so leap years line up.
    let days_in_year = if NaiveDate::from_ymd_opt(date.year(), 2, 29).is_some() {
        366.0
    } else {
        365.0
    };
    let doy = f64::from(date.ordinal()) * 365.25 / days_in_year;
    raw_yearly(category, doy) / norm
}

/// Day-of-week multipliers of a category, Monday..Sunday, mean 1.
pub(crate) fn weekly_factors(category: Category) -> [f64; 7] {
    let w = category.params().weekly;
    let mean: f64 = w.iter().sum::<f64>() / 7.0;
    let mut out = [0.0; 7];
    for (o, x) in out.iter_mut().zip(w.iter()) {
        *o = x / mean;
    }
    out
}

impl DayProfile {
    /// Profile for `horizon` days starting at `start`.
    pub(crate) fn new(start: NaiveDate, horizon: usize) -> DayProfile {
        let dates: Vec<NaiveDate> = (0..horizon)
            .map(|t| start + Duration::days(t as i64))
            .collect();
        let mut yearly = Vec::with_capacity(Category::ALL.len());
        let mut seasonal = Vec::with_capacity(Category::ALL.len());
        for c in Category::ALL {
            let norm = yearly_norm(c);
            let week = weekly_factors(c);
            let y: Vec<f64> = dates.iter().map(|&d| yearly_factor(c, d, norm)).collect();
            let s: Vec<f64> = dates
                .iter()
                .zip(y.iter())
                .map(|(d, &yv)| yv * week[d.weekday().num_days_from_monday() as usize])
                .collect();
            yearly.push(y);
            seasonal.push(s);
        }
        DayProfile {
            dates,
            yearly,
            seasonal,
        }
    }

    /// Multiplies one category's yearly and seasonal profiles by `multipliers` (one per day),
    /// so category demand and category polls both follow its latent popularity.
    pub(crate) fn scale_category(&mut self, category: Category, multipliers: &[f64]) {
        let c = category.index();
        assert_eq!(multipliers.len(), self.dates.len());
        for (value, m) in self.yearly[c].iter_mut().zip(multipliers) {
            *value *= m;
        }
        for (value, m) in self.seasonal[c].iter_mut().zip(multipliers) {
            *value *= m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yearly_mean_is_one_and_candles_peak_in_december() {
        let start = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let p = DayProfile::new(start, 365);
        for c in Category::ALL {
            let y = &p.yearly[c.index()];
            let mean = y.iter().sum::<f64>() / 365.0;
            assert!((mean - 1.0).abs() < 0.01, "{c:?} {mean}");
        }
        let candles = &p.yearly[Category::Candles.index()];
        let dec = candles[340];
        let jul = candles[190];
        assert!(dec > 2.0 * jul, "dec={dec} jul={jul}");
    }

    #[test]
    fn weekend_peak() {
        for c in Category::ALL {
            let w = weekly_factors(c);
            assert!((w.iter().sum::<f64>() - 7.0).abs() < 1e-9);
            assert!(w[5] > w[1] && w[5] > 1.0);
        }
    }
}
