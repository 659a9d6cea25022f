//! Stock allocation for a promotion: integer stock targets per SKU × warehouse, and the transfer
//! plan that moves today's stock to them. Pure: data in, data out.
//!
//! # Model
//! For SKU `s` at warehouse `w` with target `x` (units):
//!
//! `value(s, w, x) = margin_s · E[min(D_sw, x)] − holding_s · x − c_in(s, w) · max(0, x − current_sw)`
//!
//! and the solver maximises `Σ value` subject to
//! - `Σ_w x_sw ≤ available_s` = stock on hand in every warehouse + inbound stock;
//! - `Σ_s x_sw ≤ capacity_units_w` (floored) and `Σ_s vol_s · x_sw ≤ capacity_m3_w`, each when given;
//! - `x_sw ≥ min_presentation_sw` when the SKU's stock covers all its minimums (rounded up to case
//!   packs) and the warehouse can hold them; otherwise minimums are filled in priority-tier order
//!   (tier, then warehouse index) and, where a warehouse cannot hold everyone's minimums, highest
//!   unit margin first; both with a message;
//! - case packs: `x_sw − current_sw` is a multiple of `case_pack_s` when positive (reductions are
//!   free-form; the plan may split one receiving warehouse's cases between sources).
//!
//! Demand distributions come from the forecast quantiles (see [`Demand`] for the piecewise-linear
//! CDF and its exponential upper tail).
//!
//! **Transfer cost in the objective.** A unit kept where it is costs nothing. A unit placed at `w`
//! beyond current stock is charged `c_in(s, w)`, the cheapest per-unit cost from any *other*
//! warehouse that holds stock of `s` today (0 when no other warehouse holds any, i.e. growth can
//! only come from inbound stock). This keeps every cell's value concave in `x` (the charge only
//! lowers the gains of units beyond current stock), so greedy allocation stays exact. It is a
//! modelling choice: the plan actually returned is the exact min-cost transportation plan for the
//! chosen targets, and its cost is reported separately as `stats.plan_transfer_cost`.
//!
//! **Inbound stock** counts in `available` and, in the plan, is a source that reaches any
//! warehouse at no transfer cost ([`InboundPlacement`]). Stock that is not targeted (a target
//! below current stock with nobody needing the surplus) stays where it is, outside the promotion.
//!
//! **Priority tiers.** When two marginal units are worth the same (within 1e-9), the lower tier
//! (then lower warehouse index) wins, so a short SKU's ties go to flagships. Minimums are filled
//! by tier when stock cannot cover them. Under `FairShare`, rounding leftovers go by largest
//! remainder, ties to the lower tier.
//!
//! **Defined results.** A SKU with zero forecast demand everywhere gets only its presentation
//! minimums (current stock beyond them is not targeted) and a message. A warehouse with zero
//! capacity gets nothing; its existing stock is reported as beyond capacity. A warehouse already
//! holding more than its capacity is reported, and its targets stay within capacity. A SKU with
//! no stock gets targets of 0 and a message. Minimums that cannot all be met are reported.
//!
//! # Solver
//! Lagrangian prices on the capacity constraints, an exact incremental per-SKU greedy given the
//! prices (two threads over SKU ranges), then case-pack rounding, repair and fill passes (see
//! `solver.rs`). `bound` is the Lagrangian dual value at the best prices for the LP
//! relaxation in which a case pack's units each earn the pack's average gain (the plain
//! unit-segment LP when case packs are 1); it bounds that LP and so the integer optimum, and
//! `gap = (bound − objective) / |bound|`. `stats.bound_without_case_packs` bounds the looser LP
//! that ignores case packs altogether. With unit capacities only, small instances are polished
//! to the exact optimum by negative-cycle cancelling; with m³ capacities the problem is a
//! knapsack and only the gap is certified (see `polish.rs`).
//! The policy [`Policy::FairShare`] fixes short SKUs (Σ over warehouses of demand at
//! `SolveOptions::service_level` > available stock) at equal days of supply first (see
//! `fair_share.rs`); the bound then refers to that restricted problem.
//!
//! Measured on [`bench_instance`] (release, 2 threads, see the ignored `timing_*` tests):
//! 20,000 SKUs × 10 warehouses in about 0.2 s with a gap near 0.06 %, and 100,000 × 50 in about
//! 6.5 s with a gap near 0.003 % and 1.3 GB peak memory (including the instance).
//!
//! Every solution satisfies [`verify`]: capacities, minimums where feasible, case packs,
//! `Σ_w x ≤ available`, and a plan that moves stock exactly to the targets.

// Index loops over parallel arrays (cells, targets, gains) read better than zipped iterators.
#![allow(clippy::needless_range_loop)]

mod bench_instance;
mod build_problem;
mod demand;
mod economics;
mod fair_share;
mod figures;
mod model;
mod polish;
mod problem;
mod promotion;
mod promotion_groups;
mod solver;
mod transfers;
mod verify;
mod window_demand;

#[cfg(test)]
mod tests;

pub use bench_instance::bench_instance;
pub use build_problem::{
    build_problem, BuiltProblem, ForecastDay, InventoryRow, NetworkRows, PlannedPromotions,
    ProblemError, ProductRow, WarehouseRow,
};
pub use demand::Demand;
pub use economics::{
    promotional_unit_margin, regular_price, Economics, DEFAULT_MARGIN_RATE, DEFAULT_UNIT_PRICE,
};
pub use figures::{plan_figures, PlanFigures, WarehouseFigures};
pub use problem::{
    AllocationError, AllocationProblem, AllocationSolution, CellInput, InboundPlacement, Policy,
    QuantilePoint, SkuInput, SolveStats, Target, Transfer, WarehouseInput,
};
pub use promotion::Promotion;
pub use promotion_groups::{group_of, overlapping_groups, PromotionWindow};
pub use verify::verify;
pub use window_demand::{WindowDemand, Z90};

use model::Model;
use rayon::prelude::*;

/// Tuning of [`solve_with`].
#[derive(Debug, Clone, PartialEq)]
pub struct SolveOptions {
    /// Quantile level of demand used to decide whether a SKU is short under `FairShare`.
    pub service_level: f64,
    /// Relative gap at which the price iterations stop early.
    pub target_gap: f64,
    /// Maximum number of price-adjustment rounds.
    pub max_iterations: usize,
    /// Worker threads for the per-SKU work.
    pub threads: usize,
    /// Instances with at most this many cells (and no m³ capacities) are polished to optimality.
    pub polish_max_cells: usize,
    /// Also compute `stats.bound_without_case_packs` (one more pass over the SKUs).
    pub unit_bound: bool,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            service_level: 0.9,
            target_gap: 1e-3,
            max_iterations: 300,
            threads: 2,
            polish_max_cells: 600,
            unit_bound: true,
        }
    }
}

/// Solves with default options.
pub fn solve(problem: &AllocationProblem) -> Result<AllocationSolution, AllocationError> {
    solve_with(problem, &SolveOptions::default())
}

/// Validates the problem, allocates, and plans the transfers.
pub fn solve_with(
    problem: &AllocationProblem,
    options: &SolveOptions,
) -> Result<AllocationSolution, AllocationError> {
    problem.validate()?;
    if !(options.service_level > 0.0 && options.service_level < 1.0) {
        return Err(AllocationError::InvalidInput(format!(
            "service_level must be inside (0, 1), got {}",
            options.service_level
        )));
    }
    let mut model = Model::build(problem);
    let mut messages = std::mem::take(&mut model.messages);
    if problem.policy == Policy::FairShare {
        messages.extend(fair_share::apply(&mut model, options.service_level));
    }
    let out = solver::run(&model, options);
    let ranges = solver::split(&model, options.threads);
    let plan = transfers::plan(&model, &out.x, &ranges);

    // Expected sales per model cell, and the objective's terms, on the worker threads.
    let mut sales = vec![0.0f64; model.cells.len()];
    let mut stats = out.stats;
    {
        let mut chunks: Vec<(std::ops::Range<usize>, &mut [f64])> = Vec::new();
        let mut rest = &mut sales[..];
        let mut cell0 = 0;
        for r in &ranges {
            let cell1 = if r.is_empty() {
                cell0
            } else {
                model.skus[r.end - 1].end
            };
            let (a, b) = std::mem::take(&mut rest).split_at_mut(cell1 - cell0);
            rest = b;
            chunks.push((r.clone(), a));
            cell0 = cell1;
        }
        let x = &out.x;
        let model = &model;
        let work = move |(r, out_sales): (std::ops::Range<usize>, &mut [f64])| {
            let (mut em, mut hold, mut mt) = (0.0, 0.0, 0.0);
            let base = if r.is_empty() {
                0
            } else {
                model.skus[r.start].start
            };
            for s in r {
                let sku = &model.skus[s];
                for ci in sku.start..sku.end {
                    let c = &model.cells[ci];
                    let v = c.demand.expected_sales(x[ci] as f64);
                    out_sales[ci - base] = v;
                    em += sku.margin * v;
                    hold += sku.holding * x[ci] as f64;
                    mt += c.c_in * x[ci].saturating_sub(c.cur) as f64;
                }
            }
            (em, hold, mt)
        };
        let sums: Vec<(f64, f64, f64)> = if chunks.len() <= 1 {
            chunks.into_iter().map(work).collect()
        } else {
            chunks.into_par_iter().map(work).collect()
        };
        for (em, hold, mt) in sums {
            stats.expected_margin += em;
            stats.holding_cost += hold;
            stats.modelled_transfer_cost += mt;
        }
    }
    let mut model_of_input = vec![0u32; problem.cells.len()];
    for (ci, c) in model.cells.iter().enumerate() {
        model_of_input[c.input as usize] = ci as u32;
    }
    let changes = figures::cell_changes(problem, &plan.transfers, &plan.inbound);
    let targets: Vec<Target> = problem
        .cells
        .iter()
        .zip(&model_of_input)
        .zip(changes)
        .map(|((input, &ci), change_units)| {
            let ci = ci as usize;
            let mean = model.cells[ci].demand.mean();
            Target {
                sku_index: input.sku_index,
                warehouse_index: input.warehouse_index,
                target_units: out.x[ci] as u64,
                current_units: input.current_units,
                expected_sales: sales[ci],
                fill_rate: if mean > 0.0 { sales[ci] / mean } else { 1.0 },
                expected_demand_units: mean,
                change_units,
            }
        })
        .collect();
    let figures = plan_figures(problem, &targets, &plan.transfers, &plan.inbound);
    stats.plan_transfer_cost = plan.cost;
    let objective = stats.expected_margin - stats.holding_cost - stats.modelled_transfer_cost;
    // The bound is exact up to rounding; don't report rounding noise below the objective.
    let bound = if out.bound < objective && objective - out.bound <= 1e-9 * objective.abs().max(1.0)
    {
        objective
    } else {
        out.bound
    };
    let gap = if bound == 0.0 {
        0.0
    } else {
        (bound - objective) / bound.abs()
    };
    let solution = AllocationSolution {
        targets,
        transfers: plan.transfers,
        inbound: plan.inbound,
        objective,
        bound,
        gap,
        messages,
        stats,
        figures,
    };
    debug_assert!(
        problem.cells.len() > 200_000 || verify(problem, &solution).is_ok(),
        "allocation violates its constraints: {:?}",
        verify(problem, &solution)
    );
    Ok(solution)
}
