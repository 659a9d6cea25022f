//! The figures every reader of a plan prints, computed once from the solution: per warehouse
//! and in total, units placed, units moved between warehouses, units placed from inbound stock,
//! the change each warehouse actually goes through, and the expected fill rate.
//!
//! Definitions (the README and `report allocation` quote them):
//! - **inbound**: stock on order (`inventory.inbound`) assumed to arrive before the window; the
//!   plan pools it per SKU and may send it to any warehouse ([`InboundPlacement`]).
//! - **to move**: units carried by transfers between two warehouses (inbound excluded).
//! - **change** of a cell or warehouse: units arriving (transfers in + inbound) minus units
//!   shipped out. Only what a transfer or an inbound placement carries out is a change: a
//!   target below current stock whose surplus nobody needs leaves that stock in place.
//! - **untargeted**: stock left in place beyond the target (current + change − target ≥ 0).
//! - **fill rate**: expected sales E[min(D, target)] over mean demand E[D], both from the same
//!   demand distribution the solver used; `None` where mean demand is 0.

use serde::{Deserialize, Serialize};

use super::problem::{AllocationProblem, InboundPlacement, Target, Transfer};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WarehouseFigures {
    pub warehouse_index: usize,
    /// Cells of the plan at this warehouse.
    pub cells: u64,
    pub current_units: u64,
    pub target_units: u64,
    pub transfer_in_units: u64,
    pub transfer_out_units: u64,
    /// Units placed here straight from inbound stock.
    pub inbound_units: u64,
    /// transfer_in + inbound − transfer_out.
    pub change_units: i64,
    /// Stock left in place beyond the targets.
    pub untargeted_units: u64,
    pub expected_sales_units: f64,
    pub expected_demand_units: f64,
    pub fill_rate: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanFigures {
    /// One row per warehouse of the problem, in warehouse order.
    pub warehouses: Vec<WarehouseFigures>,
    pub units_placed: u64,
    /// Transfers between warehouses (inbound placements not counted).
    pub transfers: u64,
    pub units_to_move: u64,
    pub units_from_inbound: u64,
    pub expected_sales_units: f64,
    pub expected_demand_units: f64,
    pub fill_rate: Option<f64>,
}

fn share(sales: f64, demand: f64) -> Option<f64> {
    (demand > 0.0).then(|| sales / demand)
}

/// Net units each cell receives under the plan (in `problem.cells` order).
pub(crate) fn cell_changes(
    problem: &AllocationProblem,
    transfers: &[Transfer],
    inbound: &[InboundPlacement],
) -> Vec<i64> {
    let index: std::collections::HashMap<(usize, usize), usize> = problem
        .cells
        .iter()
        .enumerate()
        .map(|(i, c)| ((c.sku_index, c.warehouse_index), i))
        .collect();
    let mut change = vec![0i64; problem.cells.len()];
    let mut add = |sku: usize, warehouse: usize, units: i64| {
        if let Some(&i) = index.get(&(sku, warehouse)) {
            change[i] += units;
        }
    };
    for t in transfers {
        add(t.sku_index, t.to_warehouse, t.units as i64);
        add(t.sku_index, t.from_warehouse, -(t.units as i64));
    }
    for p in inbound {
        add(p.sku_index, p.to_warehouse, p.units as i64);
    }
    change
}

/// Sums a solution's targets and moves per warehouse and over the plan.
pub fn plan_figures(
    problem: &AllocationProblem,
    targets: &[Target],
    transfers: &[Transfer],
    inbound: &[InboundPlacement],
) -> PlanFigures {
    let mut warehouses: Vec<WarehouseFigures> = (0..problem.warehouses.len())
        .map(|w| WarehouseFigures {
            warehouse_index: w,
            ..WarehouseFigures::default()
        })
        .collect();
    for t in targets {
        let w = &mut warehouses[t.warehouse_index];
        w.cells += 1;
        w.current_units += t.current_units;
        w.target_units += t.target_units;
        w.expected_sales_units += t.expected_sales;
        w.expected_demand_units += t.expected_demand_units;
        let after = t.current_units as i64 + t.change_units;
        w.untargeted_units += (after - t.target_units as i64).max(0) as u64;
    }
    let mut figures = PlanFigures::default();
    for t in transfers {
        warehouses[t.to_warehouse].transfer_in_units += t.units;
        warehouses[t.from_warehouse].transfer_out_units += t.units;
        figures.transfers += 1;
        figures.units_to_move += t.units;
    }
    for p in inbound {
        warehouses[p.to_warehouse].inbound_units += p.units;
        figures.units_from_inbound += p.units;
    }
    for w in &mut warehouses {
        w.change_units =
            (w.transfer_in_units + w.inbound_units) as i64 - w.transfer_out_units as i64;
        w.fill_rate = share(w.expected_sales_units, w.expected_demand_units);
        figures.units_placed += w.target_units;
        figures.expected_sales_units += w.expected_sales_units;
        figures.expected_demand_units += w.expected_demand_units;
    }
    figures.fill_rate = share(figures.expected_sales_units, figures.expected_demand_units);
    figures.warehouses = warehouses;
    figures
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocate::{solve, CellInput, Policy, QuantilePoint, SkuInput, WarehouseInput};

    fn demand(mean: f64) -> Vec<QuantilePoint> {
        vec![
            QuantilePoint {
                level: 0.1,
                units: mean * 0.5,
            },
            QuantilePoint {
                level: 0.5,
                units: mean,
            },
            QuantilePoint {
                level: 0.9,
                units: mean * 1.6,
            },
        ]
    }

    /// One SKU: 30 units at W0 where little sells, demand at W1, 10 inbound, and 4 units at
    /// W2 where nothing sells and from where moving is dear.
    fn problem() -> AllocationProblem {
        let warehouse = |name: &str| WarehouseInput {
            warehouse: name.to_string(),
            region: "R".to_string(),
            capacity_units: None,
            capacity_m3: None,
            priority_tier: 1,
        };
        let cell = |w: usize, mean: f64, current: u64| CellInput {
            sku_index: 0,
            warehouse_index: w,
            demand: demand(mean),
            mean: Some(mean),
            current_units: current,
            min_presentation: 0,
        };
        AllocationProblem {
            skus: vec![SkuInput {
                sku: "SOFA".to_string(),
                unit_margin: 40.0,
                holding_cost: 0.5,
                unit_volume_m3: 0.0,
                case_pack: 1,
                inbound_units: 10,
            }],
            warehouses: vec![warehouse("W0"), warehouse("W1"), warehouse("W2")],
            cells: vec![cell(0, 0.5, 30), cell(1, 20.0, 0), cell(2, 0.0, 4)],
            // Moving out of W2 costs more than W0, whose surplus covers W1.
            transfer_cost_per_unit: vec![vec![1.0; 3], vec![1.0; 3], vec![30.0; 3]],
            policy: Policy::Margin,
        }
    }

    #[test]
    fn changes_are_only_what_transfers_and_inbound_carry_out() {
        let problem = problem();
        let solution = solve(&problem).unwrap();
        let figures = &solution.figures;
        for (target, cell) in solution.targets.iter().zip(&problem.cells) {
            let after = cell.current_units as i64 + target.change_units;
            assert!(
                after >= target.target_units as i64,
                "a cell ends with at least its target"
            );
            if target.target_units > cell.current_units {
                assert_eq!(after, target.target_units as i64, "growth arrives exactly");
            }
        }
        // W2 has no demand: its 4 units are not targeted, and since nobody needs them
        // nothing ships out, so its change is 0, not −4.
        let w2 = &figures.warehouses[2];
        assert_eq!(w2.target_units, 0);
        assert_eq!(w2.change_units, 0);
        assert_eq!(w2.untargeted_units, 4);
        let moved_in: i64 = figures.warehouses.iter().map(|w| w.change_units).sum();
        assert_eq!(
            moved_in, figures.units_from_inbound as i64,
            "transfers net out over warehouses; only inbound adds stock"
        );
        assert_eq!(
            figures.units_to_move,
            solution.transfers.iter().map(|t| t.units).sum::<u64>()
        );
        assert_eq!(
            figures.units_from_inbound,
            solution.inbound.iter().map(|p| p.units).sum::<u64>()
        );
        assert!(figures.units_to_move > 0, "W1's demand is met from W0");
    }

    #[test]
    fn fill_rate_is_expected_sales_over_the_solvers_mean_and_never_above_one() {
        let problem = problem();
        let solution = solve(&problem).unwrap();
        let figures = &solution.figures;
        let sales: f64 = solution.targets.iter().map(|t| t.expected_sales).sum();
        let demand: f64 = solution
            .targets
            .iter()
            .map(|t| t.expected_demand_units)
            .sum();
        assert!((figures.expected_sales_units - sales).abs() < 1e-9);
        assert_eq!(figures.fill_rate, Some(sales / demand));
        for w in &figures.warehouses {
            if let Some(rate) = w.fill_rate {
                assert!((0.0..=1.0 + 1e-12).contains(&rate), "{rate}");
            }
        }
        assert_eq!(
            figures.warehouses[2].fill_rate, None,
            "no demand, no fill rate"
        );
        assert_eq!(
            figures.units_placed,
            solution.targets.iter().map(|t| t.target_units).sum::<u64>()
        );
    }
}
