//! Forecast accuracy metrics, pure functions over paired actuals and forecasts.

/// Weighted absolute percentage error: Σ|a − f| / Σa. `None` when there were no sales.
pub fn wape(actual: &[f64], forecast: &[f64]) -> Option<f64> {
    assert_eq!(actual.len(), forecast.len());
    let total: f64 = actual.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let error: f64 = actual
        .iter()
        .zip(forecast)
        .map(|(a, f)| (a - f).abs())
        .sum();
    Some(error / total)
}

/// Bias: Σ(f − a) / Σa (positive = over-forecast).
pub fn bias(actual: &[f64], forecast: &[f64]) -> Option<f64> {
    assert_eq!(actual.len(), forecast.len());
    let total: f64 = actual.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let signed: f64 = actual.iter().zip(forecast).map(|(a, f)| f - a).sum();
    Some(signed / total)
}

/// Mean absolute scaled error: MAE of the forecast over the in-sample MAE of the seasonal
/// naive forecast (`scale`), computed by the caller on the training window.
pub fn mase(actual: &[f64], forecast: &[f64], scale: f64) -> Option<f64> {
    assert_eq!(actual.len(), forecast.len());
    if actual.is_empty() || scale <= 0.0 || !scale.is_finite() {
        return None;
    }
    let mae: f64 = actual
        .iter()
        .zip(forecast)
        .map(|(a, f)| (a - f).abs())
        .sum::<f64>()
        / actual.len() as f64;
    Some(mae / scale)
}

/// Mean pinball (quantile) loss of quantile `level` forecasts.
pub fn pinball(actual: &[f64], quantile_forecast: &[f64], level: f64) -> Option<f64> {
    assert_eq!(actual.len(), quantile_forecast.len());
    assert!((0.0..=1.0).contains(&level));
    if actual.is_empty() {
        return None;
    }
    let loss: f64 = actual
        .iter()
        .zip(quantile_forecast)
        .map(|(a, q)| {
            let diff = a - q;
            if diff >= 0.0 {
                level * diff
            } else {
                (level - 1.0) * diff
            }
        })
        .sum();
    Some(loss / actual.len() as f64)
}

/// Share of actuals at or below the quantile forecast.
pub fn share_below(actual: &[f64], quantile_forecast: &[f64]) -> Option<f64> {
    assert_eq!(actual.len(), quantile_forecast.len());
    if actual.is_empty() {
        return None;
    }
    let below = actual
        .iter()
        .zip(quantile_forecast)
        .filter(|(a, q)| a <= q)
        .count();
    Some(below as f64 / actual.len() as f64)
}

/// Share of actuals inside [low, high].
pub fn interval_coverage(actual: &[f64], low: &[f64], high: &[f64]) -> Option<f64> {
    assert_eq!(actual.len(), low.len());
    assert_eq!(actual.len(), high.len());
    if actual.is_empty() {
        return None;
    }
    let inside = (0..actual.len())
        .filter(|&i| actual[i] >= low[i] && actual[i] <= high[i])
        .count();
    Some(inside as f64 / actual.len() as f64)
}

/// Absolute error and actual units of period blocks (e.g. weeks of a daily forecast), kept
/// apart for blocks that touch a promotion and blocks that do not, so several backtest
/// origins can be added up before the ratio is taken.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlockSums {
    /// `[other, promotion][error, actual]`.
    sums: [[f64; 2]; 2],
    pub promotion_blocks: usize,
}

impl BlockSums {
    /// Adds `[series][period]` values over `periods` periods; a series' promotion mask is
    /// `promo[series_group[series]][period]` (promotions are per SKU, series are
    /// SKU × warehouse).
    pub fn add(
        &mut self,
        actual: &[f64],
        forecast: &[f64],
        periods: usize,
        block_periods: usize,
        series_group: &[usize],
        promo: &[bool],
    ) {
        assert!(block_periods >= 1 && periods >= 1);
        assert_eq!(actual.len(), forecast.len());
        assert_eq!(actual.len(), series_group.len() * periods);
        for (series, &group) in series_group.iter().enumerate() {
            let mask = &promo[group * periods..(group + 1) * periods];
            let values = series * periods..(series + 1) * periods;
            let (actual, forecast) = (&actual[values.clone()], &forecast[values]);
            for block in (0..periods).step_by(block_periods) {
                let end = (block + block_periods).min(periods);
                let is_promo = mask[block..end].iter().any(|&p| p);
                let a: f64 = actual[block..end].iter().sum();
                let f: f64 = forecast[block..end].iter().sum();
                let slot = &mut self.sums[usize::from(is_promo)];
                slot[0] += (a - f).abs();
                slot[1] += a;
                self.promotion_blocks += usize::from(is_promo);
            }
        }
    }

    fn ratio([error, total]: [f64; 2]) -> Option<f64> {
        (total > 0.0).then(|| error / total)
    }

    pub fn all_wape(&self) -> Option<f64> {
        Self::ratio([
            self.sums[0][0] + self.sums[1][0],
            self.sums[0][1] + self.sums[1][1],
        ])
    }

    pub fn promotion_wape(&self) -> Option<f64> {
        Self::ratio(self.sums[1])
    }

    pub fn other_wape(&self) -> Option<f64> {
        Self::ratio(self.sums[0])
    }
}

/// WAPE of period blocks split by promotion: `(promotion blocks, other blocks)`.
pub fn block_wape_by_promotion(
    actual: &[f64],
    forecast: &[f64],
    periods: usize,
    block_periods: usize,
    series_group: &[usize],
    promo: &[bool],
) -> (Option<f64>, Option<f64>) {
    let mut sums = BlockSums::default();
    sums.add(
        actual,
        forecast,
        periods,
        block_periods,
        series_group,
        promo,
    );
    (sums.promotion_wape(), sums.other_wape())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_on_a_known_example() {
        let actual = [2.0, 0.0, 4.0];
        let forecast = [1.0, 1.0, 4.0];
        assert_eq!(wape(&actual, &forecast), Some(2.0 / 6.0));
        assert_eq!(bias(&actual, &forecast), Some(0.0));
        assert_eq!(mase(&actual, &forecast, 2.0 / 3.0), Some(1.0));
        assert_eq!(wape(&[0.0], &[1.0]), None);
        // Under-forecast by 1 at the 0.9 quantile costs 0.9; over-forecast by 1 costs 0.1.
        assert!((pinball(&[2.0, 0.0], &[1.0, 1.0], 0.9).unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(share_below(&actual, &[2.0, 0.0, 3.0]), Some(2.0 / 3.0));
        assert_eq!(
            interval_coverage(&actual, &[0.0; 3], &[3.0; 3]),
            Some(2.0 / 3.0)
        );
    }

    #[test]
    fn block_wape_sums_within_blocks_before_comparing() {
        // One SKU, two warehouses, four days in blocks of two; a promotion on day 2 only.
        let actual = [1.0, 0.0, 3.0, 1.0, 0.0, 1.0, 2.0, 2.0];
        let forecast = [0.0, 1.0, 2.0, 2.0, 1.0, 1.0, 4.0, 0.0];
        let promo = [false, false, true, false];
        let (promo_wape, other_wape) =
            block_wape_by_promotion(&actual, &forecast, 4, 2, &[0, 0], &promo);
        // Promotion blocks: |4-4| + |4-4| over 8; other blocks: |1-1| + |1-2| over 2.
        assert_eq!(promo_wape, Some(0.0));
        assert_eq!(other_wape, Some(0.5));
    }
}
