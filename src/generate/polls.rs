//! Customer poll responses that lead real demand.
//!
//! Each subject (a SKU or a whole category) has a latent "interest signal"
//! `x(t) = ln(demand multiplier at t + lead)`, where the multiplier
//! combines yearly seasonality, latent popularity (`buzz.rs`, the part of demand
//! only polls reveal early), promotional lift / pull-forward dips and the
//! slow trend (but not the day-of-week pattern), and `lead` is 7–21 days.
//! Respondents answer more often and score higher when `x` is high, so
//! polls rise 1–3 weeks before promotions and seasonal peaks.

use rand::Rng;

use super::catalog::{Category, Sku};
use super::noise::{
    int_between, poisson, rng_for, std_normal, STREAM_CATEGORY_POLLS, STREAM_SKU_POLLS,
};
use super::promotions::PromoBook;
use super::seasonality::DayProfile;
use super::tables::{PollRow, PollSubject};

/// Expected responses per day about one category.
const CATEGORY_RATE: f64 = 8.0;

/// Interest (1–5) and purchase intention for one respondent.
fn respond<R: Rng + ?Sized>(rng: &mut R, x: f64, bias: f64) -> (u8, bool) {
    let latent = 3.0 + 1.5 * x + bias + 0.9 * std_normal(rng);
    let interest = latent.round().clamp(1.0, 5.0) as u8;
    let z = -1.0 + 1.0 * x + 0.6 * (f64::from(interest) - 3.0);
    let p = 1.0 / (1.0 + (-z).exp());
    (interest, rng.random::<f64>() < p)
}

/// One subject's poll stream over history days `from..days`.
struct PollStream {
    subject: PollSubject,
    from: usize,
    days: usize,
    horizon: usize,
    rate: f64,
    lead: usize,
    bias: f64,
}

impl PollStream {
    fn emit<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        signal: impl Fn(usize) -> f64,
        out: &mut Vec<PollRow>,
    ) {
        let mut secs: Vec<u32> = Vec::new();
        for t in self.from..self.days {
            let x = signal((t + self.lead).min(self.horizon - 1));
            let rate = self.rate * (1.0 + 0.8 * x.max(0.0)).min(4.0);
            let n = poisson(rng, rate);
            if n == 0 {
                continue;
            }
            secs.clear();
            // US daytime: 12:00–23:59 UTC.
            secs.extend((0..n).map(|_| rng.random_range(12 * 3600..24 * 3600)));
            secs.sort_unstable();
            for &second in &secs {
                let (interest, intends) = respond(rng, x, self.bias);
                out.push(PollRow {
                    day: t as u32,
                    second,
                    subject: self.subject,
                    interest,
                    intends,
                });
            }
        }
    }
}

/// Log trend relative to mid-history.
fn trend_log(per_year: f64, t: usize, mid: f64) -> f64 {
    per_year * (t as f64 - mid) / 365.25
}

/// Poll responses about one SKU. `demand_mult` is the SKU's promotional multiplier per day
/// (common to all warehouses without local promotions) times its latent popularity.
pub(crate) fn sku_polls(
    seed: u64,
    sku_index: usize,
    sku: &Sku,
    profile: &DayProfile,
    days: usize,
    demand_mult: &[f64],
    out: &mut Vec<PollRow>,
) {
    let mut rng = rng_for(seed, STREAM_SKU_POLLS, sku_index as u64, 0);
    let yearly = &profile.yearly[sku.category.index()];
    let horizon = yearly.len();
    let mid = days as f64 / 2.0;
    let stream = PollStream {
        subject: PollSubject::Sku(sku_index as u32),
        // Teaser polls start two weeks before a launch.
        from: sku.launch_day.saturating_sub(14),
        days,
        horizon,
        rate: sku.poll_rate,
        lead: sku.poll_lead,
        bias: sku.poll_bias,
    };
    stream.emit(
        &mut rng,
        |t| yearly[t].ln() + demand_mult[t].ln() + 0.5 * trend_log(sku.trend_per_year, t, mid),
        out,
    );
}

/// Poll responses about whole categories (category-level questions), for the categories the
/// catalogue carries: a survey does not ask about a category the shop does not sell.
pub(crate) fn category_polls(
    seed: u64,
    profile: &DayProfile,
    promos: &PromoBook,
    days: usize,
    carried: &[Category],
) -> Vec<PollRow> {
    let horizon = profile.dates.len();
    let mid = days as f64 / 2.0;
    let mut out = Vec::new();
    let mut best = Vec::new();
    let mut mult = Vec::new();
    for c in Category::ALL {
        if !carried.contains(&c) {
            continue;
        }
        let mut rng = rng_for(seed, STREAM_CATEGORY_POLLS, c.index() as u64, 0);
        let p = c.params();
        promos.category_best(c, &mut best, horizon);
        promos.multiplier(&best, p.elasticity, p.pull_forward_days, &mut mult);
        let yearly = &profile.yearly[c.index()];
        let stream = PollStream {
            subject: PollSubject::Category(c),
            from: 0,
            days,
            horizon,
            rate: CATEGORY_RATE,
            lead: int_between(&mut rng, 7, 21) as usize,
            bias: 0.0,
        };
        stream.emit(
            &mut rng,
            |t| yearly[t].ln() + mult[t].ln() + 0.5 * trend_log(p.trend_per_year, t, mid),
            &mut out,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::noise::STREAM_SKU;

    #[test]
    fn higher_signal_means_higher_interest() {
        let mut rng = rng_for(1, STREAM_SKU, 0, 0);
        let n = 20_000;
        let lo: f64 = (0..n)
            .map(|_| f64::from(respond(&mut rng, -0.3, 0.0).0))
            .sum::<f64>()
            / n as f64;
        let hi: f64 = (0..n)
            .map(|_| f64::from(respond(&mut rng, 0.8, 0.0).0))
            .sum::<f64>()
            / n as f64;
        assert!(hi > lo + 1.0, "lo={lo} hi={hi}");
        let intent_hi = (0..n).filter(|_| respond(&mut rng, 0.8, 0.0).1).count();
        let intent_lo = (0..n).filter(|_| respond(&mut rng, -0.3, 0.0).1).count();
        assert!(intent_hi > intent_lo);
    }
}
