//! `report allocation`: a published allocation run (the one in force by `allocation::in_force`,
//! the latest for `--promotion`, or `--run`): targets against current stock per warehouse, the
//! change the plan carries out, fill rate, capacity use, the transfers, and with `--diff` the
//! change from the previous published run for the same promotions.
//!
//! Every figure is the one the allocator computed and stored with the run
//! (`allocation_runs`, `allocation_warehouse_figures`, `allocation_targets`): nothing here
//! recomputes fill rate, change, transfers or inbound with a formula of its own. With `--sku`
//! or `--category` the per-warehouse rows are sums of the stored per-cell figures.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::lookup::promotion;
use super::query::{Bind, Sql};
use super::view::{column, cut, Chart, ReportView, Section, Value};
use super::{Filters, ReportError};
use crate::allocation::in_force::{latest_for_promotion, load_published, resolve, Standing};
use crate::allocation::runs::{find_run, RunFigures};
use crate::allocation::AllocationStoreError;
use crate::report_fetch;
use crate::store::Store;

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunInfo {
    pub id: String,
    pub promotion: String,
    pub promotions: Vec<String>,
    pub as_of: NaiveDate,
    pub policy: String,
    pub gap: f64,
    /// in force, scheduled, superseded by …, ended (`allocation::in_force`).
    pub standing: String,
    /// The run's stored figures (`None` on runs written before they were kept).
    pub figures: Option<RunFigures>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WarehouseTotals {
    pub cells: i64,
    pub current_units: f64,
    pub target_units: f64,
    /// Transfers and inbound in, minus transfers out: the change the plan carries out.
    pub change_units: f64,
    pub inbound_units: f64,
    /// Stock left in place beyond the targets.
    pub untargeted_units: f64,
    pub expected_sales_units: f64,
    pub expected_demand_units: f64,
    /// As stored for the whole warehouse; `None` when filtered to SKUs (then the sums give it).
    pub stored_fill_rate: Option<f64>,
}

/// The previous run, its per-warehouse totals and the number of changed cells per warehouse.
pub type PreviousRun = (
    RunInfo,
    BTreeMap<String, WarehouseTotals>,
    BTreeMap<String, i64>,
);

#[derive(Debug, Clone)]
pub struct AllocationInput {
    pub run: RunInfo,
    pub warehouses: BTreeMap<String, WarehouseTotals>,
    /// Target units per warehouse over every SKU (for capacity use, whatever the filters).
    pub all_targets: BTreeMap<String, f64>,
    pub capacity_units: BTreeMap<String, Option<f64>>,
    /// (sku, from, to, units).
    pub transfers: Vec<(String, String, String, i64)>,
    /// The previous published run for the same promotion, its totals and changed cells.
    pub previous: Option<PreviousRun>,
    pub diff_requested: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct WarehouseRow {
    pub warehouse: String,
    pub current_units: f64,
    pub target_units: f64,
    pub change_units: f64,
    pub from_inbound_units: f64,
    pub untargeted_units: f64,
    pub fill_rate: Option<f64>,
    pub capacity_use: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DiffRow {
    pub warehouse: String,
    pub previous_target_units: f64,
    pub target_units: f64,
    pub change_units: f64,
    pub cells_changed: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TransferRow {
    pub sku: String,
    pub from_warehouse: String,
    pub to_warehouse: String,
    pub units: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AllocationReport {
    pub run: RunInfo,
    pub warehouses: Vec<WarehouseRow>,
    pub fill_rate: Option<f64>,
    /// Transfers between warehouses, and their units ("to move").
    pub transfers_total: usize,
    pub transfer_units_total: i64,
    /// Units placed straight from inbound stock.
    pub from_inbound_units_total: i64,
    pub transfers: Vec<TransferRow>,
    pub transfers_left_out: usize,
    pub previous_run: Option<RunInfo>,
    pub diff: Vec<DiffRow>,
    pub diff_note: Option<String>,
}

fn store_error(error: AllocationStoreError) -> ReportError {
    match error {
        AllocationStoreError::Store(error) => ReportError::Store(error),
        other => ReportError::BadInput(other.to_string()),
    }
}

async fn run_info(
    store: &Store,
    id: &str,
    standings: &BTreeMap<String, Standing>,
) -> Result<RunInfo, ReportError> {
    let run = find_run(store, id).await.map_err(store_error)?;
    Ok(RunInfo {
        standing: standings
            .get(&run.id)
            .map_or_else(|| run.status.clone(), Standing::label),
        id: run.id,
        promotion: run.promotion,
        promotions: run.promotions,
        as_of: run.as_of,
        policy: run.policy,
        gap: run.gap,
        figures: run.figures,
    })
}

/// Per-warehouse figures: as stored for the whole warehouse, or summed from the stored
/// per-cell figures when the report is narrowed to some SKUs.
async fn totals(
    store: &Store,
    run_id: &str,
    filters: &Filters,
) -> Result<BTreeMap<String, WarehouseTotals>, ReportError> {
    if filters.sku.is_none() && filters.category.is_none() {
        let mut sql = Sql::new(
            "SELECT f.warehouse, f.cells, CAST(f.current_units AS DOUBLE PRECISION), \
             CAST(f.target_units AS DOUBLE PRECISION), CAST(f.change_units AS DOUBLE PRECISION), \
             CAST(f.inbound_units AS DOUBLE PRECISION), CAST(f.untargeted_units AS DOUBLE PRECISION), \
             f.expected_sales_units, f.expected_demand_units, f.fill_rate \
             FROM allocation_warehouse_figures f WHERE ",
        );
        sql.clause("f.run_id = ?", vec![Bind::Text(run_id.to_string())]);
        if let Some(warehouse) = &filters.warehouse {
            sql.clause(" AND f.warehouse = ?", vec![Bind::Text(warehouse.clone())]);
        }
        type Row = (String, i64, f64, f64, f64, f64, f64, f64, f64, Option<f64>);
        return Ok(report_fetch!(store, sql, Row)
            .into_iter()
            .map(
                |(
                    warehouse,
                    cells,
                    current,
                    target,
                    change,
                    inbound,
                    untargeted,
                    sales,
                    demand,
                    fill,
                )| {
                    (
                        warehouse,
                        WarehouseTotals {
                            cells,
                            current_units: current,
                            target_units: target,
                            change_units: change,
                            inbound_units: inbound,
                            untargeted_units: untargeted,
                            expected_sales_units: sales,
                            expected_demand_units: demand,
                            stored_fill_rate: fill,
                        },
                    )
                },
            )
            .collect());
    }
    let mut sql = Sql::new(
        "SELECT t.warehouse, COUNT(*), CAST(SUM(t.current_units) AS DOUBLE PRECISION), \
         CAST(SUM(t.target_units) AS DOUBLE PRECISION), CAST(SUM(t.change_units) AS DOUBLE PRECISION), \
         CAST(SUM(t.current_units + t.change_units - t.target_units) AS DOUBLE PRECISION), \
         SUM(t.expected_sales), SUM(t.expected_demand_units) \
         FROM allocation_targets t WHERE ",
    );
    sql.clause("t.run_id = ?", vec![Bind::Text(run_id.to_string())]);
    filters.restrict(&mut sql, "t");
    sql.push(" GROUP BY t.warehouse");
    let mut totals: BTreeMap<String, WarehouseTotals> =
        report_fetch!(store, sql, (String, i64, f64, f64, f64, f64, f64, f64))
            .into_iter()
            .map(
                |(warehouse, cells, current, target, change, untargeted, sales, demand)| {
                    (
                        warehouse,
                        WarehouseTotals {
                            cells,
                            current_units: current,
                            target_units: target,
                            change_units: change,
                            inbound_units: 0.0,
                            untargeted_units: untargeted,
                            expected_sales_units: sales,
                            expected_demand_units: demand,
                            stored_fill_rate: None,
                        },
                    )
                },
            )
            .collect();
    let mut sql = Sql::new(
        "SELECT t.to_warehouse, CAST(SUM(t.units) AS DOUBLE PRECISION) FROM allocation_transfers t WHERE ",
    );
    sql.clause(
        "t.run_id = ? AND t.from_warehouse = 'inbound'",
        vec![Bind::Text(run_id.to_string())],
    );
    Filters {
        warehouse: None,
        ..filters.clone()
    }
    .restrict(&mut sql, "t");
    sql.push(" GROUP BY t.to_warehouse");
    for (warehouse, units) in report_fetch!(store, sql, (String, f64)) {
        if let Some(row) = totals.get_mut(&warehouse) {
            row.inbound_units = units;
        }
    }
    Ok(totals)
}

pub async fn load(store: &Store, filters: &Filters) -> Result<AllocationInput, ReportError> {
    if let Some(id) = &filters.promotion {
        promotion(store, id).await?;
    }
    let published = load_published(store, filters.as_of)
        .await
        .map_err(store_error)?;
    let resolution = resolve(&published);
    let chosen = match (&filters.run, &filters.promotion) {
        (Some(id), promotion) => published
            .iter()
            .find(|r| {
                &r.id == id
                    && promotion
                        .as_ref()
                        .is_none_or(|p| r.promotions.iter().any(|q| q == p))
            })
            .map(|r| r.id.clone()),
        (None, Some(promotion)) => {
            latest_for_promotion(&published, promotion).map(|r| r.id.clone())
        }
        (None, None) => resolution.in_force.clone(),
    };
    let run = match chosen {
        Some(id) => run_info(store, &id, &resolution.standings).await?,
        None => {
            if let Some(id) = &filters.run {
                return Err(ReportError::BadInput(format!(
                    "--run {id}: no published allocation run with that id{}",
                    filters.describe_suffix()
                )));
            }
            return Err(ReportError::Empty(format!(
                "no published allocation run{}; run `stockcast allocate` first",
                filters.describe_suffix()
            )));
        }
    };
    let warehouses = totals(store, &run.id, filters).await?;
    let all_targets = totals(store, &run.id, &Filters::default())
        .await?
        .into_iter()
        .map(|(warehouse, t)| (warehouse, t.target_units))
        .collect();
    let sql = Sql::new("SELECT warehouse, capacity_units FROM warehouses");
    let capacity_units = report_fetch!(store, sql, (String, Option<f64>))
        .into_iter()
        .collect();

    let mut sql = Sql::new(
        "SELECT t.sku, t.from_warehouse, t.to_warehouse, t.units FROM allocation_transfers t WHERE ",
    );
    sql.clause("t.run_id = ?", vec![Bind::Text(run.id.clone())]);
    let no_warehouse = Filters {
        warehouse: None,
        ..filters.clone()
    };
    no_warehouse.restrict(&mut sql, "t");
    if let Some(warehouse) = &filters.warehouse {
        sql.clause(
            " AND (t.from_warehouse = ? OR t.to_warehouse = ?)",
            vec![Bind::Text(warehouse.clone()), Bind::Text(warehouse.clone())],
        );
    }
    let transfers = report_fetch!(store, sql, (String, String, String, i64));

    let previous = if filters.diff {
        // Like with like: the latest run published before this one for the same promotions.
        let this = published.iter().find(|r| r.id == run.id);
        let before = this.and_then(|this| {
            published
                .iter()
                .filter(|r| {
                    r.id != this.id
                        && r.promotions == this.promotions
                        && (r.published_at, r.created_at, &r.id)
                            < (this.published_at, this.created_at, &this.id)
                })
                .max_by(|a, b| {
                    (a.published_at, a.created_at, &a.id).cmp(&(
                        b.published_at,
                        b.created_at,
                        &b.id,
                    ))
                })
        });
        match before {
            Some(before) => {
                let before = run_info(store, &before.id, &resolution.standings).await?;
                let before_totals = totals(store, &before.id, filters).await?;
                let mut sql = Sql::new(
                    "SELECT t.warehouse, COUNT(*) FROM allocation_targets t \
                     LEFT JOIN allocation_targets b ON b.sku = t.sku AND b.warehouse = t.warehouse AND ",
                );
                sql.clause(
                    "b.run_id = ? WHERE t.run_id = ? AND (b.target_units IS NULL OR b.target_units <> t.target_units)",
                    vec![Bind::Text(before.id.clone()), Bind::Text(run.id.clone())],
                );
                filters.restrict(&mut sql, "t");
                sql.push(" GROUP BY t.warehouse");
                let changed = report_fetch!(store, sql, (String, i64))
                    .into_iter()
                    .collect();
                Some((before, before_totals, changed))
            }
            None => None,
        }
    } else {
        None
    };
    Ok(AllocationInput {
        run,
        warehouses,
        all_targets,
        capacity_units,
        transfers,
        previous,
        diff_requested: filters.diff,
    })
}

pub fn build(input: &AllocationInput, filters: &Filters) -> Result<AllocationReport, ReportError> {
    if input.warehouses.is_empty() {
        return Err(ReportError::Empty(format!(
            "allocation run {} has no targets{}",
            input.run.id,
            filters.describe_suffix()
        )));
    }
    let warehouses: Vec<WarehouseRow> = input
        .warehouses
        .iter()
        .map(|(warehouse, t)| WarehouseRow {
            warehouse: warehouse.clone(),
            current_units: t.current_units,
            target_units: t.target_units,
            change_units: t.change_units,
            from_inbound_units: t.inbound_units,
            untargeted_units: t.untargeted_units,
            fill_rate: match t.stored_fill_rate {
                Some(rate) => Some(rate),
                None => (t.expected_demand_units > 0.0)
                    .then(|| t.expected_sales_units / t.expected_demand_units),
            },
            capacity_use: match (
                input.capacity_units.get(warehouse).copied().flatten(),
                input.all_targets.get(warehouse),
            ) {
                (Some(capacity), Some(target)) if capacity > 0.0 => Some(target / capacity),
                _ => None,
            },
        })
        .collect();
    let sales: f64 = input
        .warehouses
        .values()
        .map(|t| t.expected_sales_units)
        .sum();
    let demand: f64 = input
        .warehouses
        .values()
        .map(|t| t.expected_demand_units)
        .sum();
    let unfiltered =
        filters.sku.is_none() && filters.category.is_none() && filters.warehouse.is_none();
    let mut transfers: Vec<TransferRow> = input
        .transfers
        .iter()
        .map(|(sku, from, to, units)| TransferRow {
            sku: sku.clone(),
            from_warehouse: from.clone(),
            to_warehouse: to.clone(),
            units: *units,
        })
        .collect();
    transfers.sort_by(|a, b| {
        b.units
            .cmp(&a.units)
            .then_with(|| a.sku.cmp(&b.sku))
            .then_with(|| a.from_warehouse.cmp(&b.from_warehouse))
            .then_with(|| a.to_warehouse.cmp(&b.to_warehouse))
    });
    // "to move" is between warehouses; inbound placements are counted apart.
    let (transfers_total, transfer_units_total, from_inbound_units_total) =
        match (&input.run.figures, unfiltered) {
            (Some(f), true) => (f.transfers as usize, f.units_to_move, f.units_from_inbound),
            _ => {
                let (inbound, between): (Vec<&TransferRow>, Vec<&TransferRow>) = transfers
                    .iter()
                    .partition(|t| t.from_warehouse == "inbound");
                (
                    between.len(),
                    between.iter().map(|t| t.units).sum(),
                    inbound.iter().map(|t| t.units).sum(),
                )
            }
        };
    let fill_rate = match (&input.run.figures, unfiltered) {
        (Some(f), true) => f.fill_rate,
        _ => (demand > 0.0).then(|| sales / demand),
    };
    let transfers_left_out = cut(&mut transfers, filters.rows());

    let (previous_run, diff, diff_note) = match &input.previous {
        Some((before, before_totals, changed)) => {
            let mut names: Vec<&String> = input
                .warehouses
                .keys()
                .chain(before_totals.keys())
                .collect();
            names.sort();
            names.dedup();
            let diff = names
                .into_iter()
                .map(|warehouse| {
                    let now = input
                        .warehouses
                        .get(warehouse)
                        .map_or(0.0, |t| t.target_units);
                    let then = before_totals.get(warehouse).map_or(0.0, |t| t.target_units);
                    DiffRow {
                        warehouse: warehouse.clone(),
                        previous_target_units: then,
                        target_units: now,
                        change_units: now - then,
                        cells_changed: changed.get(warehouse).copied().unwrap_or(0),
                    }
                })
                .collect();
            (Some(before.clone()), diff, None)
        }
        None if input.diff_requested => (
            None,
            Vec::new(),
            Some(format!(
                "--diff: no earlier published run for the same promotions ({}); runs for other promotions are not compared",
                input.run.promotions.join(", ")
            )),
        ),
        None => (None, Vec::new(), None),
    };
    Ok(AllocationReport {
        run: input.run.clone(),
        warehouses,
        fill_rate,
        transfers_total,
        transfer_units_total,
        from_inbound_units_total,
        transfers,
        transfers_left_out,
        previous_run,
        diff,
        diff_note,
    })
}

impl AllocationReport {
    pub fn view(&self) -> ReportView {
        let mut view = ReportView::new(format!(
            "Allocation for promotion{} {} (run {}, {})",
            if self.run.promotions.len() > 1 {
                "s"
            } else {
                ""
            },
            self.run.promotions.join(", "),
            self.run.id,
            self.run.standing
        ));
        view.context.push(format!(
            "As of {}, policy {}, gap to the bound {:.3}%; expected fill rate {}; {} transfers moving {} units between warehouses; {} units from inbound",
            self.run.as_of,
            self.run.policy,
            self.run.gap * 100.0,
            super::format::display(&Value::opt_share(self.fill_rate)),
            super::format::grouped(self.transfers_total as f64, 0),
            super::format::grouped(self.transfer_units_total as f64, 0),
            super::format::grouped(self.from_inbound_units_total as f64, 0)
        ));
        let mut section = Section::new(
            "Targets vs current stock per warehouse",
            vec![
                column("warehouse", "warehouse"),
                column("current_units", "current, units"),
                column("target_units", "target, units"),
                column("change_units", "change, units"),
                column("from_inbound_units", "from inbound, units"),
                column("untargeted_units", "left in place, units"),
                column("fill_rate", "fill rate"),
                column("capacity_use", "capacity use"),
            ],
        );
        for row in &self.warehouses {
            section.push(vec![
                Value::text(&row.warehouse),
                Value::Units(row.current_units),
                Value::Units(row.target_units),
                Value::Units(row.change_units),
                Value::Units(row.from_inbound_units),
                Value::Units(row.untargeted_units),
                Value::opt_share(row.fill_rate),
                Value::opt_share(row.capacity_use),
            ]);
        }
        view.sections.push(section);
        let mut section = Section::new(
            "Transfers (largest first)",
            vec![
                column("sku", "sku"),
                column("from_warehouse", "from"),
                column("to_warehouse", "to"),
                column("units", "units"),
            ],
        );
        for row in &self.transfers {
            section.push(vec![
                Value::text(&row.sku),
                Value::text(&row.from_warehouse),
                Value::text(&row.to_warehouse),
                Value::Count(row.units),
            ]);
        }
        section.rows_left_out = self.transfers_left_out;
        view.sections.push(section);
        if let Some(before) = &self.previous_run {
            let mut section = Section::new(
                format!(
                    "Change from the previous run {} for the same promotions (as of {})",
                    before.id, before.as_of
                ),
                vec![
                    column("warehouse", "warehouse"),
                    column("previous_target_units", "previous target, units"),
                    column("target_units", "target, units"),
                    column("change_units", "change, units"),
                    column("cells_changed", "cells changed"),
                ],
            );
            for row in &self.diff {
                section.push(vec![
                    Value::text(&row.warehouse),
                    Value::Units(row.previous_target_units),
                    Value::Units(row.target_units),
                    Value::Units(row.change_units),
                    Value::Count(row.cells_changed),
                ]);
            }
            view.sections.push(section);
        }
        if let Some(note) = &self.diff_note {
            view.notes.push(note.clone());
        }
        view.notes.push("Figures are those the allocator stored with the run. Change = units the plan's transfers and inbound placements bring in minus units shipped out; stock above a target that no transfer moves is \"left in place\". Inbound = stock on order (the inventory file's inbound column) due before the window, placed by the plan at any warehouse. Capacity use is every SKU's target in the warehouse over its unit capacity, whatever the filters; fill rate is expected sales over expected demand.".to_string());
        view.charts.push(Chart::Bars {
            title: "Current stock and target per warehouse".to_string(),
            unit: "units".to_string(),
            labels: self
                .warehouses
                .iter()
                .map(|w| w.warehouse.clone())
                .collect(),
            series: vec![
                (
                    "current".to_string(),
                    self.warehouses.iter().map(|w| w.current_units).collect(),
                ),
                (
                    "target".to_string(),
                    self.warehouses.iter().map(|w| w.target_units).collect(),
                ),
            ],
            reference: None,
        });
        view
    }
}
