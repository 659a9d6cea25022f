//! The transfer plan: per SKU, the least-cost way to move today's stock to the targets.
//!
//! Warehouses holding more than their target (surplus) and the SKU's inbound stock (free to any
//! warehouse) ship to warehouses below their target (deficit). Surplus nobody needs stays where it
//! is (a dummy destination at zero cost absorbs it). This is a transportation problem, solved
//! exactly per SKU by the transportation simplex: a least-cost initial basis, then MODI pivots
//! until no reduced cost is negative. Should a degenerate problem cycle past the pivot limit, a
//! successive-shortest-path min-cost flow (also exact) takes over.
//!
//! Case packs constrain the net increase at a receiving warehouse (see the module docs); a plan
//! may still split one receiving warehouse's need between several sources.

use std::ops::Range;

use rayon::prelude::*;

use super::model::Model;
use super::problem::{InboundPlacement, Transfer};

pub(crate) struct Plan {
    pub transfers: Vec<Transfer>,
    pub inbound: Vec<InboundPlacement>,
    pub cost: f64,
}

/// Plans every SKU's moves, on up to `ranges.len()` threads.
pub(crate) fn plan(m: &Model, x: &[u32], ranges: &[Range<usize>]) -> Plan {
    let work = |r: Range<usize>| {
        let mut p = Plan {
            transfers: Vec::new(),
            inbound: Vec::new(),
            cost: 0.0,
        };
        let mut t = Transport::default();
        let mut b = Scratch::default();
        for s in r {
            plan_sku(m, s, x, &mut t, &mut b, &mut p);
        }
        p
    };
    let parts: Vec<Plan> = if ranges.len() <= 1 {
        ranges.iter().cloned().map(work).collect()
    } else {
        ranges.par_iter().cloned().map(work).collect()
    };
    let mut out = Plan {
        transfers: Vec::new(),
        inbound: Vec::new(),
        cost: 0.0,
    };
    for p in parts {
        out.transfers.extend(p.transfers);
        out.inbound.extend(p.inbound);
        out.cost += p.cost;
    }
    out
}

/// Per-SKU buffers of the planner.
#[derive(Default)]
struct Scratch {
    sources: Vec<(Option<usize>, u64)>,
    sinks: Vec<(usize, u64)>,
    supply: Vec<u64>,
    demand: Vec<u64>,
    cost: Vec<f64>,
}

fn plan_sku(m: &Model, s: usize, x: &[u32], t: &mut Transport, b: &mut Scratch, out: &mut Plan) {
    let sku = &m.skus[s];
    let costs = &m.problem.transfer_cost_per_unit;
    let inbound = m.problem.skus[s].inbound_units;
    b.sources.clear();
    b.sinks.clear();
    for ci in sku.start..sku.end {
        let c = &m.cells[ci];
        if x[ci] < c.cur {
            b.sources.push((Some(c.w as usize), (c.cur - x[ci]) as u64));
        } else if x[ci] > c.cur {
            b.sinks.push((c.w as usize, (x[ci] - c.cur) as u64));
        }
    }
    let need: u64 = b.sinks.iter().map(|s| s.1).sum();
    if need == 0 {
        return;
    }
    if inbound >= need || b.sources.is_empty() {
        for &(w, units) in &b.sinks {
            out.inbound.push(InboundPlacement {
                sku_index: s,
                to_warehouse: w,
                units,
            });
        }
        return;
    }
    if inbound > 0 {
        b.sources.push((None, inbound));
    }
    let have: u64 = b.sources.iter().map(|s| s.1).sum();
    debug_assert!(
        have >= need,
        "SKU {s}: targets need {need} units, sources have {have}"
    );
    b.demand.clear();
    b.demand.extend(b.sinks.iter().map(|s| s.1));
    if have > need {
        b.demand.push(have - need);
    }
    b.supply.clear();
    b.supply.extend(b.sources.iter().map(|s| s.1));
    let (nm, nn) = (b.supply.len(), b.demand.len());
    b.cost.clear();
    b.cost.resize(nm * nn, 0.0);
    for (i, src) in b.sources.iter().enumerate() {
        if let Some(from) = src.0 {
            for (j, sink) in b.sinks.iter().enumerate() {
                b.cost[i * nn + j] = costs[from][sink.0];
            }
        }
    }
    let flow = t.solve(&b.supply, &b.demand, &b.cost);
    for i in 0..nm {
        for (j, sink) in b.sinks.iter().enumerate() {
            let f = flow[i * nn + j];
            if f == 0 {
                continue;
            }
            match b.sources[i].0 {
                Some(from) => {
                    out.cost += f as f64 * costs[from][sink.0];
                    out.transfers.push(Transfer {
                        sku_index: s,
                        from_warehouse: from,
                        to_warehouse: sink.0,
                        units: f,
                    });
                }
                None => out.inbound.push(InboundPlacement {
                    sku_index: s,
                    to_warehouse: sink.0,
                    units: f,
                }),
            }
        }
    }
}

/// Reusable work space of the transportation simplex.
#[derive(Default)]
pub(crate) struct Transport {
    keys: Vec<u128>,
    order: Vec<u32>,
    flow: Vec<u64>,
    basic: Vec<bool>,
    cells: Vec<u32>,
    adj_start: Vec<u32>,
    adj: Vec<(u32, u32)>,
    u: Vec<f64>,
    v: Vec<f64>,
    parent: Vec<(u32, u32)>,
    seen: Vec<bool>,
    queue: Vec<u32>,
}

impl Transport {
    /// Min-cost flows (row-major `supply.len() × demand.len()`) for a balanced problem.
    pub(crate) fn solve(&mut self, supply: &[u64], demand: &[u64], cost: &[f64]) -> &[u64] {
        let (m, n) = (supply.len(), demand.len());
        debug_assert_eq!(supply.iter().sum::<u64>(), demand.iter().sum::<u64>());
        if m == 1 || n == 1 {
            // One source or one destination: the flows are forced.
            self.flow.clear();
            self.flow.resize(m * n, 0);
            for i in 0..m {
                for j in 0..n {
                    self.flow[i * n + j] = if m == 1 { demand[j] } else { supply[i] };
                }
            }
            return &self.flow;
        }
        self.initial_basis(supply, demand, cost);
        let limit = 50 * (m + n) + 200;
        let mut pivots = 0;
        while self.pivot(m, n, cost) {
            pivots += 1;
            if pivots > limit {
                self.flow = ssp(supply, demand, cost);
                break;
            }
        }
        &self.flow
    }

    /// Least-cost rule with regret tie-breaks: cells by increasing cost, equal costs by the
    /// larger regret (gap between the two cheapest cells) of their row and column, so free
    /// inbound goes where the alternatives cost most. Each allocation closes exactly one row or
    /// column (the last closes both), so the m + n − 1 basic cells form a spanning tree.
    fn initial_basis(&mut self, supply: &[u64], demand: &[u64], cost: &[f64]) {
        let (m, n) = (supply.len(), demand.len());
        let regret = |it: &mut dyn Iterator<Item = f64>| {
            let (mut c1, mut c2) = (f64::INFINITY, f64::INFINITY);
            for c in it {
                if c < c1 {
                    c2 = c1;
                    c1 = c;
                } else if c < c2 {
                    c2 = c;
                }
            }
            if c2.is_finite() {
                c2 - c1
            } else {
                0.0
            }
        };
        self.u.clear();
        self.u
            .extend((0..m).map(|i| regret(&mut (0..n).map(|j| cost[i * n + j]))));
        self.v.clear();
        self.v
            .extend((0..n).map(|j| regret(&mut (0..m).map(|i| cost[i * n + j]))));
        // Sort keys: cost (non-negative, so its bits order like the value), then larger regret,
        // then cell index.
        self.keys.clear();
        for i in 0..m {
            for j in 0..n {
                let idx = i * n + j;
                let regret_rank = !(self.u[i] + self.v[j]).to_bits() >> 32;
                self.keys.push(
                    ((cost[idx].to_bits() as u128) << 64)
                        | ((regret_rank as u128) << 32)
                        | idx as u128,
                );
            }
        }
        self.keys.sort_unstable();
        self.order.clear();
        self.order.extend(self.keys.iter().map(|&k| k as u32));
        self.flow.clear();
        self.flow.resize(m * n, 0);
        self.basic.clear();
        self.basic.resize(m * n, false);
        self.cells.clear();
        let mut a = supply.to_vec();
        let mut b = demand.to_vec();
        let mut row_done = vec![false; m];
        let mut col_done = vec![false; n];
        let mut rows_left = m;
        for k in 0..self.order.len() {
            let idx = self.order[k] as usize;
            let (i, j) = (idx / n, idx % n);
            if row_done[i] || col_done[j] {
                continue;
            }
            let q = a[i].min(b[j]);
            self.flow[idx] = q;
            self.basic[idx] = true;
            self.cells.push(idx as u32);
            a[i] -= q;
            b[j] -= q;
            if a[i] == 0 && (b[j] > 0 || rows_left > 1) {
                row_done[i] = true;
                rows_left -= 1;
            } else {
                col_done[j] = true;
            }
        }
        debug_assert_eq!(self.cells.len(), m + n - 1);
    }

    /// One MODI pivot; false when the basis is optimal.
    fn pivot(&mut self, m: usize, n: usize, cost: &[f64]) -> bool {
        let nodes = m + n;
        // Tree adjacency (flat): rows are nodes 0..m, columns m..m+n.
        self.adj_start.clear();
        self.adj_start.resize(nodes + 1, 0);
        for &idx in &self.cells {
            let (i, j) = (idx as usize / n, idx as usize % n);
            self.adj_start[i + 1] += 1;
            self.adj_start[m + j + 1] += 1;
        }
        for k in 0..nodes {
            self.adj_start[k + 1] += self.adj_start[k];
        }
        self.adj.clear();
        self.adj.resize(2 * self.cells.len(), (0, 0));
        self.parent.clear();
        self.parent.resize(nodes, (0, 0));
        for &idx in &self.cells {
            let (i, j) = (idx as usize / n, idx as usize % n);
            let a = self.adj_start[i] as usize + self.parent[i].0 as usize;
            self.adj[a] = ((m + j) as u32, idx);
            self.parent[i].0 += 1;
            let b = self.adj_start[m + j] as usize + self.parent[m + j].0 as usize;
            self.adj[b] = (i as u32, idx);
            self.parent[m + j].0 += 1;
        }
        // Potentials: u_i + v_j = c_ij on basic cells.
        self.u.clear();
        self.u.resize(m, 0.0);
        self.v.clear();
        self.v.resize(n, 0.0);
        self.seen.clear();
        self.seen.resize(nodes, false);
        self.queue.clear();
        self.queue.push(0);
        self.seen[0] = true;
        let mut head = 0;
        while head < self.queue.len() {
            let node = self.queue[head] as usize;
            head += 1;
            for &(nb, idx) in
                &self.adj[self.adj_start[node] as usize..self.adj_start[node + 1] as usize]
            {
                let nb = nb as usize;
                if self.seen[nb] {
                    continue;
                }
                self.seen[nb] = true;
                let c = cost[idx as usize];
                if node < m {
                    self.v[nb - m] = c - self.u[node];
                } else {
                    self.u[nb] = c - self.v[node - m];
                }
                self.queue.push(nb as u32);
            }
        }
        // Entering cell: most negative reduced cost (basic cells have 0 up to rounding).
        let mut best = (-1e-9, usize::MAX);
        for i in 0..m {
            let ui = self.u[i];
            let row = &cost[i * n..(i + 1) * n];
            for (j, (&c, &vj)) in row.iter().zip(&self.v).enumerate() {
                let d = c - ui - vj;
                if d < best.0 {
                    best = (d, i * n + j);
                }
            }
        }
        if best.1 == usize::MAX {
            return false;
        }
        debug_assert!(
            !self.basic[best.1],
            "a basic cell has a negative reduced cost"
        );
        let enter = best.1;
        let (ei, ej) = (enter / n, enter % n);
        // Tree path from row ei to column ej.
        self.parent.clear();
        self.parent.resize(nodes, (u32::MAX, u32::MAX));
        self.seen.clear();
        self.seen.resize(nodes, false);
        self.queue.clear();
        self.queue.push(ei as u32);
        self.seen[ei] = true;
        let target = m + ej;
        let mut head = 0;
        while head < self.queue.len() && !self.seen[target] {
            let node = self.queue[head] as usize;
            head += 1;
            for &(nb, idx) in
                &self.adj[self.adj_start[node] as usize..self.adj_start[node + 1] as usize]
            {
                if !self.seen[nb as usize] {
                    self.seen[nb as usize] = true;
                    self.parent[nb as usize] = (node as u32, idx);
                    self.queue.push(nb);
                }
            }
        }
        // Walk back from the column: cells alternate −, +, −, … ending in row ei with −.
        let mut path = Vec::new();
        let mut node = target;
        while node != ei {
            let (p, idx) = self.parent[node];
            path.push(idx as usize);
            node = p as usize;
        }
        let mut theta = u64::MAX;
        let mut leave = usize::MAX;
        for (k, &idx) in path.iter().enumerate() {
            if k % 2 == 0 && self.flow[idx] < theta {
                theta = self.flow[idx];
                leave = idx;
            }
        }
        for (k, &idx) in path.iter().enumerate() {
            if k % 2 == 0 {
                self.flow[idx] -= theta;
            } else {
                self.flow[idx] += theta;
            }
        }
        self.flow[enter] += theta;
        self.basic[leave] = false;
        self.basic[enter] = true;
        let pos = self
            .cells
            .iter()
            .position(|&c| c as usize == leave)
            .expect("leaving cell is basic");
        self.cells[pos] = enter as u32;
        true
    }
}

/// Successive shortest paths (Bellman–Ford on the residual graph): exact, used as a fallback.
pub(crate) fn ssp(supply: &[u64], demand: &[u64], cost: &[f64]) -> Vec<u64> {
    let (m, n) = (supply.len(), demand.len());
    let mut flow = vec![0u64; m * n];
    let mut a = supply.to_vec();
    let mut b = demand.to_vec();
    // Nodes: 0..m rows, m..m+n columns. Source feeds rows with a > 0; sink takes columns with b > 0.
    let nodes = m + n;
    loop {
        let mut dist = vec![f64::INFINITY; nodes];
        let mut pred = vec![usize::MAX; nodes];
        for i in 0..m {
            if a[i] > 0 {
                dist[i] = 0.0;
            }
        }
        for _ in 0..nodes {
            let mut changed = false;
            for i in 0..m {
                for j in 0..n {
                    let idx = i * n + j;
                    let c = cost[idx];
                    if dist[i] + c < dist[m + j] - 1e-12 {
                        dist[m + j] = dist[i] + c;
                        pred[m + j] = i;
                        changed = true;
                    }
                    if flow[idx] > 0 && dist[m + j] - c < dist[i] - 1e-12 {
                        dist[i] = dist[m + j] - c;
                        pred[i] = m + j;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let Some(end) = (0..n)
            .filter(|&j| b[j] > 0 && dist[m + j].is_finite())
            .min_by(|&x, &y| dist[m + x].total_cmp(&dist[m + y]))
        else {
            break;
        };
        // Bottleneck along the path.
        let mut path = Vec::new();
        let mut node = m + end;
        while pred[node] != usize::MAX {
            let p = pred[node];
            path.push((p, node));
            node = p;
        }
        let start = node;
        let mut q = a[start].min(b[end]);
        for &(p, v) in &path {
            if p >= m {
                // backward arc column p → row v
                q = q.min(flow[v * n + (p - m)]);
            }
        }
        for &(p, v) in &path {
            if p < m {
                flow[p * n + (v - m)] += q;
            } else {
                flow[v * n + (p - m)] -= q;
            }
        }
        a[start] -= q;
        b[end] -= q;
        if q == 0 {
            break;
        }
    }
    flow
}
