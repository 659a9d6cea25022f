//! Input and output types of the allocation solver, and validation of the input with messages
//! that name the SKU, warehouse and field at fault.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One point of a demand forecast's quantile function over the promotion window:
/// `P(D ≤ units) = level`. Levels must lie strictly inside (0, 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantilePoint {
    pub level: f64,
    pub units: f64,
}

/// How stock is divided among warehouses when a SKU is short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Policy {
    /// Maximise expected margin minus holding and transfer costs.
    #[default]
    Margin,
    /// Short SKUs get equal days of supply everywhere (targets proportional to mean demand);
    /// SKUs that are not short are allocated as under `Margin`.
    FairShare,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkuInput {
    pub sku: String,
    /// Margin earned per unit sold.
    pub unit_margin: f64,
    /// Cost of holding one unit at a warehouse over the promotion window.
    pub holding_cost: f64,
    pub unit_volume_m3: f64,
    /// Units moved into a warehouse beyond its current stock come in multiples of this.
    pub case_pack: u32,
    /// Stock arriving in time for the promotion, not yet in any warehouse.
    pub inbound_units: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarehouseInput {
    pub warehouse: String,
    pub region: String,
    /// Capacity in units (fractions are floored); `None` = unlimited.
    pub capacity_units: Option<f64>,
    /// Capacity in cubic metres; `None` = unlimited.
    pub capacity_m3: Option<f64>,
    /// 1 = flagship, 2, 3, …: lower numbers are served first.
    pub priority_tier: u8,
}

/// One SKU at one warehouse. Cells are sparse: a missing cell means zero demand and zero stock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellInput {
    pub sku_index: usize,
    pub warehouse_index: usize,
    /// Forecast quantiles, by strictly increasing level; units must not decrease.
    pub demand: Vec<QuantilePoint>,
    /// Forecast mean; when given (and larger than the mass below the top quantile) the upper
    /// tail is calibrated to reproduce it.
    pub mean: Option<f64>,
    pub current_units: u64,
    pub min_presentation: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocationProblem {
    pub skus: Vec<SkuInput>,
    pub warehouses: Vec<WarehouseInput>,
    pub cells: Vec<CellInput>,
    /// `transfer_cost_per_unit[from][to]`, warehouses × warehouses; the diagonal is ignored.
    pub transfer_cost_per_unit: Vec<Vec<f64>>,
    pub policy: Policy,
}

/// The target stock of one cell. `targets` in a solution follow the order of `problem.cells`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub sku_index: usize,
    pub warehouse_index: usize,
    pub target_units: u64,
    pub current_units: u64,
    /// E[min(D, target)] in units.
    pub expected_sales: f64,
    /// expected_sales / mean demand; 1.0 when the mean demand is 0.
    pub fill_rate: f64,
    /// Mean demand E[D] of the distribution the solver used.
    pub expected_demand_units: f64,
    /// Units the plan brings in (transfers, inbound) minus units it ships out: the change a
    /// transfer or an inbound placement carries out (see [`super::PlanFigures`]).
    pub change_units: i64,
}

/// Stock moved between two warehouses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub sku_index: usize,
    pub from_warehouse: usize,
    pub to_warehouse: usize,
    pub units: u64,
}

/// Inbound stock sent straight to a warehouse (at no transfer cost).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundPlacement {
    pub sku_index: usize,
    pub to_warehouse: usize,
    pub units: u64,
}

/// Figures about a solve, for reports and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SolveStats {
    /// Σ margin · E[min(D, target)].
    pub expected_margin: f64,
    /// Σ holding cost · target.
    pub holding_cost: f64,
    /// The transfer cost term of the objective (see the module documentation).
    pub modelled_transfer_cost: f64,
    /// The cost of the transfer plan actually returned (exact min-cost plan).
    pub plan_transfer_cost: f64,
    /// The Lagrangian value at the same prices with case packs relaxed as well (unit segments,
    /// raw minimums): an upper bound on that looser LP relaxation, ≥ `bound`.
    pub bound_without_case_packs: f64,
    /// Price-adjustment rounds of the Lagrangian dual.
    pub dual_iterations: usize,
    /// Capacity constraints that can bind (have a price).
    pub priced_constraints: usize,
    /// Units removed by the repair pass / added by the fill pass.
    pub repaired_units: u64,
    pub filled_units: u64,
    /// Improving moves of the small-instance local search plus negative cycles cancelled by the
    /// exact polishing (unit capacities only).
    pub polish_cycles: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocationSolution {
    pub targets: Vec<Target>,
    pub transfers: Vec<Transfer>,
    pub inbound: Vec<InboundPlacement>,
    /// Σ margin·E[min(D,x)] − holding·x − modelled transfer cost.
    pub objective: f64,
    /// Lagrangian dual value: an upper bound on the LP relaxation and so on any allocation.
    pub bound: f64,
    /// (bound − objective) / |bound| (0 when both are 0).
    pub gap: f64,
    pub messages: Vec<String>,
    pub stats: SolveStats,
    /// Totals per warehouse and over the plan, computed once for every reader.
    pub figures: super::PlanFigures,
}

#[derive(Debug, Clone, PartialEq, Error)]
pub enum AllocationError {
    #[error("invalid allocation input: {0}")]
    InvalidInput(String),
}

/// Largest unit count handled (per cell and per SKU); keeps internal arithmetic in `u32`.
pub(crate) const MAX_UNITS: u64 = 1 << 30;

fn invalid(msg: String) -> AllocationError {
    AllocationError::InvalidInput(msg)
}

fn check_cost(what: &str, field: &str, v: f64) -> Result<(), AllocationError> {
    if !v.is_finite() {
        return Err(invalid(format!(
            "{what}: {field} is not a finite number ({v})"
        )));
    }
    if v < 0.0 {
        return Err(invalid(format!("{what}: {field} is negative ({v})")));
    }
    Ok(())
}

impl AllocationProblem {
    /// Checks every field; the error names the SKU/warehouse and the field.
    pub fn validate(&self) -> Result<(), AllocationError> {
        self.validate_skus()?;
        self.validate_warehouses()?;
        self.validate_transfer_costs()?;
        let available = self.validate_cells()?;
        self.validate_no_duplicate_cells()?;
        for (s, a) in available.iter().enumerate() {
            if a + self.skus[s].inbound_units > MAX_UNITS {
                return Err(invalid(format!(
                    "SKU {:?}: available stock {} exceeds the supported {MAX_UNITS}",
                    self.skus[s].sku,
                    a + self.skus[s].inbound_units
                )));
            }
        }
        Ok(())
    }

    fn validate_skus(&self) -> Result<(), AllocationError> {
        for s in &self.skus {
            let what = format!("SKU {:?}", s.sku);
            check_cost(&what, "unit_margin", s.unit_margin)?;
            check_cost(&what, "holding_cost", s.holding_cost)?;
            check_cost(&what, "unit_volume_m3", s.unit_volume_m3)?;
            if s.case_pack == 0 || s.case_pack as u64 > MAX_UNITS {
                return Err(invalid(format!(
                    "{what}: case_pack must be between 1 and {MAX_UNITS}, got {}",
                    s.case_pack
                )));
            }
            if s.inbound_units > MAX_UNITS {
                return Err(invalid(format!(
                    "{what}: inbound_units {} exceeds the supported {MAX_UNITS}",
                    s.inbound_units
                )));
            }
        }
        Ok(())
    }

    fn validate_warehouses(&self) -> Result<(), AllocationError> {
        for w in &self.warehouses {
            let what = format!("warehouse {:?}", w.warehouse);
            if let Some(c) = w.capacity_units {
                check_cost(&what, "capacity_units", c)?;
            }
            if let Some(c) = w.capacity_m3 {
                check_cost(&what, "capacity_m3", c)?;
            }
        }
        Ok(())
    }

    /// One row per warehouse, one entry per warehouse in each, every cost finite and ≥ 0.
    fn validate_transfer_costs(&self) -> Result<(), AllocationError> {
        let nw = self.warehouses.len();
        if self.transfer_cost_per_unit.len() != nw {
            return Err(invalid(format!(
                "transfer_cost_per_unit has {} rows, expected one per warehouse ({nw})",
                self.transfer_cost_per_unit.len()
            )));
        }
        for (i, row) in self.transfer_cost_per_unit.iter().enumerate() {
            let from = &self.warehouses[i].warehouse;
            if row.len() != nw {
                return Err(invalid(format!(
                    "transfer_cost_per_unit row for warehouse {from:?} has {} entries, expected {nw}",
                    row.len()
                )));
            }
            for (j, &c) in row.iter().enumerate() {
                let what = format!(
                    "transfer cost from warehouse {from:?} to warehouse {:?}",
                    self.warehouses[j].warehouse
                );
                check_cost(&what, "cost per unit", c)?;
            }
        }
        Ok(())
    }

    /// Each cell's indices, demand quantiles, mean and units; returns the units on hand per
    /// SKU.
    fn validate_cells(&self) -> Result<Vec<u64>, AllocationError> {
        let nw = self.warehouses.len();
        let mut available = vec![0u64; self.skus.len()];
        for (i, c) in self.cells.iter().enumerate() {
            let sku = self.skus.get(c.sku_index).ok_or_else(|| {
                invalid(format!(
                    "cell {i}: sku_index {} out of range ({} SKUs)",
                    c.sku_index,
                    self.skus.len()
                ))
            })?;
            let wh = self.warehouses.get(c.warehouse_index).ok_or_else(|| {
                invalid(format!(
                    "cell {i} (SKU {:?}): warehouse_index {} out of range ({nw} warehouses)",
                    sku.sku, c.warehouse_index
                ))
            })?;
            let what = || format!("SKU {:?} at warehouse {:?}", sku.sku, wh.warehouse);
            check_quantiles(&what(), &c.demand)?;
            if let Some(m) = c.mean {
                if !m.is_finite() || m < 0.0 {
                    check_cost(&what(), "mean", m)?;
                }
            }
            if c.current_units > MAX_UNITS || c.min_presentation > MAX_UNITS {
                return Err(invalid(format!(
                    "{}: current_units/min_presentation exceed the supported {MAX_UNITS}",
                    what()
                )));
            }
            available[c.sku_index] += c.current_units;
        }
        Ok(available)
    }

    /// No SKU has two cells at one warehouse (cells grouped by SKU, warehouses stamped).
    fn validate_no_duplicate_cells(&self) -> Result<(), AllocationError> {
        let nw = self.warehouses.len();
        let ns = self.skus.len();
        let mut start = vec![0usize; ns + 1];
        for c in &self.cells {
            start[c.sku_index + 1] += 1;
        }
        for s in 0..ns {
            start[s + 1] += start[s];
        }
        let mut order = vec![0u32; self.cells.len()];
        let mut pos = start.clone();
        for (i, c) in self.cells.iter().enumerate() {
            order[pos[c.sku_index]] = i as u32;
            pos[c.sku_index] += 1;
        }
        let mut stamp = vec![usize::MAX; nw];
        for s in 0..ns {
            for &i in &order[start[s]..start[s + 1]] {
                let w = self.cells[i as usize].warehouse_index;
                if stamp[w] == s {
                    return Err(invalid(format!(
                        "SKU {:?} at warehouse {:?}: duplicate cell",
                        self.skus[s].sku, self.warehouses[w].warehouse
                    )));
                }
                stamp[w] = s;
            }
        }
        Ok(())
    }
}

/// Demand quantiles: levels inside (0, 1) and strictly increasing, units finite, ≥ 0 and
/// monotone.
fn check_quantiles(what: &str, demand: &[QuantilePoint]) -> Result<(), AllocationError> {
    let mut prev: Option<QuantilePoint> = None;
    for (k, q) in demand.iter().enumerate() {
        if !q.level.is_finite() || q.level <= 0.0 || q.level >= 1.0 {
            return Err(invalid(format!(
                "{}: demand quantile {k} has level {} (must be inside (0, 1))",
                what, q.level
            )));
        }
        if !q.units.is_finite() || q.units < 0.0 {
            return Err(invalid(format!(
                "{}: demand quantile {k} (level {}) has units {} (must be finite and ≥ 0)",
                what, q.level, q.units
            )));
        }
        if let Some(p) = prev {
            if q.level <= p.level {
                return Err(invalid(format!(
                    "{}: demand quantile levels must strictly increase ({} then {})",
                    what, p.level, q.level
                )));
            }
            if q.units < p.units {
                return Err(invalid(format!(
                    "{}: demand quantiles are not monotone: level {} → {} units, level {} → {} units",
                    what,
                    p.level,
                    p.units,
                    q.level,
                    q.units
                )));
            }
        }
        prev = Some(*q);
    }
    Ok(())
}
