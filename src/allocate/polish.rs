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

/// Best-improvement local search over steps; returns the number of moves applied.
pub(crate) fn local_search(m: &Model, x: &mut [u32], tot: &mut [u32], max_cells: usize) -> usize {
    let n = m.cells.len();
    if n == 0 || n > max_cells {
        return 0;
    }
    let nw = m.whs.len();
    let sku_of = m.sku_of_cells();
    let mut use_u = vec![0f64; nw];
    let mut use_v = vec![0f64; nw];
    for (ci, c) in m.cells.iter().enumerate() {
        use_u[c.w as usize] += x[ci] as f64;
        use_v[c.w as usize] += m.skus[sku_of[ci] as usize].vol * x[ci] as f64;
    }
    // A change: (cell, signed units).
    let fits =
        |changes: &[(usize, i64)], x: &[u32], tot: &[u32], use_u: &[f64], use_v: &[f64]| -> bool {
            for (k, &(ci, _)) in changes.iter().enumerate() {
                let c = &m.cells[ci];
                let s = sku_of[ci] as usize;
                let w = c.w as usize;
                let (mut dx_s, mut du, mut dv, mut dx_c) = (0i64, 0i64, 0f64, 0i64);
                for &(cj, d) in changes {
                    if sku_of[cj] as usize == s {
                        dx_s += d;
                    }
                    if m.cells[cj].w as usize == w {
                        du += d;
                        dv += m.skus[sku_of[cj] as usize].vol * d as f64;
                    }
                    if cj == ci {
                        dx_c += d;
                    }
                }
                let nx = x[ci] as i64 + dx_c;
                if nx < c.lo as i64
                    || nx > c.hi as i64
                    || tot[s] as i64 + dx_s > m.skus[s].avail as i64
                {
                    return false;
                }
                if du > 0 && use_u[w] + du as f64 > m.whs[w].cap_u {
                    return false;
                }
                if dv > 0.0 && use_v[w] + dv > vol_limit(m.whs[w].cap_v) {
                    return false;
                }
                let _ = k;
            }
            true
        };
    let mut moves = 0;
    for _ in 0..(10 * n + 100) {
        // Per cell: up to two steps down or up (units, gain), when allowed by its bounds.
        let options: Vec<Vec<(i64, f64)>> = (0..n)
            .map(|ci| {
                let c = &m.cells[ci];
                let sku = &m.skus[sku_of[ci] as usize];
                let mut o = Vec::with_capacity(4);
                let (mut at, mut gain) = (x[ci], 0.0);
                for _ in 0..2 {
                    if at <= c.lo {
                        break;
                    }
                    let size = step_down(c.cur, sku.cp, at);
                    gain -= m.value_between(sku, c, at - size, at);
                    at -= size;
                    o.push((at as i64 - x[ci] as i64, gain));
                }
                let (mut at, mut gain) = (x[ci], 0.0);
                for _ in 0..2 {
                    let size = step_up(c.cur, sku.cp, at);
                    if at as u64 + size as u64 > c.hi as u64 {
                        break;
                    }
                    gain += m.value_between(sku, c, at, at + size);
                    at += size;
                    o.push((at as i64 - x[ci] as i64, gain));
                }
                o
            })
            .collect();
        let single_steps = |o: &[(i64, f64)]| -> Vec<(i64, f64)> {
            // The first step down and the first step up only.
            let mut v = Vec::new();
            if let Some(&d) = o.iter().find(|d| d.0 < 0) {
                v.push(d);
            }
            if let Some(&u) = o.iter().find(|u| u.0 > 0) {
                v.push(u);
            }
            v
        };
        let mut best: (f64, Vec<(usize, i64)>) = (1e-9, Vec::new());
        let consider =
            |gain: f64, changes: Vec<(usize, i64)>, best: &mut (f64, Vec<(usize, i64)>)| {
                if gain > best.0 && fits(&changes, x, tot, &use_u, &use_v) {
                    *best = (gain, changes);
                }
            };
        for (i, oi) in options.iter().enumerate() {
            for &(d, g) in oi {
                consider(g, vec![(i, d)], &mut best);
            }
        }
        for i in 0..n {
            let oi = if n <= 40 {
                options[i].clone()
            } else {
                single_steps(&options[i])
            };
            for j in i + 1..n {
                let oj = if n <= 40 {
                    options[j].clone()
                } else {
                    single_steps(&options[j])
                };
                for &(di, gi) in &oi {
                    for &(dj, gj) in &oj {
                        if n > 40 && (di > 0) == (dj > 0) {
                            continue;
                        }
                        consider(gi + gj, vec![(i, di), (j, dj)], &mut best);
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
                                    consider(
                                        gi + gj + gk,
                                        vec![(i, di), (j, dj), (k, dk)],
                                        &mut best,
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        if best.1.is_empty() {
            break;
        }
        for &(ci, d) in &best.1 {
            let s = sku_of[ci] as usize;
            let w = m.cells[ci].w as usize;
            x[ci] = (x[ci] as i64 + d) as u32;
            tot[s] = (tot[s] as i64 + d) as u32;
            use_u[w] += d as f64;
            use_v[w] += m.skus[s].vol * d as f64;
        }
        moves += 1;
    }
    moves
}
