//! Quantiles from a negative binomial with the forecast mean and a dispersion calibrated on
//! held-out residuals (Var = μ + φ·μ²). φ = 0 is Poisson.
//!
//! Quantiles are those of the count made continuous (the mass at k spread evenly over
//! [k − 1, k]): integer quantiles of sparse counts are so coarse that p10–p90 would cover far
//! more than 80% of actuals, and the allocation solver wants a continuous curve anyway.
//!
//! Even so, a count with a large mass at zero puts every zero actual inside any interval that
//! starts at 0, so the nominal levels are recalibrated per volume band on held-out actuals
//! ([`LevelCalibration`]): the level asked for is mapped to the level that held-out actuals
//! actually fell below at that rate.

/// Volume bands by forecast mean per period: dispersion differs between a sofa selling one
/// unit a month and a candle selling ten a day.
pub const VOLUME_BAND_EDGES: [f64; 2] = [0.5, 3.0];

pub fn volume_band(mean: f64) -> usize {
    VOLUME_BAND_EDGES
        .iter()
        .position(|edge| mean < *edge)
        .unwrap_or(VOLUME_BAND_EDGES.len())
}

/// Accumulates method-of-moments sums for φ: Σ((y − μ)² − μ) / Σμ².
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct DispersionSums {
    pub excess: f64,
    pub squared_means: f64,
    pub count: u64,
}

impl DispersionSums {
    pub fn add(&mut self, actual: f64, mean: f64) {
        self.excess += (actual - mean).powi(2) - mean;
        self.squared_means += mean * mean;
        self.count += 1;
    }

    /// φ, or `fallback` when there is too little evidence.
    pub fn dispersion(&self, fallback: f64) -> f64 {
        if self.count < 50 || self.squared_means <= 1e-9 {
            return fallback;
        }
        (self.excess / self.squared_means).clamp(0.0, 50.0)
    }
}

/// Quantiles at `levels` (sorted ascending, each in (0, 1)) of NB(mean, φ).
pub fn negative_binomial_quantiles(mean: f64, dispersion: f64, levels: &[f64], out: &mut Vec<f64>) {
    debug_assert!(levels.windows(2).all(|pair| pair[0] <= pair[1]));
    out.clear();
    if mean.is_nan() || mean <= 1e-9 {
        out.extend(std::iter::repeat_n(0.0, levels.len()));
        return;
    }
    let variance = mean + dispersion * mean * mean;
    if mean > 200.0 {
        // Normal approximation: the pmf walk would take thousands of steps.
        let sd = variance.sqrt();
        for level in levels {
            out.push(
                (mean + sd * standard_normal_quantile(*level))
                    .round()
                    .max(0.0),
            );
        }
        return;
    }
    // pmf(k+1) = pmf(k) · (k + r)/(k + 1) · (1 − p), with r = 1/φ, p = r/(r + μ).
    let mut pmf;
    let ratio_base;
    let poisson = dispersion < 1e-6;
    let r = if poisson { 0.0 } else { 1.0 / dispersion };
    if poisson {
        pmf = (-mean).exp();
        ratio_base = 0.0;
    } else {
        let p = r / (r + mean);
        pmf = r * p.ln();
        pmf = pmf.exp();
        ratio_base = 1.0 - p;
    }
    let mut cdf = pmf;
    let mut k = 0u64;
    let limit = (mean + 40.0 * variance.sqrt() + 50.0) as u64;
    for level in levels {
        while cdf < *level && k < limit {
            let next = if poisson {
                mean / (k as f64 + 1.0)
            } else {
                (k as f64 + r) / (k as f64 + 1.0) * ratio_base
            };
            pmf *= next;
            cdf += pmf;
            k += 1;
        }
        // F(k − 1) < level ≤ F(k): interpolate inside the mass at k, over [k − 1, k].
        let below = cdf - pmf;
        let within = if pmf > 0.0 {
            ((level - below) / pmf).clamp(0.0, 1.0)
        } else {
            1.0
        };
        out.push((k as f64 - 1.0 + within).max(0.0));
    }
}

/// The continuous count's CDF at `actual` (the inverse of `negative_binomial_quantiles`):
/// F(k − 1) + (y − (k − 1))·P(k) for y in [k − 1, k].
pub fn negative_binomial_cdf(actual: f64, mean: f64, dispersion: f64) -> f64 {
    if mean.is_nan() || mean <= 1e-9 {
        return 1.0;
    }
    let actual = actual.max(0.0);
    let variance = mean + dispersion * mean * mean;
    if mean > 200.0 {
        return standard_normal_cdf((actual - mean) / variance.sqrt());
    }
    let poisson = dispersion < 1e-6;
    let r = if poisson { 0.0 } else { 1.0 / dispersion };
    let (mut pmf, ratio_base) = if poisson {
        ((-mean).exp(), 0.0)
    } else {
        let p = r / (r + mean);
        ((r * p.ln()).exp(), 1.0 - p)
    };
    let k = actual.ceil();
    let mut cdf_below = 0.0; // F(k − 1)
    let mut step = 0.0;
    while step < k {
        cdf_below += pmf;
        pmf *= if poisson {
            mean / (step + 1.0)
        } else {
            (step + r) / (step + 1.0) * ratio_base
        };
        step += 1.0;
        if cdf_below >= 1.0 - 1e-12 {
            return 1.0;
        }
    }
    (cdf_below + (actual - (k - 1.0)).clamp(0.0, 1.0) * pmf).min(1.0)
}

/// Maps a nominal quantile level to the level of the fitted distribution that held-out
/// actuals fell at or below with that frequency (quantile recalibration). Identity when it
/// was built from too few actuals.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LevelCalibration {
    /// Empirical quantiles of the held-out PIT values F(actual) at levels 1/N..=(N−1)/N.
    pub grid: Vec<f64>,
}

impl Default for LevelCalibration {
    fn default() -> Self {
        LevelCalibration::identity()
    }
}

/// Held-out actuals needed before the nominal levels are trusted less than the data.
pub const MIN_CALIBRATION_ACTUALS: usize = 200;
const CALIBRATION_GRID_STEPS: usize = 100;
/// Mapped levels stay inside (0, 1) so no quantile is infinite.
const CALIBRATED_LEVEL_BOUNDS: (f64, f64) = (0.001, 0.999);

impl LevelCalibration {
    pub fn identity() -> LevelCalibration {
        LevelCalibration { grid: Vec::new() }
    }

    /// From held-out PIT values F(actual) (any order; NaNs are ignored).
    pub fn from_pit(mut pit: Vec<f64>) -> LevelCalibration {
        pit.retain(|value| value.is_finite());
        if pit.len() < MIN_CALIBRATION_ACTUALS {
            return LevelCalibration::identity();
        }
        pit.sort_by(f64::total_cmp);
        let n = pit.len();
        let grid = (1..CALIBRATION_GRID_STEPS)
            .map(|step| {
                let level = step as f64 / CALIBRATION_GRID_STEPS as f64;
                let rank = ((level * n as f64).ceil() as usize).clamp(1, n) - 1;
                pit[rank]
            })
            .collect();
        LevelCalibration { grid }
    }

    /// The fitted-distribution level to ask for so that `level` of actuals fall below it.
    /// Monotone, so sorted levels stay sorted.
    pub fn map(&self, level: f64) -> f64 {
        if self.grid.is_empty() {
            return level;
        }
        let steps = CALIBRATION_GRID_STEPS as f64;
        let position = (level * steps).clamp(1.0, steps - 1.0) - 1.0;
        let below = position.floor() as usize;
        let above = (below + 1).min(self.grid.len() - 1);
        let weight = position - below as f64;
        let mapped = self.grid[below] * (1.0 - weight) + self.grid[above] * weight;
        mapped.clamp(CALIBRATED_LEVEL_BOUNDS.0, CALIBRATED_LEVEL_BOUNDS.1)
    }
}

fn standard_normal_cdf(z: f64) -> f64 {
    // Abramowitz–Stegun 7.1.26 on erf (error < 1.5e-7).
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let poly = t
        * (0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Acklam's rational approximation of the standard normal quantile (error < 1.2e-9).
#[allow(clippy::excessive_precision)]
pub fn standard_normal_quantile(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    const A: [f64; 6] = [
        -3.969683028665376e+01,
        2.209460984245205e+02,
        -2.759285104469687e+02,
        1.383577518672690e+02,
        -3.066479806614716e+01,
        2.506628277459239e+00,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e+01,
        1.615858368580409e+02,
        -1.556989798598866e+02,
        6.680131188771972e+01,
        -1.328068155288572e+01,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e+00,
        -2.549732539343734e+00,
        4.374664141464968e+00,
        2.938163982698783e+00,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-03,
        3.224671290700398e-01,
        2.445134137142996e+00,
        3.754408661907416e+00,
    ];
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_quantiles_match_known_values() {
        let mut out = Vec::new();
        // Poisson(3): F(0)=0.0498, F(1)=0.1991, F(2)=0.4232, F(3)=0.6472, F(4)=0.8153,
        // F(5)=0.9161. The 0.1 quantile lies in the mass at 1, so in [0, 1]; 0.5 in the
        // mass at 3, so in [2, 3]; 0.9 in the mass at 5, so in [4, 5].
        negative_binomial_quantiles(3.0, 0.0, &[0.1, 0.5, 0.9], &mut out);
        assert!((out[0] - (0.1 - 0.0498) / 0.1494).abs() < 1e-3, "{out:?}");
        assert!(out[1] > 2.0 && out[1] <= 3.0, "{out:?}");
        assert!(out[2] > 4.0 && out[2] <= 5.0, "{out:?}");
    }

    #[test]
    fn overdispersion_widens_the_interval_and_quantiles_stay_ordered() {
        let mut narrow = Vec::new();
        let mut wide = Vec::new();
        negative_binomial_quantiles(4.0, 0.0, &[0.1, 0.5, 0.9], &mut narrow);
        negative_binomial_quantiles(4.0, 1.0, &[0.1, 0.5, 0.9], &mut wide);
        assert!(wide[2] - wide[0] > narrow[2] - narrow[0]);
        for q in [&narrow, &wide] {
            assert!(q[0] <= q[1] && q[1] <= q[2]);
        }
        negative_binomial_quantiles(1000.0, 0.1, &[0.1, 0.5, 0.9], &mut wide);
        assert!(wide[0] < 1000.0 && wide[2] > 1000.0);
        negative_binomial_quantiles(0.0, 0.3, &[0.1, 0.9], &mut wide);
        assert_eq!(wide, vec![0.0, 0.0]);
    }

    #[test]
    fn the_cdf_inverts_the_quantiles() {
        let mut out = Vec::new();
        for (mean, dispersion) in [
            (0.3, 0.0),
            (3.0, 0.0),
            (3.0, 0.8),
            (40.0, 0.2),
            (500.0, 0.05),
        ] {
            let levels = [0.1, 0.37, 0.5, 0.9];
            negative_binomial_quantiles(mean, dispersion, &levels, &mut out);
            for (level, quantile) in levels.iter().zip(&out) {
                if *quantile <= 0.0 {
                    // Clamped at zero: the level lies inside the mass at zero.
                    assert!(negative_binomial_cdf(0.0, mean, dispersion) >= *level - 1e-9);
                    continue;
                }
                let back = negative_binomial_cdf(*quantile, mean, dispersion);
                let tolerance = if mean > 200.0 { 2e-2 } else { 1e-6 };
                assert!(
                    (back - level).abs() < tolerance,
                    "μ={mean} φ={dispersion}: {level} → {quantile} → {back}"
                );
            }
        }
    }

    #[test]
    fn level_calibration_maps_levels_to_held_out_frequencies() {
        // Held-out PIT values uniform on [0, 0.5]: actuals sat lower than the model expected,
        // so the nominal 0.9 level maps to about 0.45.
        let pit: Vec<f64> = (0..1000).map(|i| i as f64 / 2000.0).collect();
        let calibration = LevelCalibration::from_pit(pit);
        assert!(
            (calibration.map(0.9) - 0.45).abs() < 0.01,
            "{}",
            calibration.map(0.9)
        );
        assert!(calibration.map(0.1) <= calibration.map(0.5));
        // Too little evidence: identity.
        assert_eq!(LevelCalibration::from_pit(vec![0.2; 10]).map(0.9), 0.9);
        // Calibrated on uniform PITs: close to identity.
        let uniform: Vec<f64> = (0..1000).map(|i| (i as f64 + 0.5) / 1000.0).collect();
        assert!((LevelCalibration::from_pit(uniform).map(0.1) - 0.1).abs() < 0.01);
    }

    #[test]
    fn normal_quantile_is_accurate() {
        assert!((standard_normal_quantile(0.9) - 1.2815515655).abs() < 1e-6);
        assert!(standard_normal_quantile(0.5).abs() < 1e-9);
    }
}
