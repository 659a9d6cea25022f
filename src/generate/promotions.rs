//! The seasonal promotion calendar and its effect on demand.
//!
//! Promotions are tied to the retail calendar (Presidents' Day, Memorial
//! Day, July 4th, Labor Day, Black Friday–Cyber Monday, Boxing Day/New
//! Year) plus a few off-calendar category events, bi-weekly SKU-scoped
//! "Deal of the Week" flash sales and rare warehouse-scoped clearances.
//! The calendar runs until 90 days after the last sales date.
//!
//! Scope semantics (as written in the `promotions` file): every non-empty
//! scope column (`sku`, `category`, `warehouse`) must match; empty = all.
//! When several promotions apply to the same (sku, warehouse, day), the one
//! with the deepest discount applies; ties go to the lowest `promo_id`.

use std::collections::HashMap;

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use rand::Rng;

use super::catalog::{padded_id, Category, Sku, Warehouse};
use super::noise::{int_between, rng_for, STREAM_PROMOS};
use crate::calendar;

/// Marker for "no promotion" in per-day promo arrays.
pub(crate) const NO_PROMO: u32 = u32::MAX;

/// One promotion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Promotion {
    pub id: String,
    pub name: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub discount_pct: u32,
    pub sku: Option<usize>,
    pub category: Option<Category>,
    pub warehouse: Option<usize>,
    /// `start`/`end` as day indices relative to the first history day
    /// (may be negative for promotions that began before the history).
    pub start_idx: i64,
    pub end_idx: i64,
}

impl Promotion {
    /// Whether the promotion's scope covers (sku, category, warehouse).
    pub(crate) fn covers(&self, sku: usize, category: Category, warehouse: usize) -> bool {
        self.sku.is_none_or(|s| s == sku)
            && self.category.is_none_or(|c| c == category)
            && self.warehouse.is_none_or(|w| w == warehouse)
    }

    /// Discount as a fraction.
    pub(crate) fn discount(&self) -> f64 {
        f64::from(self.discount_pct) / 100.0
    }
}

/// The promotion calendar plus lookup indexes.
pub(crate) struct PromoBook {
    pub promos: Vec<Promotion>,
    /// Per category: promotions without sku/warehouse scope that cover it.
    by_category: Vec<Vec<usize>>,
    /// SKU-scoped promotions without warehouse scope, by sku index.
    by_sku: HashMap<usize, Vec<usize>>,
    /// All warehouse-scoped promotions.
    warehouse_scoped: Vec<usize>,
}

#[derive(Debug)]
struct Draft {
    name: String,
    start: NaiveDate,
    end: NaiveDate,
    discount: u32,
    sku: Option<usize>,
    category: Option<Category>,
    warehouse: Option<usize>,
}

/// Discount in steps of 5 within `lo..=hi` percent.
fn discount<R: Rng + ?Sized>(rng: &mut R, lo: u32, hi: u32) -> u32 {
    (int_between(rng, i64::from(lo / 5), i64::from(hi / 5)) as u32) * 5
}

fn days(n: i64) -> Duration {
    Duration::days(n)
}

struct DraftBuilder<'a> {
    drafts: Vec<Draft>,
    skus: &'a [Sku],
    first_day: NaiveDate,
}

impl DraftBuilder<'_> {
    fn push(
        &mut self,
        name: String,
        start: NaiveDate,
        end: NaiveDate,
        discount: u32,
        category: Option<Category>,
    ) {
        self.drafts.push(Draft {
            name,
            start,
            end,
            discount,
            sku: None,
            category,
            warehouse: None,
        });
    }

    /// Picks distinct SKUs already launched by `start`.
    fn pick_skus<R: Rng + ?Sized>(&self, rng: &mut R, start: NaiveDate, n: usize) -> Vec<usize> {
        let start_idx = (start - self.first_day).num_days();
        let mut chosen: Vec<usize> = Vec::with_capacity(n);
        let mut tries = 0;
        while chosen.len() < n && tries < 40 * n.max(1) {
            tries += 1;
            let i = rng.random_range(0..self.skus.len());
            if (self.skus[i].launch_day as i64) <= start_idx && !chosen.contains(&i) {
                chosen.push(i);
            }
        }
        chosen
    }
}

fn pick_categories<R: Rng + ?Sized>(rng: &mut R, from: &[Category], n: usize) -> Vec<Category> {
    let mut pool: Vec<Category> = from.to_vec();
    let mut out = Vec::with_capacity(n);
    while out.len() < n && !pool.is_empty() {
        let i = rng.random_range(0..pool.len());
        out.push(pool.swap_remove(i));
    }
    out.sort();
    out
}

fn ymd(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

/// Builds the promotion calendar covering `[first_day, horizon_end]`: each year's seasonal
/// events and rare warehouse events, then the bi-weekly deals, numbered in date order.
pub(crate) fn build_promotions(
    seed: u64,
    first_day: NaiveDate,
    horizon_end: NaiveDate,
    skus: &[Sku],
    warehouses: &[Warehouse],
) -> PromoBook {
    let mut rng = rng_for(seed, STREAM_PROMOS, 0, 0);
    let mut b = DraftBuilder {
        drafts: Vec::new(),
        skus,
        first_day,
    };
    for y in (first_day.year() - 1)..=horizon_end.year() {
        first_half_events(&mut b, &mut rng, y);
        second_half_events(&mut b, &mut rng, y);
        if !warehouses.is_empty() {
            warehouse_events(&mut b, &mut rng, y, warehouses);
        }
    }
    deals_of_the_week(&mut b, &mut rng, horizon_end);
    numbered(b.drafts, first_day, horizon_end)
}

/// Presidents' Day, Spring Refresh, Memorial Day, Fourth of July and Back to Campus of year `y`.
fn first_half_events<R: Rng + ?Sized>(b: &mut DraftBuilder<'_>, rng: &mut R, y: i32) {
    use Category::*;
    // Presidents' Day: Fri..Mon, site-wide plus a furniture event.
    if let Some(e) = calendar::presidents_day(y) {
        let (s, t) = (e - days(3), e);
        let d = discount(rng, 10, 20);
        b.push(format!("Presidents' Day Sale {y}"), s, t, d, None);
        let n = rng.random_range(1..=2);
        for c in pick_categories(rng, &[Sofas, Beds, Tables], n) {
            let d = discount(rng, 25, 35);
            b.push(
                format!("Presidents' Day {} Event {y}", c.label()),
                s,
                t,
                d,
                Some(c),
            );
        }
    }
    // Spring Refresh: soft furnishings, two weeks in mid-March.
    if let Some(s) = ymd(y, 3, 8) {
        let s = s + days(int_between(rng, 0, 10));
        for c in pick_categories(rng, &[Cushions, Rugs, WallDecor, Lighting], 2) {
            let d = discount(rng, 15, 25);
            b.push(
                format!("Spring Refresh {} {y}", c.label()),
                s,
                s + days(13),
                d,
                Some(c),
            );
        }
    }
    // Memorial Day: the week up to the holiday; outdoor living focus.
    if let Some(e) = calendar::memorial_day(y) {
        let (s, t) = (e - days(6), e);
        let d = discount(rng, 10, 20);
        b.push(format!("Memorial Day Sale {y}"), s, t, d, None);
        for c in [Chairs, Lighting] {
            let d = discount(rng, 25, 35);
            b.push(
                format!("Memorial Day Outdoor Living {} {y}", c.label()),
                s,
                t,
                d,
                Some(c),
            );
        }
    }
    // Fourth of July: category-scoped.
    if let (Some(s), Some(t)) = (ymd(y, 6, 30), ymd(y, 7, 6)) {
        for c in [Chairs, Rugs, Cushions] {
            let d = discount(rng, 15, 30);
            b.push(
                format!("Fourth of July Sale {} {y}", c.label()),
                s,
                t,
                d,
                Some(c),
            );
        }
    }
    // Back to Campus: beds and storage in early August.
    if let Some(s) = ymd(y, 8, 1) {
        let s = s + days(int_between(rng, 0, 6));
        for c in [Beds, Storage] {
            let d = discount(rng, 15, 25);
            b.push(
                format!("Back to Campus {} {y}", c.label()),
                s,
                s + days(9),
                d,
                Some(c),
            );
        }
    }
}

/// Labor Day, the autumn candle week, Black Friday - Cyber Monday and Boxing Day of year `y`.
fn second_half_events<R: Rng + ?Sized>(b: &mut DraftBuilder<'_>, rng: &mut R, y: i32) {
    use Category::*;
    let skus = b.skus;
    // Labor Day: site-wide plus a big-ticket event.
    if let Some(e) = calendar::labor_day(y) {
        let (s, t) = (e - days(4), e);
        let d = discount(rng, 15, 25);
        b.push(format!("Labor Day Sale {y}"), s, t, d, None);
        for c in [Sofas, Beds] {
            let d = discount(rng, 25, 40);
            b.push(
                format!("Labor Day {} Event {y}", c.label()),
                s,
                t,
                d,
                Some(c),
            );
        }
    }
    // Autumn candle week.
    if let Some(s) = ymd(y, 10, 6) {
        let s = s + days(int_between(rng, 0, 7));
        let d = discount(rng, 20, 30);
        b.push(
            format!("Autumn Candle Week {y}"),
            s,
            s + days(6),
            d,
            Some(Candles),
        );
    }
    // Black Friday - Cyber Monday week: the Monday of Thanksgiving week
    // through Cyber Monday, with deeper doorbusters on Black Friday.
    if let (Some(tg), Some(bf), Some(cm)) = (
        calendar::thanksgiving(y),
        calendar::black_friday(y),
        calendar::cyber_monday(y),
    ) {
        let d = discount(rng, 25, 35);
        b.push(
            format!("Black Friday - Cyber Monday {y}"),
            tg - days(3),
            cm,
            d,
            None,
        );
        for c in [Candles, Lighting] {
            let d = discount(rng, 35, 45);
            b.push(
                format!("Black Friday {} Doorbuster {y}", c.label()),
                bf,
                bf + days(1),
                d,
                Some(c),
            );
        }
        let n = (skus.len() / 1500).clamp(1, 12);
        for i in b.pick_skus(rng, bf, n) {
            let d = discount(rng, 40, 50);
            b.drafts.push(Draft {
                name: format!("Black Friday Doorbuster {} {y}", skus[i].id),
                start: bf,
                end: bf + days(1),
                discount: d,
                sku: Some(i),
                category: None,
                warehouse: None,
            });
        }
    }
    // Boxing Day & New Year: Dec 26 .. Jan 2, plus year-end clearance.
    if let (Some(s), Some(t)) = (calendar::boxing_day(y), ymd(y + 1, 1, 2)) {
        let d = discount(rng, 15, 25);
        b.push(format!("Boxing Day & New Year Sale {y}"), s, t, d, None);
        for c in pick_categories(rng, &Category::ALL, 2) {
            let d = discount(rng, 35, 50);
            b.push(
                format!("Year-End Clearance {} {y}", c.label()),
                s,
                t,
                d,
                Some(c),
            );
        }
    }
}

/// Rare warehouse-scoped events of year `y`: a clearance, sometimes a grand reopening.
fn warehouse_events<R: Rng + ?Sized>(
    b: &mut DraftBuilder<'_>,
    rng: &mut R,
    y: i32,
    warehouses: &[Warehouse],
) {
    let w = rng.random_range(0..warehouses.len());
    if let Some(s) = ymd(y, rng.random_range(3..=10), rng.random_range(1..=20)) {
        let d = discount(rng, 25, 40);
        let cat = if rng.random::<bool>() {
            Some(Category::ALL[rng.random_range(0..Category::ALL.len())])
        } else {
            None
        };
        let label = cat.map(|c| format!(" {}", c.label())).unwrap_or_default();
        b.drafts.push(Draft {
            name: format!("Clearance {}{label} {y}", warehouses[w].id),
            start: s,
            end: s + days(9),
            discount: d,
            sku: None,
            category: cat,
            warehouse: Some(w),
        });
    }
    if warehouses.len() >= 4 && rng.random::<f64>() < 0.35 {
        let w = rng.random_range(0..warehouses.len());
        if let Some(s) = ymd(y, rng.random_range(4..=9), rng.random_range(1..=25)) {
            b.drafts.push(Draft {
                name: format!("Grand Reopening {} {y}", warehouses[w].id),
                start: s,
                end: s + days(6),
                discount: 20,
                sku: None,
                category: None,
                warehouse: Some(w),
            });
        }
    }
}

/// Bi-weekly SKU-scoped "Deal of the Week" (Mon..Sun).
fn deals_of_the_week<R: Rng + ?Sized>(
    b: &mut DraftBuilder<'_>,
    rng: &mut R,
    horizon_end: NaiveDate,
) {
    let (skus, first_day) = (b.skus, b.first_day);
    let mut monday = first_day - days(14);
    while monday.weekday() != Weekday::Mon {
        monday += days(1);
    }
    let per_round = ((skus.len() as f64 / 2500.0).round() as usize).clamp(1, 4);
    while monday <= horizon_end {
        for i in b.pick_skus(rng, monday, per_round) {
            let d = discount(rng, 20, 40);
            b.drafts.push(Draft {
                name: format!(
                    "Deal of the Week {} {}",
                    monday.format("%Y-%m-%d"),
                    skus[i].id
                ),
                start: monday,
                end: monday + days(6),
                discount: d,
                sku: Some(i),
                category: None,
                warehouse: None,
            });
        }
        monday += days(14);
    }
}

/// The drafts within `[first_day, horizon_end]`, in date order, numbered `P0001`, ….
fn numbered(drafts: Vec<Draft>, first_day: NaiveDate, horizon_end: NaiveDate) -> PromoBook {
    let mut drafts: Vec<Draft> = drafts
        .into_iter()
        .filter(|d| d.end >= first_day && d.start <= horizon_end)
        .collect();
    drafts.sort_by(|a, b| {
        (a.start, a.end, &a.name, a.category, a.sku, a.warehouse).cmp(&(
            b.start,
            b.end,
            &b.name,
            b.category,
            b.sku,
            b.warehouse,
        ))
    });
    let width = drafts.len().to_string().len().max(4);
    let promos: Vec<Promotion> = drafts
        .into_iter()
        .enumerate()
        .map(|(i, d)| Promotion {
            id: padded_id("P", i + 1, width),
            start_idx: (d.start - first_day).num_days(),
            end_idx: (d.end - first_day).num_days(),
            name: d.name,
            start: d.start,
            end: d.end,
            discount_pct: d.discount,
            sku: d.sku,
            category: d.category,
            warehouse: d.warehouse,
        })
        .collect();
    PromoBook::new(promos)
}

impl PromoBook {
    pub(crate) fn new(promos: Vec<Promotion>) -> PromoBook {
        let mut by_category = vec![Vec::new(); Category::ALL.len()];
        let mut by_sku: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut warehouse_scoped = Vec::new();
        for (i, p) in promos.iter().enumerate() {
            if p.warehouse.is_some() {
                warehouse_scoped.push(i);
            } else if let Some(s) = p.sku {
                by_sku.entry(s).or_default().push(i);
            } else {
                for c in Category::ALL {
                    if p.category.is_none_or(|pc| pc == c) {
                        by_category[c.index()].push(i);
                    }
                }
            }
        }
        PromoBook {
            promos,
            by_category,
            by_sku,
            warehouse_scoped,
        }
    }

    /// Overlays promotions `idxs` on the per-day best-promotion array.
    fn overlay(&self, best: &mut [u32], idxs: impl Iterator<Item = usize>) {
        let horizon = best.len() as i64;
        for i in idxs {
            let p = &self.promos[i];
            let lo = p.start_idx.max(0);
            let hi = p.end_idx.min(horizon - 1);
            for slot in best
                .iter_mut()
                .take((hi + 1).max(0) as usize)
                .skip(lo as usize)
            {
                let beats = *slot == NO_PROMO || {
                    let cur = &self.promos[*slot as usize];
                    p.discount_pct > cur.discount_pct
                        || (p.discount_pct == cur.discount_pct && (i as u32) < *slot)
                };
                if beats {
                    *slot = i as u32;
                }
            }
        }
    }

    /// Best promotion per day for a SKU in every warehouse that has no
    /// warehouse-scoped promotion of its own.
    pub(crate) fn common_best(
        &self,
        sku: usize,
        category: Category,
        best: &mut Vec<u32>,
        horizon: usize,
    ) {
        best.clear();
        best.resize(horizon, NO_PROMO);
        self.overlay(best, self.by_category[category.index()].iter().copied());
        if let Some(list) = self.by_sku.get(&sku) {
            self.overlay(best, list.iter().copied());
        }
    }

    /// Warehouses (sorted) that have warehouse-scoped promotions covering this SKU.
    pub(crate) fn warehouses_with_overrides(&self, sku: usize, category: Category) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .warehouse_scoped
            .iter()
            .filter_map(|&i| {
                let p = &self.promos[i];
                let w = p.warehouse?;
                p.covers(sku, category, w).then_some(w)
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Adds the warehouse-scoped promotions of `warehouse` to a copy of
    /// the common best-promotion array.
    pub(crate) fn warehouse_best(
        &self,
        sku: usize,
        category: Category,
        warehouse: usize,
        common: &[u32],
        best: &mut Vec<u32>,
    ) {
        best.clear();
        best.extend_from_slice(common);
        let idxs = self
            .warehouse_scoped
            .iter()
            .copied()
            .filter(|&i| self.promos[i].covers(sku, category, warehouse));
        self.overlay(best, idxs);
    }

    /// Best promotion per day for a whole category (promotions without
    /// sku or warehouse scope only) — used by the category-level polls.
    pub(crate) fn category_best(&self, category: Category, best: &mut Vec<u32>, horizon: usize) {
        best.clear();
        best.resize(horizon, NO_PROMO);
        self.overlay(best, self.by_category[category.index()].iter().copied());
    }

    /// Demand multiplier per day implied by the promotion array: on promo
    /// days `exp(elasticity · discount)`; after each promotional period a
    /// pull-forward dip that starts at `0.4 · (1 − 1/lift)` (scaled down
    /// for very short promotions) and fades linearly over
    /// `pull_forward_days`.
    pub(crate) fn multiplier(
        &self,
        best: &[u32],
        elasticity: f64,
        pull_forward_days: usize,
        out: &mut Vec<f64>,
    ) {
        let h = best.len();
        out.clear();
        out.resize(h, 1.0);
        let mut t = 0;
        while t < h {
            if best[t] == NO_PROMO {
                t += 1;
                continue;
            }
            // One promotional period (possibly several back-to-back promos).
            let run_start = t;
            let mut max_lift: f64 = 1.0;
            while t < h && best[t] != NO_PROMO {
                let lift = (elasticity * self.promos[best[t] as usize].discount()).exp();
                out[t] = lift;
                max_lift = max_lift.max(lift);
                t += 1;
            }
            let run_len = (t - run_start) as f64;
            let depth = 0.4 * (1.0 - 1.0 / max_lift) * (run_len / 5.0).min(1.0);
            let mut j = 0;
            while j < pull_forward_days && t + j < h && best[t + j] == NO_PROMO {
                let fade = 1.0 - j as f64 / pull_forward_days as f64;
                out[t + j] = 1.0 - depth * fade;
                j += 1;
            }
            t += j;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::catalog::{build_skus, build_warehouses};

    fn book() -> (PromoBook, NaiveDate, NaiveDate) {
        let first = NaiveDate::from_ymd_opt(2023, 6, 1).unwrap();
        let last = NaiveDate::from_ymd_opt(2025, 10, 31).unwrap();
        let horizon_end = last + days(90);
        let whs = build_warehouses(3, 8);
        let skus = build_skus(3, 300, 8, (last - first).num_days() as usize + 1);
        (
            build_promotions(3, first, horizon_end, &skus, &whs),
            first,
            horizon_end,
        )
    }

    #[test]
    fn calendar_covers_range_and_future() {
        let (b, first, horizon_end) = book();
        assert!(b
            .promos
            .iter()
            .all(|p| p.end >= first && p.start <= horizon_end));
        assert!(b.promos.iter().all(|p| (10..=50).contains(&p.discount_pct)));
        assert!(b
            .promos
            .iter()
            .any(|p| p.name.starts_with("Black Friday - Cyber Monday 2025")));
        assert!(b.promos.iter().any(|p| p.warehouse.is_some()));
        assert!(b.promos.iter().any(|p| p.sku.is_some()));
        assert!(b.promos.iter().any(|p| p.category.is_some()));
        assert!(b.promos.windows(2).all(|w| w[0].start <= w[1].start));
        assert_eq!(b.promos[0].id, "P0001");
    }

    #[test]
    fn deepest_discount_wins_and_dip_follows() {
        let (b, _, _) = book();
        let h = 1000;
        let mut best = Vec::new();
        b.category_best(Category::Sofas, &mut best, h);
        let bf = b
            .promos
            .iter()
            .position(|p| p.name == "Black Friday - Cyber Monday 2024")
            .unwrap();
        let p = &b.promos[bf];
        let day = p.start_idx as usize;
        let chosen = &b.promos[best[day] as usize];
        assert!(chosen.discount_pct >= p.discount_pct);
        let mut mult = Vec::new();
        b.multiplier(&best, 3.0, 14, &mut mult);
        assert!(mult[day] > 2.0);
        let after = p.end_idx as usize + 1;
        if best[after] == NO_PROMO {
            assert!(mult[after] < 1.0);
        }
    }
}
