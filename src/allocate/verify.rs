//! An independent check of a solution against every constraint of its problem.

use std::collections::HashMap;

use super::demand::Demand;
use super::problem::{AllocationProblem, AllocationSolution};

/// Checks targets (one per cell, in cell order), available stock, unit and m³ capacities, case
/// packs, presentation minimums (where stock and capacity allow them; by priority tier where
/// stock does not), the transfer plan against the targets, and the objective, bound and gap.
/// Returns a description of the first violations found.
pub fn verify(problem: &AllocationProblem, solution: &AllocationSolution) -> Result<(), String> {
    if solution.targets.len() != problem.cells.len() {
        return Err(format!(
            "{} targets for {} cells",
            solution.targets.len(),
            problem.cells.len()
        ));
    }
    let mut check = Check {
        problem,
        solution,
        errors: Vec::new(),
    };
    let totals = check.targets()?;
    check.stock_and_capacity(&totals);
    let cells_of = cells_of_sku(problem);
    check.presentation_minimums(&totals.available, &cells_of);
    check.transfers();
    check.objective(&cells_of);
    if check.errors.is_empty() {
        Ok(())
    } else {
        Err(check.errors.join("; "))
    }
}

/// At most this many violations are described.
const MAX_ERRORS: usize = 10;

/// One verification: the problem, the solution and the violations found so far.
struct Check<'p> {
    problem: &'p AllocationProblem,
    solution: &'p AllocationSolution,
    errors: Vec<String>,
}

/// What the targets add up to, per SKU (`available`, `placed`) and per warehouse (`use_u`,
/// `use_v`).
struct Totals {
    available: Vec<u64>,
    placed: Vec<u64>,
    use_u: Vec<u64>,
    use_v: Vec<f64>,
}

fn sku_name(problem: &AllocationProblem, s: usize) -> &str {
    problem.skus[s].sku.as_str()
}

fn wh_name(problem: &AllocationProblem, w: usize) -> &str {
    problem.warehouses[w].warehouse.as_str()
}

/// The cells of each SKU, in cell order.
fn cells_of_sku(problem: &AllocationProblem) -> Vec<Vec<usize>> {
    let mut cells_of: Vec<Vec<usize>> = vec![Vec::new(); problem.skus.len()];
    for (ci, c) in problem.cells.iter().enumerate() {
        cells_of[c.sku_index].push(ci);
    }
    cells_of
}

/// Per SKU, the units its presentation minimums need (each rounded up to the case-pack lattice
/// above current stock), and per warehouse whether it has room for all the minimums placed
/// there.
fn minimum_needs(problem: &AllocationProblem) -> (Vec<u64>, Vec<bool>) {
    let ns = problem.skus.len();
    let nw = problem.warehouses.len();
    let min_eff = |ci: usize| -> u64 {
        let c = &problem.cells[ci];
        let cp = problem.skus[c.sku_index].case_pack as u64;
        if c.min_presentation <= c.current_units {
            c.min_presentation
        } else {
            c.current_units + (c.min_presentation - c.current_units).div_ceil(cp) * cp
        }
    };
    let mut need = vec![0u64; ns];
    let mut wh_need_u = vec![0u64; nw];
    let mut wh_need_v = vec![0f64; nw];
    for (ci, c) in problem.cells.iter().enumerate() {
        let e = min_eff(ci);
        need[c.sku_index] += e;
        wh_need_u[c.warehouse_index] += e;
        wh_need_v[c.warehouse_index] += problem.skus[c.sku_index].unit_volume_m3 * e as f64;
    }
    let holds = |w: usize| -> bool {
        let wh = &problem.warehouses[w];
        let cu = wh.capacity_units.map(f64::floor).unwrap_or(f64::INFINITY);
        let cv = wh.capacity_m3.unwrap_or(f64::INFINITY);
        cu > 0.0 && cv > 0.0 && wh_need_u[w] as f64 <= cu && wh_need_v[w] <= cv + 1e-9 * cv.max(1.0)
    };
    let holds: Vec<bool> = (0..nw).map(holds).collect();
    (need, holds)
}

impl Check<'_> {
    fn err(&mut self, e: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(e);
        }
    }

    /// Each target against its cell (a mismatch ends the check) and its case pack, and the
    /// totals the other checks read.
    fn targets(&mut self) -> Result<Totals, String> {
        let (problem, solution) = (self.problem, self.solution);
        let ns = problem.skus.len();
        let nw = problem.warehouses.len();
        let mut available: Vec<u64> = problem.skus.iter().map(|s| s.inbound_units).collect();
        for c in &problem.cells {
            available[c.sku_index] += c.current_units;
        }
        let mut placed = vec![0u64; ns];
        let mut use_u = vec![0u64; nw];
        let mut use_v = vec![0f64; nw];
        for (c, t) in problem.cells.iter().zip(&solution.targets) {
            if t.sku_index != c.sku_index
                || t.warehouse_index != c.warehouse_index
                || t.current_units != c.current_units
            {
                return Err(format!(
                    "target for SKU {} at {} does not match its cell",
                    sku_name(problem, c.sku_index),
                    wh_name(problem, c.warehouse_index)
                ));
            }
            let x = t.target_units;
            placed[c.sku_index] += x;
            use_u[c.warehouse_index] += x;
            use_v[c.warehouse_index] += problem.skus[c.sku_index].unit_volume_m3 * x as f64;
            let cp = problem.skus[c.sku_index].case_pack as u64;
            if x > c.current_units && (x - c.current_units) % cp != 0 {
                self.err(format!(
                "SKU {} at {}: target {x} is {} above current stock, not a multiple of case pack {cp}",
                sku_name(problem, c.sku_index),
                wh_name(problem, c.warehouse_index),
                x - c.current_units
            ));
            }
        }
        Ok(Totals {
            available,
            placed,
            use_u,
            use_v,
        })
    }

    /// Targets within available stock per SKU, and within unit and m³ capacity per warehouse.
    fn stock_and_capacity(&mut self, totals: &Totals) {
        let problem = self.problem;
        let ns = problem.skus.len();
        let Totals {
            available,
            placed,
            use_u,
            use_v,
        } = totals;
        for s in 0..ns {
            if placed[s] > available[s] {
                self.err(format!(
                    "SKU {}: targets total {} but only {} available",
                    sku_name(problem, s),
                    placed[s],
                    available[s]
                ));
            }
        }
        for (w, wh) in problem.warehouses.iter().enumerate() {
            if let Some(cap) = wh.capacity_units {
                if use_u[w] as f64 > cap.floor() {
                    self.err(format!(
                        "warehouse {}: {} units over capacity {cap}",
                        wh_name(problem, w),
                        use_u[w]
                    ));
                }
            }
            if let Some(cap) = wh.capacity_m3 {
                if use_v[w] > cap + 1e-9 * cap.max(1.0) {
                    self.err(format!(
                        "warehouse {}: {} m³ over capacity {cap}",
                        wh_name(problem, w),
                        use_v[w]
                    ));
                }
            }
        }
    }

    /// Presentation minimums where stock and capacity allow them; by priority tier where stock
    /// does not.
    fn presentation_minimums(&mut self, available: &[u64], cells_of: &[Vec<usize>]) {
        let (problem, solution) = (self.problem, self.solution);
        let (need, holds) = minimum_needs(problem);
        for s in 0..problem.skus.len() {
            let feasible = need[s] <= available[s];
            let cs = &cells_of[s];
            if feasible {
                for &ci in cs {
                    let c = &problem.cells[ci];
                    let x = solution.targets[ci].target_units;
                    if holds[c.warehouse_index] && x < c.min_presentation {
                        self.err(format!(
                            "SKU {} at {}: target {x} below presentation minimum {}",
                            sku_name(problem, s),
                            wh_name(problem, c.warehouse_index),
                            c.min_presentation
                        ));
                    }
                }
            } else if problem.skus[s].case_pack == 1
                && cs
                    .iter()
                    .all(|&ci| holds[problem.cells[ci].warehouse_index])
            {
                // Short of minimums: filled by tier, so nothing goes to a lower-priority tier while a
                // higher-priority minimum is unmet.
                for &a in cs {
                    let ca = &problem.cells[a];
                    if solution.targets[a].target_units >= ca.min_presentation {
                        continue;
                    }
                    let ta = problem.warehouses[ca.warehouse_index].priority_tier;
                    for &b in cs {
                        let cb = &problem.cells[b];
                        let tb = problem.warehouses[cb.warehouse_index].priority_tier;
                        if tb > ta && solution.targets[b].target_units > 0 {
                            self.err(format!(
                            "SKU {}: minimum at {} (tier {ta}) unmet while {} (tier {tb}) gets {}",
                            sku_name(problem, s),
                            wh_name(problem, ca.warehouse_index),
                            wh_name(problem, cb.warehouse_index),
                            solution.targets[b].target_units
                        ));
                        }
                    }
                }
            }
        }
    }

    /// Transfers and inbound placements move today's stock exactly to the targets.
    fn transfers(&mut self) {
        let (problem, solution) = (self.problem, self.solution);
        let ns = problem.skus.len();
        let mut net_in: HashMap<(usize, usize), i64> = Default::default();
        let mut out_of: HashMap<(usize, usize), u64> = Default::default();
        let mut inbound_used = vec![0u64; ns];
        for t in &solution.transfers {
            if t.units == 0 || t.from_warehouse == t.to_warehouse || t.sku_index >= ns {
                self.err(format!("malformed transfer {t:?}"));
                continue;
            }
            *net_in.entry((t.sku_index, t.to_warehouse)).or_default() += t.units as i64;
            *net_in.entry((t.sku_index, t.from_warehouse)).or_default() -= t.units as i64;
            *out_of.entry((t.sku_index, t.from_warehouse)).or_default() += t.units;
        }
        for p in &solution.inbound {
            if p.sku_index >= ns {
                self.err(format!("malformed inbound placement {p:?}"));
                continue;
            }
            *net_in.entry((p.sku_index, p.to_warehouse)).or_default() += p.units as i64;
            inbound_used[p.sku_index] += p.units;
        }
        for s in 0..ns {
            if inbound_used[s] > problem.skus[s].inbound_units {
                self.err(format!(
                    "SKU {}: plan places {} inbound units, only {} inbound",
                    sku_name(problem, s),
                    inbound_used[s],
                    problem.skus[s].inbound_units
                ));
            }
        }
        let mut cell_of: HashMap<(usize, usize), usize> = Default::default();
        for (ci, c) in problem.cells.iter().enumerate() {
            cell_of.insert((c.sku_index, c.warehouse_index), ci);
        }
        for (&(s, w), &net) in &net_in {
            if net != 0 && !cell_of.contains_key(&(s, w)) {
                self.err(format!(
                    "SKU {}: plan moves stock at {} which has no cell",
                    sku_name(problem, s),
                    wh_name(problem, w)
                ));
            }
        }
        for (ci, c) in problem.cells.iter().enumerate() {
            let key = (c.sku_index, c.warehouse_index);
            let x = solution.targets[ci].target_units as i64;
            let cur = c.current_units as i64;
            let net = net_in.get(&key).copied().unwrap_or(0);
            let shipped = out_of.get(&key).copied().unwrap_or(0) as i64;
            let ok = if x > cur {
                net == x - cur && shipped == 0
            } else {
                net <= 0 && shipped <= cur - x && net >= x - cur
            };
            if !ok {
                self.err(format!(
                    "SKU {} at {}: target {x}, current {cur}, but the plan's net inflow is {net}",
                    sku_name(problem, c.sku_index),
                    wh_name(problem, c.warehouse_index)
                ));
            }
        }
    }

    /// Objective, recomputed with the modelled incoming-transfer cost, and the bound.
    fn objective(&mut self, cells_of: &[Vec<usize>]) {
        let (problem, solution) = (self.problem, self.solution);
        let ns = problem.skus.len();
        let mut objective = 0.0;
        for s in 0..ns {
            let sku = &problem.skus[s];
            for &ci in &cells_of[s] {
                let c = &problem.cells[ci];
                let w = c.warehouse_index;
                let c_in = cells_of[s]
                    .iter()
                    .map(|&o| &problem.cells[o])
                    .filter(|o| o.warehouse_index != w && o.current_units > 0)
                    .map(|o| problem.transfer_cost_per_unit[o.warehouse_index][w])
                    .fold(f64::INFINITY, f64::min);
                let c_in = if c_in.is_finite() { c_in } else { 0.0 };
                let x = solution.targets[ci].target_units;
                let d = Demand::new(&c.demand, c.mean);
                objective += sku.unit_margin * d.expected_sales(x as f64)
                    - sku.holding_cost * x as f64
                    - c_in * x.saturating_sub(c.current_units) as f64;
            }
        }
        let scale = objective.abs().max(1.0);
        if (objective - solution.objective).abs() > 1e-7 * scale {
            self.err(format!(
                "objective {} but the targets are worth {objective}",
                solution.objective
            ));
        }
        if solution.bound < solution.objective - 1e-6 * scale {
            self.err(format!(
                "bound {} is below the objective {}",
                solution.bound, solution.objective
            ));
        }
    }
}
