//! Exact polishing of small instances whose capacities are in units only.
//!
//! With unit capacities only (no m³), the allocation is a min-cost flow: origin → SKU (up to its
//! available stock) → warehouse (one arc per unit, cost −gain, convex because gains are
//! non-increasing) → terminal (up to the unit capacity) → origin. A flow is optimal exactly when
//! its residual graph has no negative cycle, so cancelling negative cycles (Bellman–Ford) turns
//! the heuristic primal into an exact optimum. Steps beyond current stock of case-packed SKUs
//! move a whole case, which is not a unit arc, so for those SKUs only single units at or below
//! current stock take part; the result is then exact among allocations that keep their case packs.
//! Larger instances and instances with m³ capacities skip this step (see `SolveOptions`).
//!
//! Before that, small instances of any kind get a best-improvement local search over steps (a
//! unit up to current stock, a case pack beyond): one or two steps up or down at one cell, at two
//! cells (on larger instances only one step down at one and one up at the other), and on tiny
//! instances at three cells. This is what helps with m³ capacities, where
//! allocation is a knapsack and no exactness is claimed.

use super::model::{step_down, step_up, vol_limit, Model};

#[derive(Clone, Copy)]
enum Arc {
    /// SKU → warehouse through a cell: one more unit there.
    Add(usize),
    /// Warehouse → SKU through a cell: one unit fewer there.
    Remove(usize),
    /// Origin ⇄ SKU (stock used), warehouse ⇄ terminal (capacity used), terminal ⇄ origin.
    Other,
}

/// Cancels negative cycles; returns how many were applied.
pub(crate) fn polish(m: &Model, x: &mut [u32], tot: &mut [u32], max_cells: usize) -> usize {
    if m.cells.is_empty() || m.cells.len() > max_cells || m.whs.iter().any(|w| w.cap_v.is_finite())
    {
        return 0;
    }
    let ns = m.skus.len();
    let nw = m.whs.len();
    let (origin, terminal) = (0usize, ns + nw + 1);
    let nn = ns + nw + 2;
    let sku_node = |s: usize| 1 + s;
    let wh_node = |w: usize| 1 + ns + w;
    let sku_of = m.sku_of_cells();
    let mut arcs: Vec<(usize, usize, f64, Arc)> = Vec::new();
    let mut cycles = 0;
    for _ in 0..10_000 {
        let mut use_u = vec![0u64; nw];
        let mut total = 0u64;
        for (ci, c) in m.cells.iter().enumerate() {
            use_u[c.w as usize] += x[ci] as u64;
            total += x[ci] as u64;
        }
        arcs.clear();
        for (s, sku) in m.skus.iter().enumerate() {
            if tot[s] < sku.avail {
                arcs.push((origin, sku_node(s), 0.0, Arc::Other));
            }
            if tot[s] > 0 {
                arcs.push((sku_node(s), origin, 0.0, Arc::Other));
            }
            for ci in sku.start..sku.end {
                let c = &m.cells[ci];
                let w = c.w as usize;
                let unit_ok_up = sku.cp == 1 || x[ci] < c.cur;
                let unit_ok_down = sku.cp == 1 || x[ci] <= c.cur;
                if x[ci] < c.hi && unit_ok_up {
                    arcs.push((
                        sku_node(s),
                        wh_node(w),
                        -m.gain(sku, c, x[ci]),
                        Arc::Add(ci),
                    ));
                }
                if x[ci] > c.lo && unit_ok_down {
                    arcs.push((
                        wh_node(w),
                        sku_node(s),
                        m.gain(sku, c, x[ci] - 1),
                        Arc::Remove(ci),
                    ));
                }
            }
        }
        for w in 0..nw {
            if (use_u[w] as f64) < m.whs[w].cap_u {
                arcs.push((wh_node(w), terminal, 0.0, Arc::Other));
            }
            if use_u[w] > 0 {
                arcs.push((terminal, wh_node(w), 0.0, Arc::Other));
            }
        }
        arcs.push((terminal, origin, 0.0, Arc::Other));
        if total > 0 {
            arcs.push((origin, terminal, 0.0, Arc::Other));
        }

        // Bellman–Ford from a virtual source joined to every node.
        let mut dist = vec![0.0f64; nn];
        let mut pred: Vec<Option<usize>> = vec![None; nn];
        let mut last_relaxed = None;
        for _ in 0..nn {
            last_relaxed = None;
            for (k, &(a, b, cost, _)) in arcs.iter().enumerate() {
                if dist[a] + cost < dist[b] - 1e-12 {
                    dist[b] = dist[a] + cost;
                    pred[b] = Some(k);
                    last_relaxed = Some(b);
                }
            }
            if last_relaxed.is_none() {
                break;
            }
        }
        let Some(mut v) = last_relaxed else { break };
        for _ in 0..nn {
            v = arcs[pred[v].expect("relaxed node has a predecessor")].0;
        }
        // Collect the cycle through v.
        let mut cycle = Vec::new();
        let start = v;
        loop {
            let k = pred[v].expect("cycle node has a predecessor");
            cycle.push(k);
            v = arcs[k].0;
            if v == start {
                break;
            }
            if cycle.len() > nn {
                return cycles;
            }
        }
        let cost: f64 = cycle.iter().map(|&k| arcs[k].2).sum();
        if cost >= -1e-9 {
            break;
        }
        for &k in &cycle {
            match arcs[k].3 {
                Arc::Add(ci) => {
                    x[ci] += 1;
                    tot[sku_of[ci] as usize] += 1;
                }
                Arc::Remove(ci) => {
                    x[ci] -= 1;
                    tot[sku_of[ci] as usize] -= 1;
                }
                _ => {}
            }
        }
        cycles += 1;
    }
    cycles
}

/// A change: (cell, signed units).
type Change = (usize, i64);

/// The state a local search keeps beside the targets: each warehouse's units and volume in
/// use, so a candidate change is checked against capacities without a rescan.
struct Search<'a> {
    model: &'a Model<'a>,
    sku_of: Vec<u32>,
    units_used: Vec<f64>,
    volume_used_m3: Vec<f64>,
}

impl<'a> Search<'a> {
    fn new(model: &'a Model<'a>, targets: &[u32]) -> Search<'a> {
        let warehouses = model.whs.len();
        let sku_of = model.sku_of_cells();
        let mut units_used = vec![0f64; warehouses];
        let mut volume_used_m3 = vec![0f64; warehouses];
        for (ci, c) in model.cells.iter().enumerate() {
            units_used[c.w as usize] += targets[ci] as f64;
            volume_used_m3[c.w as usize] +=
                model.skus[sku_of[ci] as usize].vol * targets[ci] as f64;
        }
        Search {
            model,
            sku_of,
            units_used,
            volume_used_m3,
        }
    }

    /// Whether the changes together keep every touched cell within its bounds, its SKU
    /// within stock, and its warehouse within capacity.
    fn fits(&self, changes: &[Change], targets: &[u32], placed: &[u32]) -> bool {
        let m = self.model;
        changes.iter().all(|&(ci, _)| {
            let c = &m.cells[ci];
            let s = self.sku_of[ci] as usize;
            let w = c.w as usize;
            let (mut sku_delta, mut units_delta, mut volume_delta, mut cell_delta) =
                (0i64, 0i64, 0f64, 0i64);
            for &(cj, d) in changes {
                if self.sku_of[cj] as usize == s {
                    sku_delta += d;
                }
                if m.cells[cj].w as usize == w {
                    units_delta += d;
                    volume_delta += m.skus[self.sku_of[cj] as usize].vol * d as f64;
                }
                if cj == ci {
                    cell_delta += d;
                }
            }
            let target = targets[ci] as i64 + cell_delta;
            let within_bounds = target >= c.lo as i64 && target <= c.hi as i64;
            let within_stock = placed[s] as i64 + sku_delta <= m.skus[s].avail as i64;
            let within_units =
                units_delta <= 0 || self.units_used[w] + units_delta as f64 <= m.whs[w].cap_u;
            let within_volume = volume_delta <= 0.0
                || self.volume_used_m3[w] + volume_delta <= vol_limit(m.whs[w].cap_v);
            within_bounds && within_stock && within_units && within_volume
        })
    }

    /// Per cell: up to two steps down and two up (signed units, gain), within its bounds.
    fn step_options(&self, targets: &[u32]) -> Vec<Vec<(i64, f64)>> {
        let m = self.model;
        (0..m.cells.len())
            .map(|ci| {
                let c = &m.cells[ci];
                let sku = &m.skus[self.sku_of[ci] as usize];
                let mut options = Vec::with_capacity(4);
                let (mut at, mut gain) = (targets[ci], 0.0);
                for _ in 0..2 {
                    if at <= c.lo {
                        break;
                    }
                    let size = step_down(c.cur, sku.cp, at);
                    gain -= m.value_between(sku, c, at - size, at);
                    at -= size;
                    options.push((at as i64 - targets[ci] as i64, gain));
                }
                let (mut at, mut gain) = (targets[ci], 0.0);
                for _ in 0..2 {
                    let size = step_up(c.cur, sku.cp, at);
                    if at as u64 + size as u64 > c.hi as u64 {
                        break;
                    }
                    gain += m.value_between(sku, c, at, at + size);
                    at += size;
                    options.push((at as i64 - targets[ci] as i64, gain));
                }
                options
            })
            .collect()
    }

    /// The feasible change of one, two or (on small instances) three cells with the largest
    /// gain, if any gains at all. Past 40 cells, pairs use single steps in opposite directions.
    fn best_change(&self, targets: &[u32], placed: &[u32]) -> Vec<Change> {
        let n = self.model.cells.len();
        let options = self.step_options(targets);
        let mut best: (f64, Vec<Change>) = (1e-9, Vec::new());
        let mut consider = |gain: f64, changes: Vec<Change>| {
            if gain > best.0 && self.fits(&changes, targets, placed) {
                best = (gain, changes);
            }
        };
        for (i, cell_options) in options.iter().enumerate() {
            for &(d, g) in cell_options {
                consider(g, vec![(i, d)]);
            }
        }
        let pair_options = |ci: usize| -> Vec<(i64, f64)> {
            if n <= 40 {
                options[ci].clone()
            } else {
                first_steps(&options[ci])
            }
        };
        for i in 0..n {
            let first = pair_options(i);
            for j in i + 1..n {
                let second = pair_options(j);
                for &(di, gi) in &first {
                    for &(dj, gj) in &second {
                        if n > 40 && (di > 0) == (dj > 0) {
                            continue;
                        }
                        consider(gi + gj, vec![(i, di), (j, dj)]);
                    }
                }
            }
        }
        if n <= 12 {
            for i in 0..n {
                for j in i + 1..n {
                    for k in j + 1..n {
                        for &(di, gi) in &options[i] {
                            for &(dj, gj) in &options[j] {
                                for &(dk, gk) in &options[k] {
                                    consider(gi + gj + gk, vec![(i, di), (j, dj), (k, dk)]);
                                }
                            }
                        }
                    }
                }
            }
        }
        best.1
    }

    fn apply(&mut self, changes: &[Change], targets: &mut [u32], placed: &mut [u32]) {
        for &(ci, d) in changes {
            let s = self.sku_of[ci] as usize;
            let w = self.model.cells[ci].w as usize;
            targets[ci] = (targets[ci] as i64 + d) as u32;
            placed[s] = (placed[s] as i64 + d) as u32;
            self.units_used[w] += d as f64;
            self.volume_used_m3[w] += self.model.skus[s].vol * d as f64;
        }
    }
}

/// The first step down and the first step up of a cell's options.
fn first_steps(options: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut steps = Vec::new();
    if let Some(&down) = options.iter().find(|d| d.0 < 0) {
        steps.push(down);
    }
    if let Some(&up) = options.iter().find(|u| u.0 > 0) {
        steps.push(up);
    }
    steps
}

/// Best-improvement local search over steps; returns the number of moves applied.
pub(crate) fn local_search(
    model: &Model,
    targets: &mut [u32],
    placed: &mut [u32],
    max_cells: usize,
) -> usize {
    let n = model.cells.len();
    if n == 0 || n > max_cells {
        return 0;
    }
    let mut search = Search::new(model, targets);
    let mut moves = 0;
    for _ in 0..(10 * n + 100) {
        let change = search.best_change(targets, placed);
        if change.is_empty() {
            break;
        }
        search.apply(&change, targets, placed);
        moves += 1;
    }
    moves
}
