//! The prepared model the solver works on: cells grouped by SKU, available stock, the modelled
//! incoming-transfer cost of each cell, presentation minimums resolved against stock (by
//! priority tier) and against warehouse capacity, per-cell bounds, and the messages that these
//! steps produce.

use super::demand::Demand;
use super::problem::AllocationProblem;

/// Relative tolerance on m³ capacities (volumes are sums of floating-point products).
pub(crate) const VOL_TOL: f64 = 1e-9;

/// `cap · (1 + VOL_TOL)`: the m³ usage that still counts as within capacity.
#[inline]
pub(crate) fn vol_limit(cap: f64) -> f64 {
    cap + VOL_TOL * cap.max(1.0)
}

#[derive(Clone)]
pub(crate) struct SkuModel {
    /// Range of this SKU's cells in `Model::cells`.
    pub start: usize,
    pub end: usize,
    pub margin: f64,
    pub holding: f64,
    pub vol: f64,
    pub cp: u32,
    /// On hand everywhere + inbound.
    pub avail: u32,
}

#[derive(Clone)]
pub(crate) struct CellModel<'a> {
    pub w: u32,
    /// Index into `problem.cells`.
    pub input: u32,
    pub cur: u32,
    /// `min_presentation` as given.
    pub min: u32,
    /// Lower bound on the target: the minimum as placed (on the case-pack lattice).
    pub lo: u32,
    /// Lower bound in the relaxation the dual bound is computed on (`min(min, lo)`).
    pub lo_rel: u32,
    /// Upper bound on the target (available stock, unit capacity; `lo` for fixed cells).
    pub hi: u32,
    /// Modelled cost per unit placed beyond current stock.
    pub c_in: f64,
    pub demand: Demand<'a>,
}

#[derive(Clone)]
pub(crate) struct WhModel {
    /// Floored unit capacity; `f64::INFINITY` when absent.
    pub cap_u: f64,
    /// m³ capacity; `f64::INFINITY` when absent.
    pub cap_v: f64,
    pub tier: u8,
    /// Priority order: lower is served first (tier, then index).
    pub rank: u32,
}

pub(crate) struct Model<'a> {
    pub problem: &'a AllocationProblem,
    pub skus: Vec<SkuModel>,
    pub cells: Vec<CellModel<'a>>,
    pub whs: Vec<WhModel>,
    /// Cells of each warehouse: `wh_cells[wh_start[w]..wh_start[w + 1]]`, by SKU.
    pub wh_start: Vec<usize>,
    pub wh_cells: Vec<u32>,
    pub messages: Vec<String>,
}

/// Largest target ≤ `v` that respects the case pack (anything up to `cur`, then `cur + k·cp`).
#[inline]
pub(crate) fn floor_lattice(cur: u32, cp: u32, v: u32) -> u32 {
    if v <= cur {
        v
    } else {
        cur + (v - cur) / cp * cp
    }
}

/// Smallest target ≥ `v` that respects the case pack.
#[inline]
pub(crate) fn ceil_lattice(cur: u32, cp: u32, v: u32) -> u64 {
    if v <= cur {
        v as u64
    } else {
        cur as u64 + (v - cur).div_ceil(cp) as u64 * cp as u64
    }
}

/// Units of the next step up from `x`: single units up to current stock, case packs beyond.
#[inline]
pub(crate) fn step_up(cur: u32, cp: u32, x: u32) -> u32 {
    if x < cur {
        1
    } else {
        cp
    }
}

/// Units of the next step down from `x` (on the lattice).
#[inline]
pub(crate) fn step_down(cur: u32, cp: u32, x: u32) -> u32 {
    if x <= cur {
        1
    } else {
        cp
    }
}

impl<'a> Model<'a> {
    /// Gain of unit `k + 1` at a cell: margin · expected extra sales − holding − incoming cost
    /// (the latter only beyond current stock). Non-increasing in `k`.
    #[inline]
    pub fn gain(&self, s: &SkuModel, c: &CellModel, k: u32) -> f64 {
        let g = s.margin * c.demand.unit_sales(k) - s.holding;
        if k >= c.cur {
            g - c.c_in
        } else {
            g
        }
    }

    /// Gain of unit `k + 1` in the case-pack relaxation: beyond current stock, every unit of a
    /// case pack earns the pack's average gain (the value is interpolated linearly between
    /// allowed targets). Equals [`Model::gain`] for case packs of 1; non-increasing in `k`.
    #[inline]
    pub fn gain_hat(&self, s: &SkuModel, c: &CellModel, k: u32) -> f64 {
        if s.cp == 1 || k < c.cur {
            return self.gain(s, c, k);
        }
        let a = c.cur + (k - c.cur) / s.cp * s.cp;
        self.value_between(s, c, a, a + s.cp) / s.cp as f64
    }

    /// Value of target `x` in the case-pack relaxation (exact on allowed targets).
    pub fn value_hat(&self, s: &SkuModel, c: &CellModel, x: u32) -> f64 {
        let fl = floor_lattice(c.cur, s.cp, x);
        let v = self.value(s, c, fl);
        if fl == x {
            v
        } else {
            v + (x - fl) as f64 * self.gain_hat(s, c, fl)
        }
    }

    /// Objective contribution of a cell with target `x`.
    pub fn value(&self, s: &SkuModel, c: &CellModel, x: u32) -> f64 {
        s.margin * c.demand.expected_sales(x as f64)
            - s.holding * x as f64
            - c.c_in * x.saturating_sub(c.cur) as f64
    }

    /// Sum of gains of units `a+1..=b` (b ≥ a).
    pub fn value_between(&self, s: &SkuModel, c: &CellModel, a: u32, b: u32) -> f64 {
        let n = (b - a) as f64;
        s.margin * c.demand.integral(a as f64, b as f64)
            - s.holding * n
            - c.c_in * (b.saturating_sub(c.cur) - a.saturating_sub(c.cur)) as f64
    }

    pub fn wh_cells(&self, w: usize) -> &[u32] {
        &self.wh_cells[self.wh_start[w]..self.wh_start[w + 1]]
    }

    /// Builds the model from a validated problem: warehouses, then SKUs and their cells, then
    /// presentation minimums cut to stock and to capacity, then bounds, with a message for
    /// every cut.
    pub fn build(problem: &'a AllocationProblem) -> Model<'a> {
        let mut messages = Vec::new();
        let whs = warehouse_models(problem);
        let (skus, mut cells) = sku_and_cell_models(problem);
        minimums_within_stock(problem, &whs, &skus, &mut cells, &mut messages);
        let (wh_start, wh_cells) = cells_by_warehouse(whs.len(), &cells);
        let layout = Layout {
            whs: &whs,
            skus: &skus,
            wh_start: &wh_start,
            wh_cells: &wh_cells,
        };
        minimums_within_capacity(problem, &layout, &mut cells, &mut messages);
        bounds_and_fixed_skus(problem, &whs, &skus, &mut cells, &mut messages);
        capacity_notes(problem, &whs, &skus, &cells, &mut messages);
        Model {
            problem,
            skus,
            cells,
            whs,
            wh_start,
            wh_cells,
            messages,
        }
    }

    /// Every `every`-th SKU, with warehouse capacities scaled by the sample's share of mean
    /// demand (units) and of mean demand × volume (m³) at each warehouse, but never below the
    /// sample's minimums. For warm-starting prices; has no per-warehouse cell lists.
    pub fn sample(&self, every: usize) -> Model<'a> {
        let every = every.max(1);
        let nw = self.whs.len();
        let (mut all_u, mut all_v) = (vec![0.0; nw], vec![0.0; nw]);
        let (mut sub_u, mut sub_v) = (vec![0.0; nw], vec![0.0; nw]);
        let (mut lo_u, mut lo_v) = (vec![0.0; nw], vec![0.0; nw]);
        let mut skus = Vec::new();
        let mut cells = Vec::new();
        for (s, sku) in self.skus.iter().enumerate() {
            let take = s % every == 0;
            for c in &self.cells[sku.start..sku.end] {
                let w = c.w as usize;
                let wt = c.demand.mean().max(c.lo as f64);
                all_u[w] += wt;
                all_v[w] += wt * sku.vol;
                if take {
                    sub_u[w] += wt;
                    sub_v[w] += wt * sku.vol;
                    lo_u[w] += c.lo as f64;
                    lo_v[w] += c.lo as f64 * sku.vol;
                }
            }
            if take {
                let start = cells.len();
                cells.extend_from_slice(&self.cells[sku.start..sku.end]);
                skus.push(SkuModel {
                    start,
                    end: cells.len(),
                    ..sku.clone()
                });
            }
        }
        let share = |sub: f64, all: f64| {
            if all > 0.0 {
                sub / all
            } else {
                1.0 / every as f64
            }
        };
        let whs = self
            .whs
            .iter()
            .enumerate()
            .map(|(w, wh)| WhModel {
                cap_u: (wh.cap_u * share(sub_u[w], all_u[w])).max(lo_u[w]),
                cap_v: (wh.cap_v * share(sub_v[w], all_v[w])).max(lo_v[w]),
                ..wh.clone()
            })
            .collect();
        Model {
            problem: self.problem,
            skus,
            cells,
            whs,
            wh_start: vec![0; nw + 1],
            wh_cells: Vec::new(),
            messages: Vec::new(),
        }
    }

    /// SKU index of every cell.
    pub fn sku_of_cells(&self) -> Vec<u32> {
        sku_of_cells(&self.skus, self.cells.len())
    }
}

/// SKU index of each of `cells` cells (grouped by SKU, as `skus` ranges them).
fn sku_of_cells(skus: &[SkuModel], cells: usize) -> Vec<u32> {
    let mut v = vec![0u32; cells];
    for (s, sku) in skus.iter().enumerate() {
        for x in &mut v[sku.start..sku.end] {
            *x = s as u32;
        }
    }
    v
}

fn warehouse_models(problem: &AllocationProblem) -> Vec<WhModel> {
    let nw = problem.warehouses.len();
    problem
        .warehouses
        .iter()
        .enumerate()
        .map(|(w, wh)| WhModel {
            cap_u: wh.capacity_units.map(f64::floor).unwrap_or(f64::INFINITY),
            cap_v: wh.capacity_m3.unwrap_or(f64::INFINITY),
            tier: wh.priority_tier,
            rank: wh.priority_tier as u32 * nw as u32 + w as u32,
        })
        .collect()
}

/// The input cells by SKU (a counting sort), by warehouse within a SKU: the SKU `s`'s cells
/// are `order[count[s]..count[s + 1]]`.
fn cells_by_sku(problem: &AllocationProblem) -> (Vec<usize>, Vec<u32>) {
    let ns = problem.skus.len();
    let mut count = vec![0usize; ns + 1];
    for c in &problem.cells {
        count[c.sku_index + 1] += 1;
    }
    for s in 0..ns {
        count[s + 1] += count[s];
    }
    let mut order = vec![0u32; problem.cells.len()];
    let mut fill = count.clone();
    for (i, c) in problem.cells.iter().enumerate() {
        order[fill[c.sku_index]] = i as u32;
        fill[c.sku_index] += 1;
    }
    for s in 0..ns {
        let part = &mut order[count[s]..count[s + 1]];
        if !part.windows(2).all(|p| {
            problem.cells[p[0] as usize].warehouse_index
                < problem.cells[p[1] as usize].warehouse_index
        }) {
            part.sort_unstable_by_key(|&i| problem.cells[i as usize].warehouse_index);
        }
    }

    (count, order)
}

/// The SKU and cell models, cells grouped by SKU, each cell with its incoming-transfer cost:
/// from the cheapest source among the other warehouses holding the SKU.
fn sku_and_cell_models(problem: &AllocationProblem) -> (Vec<SkuModel>, Vec<CellModel<'_>>) {
    let ns = problem.skus.len();
    let nw = problem.warehouses.len();
    let (count, order) = cells_by_sku(problem);
    let src_order: Vec<Vec<u32>> = (0..nw)
        .map(|to| {
            let mut v: Vec<u32> = (0..nw as u32).filter(|&f| f as usize != to).collect();
            v.sort_by(|&a, &b| {
                problem.transfer_cost_per_unit[a as usize][to]
                    .total_cmp(&problem.transfer_cost_per_unit[b as usize][to])
            });
            v
        })
        .collect();
    let mut holder = vec![false; nw];

    let mut skus = Vec::with_capacity(ns);
    let mut cells: Vec<CellModel<'_>> = Vec::with_capacity(problem.cells.len());
    for (s, sku) in problem.skus.iter().enumerate() {
        let start = cells.len();
        let idx = &order[count[s]..count[s + 1]];
        let mut on_hand = 0u64;
        for &i in idx {
            let c = &problem.cells[i as usize];
            on_hand += c.current_units;
            if c.current_units > 0 {
                holder[c.warehouse_index] = true;
            }
        }
        for &i in idx {
            let c = &problem.cells[i as usize];
            let w = c.warehouse_index;
            let c_in = src_order[w]
                .iter()
                .find(|&&f| holder[f as usize])
                .map(|&f| problem.transfer_cost_per_unit[f as usize][w])
                .unwrap_or(0.0);
            cells.push(CellModel {
                w: w as u32,
                input: i,
                cur: c.current_units as u32,
                min: c.min_presentation as u32,
                lo: 0,
                lo_rel: 0,
                hi: 0,
                c_in,
                demand: Demand::new(&c.demand, c.mean),
            });
        }
        for &i in idx {
            holder[problem.cells[i as usize].warehouse_index] = false;
        }
        skus.push(SkuModel {
            start,
            end: cells.len(),
            margin: sku.unit_margin,
            holding: sku.holding_cost,
            vol: sku.unit_volume_m3,
            cp: sku.case_pack,
            avail: (on_hand + sku.inbound_units) as u32,
        });
    }

    (skus, cells)
}

/// Presentation minimums against available stock, by priority tier when short.
fn minimums_within_stock(
    problem: &AllocationProblem,
    whs: &[WhModel],
    skus: &[SkuModel],
    cells: &mut [CellModel<'_>],
    messages: &mut Vec<String>,
) {
    for (s, sku) in skus.iter().enumerate() {
        let cs = &mut cells[sku.start..sku.end];
        let need: u64 = cs.iter().map(|c| ceil_lattice(c.cur, sku.cp, c.min)).sum();
        if need <= sku.avail as u64 {
            for c in cs.iter_mut() {
                c.lo = ceil_lattice(c.cur, sku.cp, c.min) as u32;
            }
            continue;
        }
        let mut by_tier: Vec<usize> = (0..cs.len()).collect();
        by_tier.sort_by_key(|&i| whs[cs[i].w as usize].rank);
        let mut remaining = sku.avail;
        let mut short = Vec::new();
        for i in by_tier {
            let c = &mut cs[i];
            let want = ceil_lattice(c.cur, sku.cp, c.min);
            if want <= remaining as u64 {
                c.lo = want as u32;
            } else {
                c.lo = floor_lattice(c.cur, sku.cp, remaining);
                short.push(format!(
                    "{} (tier {}) gets {} of {}",
                    problem.warehouses[c.w as usize].warehouse, whs[c.w as usize].tier, c.lo, c.min
                ));
            }
            remaining -= c.lo;
        }
        if sku.avail > 0 {
            let raw: u64 = cs.iter().map(|c| c.min as u64).sum();
            let packs = if raw < need {
                format!(" ({need} in case packs of {})", sku.cp)
            } else {
                String::new()
            };
            short.truncate(5);
            messages.push(format!(
                "SKU {}: presentation minimums need {raw} units{packs}, only {} available; filled by priority tier: {}",
                problem.skus[s].sku,
                sku.avail,
                short.join(", ")
            ));
        }
    }
}

/// Each warehouse's cells: warehouse `w`'s are `wh_cells[wh_start[w]..wh_start[w + 1]]`.
fn cells_by_warehouse(nw: usize, cells: &[CellModel<'_>]) -> (Vec<usize>, Vec<u32>) {
    let mut wh_start = vec![0usize; nw + 1];
    for c in cells {
        wh_start[c.w as usize + 1] += 1;
    }
    for w in 0..nw {
        wh_start[w + 1] += wh_start[w];
    }
    let mut wh_cells = vec![0u32; cells.len()];
    let mut pos = wh_start.clone();
    for (i, c) in cells.iter().enumerate() {
        wh_cells[pos[c.w as usize]] = i as u32;
        pos[c.w as usize] += 1;
    }
    (wh_start, wh_cells)
}

/// What the capacity stage reads of the model built so far.
struct Layout<'m> {
    whs: &'m [WhModel],
    skus: &'m [SkuModel],
    wh_start: &'m [usize],
    wh_cells: &'m [u32],
}

/// Units and m³ per warehouse: of the presentation minimums (`lo`) and of current stock.
fn units_and_volume(
    nw: usize,
    skus: &[SkuModel],
    cells: &[CellModel<'_>],
    units: impl Fn(&CellModel<'_>) -> u32,
) -> (Vec<u64>, Vec<f64>) {
    let (mut total_u, mut total_v) = (vec![0u64; nw], vec![0f64; nw]);
    for sku in skus {
        for c in &cells[sku.start..sku.end] {
            total_u[c.w as usize] += units(c) as u64;
            total_v[c.w as usize] += sku.vol * units(c) as f64;
        }
    }
    (total_u, total_v)
}

/// Presentation minimums against warehouse capacity: highest margin first.
fn minimums_within_capacity(
    problem: &AllocationProblem,
    layout: &Layout<'_>,
    cells: &mut [CellModel<'_>],
    messages: &mut Vec<String>,
) {
    let Layout {
        whs,
        skus,
        wh_start,
        wh_cells,
    } = *layout;
    let nw = whs.len();
    let sku_of = sku_of_cells(skus, cells.len());
    let (need_u, need_v) = units_and_volume(nw, skus, cells, |c| c.lo);
    for w in 0..nw {
        let (cap_u, cap_v) = (whs[w].cap_u, whs[w].cap_v);
        let list = &wh_cells[wh_start[w]..wh_start[w + 1]];
        let (lo_u, lo_v) = (need_u[w], need_v[w]);
        let zero_cap = cap_u <= 0.0 || cap_v <= 0.0;
        if (lo_u as f64) <= cap_u && lo_v <= vol_limit(cap_v) && !(zero_cap && lo_u > 0) {
            continue;
        }
        let mut by_margin: Vec<u32> = list.to_vec();
        by_margin.sort_by(|&a, &b| {
            let (sa, sb) = (
                &skus[sku_of[a as usize] as usize],
                &skus[sku_of[b as usize] as usize],
            );
            sb.margin.total_cmp(&sa.margin).then(a.cmp(&b))
        });
        let (mut rem_u, mut rem_v) = (cap_u, cap_v);
        let mut cut = 0usize;
        for ci in by_margin {
            let sku = &skus[sku_of[ci as usize] as usize];
            let c = &mut cells[ci as usize];
            let mut max = (c.lo as f64).min(rem_u);
            if zero_cap {
                max = 0.0;
            } else if sku.vol > 0.0 {
                max = max.min((vol_limit(rem_v) / sku.vol).floor());
            }
            let max = max.max(0.0) as u32;
            let new = floor_lattice(c.cur, sku.cp, max).min(c.lo);
            if new < c.lo {
                cut += 1;
            }
            c.lo = new;
            rem_u -= new as f64;
            rem_v -= sku.vol * new as f64;
        }
        messages.push(format!(
            "warehouse {}: presentation minimums need {lo_u} units / {lo_v:.3} m³ but capacity is {} units / {} m³; minimums cut for {cut} SKU(s), lowest margin first",
            problem.warehouses[w].warehouse,
            fmt_cap(cap_u),
            fmt_cap(cap_v)
        ));
    }
}

/// Bounds, and SKUs whose targets are fixed.
fn bounds_and_fixed_skus(
    problem: &AllocationProblem,
    whs: &[WhModel],
    skus: &[SkuModel],
    cells: &mut [CellModel<'_>],
    messages: &mut Vec<String>,
) {
    for (s, sku) in skus.iter().enumerate() {
        let cs = &mut cells[sku.start..sku.end];
        let zero_demand = cs.iter().all(|c| c.demand.is_zero());
        for c in cs.iter_mut() {
            let wh = &whs[c.w as usize];
            let mut hi = (sku.avail as f64).min(wh.cap_u);
            if wh.cap_v <= 0.0 {
                hi = 0.0;
            }
            c.hi = (hi as u32).max(c.lo);
            c.lo_rel = c.lo.min(c.min);
            if zero_demand || sku.avail == 0 {
                c.hi = c.lo;
                c.lo_rel = c.lo;
            }
        }
        let name = &problem.skus[s].sku;
        if sku.avail == 0 {
            messages.push(format!(
                "SKU {name}: no stock available (nothing on hand or inbound); all targets are 0"
            ));
        } else if zero_demand {
            let placed: u64 = cs.iter().map(|c| c.lo as u64).sum();
            let on_hand: u64 = cs.iter().map(|c| c.cur as u64).sum();
            messages.push(format!(
                "SKU {name}: zero forecast demand; only presentation minimums are placed ({placed} units); current stock ({on_hand} units) beyond them is not targeted"
            ));
        }
    }
}

/// Warehouses with no room, or already holding more than fits.
fn capacity_notes(
    problem: &AllocationProblem,
    whs: &[WhModel],
    skus: &[SkuModel],
    cells: &[CellModel<'_>],
    messages: &mut Vec<String>,
) {
    let (cur_u, cur_v) = units_and_volume(whs.len(), skus, cells, |c| c.cur);
    for (w, wh) in whs.iter().enumerate() {
        let (cur_u, cur_v) = (cur_u[w], cur_v[w]);
        let name = &problem.warehouses[w].warehouse;
        if wh.cap_u <= 0.0 || wh.cap_v <= 0.0 {
            let extra = if cur_u > 0 {
                format!("; its current stock ({cur_u} units) is beyond capacity and not targeted")
            } else {
                String::new()
            };
            messages.push(format!(
                "warehouse {name}: zero capacity; nothing new is placed there{extra}"
            ));
        } else if cur_u as f64 > wh.cap_u || cur_v > vol_limit(wh.cap_v) {
            messages.push(format!(
                "warehouse {name}: current stock {cur_u} units / {cur_v:.3} m³ exceeds capacity {} units / {} m³; targets stay within capacity",
                fmt_cap(wh.cap_u),
                fmt_cap(wh.cap_v)
            ));
        }
    }
}

fn fmt_cap(c: f64) -> String {
    if c.is_finite() {
        format!("{c}")
    } else {
        "unlimited".to_string()
    }
}
