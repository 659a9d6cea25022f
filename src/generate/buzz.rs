//! Latent popularity ("buzz"): slow swings in how much shoppers want a category or a SKU
//! (a design seen on social media, a competitor out of stock) that the sales history shows
//! only once they have happened, and customer polls show 1–3 weeks ahead.
//!
//! Without it every poll answer would be a noisy copy of the calendar (season, promotions,
//! trend), which the forecaster already knows, and polls could never lower its error: the
//! reason a retailer runs polls at all is this part of demand.
//!
//! Each subject has a log multiplier `b(t)` following a stationary AR(1) process with the
//! given time scale and standard deviation; the multiplier is `exp(b(t) − sd²/2)`, so its mean
//! is 1 and the catalogue's long-run demand level is unchanged.

use rand::Rng;

use super::noise::std_normal;

/// Category-wide swings (a style in fashion), shared by every SKU of the category; a month's
/// time scale, so a swing is under way before the sales history shows it.
pub(crate) const CATEGORY_BUZZ_DAYS: f64 = 30.0;
pub(crate) const CATEGORY_BUZZ_SD: f64 = 0.3;
/// One SKU's own, smaller swings on top of its category's.
pub(crate) const SKU_BUZZ_DAYS: f64 = 30.0;
pub(crate) const SKU_BUZZ_SD: f64 = 0.15;

/// Daily demand multipliers over `horizon` days (mean 1, log-AR(1)).
pub(crate) fn buzz_multipliers<R: Rng + ?Sized>(
    rng: &mut R,
    horizon: usize,
    timescale_days: f64,
    sd: f64,
) -> Vec<f64> {
    assert!(timescale_days > 0.0 && sd >= 0.0);
    let phi = (-1.0 / timescale_days).exp();
    let innovation_sd = sd * (1.0 - phi * phi).sqrt();
    let mut log_level = sd * std_normal(rng);
    let mut out = Vec::with_capacity(horizon);
    for _ in 0..horizon {
        out.push((log_level - sd * sd / 2.0).exp());
        log_level = phi * log_level + innovation_sd * std_normal(rng);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::noise::rng_for;

    #[test]
    fn multipliers_average_one_and_persist() {
        let mut rng = rng_for(5, 1, 2, 3);
        let days = 200_000;
        let m = buzz_multipliers(&mut rng, days, SKU_BUZZ_DAYS, SKU_BUZZ_SD);
        let mean = m.iter().sum::<f64>() / days as f64;
        assert!((mean - 1.0).abs() < 0.03, "mean {mean}");
        let logs: Vec<f64> = m.iter().map(|x| x.ln()).collect();
        let centre = logs.iter().sum::<f64>() / days as f64;
        let var = logs.iter().map(|x| (x - centre).powi(2)).sum::<f64>() / days as f64;
        assert!((var.sqrt() - SKU_BUZZ_SD).abs() < 0.03, "sd {}", var.sqrt());
        // A week apart the level is still strongly correlated (that is what polls can see).
        let lag = 7;
        let cov = (0..days - lag)
            .map(|t| (logs[t] - centre) * (logs[t + lag] - centre))
            .sum::<f64>()
            / (days - lag) as f64;
        let expected = (-(lag as f64) / SKU_BUZZ_DAYS).exp();
        assert!(
            (cov / var - expected).abs() < 0.05,
            "autocorrelation {}",
            cov / var
        );
    }
}
