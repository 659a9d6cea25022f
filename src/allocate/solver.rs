//! The margin solver: Lagrangian prices on warehouse capacities, an exact per-SKU greedy given
//! the prices, then case-pack rounding, a repair pass, a fill pass and (on small instances) a
//! local search and an exact polishing step.
//!
//! # Relaxation and dual
//! The relaxation keeps every constraint except integrality and capacities: a cell's value is
//! interpolated linearly between its allowed targets (single units up to current stock, whole
//! case packs beyond), i.e. each unit of a case pack earns the pack's average gain
//! ([`Model::gain_hat`]), and targets stay at or above the placed minimums. This is concave and
//! equals the true value on allowed targets, so it is an LP relaxation of the allocation problem
//! (with case packs of 1 it is the plain unit-segment LP).
//!
//! Each capacity constraint `j` (units or m³ at a warehouse) gets a price `λ_j ≥ 0`. Given the
//! prices, a unit at `(s, w)` is worth its gain minus `λ_units(w) + vol_s · λ_m3(w)`, and the
//! problem splits into one problem per SKU: choose `lo ≤ x_w ≤ hi` with `Σ_w x_w ≤ available`.
//! Gains are non-increasing in the unit index, so taking units in order of decreasing priced
//! gain is exact, and — the breakpoints being integers and the stock an integer — the optimum of
//! the continuous version is integral. So
//! `L(λ) = Σ_j λ_j·cap_j + Σ_s max_x Σ_w (value − price·x)` is an upper bound on the LP
//! relaxation (weak duality) and hence on every allocation. `stats.bound_without_case_packs` is
//! the same Lagrangian at the same prices with case packs and minimum rounding relaxed too (a
//! bound on the looser unit-segment LP).
//!
//! The per-SKU optimum is kept from one price vector to the next: a SKU is re-optimised only if
//! it violates the optimality conditions (best next unit vs worst last unit vs 0), with two small
//! heaps and lazily invalidated entries, so a round costs O(cells) plus the units that move.
//! Prices move by per-constraint adaptive steps (Rprop: grow while the sign of the excess holds,
//! halve when it flips); the lowest `L` seen is the bound. The iterations stop when a primal
//! estimate is within a quarter of the target gap. On large instances the prices start from the
//! same iterations run on an evenly spaced sample of SKUs with proportionally scaled capacities.
//!
//! # Primal
//! From the per-SKU optimum at the best prices: targets beyond current stock are rounded down to
//! whole case packs, case packs are added back by priced gain per unit while stock allows, and a
//! case pack is completed by giving up cheaper steps elsewhere when that pays. The repair pass
//! then removes, at each over-full warehouse, the steps that lose least value per unit of the
//! violated capacity; the fill pass adds the steps with the most value per unit of capacity while
//! stock and capacity allow.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::ops::Range;

use rayon::prelude::*;

use super::model::{floor_lattice, step_down, step_up, vol_limit, CellModel, Model, SkuModel};
use super::polish;
use super::problem::SolveStats;
use super::SolveOptions;

/// Priced gains closer than this count as equal (then the priority tier decides).
const TIE_EPS: f64 = 1e-9;

pub(crate) struct SolverOutput {
    /// Target per model cell.
    pub x: Vec<u32>,
    pub bound: f64,
    pub stats: SolveStats,
}

#[derive(Clone, Copy)]
struct Entry {
    v: f64,
    rank: u32,
    i: u32,
}

/// Max-heap order for additions: larger priced gain first, then better (lower) rank.
struct AddKey(Entry);
/// Max-heap order for removals: smaller priced gain first, then worse (higher) rank.
struct RemKey(Entry);

impl PartialEq for AddKey {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for AddKey {}
impl PartialOrd for AddKey {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for AddKey {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.v.total_cmp(&o.0.v).then(o.0.rank.cmp(&self.0.rank))
    }
}
impl PartialEq for RemKey {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for RemKey {}
impl PartialOrd for RemKey {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for RemKey {
    fn cmp(&self, o: &Self) -> Ordering {
        o.0.v.total_cmp(&self.0.v).then(self.0.rank.cmp(&o.0.rank))
    }
}

/// Whether moving a unit from the removal candidate to the addition candidate is strictly
/// better (or equal in value and towards a higher-priority warehouse).
#[inline]
fn swap_wins(add_v: f64, add_rank: u32, rem_v: f64, rem_rank: u32) -> bool {
    add_v > rem_v + TIE_EPS || (add_v >= rem_v - TIE_EPS && add_rank < rem_rank)
}

#[derive(Default)]
struct Heaps {
    add: BinaryHeap<AddKey>,
    rem: BinaryHeap<RemKey>,
}

/// Changes made by one worker during a round.
struct Delta {
    units: Vec<i64>,
    vol: Vec<f64>,
    value: f64,
    moves: u64,
}

impl Delta {
    fn new(warehouse_count: usize) -> Delta {
        Delta {
            units: vec![0; warehouse_count],
            vol: vec![0.0; warehouse_count],
            value: 0.0,
            moves: 0,
        }
    }
}

/// The per-cell state of the unit-level (relaxed) per-SKU optimum.
struct State {
    x: Vec<u32>,
    /// Gain of the next unit (−∞ at the upper bound).
    next_gain: Vec<f64>,
    /// Gain of the last unit (+∞ at the lower bound).
    last_gain: Vec<f64>,
    /// Units placed per SKU.
    placed: Vec<u32>,
}

/// Mutable views of the state for a range of SKUs.
struct Part<'s> {
    skus: Range<usize>,
    cell0: usize,
    x: &'s mut [u32],
    next_gain: &'s mut [f64],
    last_gain: &'s mut [f64],
    placed: &'s mut [u32],
}

/// SKU ranges of about equal cell counts, one per worker.
pub(crate) fn split(model: &Model, threads: usize) -> Vec<Range<usize>> {
    let ns = model.skus.len();
    let threads = if model.cells.len() < 20_000 {
        1
    } else {
        threads.max(1)
    };
    let mut out = Vec::with_capacity(threads);
    let mut s0 = 0;
    for t in 1..=threads {
        let target = model.cells.len() * t / threads;
        let mut s1 = s0;
        while s1 < ns && (t == threads || model.skus[s1].end <= target) {
            s1 += 1;
        }
        out.push(s0..s1);
        s0 = s1;
    }
    out
}

fn parts<'s>(model: &Model, ranges: &[Range<usize>], state: &'s mut State) -> Vec<Part<'s>> {
    let mut out = Vec::with_capacity(ranges.len());
    let (mut x, mut next_gain, mut last_gain, mut placed) = (
        &mut state.x[..],
        &mut state.next_gain[..],
        &mut state.last_gain[..],
        &mut state.placed[..],
    );
    let mut cell0 = 0;
    for r in ranges {
        let cell1 = if r.end > r.start {
            model.skus[r.end - 1].end
        } else {
            cell0
        };
        let n = cell1 - cell0;
        let (a, b) = std::mem::take(&mut x).split_at_mut(n);
        x = b;
        let (c, d) = std::mem::take(&mut next_gain).split_at_mut(n);
        next_gain = d;
        let (e, f) = std::mem::take(&mut last_gain).split_at_mut(n);
        last_gain = f;
        let (g, h) = std::mem::take(&mut placed).split_at_mut(r.len());
        placed = h;
        out.push(Part {
            skus: r.clone(),
            cell0,
            x: a,
            next_gain: c,
            last_gain: e,
            placed: g,
        });
        cell0 = cell1;
    }
    out
}

/// Runs `f` on every part, in parallel (rayon) when there is more than one; the results are
/// in part order, so sums over them add up in the same order whatever the threads.
fn run_parts<'s, R: Send>(parts: Vec<Part<'s>>, f: impl Fn(Part<'s>) -> R + Sync) -> Vec<R> {
    if parts.len() == 1 {
        return parts.into_iter().map(f).collect();
    }
    parts.into_par_iter().map(&f).collect()
}

#[derive(Clone)]
struct Prices {
    u: Vec<f64>,
    v: Vec<f64>,
}

impl Prices {
    #[inline]
    fn of(&self, sku: &SkuModel, c: &CellModel) -> f64 {
        let w = c.w as usize;
        self.u[w] + sku.vol * self.v[w]
    }
}

/// Lower bound of a cell in the relaxation: the placed minimum (case-pack relaxation) or the
/// raw minimum (unit relaxation).
#[inline]
fn lower<const LAT: bool>(c: &CellModel) -> u32 {
    if LAT {
        c.lo
    } else {
        c.lo_rel
    }
}

#[inline]
fn gain<const LAT: bool>(model: &Model, s: &SkuModel, c: &CellModel, k: u32) -> f64 {
    if LAT {
        model.gain_hat(s, c, k)
    } else {
        model.gain(s, c, k)
    }
}

#[inline]
fn value<const LAT: bool>(model: &Model, s: &SkuModel, c: &CellModel, x: u32) -> f64 {
    if LAT {
        model.value_hat(s, c, x)
    } else {
        model.value(s, c, x)
    }
}

/// The SKU's optimality conditions at these prices, checked without building the heaps: no
/// unit worth removing, and no unit worth adding (or, with all stock placed, no swap that wins).
#[allow(clippy::too_many_arguments)]
#[inline]
fn already_optimal<const LAT: bool>(
    model: &Model,
    sku: &SkuModel,
    cells: &[CellModel],
    x: &[u32],
    next_gain: &[f64],
    last_gain: &[f64],
    placed: u32,
    prices: &Prices,
) -> bool {
    let (mut best_add, mut add_rank) = (f64::NEG_INFINITY, u32::MAX);
    let (mut worst_rem, mut rem_rank) = (f64::INFINITY, 0u32);
    for (i, c) in cells.iter().enumerate() {
        let p = prices.of(sku, c);
        let rank = model.whs[c.w as usize].rank;
        if x[i] < c.hi {
            let v = next_gain[i] - p;
            if v > best_add || (v == best_add && rank < add_rank) {
                best_add = v;
                add_rank = rank;
            }
        }
        if x[i] > lower::<LAT>(c) {
            let v = last_gain[i] - p;
            if v < worst_rem || (v == worst_rem && rank > rem_rank) {
                worst_rem = v;
                rem_rank = rank;
            }
        }
    }
    worst_rem >= 0.0
        && (best_add <= 0.0
            || (placed >= sku.avail && !swap_wins(best_add, add_rank, worst_rem, rem_rank)))
}

/// Re-optimises one SKU at unit level for the given prices, from its current state.
#[allow(clippy::too_many_arguments)]
fn reopt_sku<const LAT: bool>(
    model: &Model,
    s: usize,
    x: &mut [u32],
    next_gain: &mut [f64],
    last_gain: &mut [f64],
    placed: &mut u32,
    prices: &Prices,
    heaps: &mut Heaps,
    d: &mut Delta,
) {
    let sku = &model.skus[s];
    let cells = &model.cells[sku.start..sku.end];
    let n = cells.len();
    if n == 0 {
        return;
    }
    if already_optimal::<LAT>(model, sku, cells, x, next_gain, last_gain, *placed, prices) {
        return;
    }

    heaps.add.clear();
    heaps.rem.clear();
    let push = |heaps: &mut Heaps, i: usize, x: &[u32], next_gain: &[f64], last_gain: &[f64]| {
        let c = &cells[i];
        let p = prices.of(sku, c);
        let rank = model.whs[c.w as usize].rank;
        if x[i] < c.hi && next_gain[i] - p > 0.0 {
            heaps.add.push(AddKey(Entry {
                v: next_gain[i] - p,
                rank,
                i: i as u32,
            }));
        }
        if x[i] > lower::<LAT>(c) {
            heaps.rem.push(RemKey(Entry {
                v: last_gain[i] - p,
                rank,
                i: i as u32,
            }));
        }
    };
    for i in 0..n {
        push(heaps, i, x, next_gain, last_gain);
    }
    let limit = 4 * (sku.avail as u64 + n as u64) + 64;
    let mut guard = 0u64;
    loop {
        guard += 1;
        if guard > limit {
            break;
        }
        // Valid tops (entries are invalidated lazily: stale when the value no longer matches).
        let rem_top = loop {
            match heaps.rem.peek() {
                None => break None,
                Some(e) => {
                    let i = e.0.i as usize;
                    let c = &cells[i];
                    if x[i] > lower::<LAT>(c) && last_gain[i] - prices.of(sku, c) == e.0.v {
                        break Some(e.0);
                    }
                    heaps.rem.pop();
                }
            }
        };
        let add_top = loop {
            match heaps.add.peek() {
                None => break None,
                Some(e) => {
                    let i = e.0.i as usize;
                    let c = &cells[i];
                    if x[i] < c.hi && next_gain[i] - prices.of(sku, c) == e.0.v {
                        break Some(e.0);
                    }
                    heaps.add.pop();
                }
            }
        };
        let mut remove = None;
        let mut add = None;
        if let Some(r) = rem_top {
            if r.v < 0.0 {
                remove = Some(r.i as usize);
            }
        }
        if remove.is_none() {
            if let Some(a) = add_top {
                if *placed < sku.avail {
                    add = Some(a.i as usize);
                } else if let Some(r) = rem_top {
                    if r.i != a.i && swap_wins(a.v, a.rank, r.v, r.rank) {
                        remove = Some(r.i as usize);
                        add = Some(a.i as usize);
                    }
                }
            }
        }
        if remove.is_none() && add.is_none() {
            break;
        }
        if let Some(i) = remove {
            heaps.rem.pop();
            remove_unit::<LAT>(model, sku, &cells[i], i, x, next_gain, last_gain, placed, d);
            push(heaps, i, x, next_gain, last_gain);
        }
        if let Some(i) = add {
            heaps.add.pop();
            add_unit::<LAT>(model, sku, &cells[i], i, x, next_gain, last_gain, placed, d);
            push(heaps, i, x, next_gain, last_gain);
        }
    }
}

/// Takes one unit from cell `i`; its gains shift down one step.
#[allow(clippy::too_many_arguments)]
#[inline]
fn remove_unit<const LAT: bool>(
    model: &Model,
    sku: &SkuModel,
    c: &CellModel,
    i: usize,
    x: &mut [u32],
    next_gain: &mut [f64],
    last_gain: &mut [f64],
    placed: &mut u32,
    d: &mut Delta,
) {
    x[i] -= 1;
    *placed -= 1;
    d.units[c.w as usize] -= 1;
    d.vol[c.w as usize] -= sku.vol;
    d.value -= last_gain[i];
    d.moves += 1;
    next_gain[i] = last_gain[i];
    last_gain[i] = if x[i] <= lower::<LAT>(c) {
        f64::INFINITY
    } else if LAT && sku.cp > 1 && x[i] > c.cur && !(x[i] - c.cur).is_multiple_of(sku.cp) {
        next_gain[i] // same case pack: same average gain
    } else {
        gain::<LAT>(model, sku, c, x[i] - 1)
    };
}

/// Adds one unit to cell `i`; its gains shift up one step.
#[allow(clippy::too_many_arguments)]
#[inline]
fn add_unit<const LAT: bool>(
    model: &Model,
    sku: &SkuModel,
    c: &CellModel,
    i: usize,
    x: &mut [u32],
    next_gain: &mut [f64],
    last_gain: &mut [f64],
    placed: &mut u32,
    d: &mut Delta,
) {
    x[i] += 1;
    *placed += 1;
    d.units[c.w as usize] += 1;
    d.vol[c.w as usize] += sku.vol;
    d.value += next_gain[i];
    d.moves += 1;
    last_gain[i] = next_gain[i];
    next_gain[i] = if x[i] >= c.hi {
        f64::NEG_INFINITY
    } else if LAT && sku.cp > 1 && x[i] > c.cur && !(x[i] - c.cur).is_multiple_of(sku.cp) {
        last_gain[i] // same case pack: same average gain
    } else {
        gain::<LAT>(model, sku, c, x[i])
    };
}

/// One round: every SKU re-optimised for `prices`. Returns the summed changes.
fn round<const LAT: bool>(
    model: &Model,
    ranges: &[Range<usize>],
    state: &mut State,
    prices: &Prices,
) -> Delta {
    let warehouse_count = model.whs.len();
    let deltas = run_parts(parts(model, ranges, state), |p: Part| {
        let mut d = Delta::new(warehouse_count);
        let mut heaps = Heaps::default();
        for (sku_in_part, s) in p.skus.clone().enumerate() {
            let sku = &model.skus[s];
            let (a, b) = (sku.start - p.cell0, sku.end - p.cell0);
            reopt_sku::<LAT>(
                model,
                s,
                &mut p.x[a..b],
                &mut p.next_gain[a..b],
                &mut p.last_gain[a..b],
                &mut p.placed[sku_in_part],
                prices,
                &mut heaps,
                &mut d,
            );
        }
        d
    });
    let mut total = Delta::new(warehouse_count);
    for d in deltas {
        for w in 0..warehouse_count {
            total.units[w] += d.units[w];
            total.vol[w] += d.vol[w];
        }
        total.value += d.value;
        total.moves += d.moves;
    }
    total
}

/// First allocation from the placed minimums: per SKU, units in order of decreasing priced
/// gain (case-pack relaxation) while they gain and stock lasts.
fn init_round(model: &Model, ranges: &[Range<usize>], state: &mut State, prices: &Prices) -> Delta {
    let warehouse_count = model.whs.len();
    let deltas = run_parts(parts(model, ranges, state), |p: Part| {
        let mut d = Delta::new(warehouse_count);
        let mut heap: BinaryHeap<AddKey> = BinaryHeap::new();
        for (k, s) in p.skus.clone().enumerate() {
            let sku = &model.skus[s];
            let cells = &model.cells[sku.start..sku.end];
            let (a, b) = (sku.start - p.cell0, sku.end - p.cell0);
            let (x, next_gain, last_gain) = (
                &mut p.x[a..b],
                &mut p.next_gain[a..b],
                &mut p.last_gain[a..b],
            );
            let placed = &mut p.placed[k];
            heap.clear();
            for (i, c) in cells.iter().enumerate() {
                let v = next_gain[i] - prices.of(sku, c);
                if x[i] < c.hi && v > 0.0 {
                    heap.push(AddKey(Entry {
                        v,
                        rank: model.whs[c.w as usize].rank,
                        i: i as u32,
                    }));
                }
            }
            while *placed < sku.avail {
                let Some(AddKey(e)) = heap.pop() else { break };
                let i = e.i as usize;
                let c = &cells[i];
                x[i] += 1;
                *placed += 1;
                d.units[c.w as usize] += 1;
                d.vol[c.w as usize] += sku.vol;
                d.value += next_gain[i];
                d.moves += 1;
                last_gain[i] = next_gain[i];
                next_gain[i] = if x[i] >= c.hi {
                    f64::NEG_INFINITY
                } else if sku.cp > 1 && x[i] > c.cur && !(x[i] - c.cur).is_multiple_of(sku.cp) {
                    last_gain[i]
                } else {
                    model.gain_hat(sku, c, x[i])
                };
                let v = next_gain[i] - prices.of(sku, c);
                if v > 0.0 {
                    heap.push(AddKey(Entry { v, ..e }));
                }
            }
        }
        d
    });
    let mut total = Delta::new(warehouse_count);
    for d in deltas {
        for w in 0..warehouse_count {
            total.units[w] += d.units[w];
            total.vol[w] += d.vol[w];
        }
        total.value += d.value;
        total.moves += d.moves;
    }
    total
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Units,
    Volume,
}

struct Constraint {
    w: usize,
    kind: Kind,
    cap: f64,
    step: f64,
    last_dir: i8,
}

/// Exact value of the current state for the given prices: (Σ value, Σ price·x).
fn exact_value<const LAT: bool>(
    model: &Model,
    ranges: &[Range<usize>],
    x: &[u32],
    prices: &Prices,
) -> (f64, f64) {
    let work = |r: Range<usize>| {
        let (mut val, mut priced) = (0.0, 0.0);
        for s in r {
            let sku = &model.skus[s];
            for ci in sku.start..sku.end {
                let c = &model.cells[ci];
                val += value::<LAT>(model, sku, c, x[ci]);
                priced += prices.of(sku, c) * x[ci] as f64;
            }
        }
        (val, priced)
    };
    let res: Vec<(f64, f64)> = if ranges.len() == 1 {
        ranges.iter().cloned().map(work).collect()
    } else {
        ranges.par_iter().cloned().map(work).collect()
    };
    res.into_iter()
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// The state at the placed minimums, in the case-pack relaxation: (state, units per warehouse,
/// m³ per warehouse, value).
fn init_state(model: &Model) -> (State, Vec<i64>, Vec<f64>, f64) {
    let warehouse_count = model.whs.len();
    let nc = model.cells.len();
    let mut state = State {
        x: vec![0; nc],
        next_gain: vec![0.0; nc],
        last_gain: vec![0.0; nc],
        placed: vec![0; model.skus.len()],
    };
    let mut usage_u = vec![0i64; warehouse_count];
    let mut usage_v = vec![0.0f64; warehouse_count];
    let mut value = 0.0;
    for (s, sku) in model.skus.iter().enumerate() {
        for ci in sku.start..sku.end {
            let c = &model.cells[ci];
            let x = c.lo;
            state.x[ci] = x;
            state.next_gain[ci] = if x < c.hi {
                model.gain_hat(sku, c, x)
            } else {
                f64::NEG_INFINITY
            };
            state.last_gain[ci] = f64::INFINITY;
            state.placed[s] += x;
            usage_u[c.w as usize] += x as i64;
            usage_v[c.w as usize] += sku.vol * x as f64;
            value += model.value_hat(sku, c, x);
        }
    }
    (state, usage_u, usage_v, value)
}

/// Recomputes the cached gains of the state for the unit relaxation (no case packs, raw
/// minimums); the targets stay as they are (they are ≥ the raw minimums).
fn to_unit_relaxation(model: &Model, ranges: &[Range<usize>], state: &mut State) {
    run_parts(parts(model, ranges, state), |p: Part| {
        for s in p.skus.clone() {
            let sku = &model.skus[s];
            for ci in sku.start..sku.end {
                let c = &model.cells[ci];
                let i = ci - p.cell0;
                let x = p.x[i];
                p.next_gain[i] = if x < c.hi {
                    model.gain(sku, c, x)
                } else {
                    f64::NEG_INFINITY
                };
                p.last_gain[i] = if x > c.lo_rel {
                    model.gain(sku, c, x - 1)
                } else {
                    f64::INFINITY
                };
            }
        }
    });
}

/// Units and m³ per warehouse that the per-SKU greedy places with all capacity prices at 0.
pub(crate) fn unconstrained_usage(model: &Model, threads: usize) -> (Vec<f64>, Vec<f64>) {
    let ranges = split(model, threads);
    let (mut state, ..) = init_state(model);
    let warehouse_count = model.whs.len();
    let prices = Prices {
        u: vec![0.0; warehouse_count],
        v: vec![0.0; warehouse_count],
    };
    init_round(model, &ranges, &mut state, &prices);
    usage(model, &state.x)
}

/// Initial price step, as a fraction of the average unit margin (or margin per m³).
const STEP0: f64 = 0.1;
/// Step growth while the sign of a constraint's excess holds, and shrink when it flips.
const GROW: f64 = 1.2;
const SHRINK: f64 = 0.5;

/// Result of the price iterations: the best prices and the per-SKU optimum for them.
struct Dual {
    prices: Prices,
    state: State,
    iterations: usize,
    priced: usize,
}

/// Lagrangian price iterations on the case-pack relaxation, from `warm` prices if given.
/// The capacity constraints that can bind (those the cells' upper bounds could exceed), each
/// with its starting price (from the warm start, or 0) and step size.
fn binding_constraints(model: &Model, warm: Option<&Prices>) -> (Prices, Vec<Constraint>) {
    let warehouse_count = model.whs.len();
    let mut max_u = vec![0f64; warehouse_count];
    let mut max_v = vec![0f64; warehouse_count];
    let mut margin_sum = vec![0f64; warehouse_count];
    let mut vol_sum = vec![0f64; warehouse_count];
    let mut count = vec![0f64; warehouse_count];
    for sku in &model.skus {
        for c in &model.cells[sku.start..sku.end] {
            let w = c.w as usize;
            max_u[w] += c.hi as f64;
            max_v[w] += sku.vol * c.hi as f64;
            if c.hi > c.lo {
                margin_sum[w] += sku.margin;
                vol_sum[w] += sku.vol;
                count[w] += 1.0;
            }
        }
    }
    let mut prices = Prices {
        u: vec![0.0; warehouse_count],
        v: vec![0.0; warehouse_count],
    };
    let step_from = |start: f64, scale: f64| {
        if start > 0.0 {
            STEP0 * 0.25 * start
        } else {
            STEP0 * scale.max(1e-6)
        }
    };
    let mut cons: Vec<Constraint> = Vec::new();
    for w in 0..warehouse_count {
        let wh = &model.whs[w];
        let avg_margin = if count[w] > 0.0 {
            margin_sum[w] / count[w]
        } else {
            1.0
        };
        if wh.cap_u.is_finite() && max_u[w] > wh.cap_u {
            let start = warm.map_or(0.0, |p| p.u[w]);
            prices.u[w] = start;
            cons.push(Constraint {
                w,
                kind: Kind::Units,
                cap: wh.cap_u,
                step: step_from(start, avg_margin),
                last_dir: 0,
            });
        }
        if wh.cap_v.is_finite() && max_v[w] > vol_limit(wh.cap_v) {
            let per_m3 = if vol_sum[w] > 0.0 {
                margin_sum[w] / vol_sum[w]
            } else {
                1.0
            };
            let start = warm.map_or(0.0, |p| p.v[w]);
            prices.v[w] = start;
            cons.push(Constraint {
                w,
                kind: Kind::Volume,
                cap: wh.cap_v,
                step: step_from(start, per_m3),
                last_dir: 0,
            });
        }
    }
    (prices, cons)
}

/// The Lagrangian bound of an allocation's value at these prices.
fn lagrangian(model: &Model, prices: &Prices, usage_u: &[i64], usage_v: &[f64], value: f64) -> f64 {
    let mut l = value;
    for w in 0..model.whs.len() {
        if prices.u[w] > 0.0 {
            l -= prices.u[w] * (usage_u[w] as f64 - model.whs[w].cap_u);
        }
        if prices.v[w] > 0.0 {
            l -= prices.v[w] * (usage_v[w] - model.whs[w].cap_v);
        }
    }
    l
}

/// A primal estimate: this allocation's value with each unit over capacity removed at its
/// price, and whether a constraint without a price is violated (no estimate holds then).
fn primal_estimate(
    cons: &[Constraint],
    prices: &Prices,
    usage_u: &[i64],
    usage_v: &[f64],
    value: f64,
) -> (f64, bool) {
    let mut estimate = value;
    let mut violated = false;
    for c in cons {
        let (lam, used) = match c.kind {
            Kind::Units => (prices.u[c.w], usage_u[c.w] as f64),
            Kind::Volume => (prices.v[c.w], usage_v[c.w]),
        };
        let over = used
            - if c.kind == Kind::Volume {
                vol_limit(c.cap)
            } else {
                c.cap
            };
        if over > 0.0 {
            if lam > 0.0 {
                estimate -= lam * over;
            } else {
                violated = true;
            }
        }
    }
    (estimate, violated)
}

/// One subgradient step: each price rises while its capacity is exceeded and falls (not
/// below 0) while slack, its step growing while the direction holds and shrinking when it
/// turns.
fn step_prices(cons: &mut [Constraint], prices: &mut Prices, usage_u: &[i64], usage_v: &[f64]) {
    for c in cons {
        let (lam, used) = match c.kind {
            Kind::Units => (&mut prices.u[c.w], usage_u[c.w] as f64),
            Kind::Volume => (&mut prices.v[c.w], usage_v[c.w]),
        };
        let excess = used - c.cap;
        let dir: i8 = if excess > 0.0 {
            1
        } else if excess < 0.0 && *lam > 0.0 {
            -1
        } else {
            0
        };
        if dir != 0 {
            if dir == c.last_dir {
                c.step *= GROW;
            } else if c.last_dir != 0 {
                c.step *= SHRINK;
            }
            *lam = (*lam + dir as f64 * c.step).max(0.0);
        }
        c.last_dir = dir;
    }
}

fn dual(
    model: &Model,
    ranges: &[Range<usize>],
    opts: &SolveOptions,
    warm: Option<&Prices>,
) -> Dual {
    let warehouse_count = model.whs.len();
    let (mut state, mut usage_u, mut usage_v, mut value) = init_state(model);
    let (mut prices, mut cons) = binding_constraints(model, warm);
    let mut best = (f64::INFINITY, prices.u.clone(), prices.v.clone());
    let mut iterations = 0;
    loop {
        let d = if iterations == 0 {
            init_round(model, ranges, &mut state, &prices)
        } else {
            round::<true>(model, ranges, &mut state, &prices)
        };
        for w in 0..warehouse_count {
            usage_u[w] += d.units[w];
            usage_v[w] += d.vol[w];
        }
        value += d.value;
        iterations += 1;
        let l = lagrangian(model, &prices, &usage_u, &usage_v, value);
        if l < best.0 {
            best = (l, prices.u.clone(), prices.v.clone());
        }
        if cons.is_empty() || iterations >= opts.max_iterations {
            break;
        }
        // Stop when the primal estimate is within a quarter of the target gap of the best
        // bound, and no constraint without a price is violated.
        let (estimate, violated) = primal_estimate(&cons, &prices, &usage_u, &usage_v, value);
        if !violated && best.0 - estimate <= 0.25 * opts.target_gap * best.0.abs().max(1e-9) {
            break;
        }
        step_prices(&mut cons, &mut prices, &usage_u, &usage_v);
    }
    if prices.u != best.1 || prices.v != best.2 {
        prices.u = best.1;
        prices.v = best.2;
        round::<true>(model, ranges, &mut state, &prices);
    }
    Dual {
        prices,
        state,
        iterations,
        priced: cons.len(),
    }
}

/// On large instances, prices from the same iterations on an evenly spaced sample of SKUs
/// with proportionally scaled capacities: a warm start that saves most full rounds.
fn warm_start(model: &Model, opts: &SolveOptions) -> Option<Prices> {
    let ns = model.skus.len();
    if ns < 8_000 {
        return None;
    }
    let sub = model.sample(ns / 4_000);
    let ranges = split(&sub, opts.threads);
    let sub_opts = SolveOptions {
        target_gap: opts.target_gap * 0.5,
        ..opts.clone()
    };
    Some(dual(&sub, &ranges, &sub_opts, None).prices)
}

pub(crate) fn run(model: &Model, opts: &SolveOptions) -> SolverOutput {
    let warehouse_count = model.whs.len();
    let ranges = split(model, opts.threads);
    let warm = warm_start(model, opts);
    let Dual {
        prices,
        mut state,
        iterations,
        priced,
    } = dual(model, &ranges, opts, warm.as_ref());
    let mut stats = SolveStats {
        dual_iterations: iterations,
        priced_constraints: priced,
        ..SolveStats::default()
    };

    // The bound: the best prices' Lagrangian, valued exactly.
    let priced_caps: f64 = (0..warehouse_count)
        .map(|w| {
            let mut t = 0.0;
            if prices.u[w] > 0.0 {
                t += prices.u[w] * model.whs[w].cap_u;
            }
            if prices.v[w] > 0.0 {
                t += prices.v[w] * model.whs[w].cap_v;
            }
            t
        })
        .sum();
    let (val, priced_x) = exact_value::<true>(model, &ranges, &state.x, &prices);
    let bound = val - priced_x + priced_caps;
    let mut x = state.x.clone();
    let mut placed = state.placed.clone();

    // The same prices with case packs relaxed too: a bound on the unit-segment LP.
    if opts.unit_bound {
        to_unit_relaxation(model, &ranges, &mut state);
        round::<false>(model, &ranges, &mut state, &prices);
        let (val, priced_x) = exact_value::<false>(model, &ranges, &state.x, &prices);
        stats.bound_without_case_packs = val - priced_x + priced_caps;
    }
    drop(state);

    // Primal: case packs per SKU, then repair, fill and (small instances) polishing.
    round_case_packs(model, &ranges, &mut x, &mut placed, &prices);
    stats.repaired_units = repair(model, &mut x, &mut placed, opts.threads);
    stats.filled_units = fill(model, &mut x, &mut placed, opts.threads);
    stats.polish_cycles = polish::local_search(model, &mut x, &mut placed, opts.polish_max_cells);
    stats.polish_cycles += polish::polish(model, &mut x, &mut placed, opts.polish_max_cells);

    SolverOutput { x, bound, stats }
}

/// Per SKU: round targets beyond current stock down to whole case packs, lift them to the
/// placed minimums, then trade case packs by priced gain per unit while stock allows.
fn round_case_packs(
    model: &Model,
    ranges: &[Range<usize>],
    x: &mut [u32],
    placed: &mut [u32],
    prices: &Prices,
) {
    // Split x and placed by ranges.
    let mut xs: Vec<&mut [u32]> = Vec::new();
    let mut ts: Vec<&mut [u32]> = Vec::new();
    let (mut xr, mut tr) = (x, placed);
    let mut cell0 = 0;
    for r in ranges {
        let cell1 = if r.end > r.start {
            model.skus[r.end - 1].end
        } else {
            cell0
        };
        let (a, b) = std::mem::take(&mut xr).split_at_mut(cell1 - cell0);
        xr = b;
        xs.push(a);
        let (c, d) = std::mem::take(&mut tr).split_at_mut(r.len());
        tr = d;
        ts.push(c);
        cell0 = cell1;
    }
    let work = |r: Range<usize>, x: &mut [u32], placed: &mut [u32]| {
        let cell0 = if r.end > r.start {
            model.skus[r.start].start
        } else {
            0
        };
        for (k, s) in r.clone().enumerate() {
            let sku = &model.skus[s];
            let cells = &model.cells[sku.start..sku.end];
            let xs = &mut x[sku.start - cell0..sku.end - cell0];
            if sku.cp == 1 {
                continue;
            }
            let cp = sku.cp;
            let mut t = 0u32;
            for (c, xi) in cells.iter().zip(xs.iter_mut()) {
                *xi = floor_lattice(c.cur, cp, *xi).max(c.lo);
                t += *xi;
            }
            // Too much after lifting to minimums: drop the least valuable steps.
            while t > sku.avail {
                let mut best: Option<(f64, usize)> = None;
                for (i, c) in cells.iter().enumerate() {
                    if xs[i] > c.lo {
                        let size = step_down(c.cur, cp, xs[i]);
                        let dens = model.value_between(sku, c, xs[i] - size, xs[i]) / size as f64
                            - prices.of(sku, c);
                        if best.is_none_or(|b| dens < b.0) {
                            best = Some((dens, i));
                        }
                    }
                }
                let Some((_, i)) = best else { break };
                let size = step_down(cells[i].cur, cp, xs[i]);
                xs[i] -= size;
                t -= size;
            }
            // Add steps by priced gain per unit.
            loop {
                let mut best: Option<(f64, u32, usize)> = None;
                for (i, c) in cells.iter().enumerate() {
                    let size = step_up(c.cur, cp, xs[i]);
                    if xs[i] as u64 + size as u64 > c.hi as u64
                        || t as u64 + size as u64 > sku.avail as u64
                    {
                        continue;
                    }
                    let dens = model.value_between(sku, c, xs[i], xs[i] + size) / size as f64
                        - prices.of(sku, c);
                    let rank = model.whs[c.w as usize].rank;
                    if dens > 0.0 && best.is_none_or(|b| dens > b.0 || (dens == b.0 && rank < b.1))
                    {
                        best = Some((dens, rank, i));
                    }
                }
                let Some((_, _, i)) = best else { break };
                let size = step_up(cells[i].cur, cp, xs[i]);
                xs[i] += size;
                t += size;
            }
            // Complete a case pack by giving up lower-value steps elsewhere, while it pays.
            for _ in 0..cells.len() {
                if !complete_pack(model, sku, cells, xs, &mut t, prices) {
                    break;
                }
            }
            placed[k] = t;
        }
    };
    if ranges.len() == 1 {
        work(
            ranges[0].clone(),
            xs.pop().unwrap_or_default(),
            ts.pop().unwrap_or_default(),
        );
    } else {
        ranges
            .par_iter()
            .cloned()
            .zip(xs)
            .zip(ts)
            .for_each(|((r, xp), tp)| work(r, xp, tp));
    }
}

/// One exchange for a SKU whose stock binds: add the step (a unit up to current stock, a case
/// pack beyond) with the best priced gain that does not fit, freeing the units it needs by
/// removing the steps that lose least per unit elsewhere; applied only if it gains. Returns
/// whether it applied one.
fn complete_pack(
    model: &Model,
    sku: &SkuModel,
    cells: &[CellModel],
    xs: &mut [u32],
    t: &mut u32,
    prices: &Prices,
) -> bool {
    let cp = sku.cp;
    let slack = sku.avail - *t;
    let mut best: Option<(f64, usize)> = None;
    for (i, c) in cells.iter().enumerate() {
        let size = step_up(c.cur, cp, xs[i]);
        if size <= slack || xs[i] as u64 + size as u64 > c.hi as u64 {
            continue;
        }
        let g = model.value_between(sku, c, xs[i], xs[i] + size) - size as f64 * prices.of(sku, c);
        if g > 0.0 && best.is_none_or(|b| g > b.0) {
            best = Some((g, i));
        }
    }
    let Some((gain, i)) = best else { return false };
    let need = step_up(cells[i].cur, cp, xs[i]) - slack;
    // Cheapest removals elsewhere (on a scratch copy of the targets).
    let mut trial: Vec<u32> = xs.to_vec();
    let (mut freed, mut loss) = (0u32, 0.0);
    while freed < need {
        let mut pick: Option<(f64, usize)> = None;
        for (j, c) in cells.iter().enumerate() {
            if j == i || trial[j] <= c.lo {
                continue;
            }
            let size = step_down(c.cur, cp, trial[j]);
            let l = (model.value_between(sku, c, trial[j] - size, trial[j])
                - size as f64 * prices.of(sku, c))
                / size as f64;
            if pick.is_none_or(|p| l < p.0) {
                pick = Some((l, j));
            }
        }
        let Some((_, j)) = pick else { return false };
        let c = &cells[j];
        let size = step_down(c.cur, cp, trial[j]);
        loss += model.value_between(sku, c, trial[j] - size, trial[j])
            - size as f64 * prices.of(sku, c);
        trial[j] -= size;
        freed += size;
        if loss >= gain {
            return false;
        }
    }
    let size = step_up(cells[i].cur, cp, xs[i]);
    trial[i] += size;
    xs.copy_from_slice(&trial);
    *t = *t + size - freed;
    true
}

/// Maps `f` over `items` split into `threads` contiguous chunks, in parallel (rayon); the
/// results are in chunk order.
fn map_chunks<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&[T]) -> R + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    let size = items.len().div_ceil(threads).max(1);
    if threads == 1 {
        return vec![f(items)];
    }
    items.par_chunks(size).map(&f).collect()
}

/// Units and m³ used per warehouse.
pub(crate) fn usage(model: &Model, x: &[u32]) -> (Vec<f64>, Vec<f64>) {
    let warehouse_count = model.whs.len();
    let (mut u, mut v) = (vec![0.0; warehouse_count], vec![0.0; warehouse_count]);
    for sku in &model.skus {
        for ci in sku.start..sku.end {
            let w = model.cells[ci].w as usize;
            u[w] += x[ci] as f64;
            v[w] += sku.vol * x[ci] as f64;
        }
    }
    (u, v)
}

#[derive(Clone, Copy)]
struct Keyed {
    key: f64,
    ci: u32,
}
impl PartialEq for Keyed {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Keyed {}
impl PartialOrd for Keyed {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Keyed {
    fn cmp(&self, o: &Self) -> Ordering {
        self.key.total_cmp(&o.key).then(o.ci.cmp(&self.ci))
    }
}

/// Removes, at each over-full warehouse, the steps losing least value per unit of the violated
/// capacity until it fits. Returns the units removed.
fn repair(model: &Model, x: &mut [u32], placed: &mut [u32], threads: usize) -> u64 {
    let (mut use_u, mut use_v) = usage(model, x);
    let sku_of = model.sku_of_cells();
    let over_u = |w: usize, u: f64| u > model.whs[w].cap_u;
    let over_v = |w: usize, v: f64| v > vol_limit(model.whs[w].cap_v);
    // Weights of the violated capacities per warehouse.
    let weights: Vec<(f64, f64)> = (0..model.whs.len())
        .map(|w| {
            let wh = &model.whs[w];
            (
                if over_u(w, use_u[w]) {
                    1.0 / wh.cap_u.max(1.0)
                } else {
                    0.0
                },
                if over_v(w, use_v[w]) {
                    1.0 / wh.cap_v.max(1e-9)
                } else {
                    0.0
                },
            )
        })
        .collect();
    let key = |ci: usize, x: &[u32]| -> Option<f64> {
        let c = &model.cells[ci];
        let sku = &model.skus[sku_of[ci] as usize];
        if x[ci] <= c.lo {
            return None;
        }
        let (a_u, a_v) = weights[c.w as usize];
        let size = step_down(c.cur, sku.cp, x[ci]);
        let cons = size as f64 * (a_u + sku.vol * a_v);
        if cons <= 0.0 {
            return None;
        }
        // Min-heap through negation: smallest loss per capacity first.
        Some(-model.value_between(sku, c, x[ci] - size, x[ci]) / cons)
    };
    let violated: Vec<usize> = (0..model.whs.len())
        .filter(|&w| weights[w].0 > 0.0 || weights[w].1 > 0.0)
        .collect();
    let mut slot = vec![usize::MAX; model.whs.len()];
    for (k, &w) in violated.iter().enumerate() {
        slot[w] = k;
    }
    // Keys of every removable step at the violated warehouses, in one pass over the cells.
    let xr: &[u32] = x;
    let sku_ids: Vec<usize> = (0..model.skus.len()).collect();
    let threads = if model.cells.len() < 20_000 || violated.is_empty() {
        1
    } else {
        threads
    };
    let mut keyed: Vec<Vec<Keyed>> = vec![Vec::new(); violated.len()];
    for part in map_chunks(&sku_ids, threads, |ss| {
        let mut v: Vec<Vec<Keyed>> = vec![Vec::new(); violated.len()];
        for &s in ss {
            let sku = &model.skus[s];
            for ci in sku.start..sku.end {
                let k = slot[model.cells[ci].w as usize];
                if k != usize::MAX {
                    if let Some(key) = key(ci, xr) {
                        v[k].push(Keyed { key, ci: ci as u32 });
                    }
                }
            }
        }
        v
    }) {
        for (k, list) in part.into_iter().enumerate() {
            keyed[k].extend(list);
        }
    }
    let mut removed = 0u64;
    for (&w, keys) in violated.iter().zip(keyed) {
        let mut heap = BinaryHeap::from(keys);
        while over_u(w, use_u[w]) || over_v(w, use_v[w]) {
            let Some(e) = heap.pop() else { break };
            let ci = e.ci as usize;
            let sku_i = sku_of[ci] as usize;
            let sku = &model.skus[sku_i];
            let c = &model.cells[ci];
            // Skip steps that no longer help the constraint still violated.
            if !over_u(w, use_u[w]) && sku.vol <= 0.0 {
                continue;
            }
            let size = step_down(c.cur, sku.cp, x[ci]);
            x[ci] -= size;
            placed[sku_i] -= size;
            use_u[w] -= size as f64;
            use_v[w] -= sku.vol * size as f64;
            removed += size as u64;
            if let Some(k) = key(ci, x) {
                heap.push(Keyed { key: k, ci: e.ci });
            }
        }
        debug_assert!(
            !over_u(w, use_u[w]) && !over_v(w, use_v[w]),
            "repair left warehouse {w} over capacity"
        );
    }
    removed
}

/// Adds the steps with the most value per unit of capacity while SKU stock and warehouse
/// capacity allow. Returns the units added.
fn fill(model: &Model, x: &mut [u32], placed: &mut [u32], threads: usize) -> u64 {
    let (use_u, use_v) = usage(model, x);
    let warehouse_count = model.whs.len();
    let mut room_u: Vec<f64> = (0..warehouse_count)
        .map(|w| model.whs[w].cap_u - use_u[w])
        .collect();
    let mut room_v: Vec<f64> = (0..warehouse_count)
        .map(|w| vol_limit(model.whs[w].cap_v) - use_v[w])
        .collect();
    let weight_u: Vec<f64> = model
        .whs
        .iter()
        .map(|wh| {
            if wh.cap_u.is_finite() {
                1.0 / wh.cap_u.max(1.0)
            } else {
                0.0
            }
        })
        .collect();
    let weight_v: Vec<f64> = model
        .whs
        .iter()
        .map(|wh| {
            if wh.cap_v.is_finite() {
                1.0 / wh.cap_v.max(1e-9)
            } else {
                0.0
            }
        })
        .collect();
    let sku_of = model.sku_of_cells();
    let candidate =
        |ci: usize, x: &[u32], placed: &[u32], room_u: &[f64], room_v: &[f64]| -> Option<f64> {
            let c = &model.cells[ci];
            let s = sku_of[ci] as usize;
            let sku = &model.skus[s];
            let w = c.w as usize;
            let size = step_up(c.cur, sku.cp, x[ci]);
            if x[ci] as u64 + size as u64 > c.hi as u64
                || placed[s] as u64 + size as u64 > sku.avail as u64
                || size as f64 > room_u[w]
                || sku.vol * size as f64 > room_v[w]
            {
                return None;
            }
            let gain = model.value_between(sku, c, x[ci], x[ci] + size);
            if gain <= 0.0 {
                return None;
            }
            Some(gain / (size as f64 * (weight_u[w] + sku.vol * weight_v[w]) + 1e-12))
        };
    let open: Vec<usize> = (0..model.skus.len())
        .filter(|&s| placed[s] < model.skus[s].avail)
        .collect();
    let (xr, tr): (&[u32], &[u32]) = (x, placed);
    let threads = if model.cells.len() < 20_000 {
        1
    } else {
        threads
    };
    let mut by_wh: Vec<Vec<Keyed>> = vec![Vec::new(); warehouse_count];
    for part in map_chunks(&open, threads, |ss| {
        let mut v = Vec::new();
        for &s in ss {
            let sku = &model.skus[s];
            for ci in sku.start..sku.end {
                if let Some(k) = candidate(ci, xr, tr, &room_u, &room_v) {
                    v.push(Keyed {
                        key: k,
                        ci: ci as u32,
                    });
                }
            }
        }
        v
    }) {
        for k in part {
            by_wh[model.cells[k.ci as usize].w as usize].push(k);
        }
    }
    // A warehouse takes at most as many steps as fit its room: keep its best few candidates
    // (a cell's next step is pushed again when it is taken).
    let mut keys: Vec<Keyed> = Vec::new();
    for (w, mut list) in by_wh.into_iter().enumerate() {
        let min_vol = list
            .iter()
            .map(|k| model.skus[sku_of[k.ci as usize] as usize].vol)
            .fold(f64::INFINITY, f64::min);
        let fit_v = if min_vol > 0.0 {
            room_v[w] / min_vol
        } else {
            f64::INFINITY
        };
        let fit = room_u[w].min(fit_v);
        let keep = if fit.is_finite() {
            2 * fit as usize + 32
        } else {
            usize::MAX
        };
        if list.len() > keep {
            list.select_nth_unstable_by(keep, |a, b| b.cmp(a));
            list.truncate(keep);
        }
        keys.extend(list);
    }
    let mut heap = BinaryHeap::from(keys);
    let mut added = 0u64;
    while let Some(e) = heap.pop() {
        let ci = e.ci as usize;
        if candidate(ci, x, placed, &room_u, &room_v).is_none() {
            continue;
        }
        let c = &model.cells[ci];
        let s = sku_of[ci] as usize;
        let sku = &model.skus[s];
        let size = step_up(c.cur, sku.cp, x[ci]);
        x[ci] += size;
        placed[s] += size;
        room_u[c.w as usize] -= size as f64;
        room_v[c.w as usize] -= sku.vol * size as f64;
        added += size as u64;
        if let Some(k) = candidate(ci, x, placed, &room_u, &room_v) {
            heap.push(Keyed { key: k, ci: e.ci });
        }
    }
    added
}
