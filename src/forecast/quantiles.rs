//! Quantiles from a negative binomial with the forecast mean (Var = μ + φ·μ²; φ = 0 is
//! Poisson), so every quantile comes from the one distribution whose mean is the forecast.
//! The dispersion φ is calibrated on held-out actuals: per volume band and promotion state,
//! the φ whose p10–p90 interval covered closest to 80% of them (an actual on an edge
//! counts), period by period or, for intermittent series, on totals over blocks of periods.
//!
//! Quantiles are those of the count made continuous (the mass at k spread evenly over
//! [k − 1, k]): integer quantiles of sparse counts are so coarse that p10–p90 would cover far
//! more than 80% of actuals, and the allocation solver wants a continuous curve anyway. The
//! mass at zero is respected: where P(0) ≥ 10%, p10 is 0.

/// Volume bands by forecast mean per period: dispersion differs between a sofa selling one
/// unit a month and a candle selling ten a day.
pub const VOLUME_BAND_EDGES: [f64; 2] = [0.5, 3.0];

pub fn volume_band(mean: f64) -> usize {
    VOLUME_BAND_EDGES
        .iter()
        .position(|edge| mean < *edge)
        .unwrap_or(VOLUME_BAND_EDGES.len())
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

/// Dispersions the calibration tries, from Poisson to very overdispersed. The largest ones
/// serve blocks of many slow periods, whose totals vary with a shared level that the
/// periods' own spread cannot carry unless it is wide.
const DISPERSION_GRID: [f64; 24] = [
    0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.65, 0.8, 1.0, 1.3, 1.7, 2.2, 3.0, 4.0,
    6.0, 10.0, 15.0, 25.0, 40.0, 60.0,
];
/// Held-out cells (or blocks) a band needs before its own dispersion is trusted.
pub const MIN_CALIBRATION_CELLS: usize = 100;
/// At most this many held-out cells per band are scored (every k-th one).
const MAX_CALIBRATION_CELLS: usize = 20_000;
pub const TARGET_COVERAGE: f64 = 0.8;

/// One held-out total the dispersion is calibrated on: a period, or a block of periods of
/// one series, with the sum of the periods' means and of their squares (the periods' own
/// dispersion φ adds φ·Σμ² to the block's variance).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HeldOutTotal {
    pub mean: f64,
    pub mean_squares: f64,
    pub actual: f64,
}

impl HeldOutTotal {
    pub fn period(mean: f64, actual: f64) -> HeldOutTotal {
        HeldOutTotal {
            mean,
            mean_squares: mean * mean,
            actual,
        }
    }

    pub fn add(&mut self, mean: f64, actual: f64) {
        self.mean += mean;
        self.mean_squares += mean * mean;
        self.actual += actual;
    }

    /// The dispersion of the total's own negative binomial when each period has `dispersion`:
    /// the one whose variance μ + φ'μ² equals Σ(μᵢ + φμᵢ²).
    pub fn total_dispersion(&self, dispersion: f64) -> f64 {
        if self.mean <= 1e-9 {
            return 0.0;
        }
        dispersion * self.mean_squares / (self.mean * self.mean)
    }
}

/// Share of held-out totals inside their p10–p90 interval when each period has
/// `dispersion`, edges included.
pub fn interval_coverage_at(totals: &[HeldOutTotal], dispersion: f64) -> f64 {
    let mut quantiles = Vec::with_capacity(2);
    let covered = totals
        .iter()
        .filter(|total| {
            let phi = total.total_dispersion(dispersion);
            negative_binomial_quantiles(total.mean, phi, &[0.1, 0.9], &mut quantiles);
            total.actual >= quantiles[0] - 1e-9 && total.actual <= quantiles[1] + 1e-9
        })
        .count();
    covered as f64 / totals.len().max(1) as f64
}

/// The per-period dispersion whose p10–p90 intervals of the held-out totals cover closest
/// to 80% of them, or `None` with too few totals. Ties keep the smaller dispersion.
pub fn calibrate_dispersion(totals: &[HeldOutTotal]) -> Option<f64> {
    if totals.len() < MIN_CALIBRATION_CELLS {
        return None;
    }
    let step = totals.len().div_ceil(MAX_CALIBRATION_CELLS);
    let sample: Vec<HeldOutTotal> = totals.iter().step_by(step).copied().collect();
    let mut best: Option<(f64, f64)> = None;
    for dispersion in DISPERSION_GRID {
        let miss = (interval_coverage_at(&sample, dispersion) - TARGET_COVERAGE).abs();
        if best.is_none_or(|(best_miss, _)| miss < best_miss - 1e-9) {
            best = Some((miss, dispersion));
        }
    }
    best.map(|(_, dispersion)| dispersion)
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
    fn calibration_finds_the_dispersion_that_generated_the_actuals() {
        // Actuals drawn (by inverse CDF on a grid of levels) from NB(μ = 8, φ = 0.5).
        let mut cells = Vec::new();
        let mut out = Vec::new();
        for i in 0..1000 {
            let level = (i as f64 + 0.5) / 1000.0;
            negative_binomial_quantiles(8.0, 0.5, &[level], &mut out);
            cells.push(HeldOutTotal::period(8.0, out[0].ceil()));
        }
        let dispersion = calibrate_dispersion(&cells).unwrap();
        assert!((0.3..=0.8).contains(&dispersion), "{dispersion}");
        let coverage = interval_coverage_at(&cells, dispersion);
        assert!((0.75..=0.85).contains(&coverage), "{coverage}");
        assert_eq!(calibrate_dispersion(&cells[..10]), None);
    }

    #[test]
    fn blocks_of_slow_periods_are_calibrated_on_their_totals() {
        // 56 periods of mean 0.2 each, whose totals vary like NB(μ = 11.2, φ = 0.5): a level
        // shared by the periods, far wider than 56 independent periods would give.
        let (periods, period_mean, total_dispersion) = (56, 0.2, 0.5);
        let mut totals = Vec::new();
        let mut out = Vec::new();
        for i in 0..1000 {
            let level = (i as f64 + 0.5) / 1000.0;
            let mean = period_mean * periods as f64;
            negative_binomial_quantiles(mean, total_dispersion, &[level], &mut out);
            let mut total = HeldOutTotal::default();
            for _ in 0..periods {
                total.add(period_mean, 0.0);
            }
            total.actual = out[0].ceil();
            totals.push(total);
        }
        let dispersion = calibrate_dispersion(&totals).unwrap();
        let coverage = interval_coverage_at(&totals, dispersion);
        assert!((0.75..=0.85).contains(&coverage), "{coverage}");
        // As many periods' own spread would cover far less.
        assert!(interval_coverage_at(&totals, 0.5) < 0.7);
        assert!(dispersion > 10.0, "{dispersion}");
    }

    #[test]
    fn normal_quantile_is_accurate() {
        assert!((standard_normal_quantile(0.9) - 1.2815515655).abs() < 1e-6);
        assert!(standard_normal_quantile(0.5).abs() < 1e-9);
    }
}
