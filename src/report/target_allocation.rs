//! `report allocation`: a published allocation run (the one in force, or `--run`): targets
//! against current stock per warehouse, fill rate, capacity use, the transfers, and with
//! `--diff` the change from the previous published run for the same promotion.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::lookup::promotion;
use super::query::{Bind, Sql};
use super::view::{column, cut, Chart, ReportView, Section, Value};
use super::{Filters, ReportError};
use crate::report_fetch;
use crate::store::Store;

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunInfo {
    pub id: String,
    pub promotion: String,
    pub as_of: NaiveDate,
    pub policy: String,
    pub gap: f64,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WarehouseTotals {
    pub cells: i64,
    pub current_units: f64,
    pub target_units: f64,
    pub expected_sales_units: f64,
    pub expected_demand_units: f64,
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
    pub transfers_total: usize,
    pub transfer_units_total: i64,
    pub transfers: Vec<TransferRow>,
    pub transfers_left_out: usize,
    pub previous_run: Option<RunInfo>,
    pub diff: Vec<DiffRow>,
    pub diff_note: Option<String>,
}

type RunRow = (String, String, NaiveDate, String, f64);

fn run_info(row: RunRow) -> RunInfo {
    RunInfo {
        id: row.0,
        promotion: row.1,
        as_of: row.2,
        policy: row.3,
        gap: row.4,
    }
}

const RUN_SQL: &str =
    "SELECT id, promotion, as_of, policy, gap FROM allocation_runs WHERE status = 'published'";

async fn totals(
    store: &Store,
    run_id: &str,
    filters: &Filters,
) -> Result<BTreeMap<String, WarehouseTotals>, ReportError> {
    let mut sql = Sql::new(
        "SELECT t.warehouse, COUNT(*), CAST(SUM(t.current_units) AS DOUBLE PRECISION), \
         CAST(SUM(t.target_units) AS DOUBLE PRECISION), SUM(t.expected_sales), \
         SUM(CASE WHEN t.fill_rate > 0 THEN t.expected_sales / t.fill_rate ELSE 0.0 END) \
         FROM allocation_targets t WHERE ",
    );
    sql.clause("t.run_id = ?", vec![Bind::Text(run_id.to_string())]);
    filters.restrict(&mut sql, "t");
    sql.push(" GROUP BY t.warehouse");
    Ok(report_fetch!(store, sql, (String, i64, f64, f64, f64, f64))
        .into_iter()
        .map(|(warehouse, cells, current, target, sales, demand)| {
            (
                warehouse,
                WarehouseTotals {
                    cells,
                    current_units: current,
                    target_units: target,
                    expected_sales_units: sales,
                    expected_demand_units: demand,
                },
            )
        })
        .collect())
}

pub async fn load(store: &Store, filters: &Filters) -> Result<AllocationInput, ReportError> {
    let mut sql = Sql::new(RUN_SQL);
    if let Some(id) = &filters.run {
        sql.clause(" AND id = ?", vec![Bind::Text(id.clone())]);
    }
    if let Some(id) = &filters.promotion {
        promotion(store, id).await?;
        sql.clause(" AND promotion = ?", vec![Bind::Text(id.clone())]);
    }
    if let Some(as_of) = filters.as_of {
        sql.clause(" AND as_of <= ?", vec![Bind::Date(as_of)]);
    }
    sql.push(" ORDER BY published_at DESC, id DESC LIMIT 1");
    let run = match report_fetch!(store, sql, RunRow).into_iter().next() {
        Some(row) => run_info(row),
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
        let mut sql = Sql::new(RUN_SQL);
        sql.clause(
            " AND promotion = ? AND id <> ? AND published_at <= \
             (SELECT published_at FROM allocation_runs WHERE id = ?) \
             ORDER BY published_at DESC, id DESC LIMIT 1",
            vec![
                Bind::Text(run.promotion.clone()),
                Bind::Text(run.id.clone()),
                Bind::Text(run.id.clone()),
            ],
        );
        match report_fetch!(store, sql, RunRow).into_iter().next() {
            Some(row) => {
                let before = run_info(row);
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
            change_units: t.target_units - t.current_units,
            fill_rate: (t.expected_demand_units > 0.0)
                .then(|| t.expected_sales_units / t.expected_demand_units),
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
    let transfers_total = transfers.len();
    let transfer_units_total = transfers.iter().map(|t| t.units).sum();
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
                "--diff: no earlier published run for promotion {}",
                input.run.promotion
            )),
        ),
        None => (None, Vec::new(), None),
    };
    Ok(AllocationReport {
        run: input.run.clone(),
        warehouses,
        fill_rate: (demand > 0.0).then(|| sales / demand),
        transfers_total,
        transfer_units_total,
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
            "Allocation for promotion {} (run {})",
            self.run.promotion, self.run.id
        ));
        view.context.push(format!(
            "As of {}, policy {}, gap to the bound {:.3}%; expected fill rate {}; {} transfers moving {} units",
            self.run.as_of,
            self.run.policy,
            self.run.gap * 100.0,
            super::format::display(&Value::opt_share(self.fill_rate)),
            super::format::grouped(self.transfers_total as f64, 0),
            super::format::grouped(self.transfer_units_total as f64, 0)
        ));
        let mut section = Section::new(
            "Targets vs current stock per warehouse",
            vec![
                column("warehouse", "warehouse"),
                column("current_units", "current, units"),
                column("target_units", "target, units"),
                column("change_units", "change, units"),
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
                    "Change from the previous run {} (as of {})",
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
        view.notes.push("Capacity use is every SKU's target in the warehouse over its unit capacity, whatever the filters; fill rate is expected sales over expected demand.".to_string());
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
