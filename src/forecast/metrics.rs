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
}
