//! Demand over the promotion window as a distribution built from forecast quantiles.
//!
//! The CDF is piecewise linear through `(0, 0)` and the quantile points `(units_i, level_i)`
//! (equal units at two levels make an atom; a first quantile at 0 units makes an atom at 0).
//! Above the top quantile `(u_n, p_n)` the survival function decays exponentially,
//! `S(t) = (1 − p_n)·exp(−(t − u_n)/θ)`, with θ chosen so that
//! - the distribution's mean equals the forecast mean when one is given and it exceeds the mass
//!   below the top quantile, or otherwise
//! - the density is continuous at `u_n` (θ = (1 − p_n) / density of the last non-empty segment).
//!
//! Quantiles that are all 0 units (and no positive mean) mean zero demand.
//!
//! Expected sales with `x` units on hand are `E[min(D, x)] = ∫₀ˣ S(t) dt`; the expected extra
//! sales of unit `k + 1` are `∫ₖ^{k+1} S(t) dt`, computed in O(number of quantiles) without
//! subtracting large numbers, so they stay non-increasing in `k` (expected sales are concave).

use super::problem::QuantilePoint;

#[derive(Debug, Clone, Copy)]
pub struct Demand<'a> {
    points: &'a [QuantilePoint],
    /// Scale of the exponential upper tail (units); 0 for zero demand.
    theta: f64,
    mean: f64,
}

impl<'a> Demand<'a> {
    /// Zero demand.
    pub fn zero() -> Demand<'static> {
        Demand {
            points: &[],
            theta: 0.0,
            mean: 0.0,
        }
    }

    /// Builds the distribution from validated quantile points (levels strictly increasing in
    /// (0, 1), units non-decreasing and ≥ 0) and an optional mean.
    pub fn new(points: &'a [QuantilePoint], mean: Option<f64>) -> Demand<'a> {
        let (top_units, s_top) = points
            .last()
            .map(|p| (p.units, 1.0 - p.level))
            .unwrap_or((0.0, 1.0));
        // Mass below the top quantile, ∫₀^{u_n} S, and the density of the last non-empty segment.
        let mut body = 0.0;
        let mut density = 0.0;
        let (mut t0, mut s0) = (0.0, 1.0);
        for p in points {
            let (t1, s1) = (p.units, 1.0 - p.level);
            if t1 > t0 {
                body += 0.5 * (s0 + s1) * (t1 - t0);
                density = (s0 - s1) / (t1 - t0);
            }
            t0 = t1;
            s0 = s1;
        }
        let mut theta = 0.0;
        if let Some(m) = mean {
            let tail = m - body;
            if m > 0.0 && tail > 1e-9 * m.max(1.0) {
                theta = tail / s_top;
            }
        }
        if theta == 0.0 && top_units > 0.0 {
            theta = if density > 0.0 {
                s_top / density
            } else {
                top_units
            };
        }
        if theta == 0.0 {
            return Demand::zero();
        }
        let theta = theta.max(1e-9);
        Demand {
            points,
            theta,
            mean: body + s_top * theta,
        }
    }

    pub fn is_zero(&self) -> bool {
        self.theta == 0.0
    }

    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// P(D > t).
    pub fn survival(&self, t: f64) -> f64 {
        if self.is_zero() {
            return if t < 0.0 { 1.0 } else { 0.0 };
        }
        if t < 0.0 {
            return 1.0;
        }
        let (mut t0, mut s0) = (0.0, 1.0);
        for p in self.points {
            let (t1, s1) = (p.units, 1.0 - p.level);
            if t < t1 {
                return s0 + (s1 - s0) * (t - t0) / (t1 - t0);
            }
            t0 = t1;
            s0 = s1;
        }
        s0 * (-(t - t0) / self.theta).exp()
    }

    /// ∫ₐᵇ S(t) dt for 0 ≤ a ≤ b.
    pub fn integral(&self, a: f64, b: f64) -> f64 {
        if self.is_zero() || b <= a {
            return 0.0;
        }
        let mut total = 0.0;
        let (mut t0, mut s0) = (0.0, 1.0);
        for p in self.points {
            let (t1, s1) = (p.units, 1.0 - p.level);
            if t1 > a && t1 > t0 {
                let lo = a.max(t0);
                let hi = b.min(t1);
                if hi > lo {
                    let slope = (s1 - s0) / (t1 - t0);
                    let sl = s0 + slope * (lo - t0);
                    let sh = s0 + slope * (hi - t0);
                    total += 0.5 * (sl + sh) * (hi - lo);
                }
            }
            if t1 >= b {
                return total;
            }
            t0 = t1;
            s0 = s1;
        }
        let lo = a.max(t0);
        if b > lo {
            let th = self.theta;
            total += s0 * th * (-(lo - t0) / th).exp() * -(-(b - lo) / th).exp_m1();
        }
        total
    }

    /// Expected extra sales of unit `k + 1` (units), non-increasing in `k`.
    #[inline]
    pub fn unit_sales(&self, k: u32) -> f64 {
        let a = k as f64;
        self.integral(a, a + 1.0)
    }

    /// E[min(D, x)] in units.
    pub fn expected_sales(&self, x: f64) -> f64 {
        self.integral(0.0, x.max(0.0))
    }

    /// The smallest `t` with P(D ≤ t) ≥ level (level in [0, 1)).
    pub fn quantile(&self, level: f64) -> f64 {
        if self.is_zero() || level <= 0.0 {
            return 0.0;
        }
        let target = 1.0 - level;
        let (mut t0, mut s0) = (0.0, 1.0);
        for p in self.points {
            let (t1, s1) = (p.units, 1.0 - p.level);
            if s1 <= target {
                if t1 == t0 {
                    return t1;
                }
                return t0 + (s0 - target) / (s0 - s1) * (t1 - t0);
            }
            t0 = t1;
            s0 = s1;
        }
        t0 + self.theta * (s0 / target).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qp(level: f64, units: f64) -> QuantilePoint {
        QuantilePoint { level, units }
    }

    #[test]
    fn piecewise_linear_body_and_continuous_tail() {
        let pts = [qp(0.1, 3.0), qp(0.5, 7.0), qp(0.9, 15.0)];
        let d = Demand::new(&pts, None);
        assert!((d.survival(0.0) - 1.0).abs() < 1e-12);
        assert!((d.survival(3.0) - 0.9).abs() < 1e-12);
        assert!((d.survival(11.0) - 0.3).abs() < 1e-12);
        assert!((d.survival(15.0) - 0.1).abs() < 1e-12);
        // density of the last segment is 0.4/8 = 0.05 → θ = 0.1/0.05 = 2.
        assert!((d.survival(17.0) - 0.1 * (-1.0f64).exp()).abs() < 1e-12);
        // mean = ∫S: body (0..3: 2.85, 3..7: 2.8, 7..15: 2.4) + tail 0.1·2.
        assert!((d.mean() - (2.85 + 2.8 + 2.4 + 0.2)).abs() < 1e-12);
        assert!((d.expected_sales(1e6) - d.mean()).abs() < 1e-9);
        assert!((d.quantile(0.5) - 7.0).abs() < 1e-12);
        assert!((d.quantile(0.3) - 5.0).abs() < 1e-12);
        assert!((d.quantile(0.95) - (15.0 + 2.0 * 2f64.ln())).abs() < 1e-9);
    }

    #[test]
    fn unit_sales_are_non_increasing_and_sum_to_expected_sales() {
        let pts = [
            qp(0.05, 0.0),
            qp(0.25, 2.5),
            qp(0.5, 4.0),
            qp(0.75, 4.0),
            qp(0.95, 13.3),
        ];
        let d = Demand::new(&pts, Some(6.0));
        assert!((d.mean() - 6.0).abs() < 1e-9);
        let mut sum = 0.0;
        let mut prev = f64::INFINITY;
        for k in 0..2000 {
            let g = d.unit_sales(k);
            assert!(g <= prev + 1e-15, "unit {k}: {g} > {prev}");
            assert!(g >= 0.0);
            prev = g;
            sum += g;
            assert!((sum - d.expected_sales((k + 1) as f64)).abs() < 1e-9);
        }
        assert!((sum - 6.0).abs() < 1e-6);
    }

    #[test]
    fn zero_and_degenerate_inputs() {
        let z = Demand::new(&[], None);
        assert!(z.is_zero() && z.mean() == 0.0 && z.unit_sales(0) == 0.0);
        let zeros = [qp(0.5, 0.0), qp(0.9, 0.0)];
        assert!(Demand::new(&zeros, None).is_zero());
        // all quantiles at zero but a positive mean: an atom at 0 plus an exponential tail.
        let d = Demand::new(&zeros, Some(0.5));
        assert!((d.mean() - 0.5).abs() < 1e-12);
        // only a mean: exponential.
        let e = Demand::new(&[], Some(4.0));
        assert!((e.survival(4.0) - (-1.0f64).exp()).abs() < 1e-12);
        // single quantile: linear body to it, tail continuous.
        let one = [qp(0.5, 10.0)];
        let d = Demand::new(&one, None);
        assert!((d.mean() - (7.5 + 0.5 * 10.0)).abs() < 1e-12);
    }
}
