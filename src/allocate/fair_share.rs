//! The fair-share policy: a short SKU gives every warehouse the same days of supply.
//!
//! A SKU is short when the sum over its warehouses of demand at the service level (the
//! `service_level` quantile, 0.9 by default) exceeds its available stock. Its whole available
//! stock is then divided so that `target_w / mean_w` is equal everywhere (`target_w ∝ mean
//! demand`), by water-filling: warehouses whose presentation minimum is above their share keep
//! the minimum and the rest share what is left; warehouses at their upper bound (unit capacity)
//! stop there. Shares are rounded down to the case-pack lattice and the units left over are
//! handed out one step (a unit up to current stock, a case pack beyond) at a time by largest
//! remainder, ties going to the lower priority tier. So every target is within one step (one case
//! pack) of its exact share. The targets of short SKUs are then fixed; SKUs that are not short
//! are allocated by the margin solver around them.
//!
//! If the fixed targets and the other SKUs' minimums do not fit a warehouse, the fair-share
//! targets there are cut (lowest unit margin first) down to their minimums, with a message.

use super::model::{floor_lattice, step_up, vol_limit, CellModel, Model, SkuModel, WhModel};

/// Fair-share targets of one SKU's cells (in cell order).
pub(crate) fn targets(cells: &[CellModel], sku: &SkuModel, whs: &[WhModel]) -> Vec<u32> {
    let avail = sku.avail as f64;
    let lo_sum: f64 = cells.iter().map(|c| c.lo as f64).sum();
    if lo_sum >= avail {
        return cells.iter().map(|c| c.lo).collect();
    }
    let share = |c: &CellModel, t: f64| -> f64 {
        if c.demand.mean() > 0.0 {
            (t * c.demand.mean()).max(c.lo as f64).min(c.hi as f64)
        } else {
            c.lo as f64
        }
    };
    let total = |t: f64| -> f64 { cells.iter().map(|c| share(c, t)).sum() };
    let t_max = cells
        .iter()
        .filter(|c| c.demand.mean() > 0.0)
        .map(|c| c.hi as f64 / c.demand.mean())
        .fold(0.0, f64::max);
    let t = if total(t_max) <= avail {
        t_max
    } else {
        let (mut lo, mut hi) = (0.0, t_max);
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if total(mid) < avail {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    };
    let ideal: Vec<f64> = cells.iter().map(|c| share(c, t)).collect();
    let mut out: Vec<u32> = cells
        .iter()
        .zip(&ideal)
        .map(|(c, &q)| floor_lattice(c.cur, sku.cp, q.floor() as u32).max(c.lo))
        .collect();
    let mut left = sku.avail as i64 - out.iter().map(|&v| v as i64).sum::<i64>();
    let mut order: Vec<usize> = (0..cells.len())
        .filter(|&i| cells[i].demand.mean() > 0.0)
        .collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (ideal[a] - out[a] as f64, ideal[b] - out[b] as f64);
        rb.total_cmp(&ra).then(
            whs[cells[a].w as usize]
                .rank
                .cmp(&whs[cells[b].w as usize].rank),
        )
    });
    for i in order {
        let c = &cells[i];
        let inc = step_up(c.cur, sku.cp, out[i]);
        if inc as i64 <= left && out[i] as u64 + inc as u64 <= c.hi as u64 {
            out[i] += inc;
            left -= inc as i64;
        }
    }
    out
}

/// Fixes the targets of short SKUs at their fair shares. Returns messages.
pub(crate) fn apply(m: &mut Model, service_level: f64) -> Vec<String> {
    let mut messages = Vec::new();
    let lo_before: Vec<u32> = m.cells.iter().map(|c| c.lo).collect();
    let mut fair = vec![false; m.cells.len()];
    let mut short = 0usize;
    for s in 0..m.skus.len() {
        let sku = &m.skus[s];
        let cells = &m.cells[sku.start..sku.end];
        if cells.iter().all(|c| c.hi == c.lo) {
            continue;
        }
        let need: f64 = cells.iter().map(|c| c.demand.quantile(service_level)).sum();
        if need <= sku.avail as f64 {
            continue;
        }
        short += 1;
        let t = targets(cells, sku, &m.whs);
        let (start, end) = (sku.start, sku.end);
        for (c, v) in m.cells[start..end].iter_mut().zip(t) {
            c.lo = v;
            c.lo_rel = v;
            c.hi = v;
        }
        fair[start..end].iter_mut().for_each(|f| *f = true);
    }
    if short > 0 {
        messages.push(format!(
            "fair share: {short} short SKU(s) divided by equal days of supply (service level {service_level})"
        ));
    }

    // Fixed targets must fit with everyone else's minimums.
    let sku_of = m.sku_of_cells();
    for w in 0..m.whs.len() {
        let (cap_u, cap_v) = (m.whs[w].cap_u, m.whs[w].cap_v);
        let list: Vec<u32> = m.wh_cells(w).to_vec();
        let (mut used_u, mut used_v) = (0.0, 0.0);
        for &ci in &list {
            let c = &m.cells[ci as usize];
            used_u += c.lo as f64;
            used_v += m.skus[sku_of[ci as usize] as usize].vol * c.lo as f64;
        }
        if used_u <= cap_u && used_v <= vol_limit(cap_v) {
            continue;
        }
        let mut cuts: Vec<u32> = list.into_iter().filter(|&ci| fair[ci as usize]).collect();
        cuts.sort_by(|&a, &b| {
            let (ma, mb) = (
                m.skus[sku_of[a as usize] as usize].margin,
                m.skus[sku_of[b as usize] as usize].margin,
            );
            ma.total_cmp(&mb).then(a.cmp(&b))
        });
        let mut cut_units = 0u64;
        for ci in cuts {
            if used_u <= cap_u && used_v <= vol_limit(cap_v) {
                break;
            }
            let sku = &m.skus[sku_of[ci as usize] as usize];
            let (cp, vol) = (sku.cp, sku.vol);
            let c = &mut m.cells[ci as usize];
            let over_u = (used_u - cap_u).max(0.0);
            let over_v = if vol > 0.0 {
                ((used_v - cap_v) / vol).max(0.0)
            } else {
                0.0
            };
            let drop = over_u.max(over_v).ceil() as u32;
            let floor = lo_before[ci as usize];
            let new = floor_lattice(c.cur, cp, c.lo.saturating_sub(drop))
                .max(floor)
                .min(c.lo);
            let d = c.lo - new;
            c.lo = new;
            c.lo_rel = new;
            c.hi = new;
            used_u -= d as f64;
            used_v -= vol * d as f64;
            cut_units += d as u64;
        }
        messages.push(format!(
            "warehouse {}: fair-share targets cut by {cut_units} units to fit capacity",
            m.problem.warehouses[w].warehouse
        ));
    }
    messages
}
