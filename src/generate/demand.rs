//! Per-SKU demand, replenishment and sales simulation.
//!
//! Expected demand of SKU `s` in warehouse `w` on day `t`:
//!
//! ```text
//! λ = base_rate(s) · share(s,w) · yearly_c(t) · weekly_c(t) · trend_s(t)
//!     · launch_ramp_s(t) · buzz_c(t) · buzz_s(t) · promo_s,w(t)
//! ```
//!
//! `buzz` is latent popularity (see `buzz.rs`): the category's is folded into its yearly
//! profile, the SKU's is drawn here; polls lead both.
//!
//! Realised demand is negative-binomial with mean `λ` (category-specific
//! overdispersion). Sales are demand truncated to the stock on hand: each
//! (sku, warehouse) runs a reorder-point / order-up-to policy driven by a
//! smoothed sales estimate, with lead times by category and occasional
//! supplier disruptions, so promotions and disruptions cause stock-outs
//! that censor sales. The future window draws demand without stock
//! censoring.

use std::ops::Range;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::buzz::{buzz_multipliers, SKU_BUZZ_DAYS, SKU_BUZZ_SD};
use super::catalog::{draw_shares, Sku, Warehouse};
use super::noise::{
    int_between, neg_binomial, rng_for, uniform, STREAM_CELL, STREAM_SKU, STREAM_SKU_BUZZ,
};
use super::polls::sku_polls;
use super::promotions::{PromoBook, NO_PROMO};
use super::seasonality::DayProfile;
use super::tables::{InventoryRow, PollRow, SalesRow, StockRow, TruthRow, UnitsRow};

/// Everything the simulation of a SKU needs (shared, read-only).
pub(crate) struct SimContext<'a> {
    pub seed: u64,
    /// History length in days.
    pub days: usize,
    /// History + future window.
    pub horizon: usize,
    /// First day index written to `truth/expected_demand`.
    pub truth_start: usize,
    pub warehouses: &'a [Warehouse],
    pub skus: &'a [Sku],
    pub profile: &'a DayProfile,
    pub promos: &'a PromoBook,
    /// Draw each SKU's latent popularity (`buzz.rs`).
    pub latent_popularity: bool,
}

/// Rows produced for a block of SKUs.
#[derive(Default)]
pub(crate) struct BlockRows {
    pub sales: Vec<SalesRow>,
    pub inventory: Vec<InventoryRow>,
    pub stock: Vec<StockRow>,
    pub polls: Vec<PollRow>,
    pub expected: Vec<TruthRow>,
    pub future: Vec<UnitsRow>,
}

/// Sum of end-of-day on-hand per (warehouse, history day), in units and in
/// 1e-4 m³, used to size warehouse capacities.
pub(crate) struct WarehouseLoad {
    days: usize,
    units: Vec<u64>,
    volume_e4: Vec<u64>,
}

impl WarehouseLoad {
    pub(crate) fn new(warehouses: usize, days: usize) -> WarehouseLoad {
        WarehouseLoad {
            days,
            units: vec![0; warehouses * days],
            volume_e4: vec![0; warehouses * days],
        }
    }

    pub(crate) fn merge(&mut self, other: &WarehouseLoad) {
        for (a, b) in self.units.iter_mut().zip(&other.units) {
            *a += b;
        }
        for (a, b) in self.volume_e4.iter_mut().zip(&other.volume_e4) {
            *a += b;
        }
    }

    /// Peak (units, volume in 1e-4 m³) over history for each warehouse.
    pub(crate) fn peaks(&self) -> Vec<(u64, u64)> {
        if self.days == 0 {
            return Vec::new();
        }
        self.units
            .chunks(self.days)
            .zip(self.volume_e4.chunks(self.days))
            .map(|(u, v)| {
                (
                    u.iter().copied().max().unwrap_or(0),
                    v.iter().copied().max().unwrap_or(0),
                )
            })
            .collect()
    }
}

/// Reusable per-thread buffers.
#[derive(Default)]
pub(crate) struct Scratch {
    shares: Vec<f64>,
    base: Vec<f64>,
    best_common: Vec<u32>,
    mult_common: Vec<f64>,
    best_local: Vec<u32>,
    mult_local: Vec<f64>,
    on_hand: Vec<u32>,
    orders: Vec<(usize, u32)>,
}

/// Simulates a contiguous block of SKUs, appending to `load`.
pub(crate) fn simulate_block(
    ctx: &SimContext<'_>,
    skus: Range<usize>,
    scratch: &mut Scratch,
    load: &mut WarehouseLoad,
) -> BlockRows {
    let mut out = BlockRows::default();
    for s in skus {
        simulate_sku(ctx, s, scratch, load, &mut out);
    }
    out
}

fn simulate_sku(
    ctx: &SimContext<'_>,
    s: usize,
    scratch: &mut Scratch,
    load: &mut WarehouseLoad,
    out: &mut BlockRows,
) {
    let sku = &ctx.skus[s];
    let category = sku.category;
    let params = category.params();
    let mut rng = rng_for(ctx.seed, STREAM_SKU, s as u64, 0);
    draw_shares(&mut rng, category, ctx.warehouses, &mut scratch.shares);

    // Promotion-free daily multiplier (network level).
    let seasonal = &ctx.profile.seasonal[category.index()];
    let mid = ctx.days as f64 / 2.0;
    let launch = sku.launch_day;
    let daily_trend = (sku.trend_per_year / 365.25).exp();
    let mut trend = (sku.trend_per_year * (0.0 - mid) / 365.25).exp();
    scratch.base.clear();
    for (t, &season) in seasonal.iter().enumerate().take(ctx.horizon) {
        let v = if t < launch {
            0.0
        } else if launch > 0 {
            let age = (t - launch) as f64;
            let ramp =
                (1.0 - (-(age + 1.0) / sku.ramp_days).exp()) * (1.0 + 0.25 * (-age / 60.0).exp());
            sku.base_rate * season * trend * ramp
        } else {
            sku.base_rate * season * trend
        };
        scratch.base.push(v);
        trend *= daily_trend;
    }
    let buzz = if ctx.latent_popularity {
        let mut buzz_rng = rng_for(ctx.seed, STREAM_SKU_BUZZ, s as u64, 0);
        buzz_multipliers(&mut buzz_rng, ctx.horizon, SKU_BUZZ_DAYS, SKU_BUZZ_SD)
    } else {
        vec![1.0; ctx.horizon]
    };
    for (value, m) in scratch.base.iter_mut().zip(&buzz) {
        *value *= m;
    }

    ctx.promos
        .common_best(s, category, &mut scratch.best_common, ctx.horizon);
    ctx.promos.multiplier(
        &scratch.best_common,
        sku.elasticity,
        params.pull_forward_days,
        &mut scratch.mult_common,
    );
    let overrides = ctx.promos.warehouses_with_overrides(s, category);

    for w in 0..ctx.warehouses.len() {
        let local = overrides.binary_search(&w).is_ok();
        if local {
            ctx.promos.warehouse_best(
                s,
                category,
                w,
                &scratch.best_common,
                &mut scratch.best_local,
            );
            ctx.promos.multiplier(
                &scratch.best_local,
                sku.elasticity,
                params.pull_forward_days,
                &mut scratch.mult_local,
            );
        }
        let (best, mult) = if local {
            (&scratch.best_local, &scratch.mult_local)
        } else {
            (&scratch.best_common, &scratch.mult_common)
        };
        let cell = Cell {
            ctx,
            s,
            w,
            sku,
            share: scratch.shares[w],
            base: &scratch.base,
            best,
            mult,
        };
        cell.simulate(&mut scratch.on_hand, &mut scratch.orders, load, out);
    }

    let poll_mult: Vec<f64> = scratch
        .mult_common
        .iter()
        .zip(&buzz)
        .map(|(promo, popularity)| promo * popularity)
        .collect();
    sku_polls(
        ctx.seed,
        s,
        sku,
        ctx.profile,
        ctx.days,
        &poll_mult,
        &mut out.polls,
    );
}

/// One (sku, warehouse) series.
struct Cell<'a> {
    ctx: &'a SimContext<'a>,
    s: usize,
    w: usize,
    sku: &'a Sku,
    share: f64,
    base: &'a [f64],
    best: &'a [u32],
    mult: &'a [f64],
}

/// Replenishment policy parameters of one (sku, warehouse).
struct Policy {
    lead: f64,
    cover: f64,
    cycle: f64,
    case_pack: u32,
    min_presentation: u32,
}

impl Policy {
    /// (reorder point, order-up-to level) for a demand-rate estimate.
    fn levels(&self, rate: f64) -> (u32, u32) {
        let lead_demand = rate * self.lead;
        let rp = (lead_demand * self.cover + lead_demand.sqrt()).ceil() as u32;
        let rp = rp.max(self.min_presentation);
        let lot = ((rate * self.cycle).round() as u32).max(self.case_pack);
        (rp, rp + lot)
    }
}

impl Cell<'_> {
    #[inline]
    fn lambda(&self, t: usize) -> f64 {
        self.base[t] * self.share * self.mult[t]
    }

    fn simulate(
        &self,
        on_hand_hist: &mut Vec<u32>,
        orders: &mut Vec<(usize, u32)>,
        load: &mut WarehouseLoad,
        out: &mut BlockRows,
    ) {
        let ctx = self.ctx;
        let sku = self.sku;
        let params = sku.category.params();
        let (s32, w32) = (self.s as u32, self.w as u32);
        let mut rng: ChaCha8Rng = rng_for(ctx.seed, STREAM_CELL, self.s as u64, self.w as u64);

        let typical = (sku.base_rate * self.share).max(1e-6);
        let policy = Policy {
            lead: int_between(
                &mut rng,
                i64::from(params.lead_days.0),
                i64::from(params.lead_days.1),
            ) as f64,
            cover: if rng.random::<f64>() < 0.12 {
                uniform(&mut rng, 0.5, 0.9)
            } else {
                uniform(&mut rng, 1.0, 1.8)
            },
            cycle: uniform(&mut rng, 14.0, 42.0),
            case_pack: sku.case_pack,
            min_presentation: sku.min_presentation,
        };
        let mut estimate = typical;
        let (rp, up) = policy.levels(estimate);
        let mut on_hand: u32 = int_between(&mut rng, i64::from(rp), i64::from(up)) as u32;
        orders.clear();
        on_hand_hist.clear();
        let launch = sku.launch_day;
        let volume = sku.volume_e4;
        let load_base = self.w * load.days;

        for t in 0..ctx.days {
            if t < launch {
                on_hand_hist.push(0);
                if t >= ctx.truth_start {
                    out.expected.push(TruthRow {
                        day: t as u32,
                        sku: s32,
                        wh: w32,
                        expected: 0.0,
                    });
                }
                continue;
            }
            // Receive arrivals.
            if !orders.is_empty() {
                orders.retain(|&(arrival, qty)| {
                    if arrival <= t {
                        on_hand += qty;
                        false
                    } else {
                        true
                    }
                });
            }
            let lambda = self.lambda(t);
            if t >= ctx.truth_start {
                out.expected.push(TruthRow {
                    day: t as u32,
                    sku: s32,
                    wh: w32,
                    expected: lambda,
                });
            }
            let demand = neg_binomial(&mut rng, lambda, sku.nb_shape);
            let sold = demand.min(on_hand);
            on_hand -= sold;
            if sold > 0 {
                let promo = self.best[t];
                let price_cents = if promo == NO_PROMO {
                    sku.price_cents
                } else {
                    let d = u64::from(ctx.promos.promos[promo as usize].discount_pct);
                    (sku.price_cents * (100 - d) + 50) / 100
                };
                out.sales.push(SalesRow {
                    day: t as u32,
                    sku: s32,
                    wh: w32,
                    units: sold,
                    price_cents,
                    promo,
                });
            }
            on_hand_hist.push(on_hand);
            load.units[load_base + t] += u64::from(on_hand);
            load.volume_e4[load_base + t] += u64::from(on_hand) * volume;

            // Replenishment: smoothed sales estimate, reorder point check.
            estimate = (0.97 * estimate + 0.03 * f64::from(sold)).max(0.3 * typical);
            let (rp, up) = policy.levels(estimate);
            let inbound: u32 = orders.iter().map(|&(_, q)| q).sum();
            let position = on_hand + inbound;
            if position <= rp {
                let need = up - position;
                let packs = need.div_ceil(policy.case_pack).max(1);
                let qty = packs * policy.case_pack;
                let factor = if rng.random::<f64>() < 0.05 {
                    // Supplier disruption.
                    uniform(&mut rng, 1.8, 4.0)
                } else {
                    uniform(&mut rng, 0.85, 1.2)
                };
                let lead = ((policy.lead * factor).round() as usize).max(1);
                orders.push((t + lead, qty));
            }
        }

        out.inventory.push(InventoryRow {
            sku: s32,
            wh: w32,
            on_hand,
            inbound: orders.iter().map(|&(_, q)| q).sum(),
            min_presentation: sku.min_presentation,
        });
        self.emit_stock_levels(on_hand_hist, launch, out);

        // Future window: demand without stock censoring.
        for t in ctx.days..ctx.horizon {
            let lambda = self.lambda(t);
            out.expected.push(TruthRow {
                day: t as u32,
                sku: s32,
                wh: w32,
                expected: lambda,
            });
            let units = neg_binomial(&mut rng, lambda, sku.nb_shape);
            if units > 0 {
                out.future.push(UnitsRow {
                    day: t as u32,
                    sku: s32,
                    wh: w32,
                    units,
                });
            }
        }
    }

    /// Writes every stock-out day (end-of-day on-hand 0, on or after
    /// launch) plus the day before and the day after each stock-out spell.
    fn emit_stock_levels(&self, hist: &[u32], launch: usize, out: &mut BlockRows) {
        let days = hist.len();
        let mut next_free = launch; // first day not yet emitted
        let mut t = launch;
        while t < days {
            if hist[t] != 0 {
                t += 1;
                continue;
            }
            let run_start = t;
            while t < days && hist[t] == 0 {
                t += 1;
            }
            let from = if run_start > launch {
                run_start - 1
            } else {
                run_start
            };
            let to = t.min(days - 1);
            let first = from.max(next_free);
            for (d, &on_hand) in hist.iter().enumerate().take(to + 1).skip(first) {
                out.stock.push(StockRow {
                    day: d as u32,
                    sku: self.s as u32,
                    wh: self.w as u32,
                    on_hand,
                });
            }
            next_free = next_free.max(to + 1);
        }
    }
}
