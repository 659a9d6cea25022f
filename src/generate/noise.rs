//! Seed derivation and the count-noise samplers used by the generator.
//!
//! Every random stream is a `ChaCha8Rng` seeded from the user seed plus a
//! fixed stream tag and indices, so each SKU (and each SKU × warehouse) has
//! its own independent, reproducible stream regardless of thread layout.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, Normal, Poisson};

/// Stream tags (arbitrary distinct constants).
pub(crate) const STREAM_CATALOG: u64 = 0x0C47_A106;
pub(crate) const STREAM_WAREHOUSES: u64 = 0x0005_70E5;
pub(crate) const STREAM_PROMOS: u64 = 0x0009_F0E0;
pub(crate) const STREAM_SKU: u64 = 0x0000_5C05;
pub(crate) const STREAM_CELL: u64 = 0x000C_E115;
pub(crate) const STREAM_SKU_POLLS: u64 = 0x0000_9011;
pub(crate) const STREAM_CATEGORY_POLLS: u64 = 0x0CA7_9011;
pub(crate) const STREAM_SKU_BUZZ: u64 = 0x0000_B022;
pub(crate) const STREAM_CATEGORY_BUZZ: u64 = 0x0CA7_B022;

/// SplitMix64 finaliser: a good 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Derives a stream seed from the user seed, a stream tag and two indices.
pub(crate) fn derive_seed(seed: u64, stream: u64, a: u64, b: u64) -> u64 {
    mix(mix(mix(seed ^ mix(stream)) ^ a.wrapping_mul(0xA24B_AED4_963E_E407)) ^ b)
}

/// A reproducible RNG for one stream.
pub(crate) fn rng_for(seed: u64, stream: u64, a: u64, b: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(derive_seed(seed, stream, a, b))
}

/// Uniform draw in `[lo, hi)`; returns `lo` when the range is empty.
pub(crate) fn uniform<R: Rng + ?Sized>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    if hi <= lo {
        lo
    } else {
        lo + (hi - lo) * rng.random::<f64>()
    }
}

/// Log-uniform draw in `[lo, hi)` (both > 0).
pub(crate) fn log_uniform<R: Rng + ?Sized>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    uniform(rng, lo.ln(), hi.ln()).exp()
}

/// Standard normal draw.
pub(crate) fn std_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // Normal::new(0, 1) cannot fail.
    Normal::new(0.0, 1.0).map(|n| n.sample(rng)).unwrap_or(0.0)
}

/// Gamma(shape, 1) draw; shape must be > 0 (clamped to a tiny positive value).
pub(crate) fn gamma<R: Rng + ?Sized>(rng: &mut R, shape: f64) -> f64 {
    match Gamma::new(shape.max(1e-3), 1.0) {
        Ok(g) => g.sample(rng),
        Err(_) => shape,
    }
}

/// Integer draw in `lo..=hi` (inclusive). `lo` when `hi < lo`.
pub(crate) fn int_between<R: Rng + ?Sized>(rng: &mut R, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..=hi)
    }
}

/// Poisson count with mean `mu` (inversion for small means).
pub(crate) fn poisson<R: Rng + ?Sized>(rng: &mut R, mu: f64) -> u32 {
    if mu <= 0.0 || mu.is_nan() {
        return 0;
    }
    if mu > 30.0 {
        return match Poisson::new(mu) {
            Ok(p) => {
                let x: f64 = p.sample(rng);
                x.min(u32::MAX as f64) as u32
            }
            Err(_) => mu.round() as u32,
        };
    }
    let u: f64 = rng.random();
    let mut p = (-mu).exp();
    let mut cdf = p;
    let mut n: u32 = 0;
    while u > cdf && n < 1000 {
        n += 1;
        p *= mu / f64::from(n);
        cdf += p;
        if p < 1e-300 {
            break;
        }
    }
    n
}

/// Negative-binomial count with mean `mu` and shape `k` (variance
/// `mu + mu²/k`): a Poisson–gamma mixture. Small `k` means strong
/// overdispersion (lumpy furniture demand), large `k` approaches Poisson.
///
/// Uses one uniform and inversion of the pmf recursion for small means, and
/// an explicit gamma–Poisson mixture for large means.
pub(crate) fn neg_binomial<R: Rng + ?Sized>(rng: &mut R, mu: f64, k: f64) -> u32 {
    if mu <= 0.0 || mu.is_nan() {
        return 0;
    }
    if mu > 30.0 {
        let g = match Gamma::new(k, mu / k) {
            Ok(g) => g.sample(rng),
            Err(_) => mu,
        };
        return poisson(rng, g);
    }
    let q = mu / (k + mu);
    let mut p = (-k * (mu / k).ln_1p()).exp();
    let u: f64 = rng.random();
    let mut cdf = p;
    let mut n: u32 = 0;
    let cap = (mu * 50.0) as u32 + 200;
    while u > cdf && n < cap {
        p *= (f64::from(n) + k) / (f64::from(n) + 1.0) * q;
        n += 1;
        cdf += p;
        if p < 1e-300 {
            break;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_by_stream_and_index() {
        let a = derive_seed(1, STREAM_SKU, 0, 0);
        assert_ne!(a, derive_seed(1, STREAM_SKU, 1, 0));
        assert_ne!(a, derive_seed(1, STREAM_SKU, 0, 1));
        assert_ne!(a, derive_seed(2, STREAM_SKU, 0, 0));
        assert_ne!(a, derive_seed(1, STREAM_CELL, 0, 0));
        assert_eq!(a, derive_seed(1, STREAM_SKU, 0, 0));
    }

    #[test]
    fn neg_binomial_moments() {
        let mut rng = rng_for(7, STREAM_SKU, 0, 0);
        for &(mu, k) in &[
            (0.05, 0.5),
            (0.3, 1.0),
            (2.0, 3.0),
            (12.0, 0.8),
            (60.0, 2.0),
        ] {
            let n = 200_000;
            let xs: Vec<f64> = (0..n)
                .map(|_| f64::from(neg_binomial(&mut rng, mu, k)))
                .collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            let want_var = mu + mu * mu / k;
            assert!((mean - mu).abs() < 0.03 * mu + 0.005, "mu={mu} mean={mean}");
            assert!(
                (var - want_var).abs() < 0.12 * want_var + 0.01,
                "mu={mu} k={k} var={var} want={want_var}"
            );
        }
    }

    #[test]
    fn poisson_mean() {
        let mut rng = rng_for(3, STREAM_SKU, 0, 0);
        for &mu in &[0.2, 4.0, 45.0] {
            let n = 100_000;
            let s: u64 = (0..n).map(|_| u64::from(poisson(&mut rng, mu))).sum();
            let mean = s as f64 / n as f64;
            assert!((mean - mu).abs() < 0.03 * mu + 0.01, "mu={mu} mean={mean}");
        }
    }
}
