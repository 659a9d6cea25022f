//! `report stockout-risk`: SKU × warehouse cells where demand over the promotion window is
//! likely to exceed stock on hand plus inbound, ranked by margin at risk, each with the
//! transfer that would fix it.
//!
//! - P(stock-out) = P(D > S), D the window demand from the forecast quantiles (see
//!   `window_demand`) and S the stock projected at the window's start: on_hand + inbound −
//!   the forecast's expected demand from the day after its as-of date to the day before the
//!   window (never below 0). Inbound is stock on order (`inventory.inbound`), taken to arrive
//!   before the window.
//! - Margin at risk = unit margin × E[(D − stock)⁺]; unit margin = regular price ×
//!   (1 − discount) × margin rate (40% by default, as `allocate --margin-rate`), regular price
//!   `allocate::DEFAULT_UNIT_PRICE` where the catalogue has none, as the allocation assumes.
//! - The fix: the transfers into that cell in the latest published allocation run planning
//!   the promotion (`allocation::in_force`); otherwise the same SKU's warehouse with the most surplus over its own p90
//!   demand, moving enough to reach the cell's p90 (or all the surplus, if less).

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use super::lookup::{latest_forecast_run, promotion_in_run, Promotion};
use super::query::{Bind, Sql};
use super::view::{column, cut, Chart, ReportView, Section, Value};
use super::window_demand::{load_window, CellWindow};
use super::{Filters, ReportError};
use crate::allocate::{promotional_unit_margin, regular_price};
use crate::allocation::in_force::run_for_promotion;
use crate::report_fetch;
use crate::store::Store;

/// (sku, from warehouse, to warehouse, units).
pub type TransferLine = (String, String, String, i64);

#[derive(Debug, Clone)]
pub struct StockoutInput {
    pub forecast_run: String,
    pub promotion: Promotion,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Window demand for every warehouse of the SKUs in scope (the warehouse filter is
    /// applied to the listing only, so surplus elsewhere is still seen).
    pub cells: Vec<CellWindow>,
    /// (on_hand, inbound) per (sku, warehouse).
    pub stock: HashMap<(String, String), (i64, i64)>,
    /// Expected demand between the forecast's as-of date and the window's start.
    pub demand_before: HashMap<(String, String), f64>,
    /// The latest published allocation run for the promotion and its transfers
    /// (sku, from, to, units).
    pub allocation: Option<(String, Vec<TransferLine>)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RiskRow {
    pub sku: String,
    pub warehouse: String,
    pub category: String,
    pub stockout_probability: f64,
    pub expected_demand_units: f64,
    pub p90_demand_units: f64,
    /// On hand + inbound today.
    pub stock_units: i64,
    /// Expected demand from the day after the as-of date to the day before the window.
    pub demand_before_units: f64,
    /// stock − demand before, at least 0: what the window starts with.
    pub projected_stock_units: f64,
    pub expected_shortfall_units: f64,
    pub margin_at_risk: f64,
    pub fix: Fix,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fix {
    /// Transfers into the cell in the published allocation run.
    Allocation {
        run: String,
        moves: Vec<(String, i64)>,
    },
    /// A move from the SKU's warehouse with the most surplus.
    Surplus {
        from_warehouse: String,
        units: i64,
    },
    None,
}

impl Fix {
    fn describe(&self) -> String {
        match self {
            Fix::Allocation { moves, .. } => {
                let text: Vec<String> = moves
                    .iter()
                    .map(|(from, units)| {
                        format!("{} from {from}", super::format::grouped(*units as f64, 0))
                    })
                    .collect();
                format!("plan: {}", text.join(", "))
            }
            Fix::Surplus {
                from_warehouse,
                units,
            } => format!(
                "move {} from {from_warehouse}",
                super::format::grouped(*units as f64, 0)
            ),
            Fix::None => "no surplus elsewhere".to_string(),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StockoutReport {
    pub forecast_run: String,
    pub promotion: Promotion,
    pub window_from: NaiveDate,
    pub window_to: NaiveDate,
    pub min_probability: f64,
    pub margin_rate: f64,
    pub cells_checked: usize,
    pub cells_at_risk: usize,
    pub margin_at_risk_total: f64,
    pub rows: Vec<RiskRow>,
    pub rows_left_out: usize,
    /// Margin at risk per (category, warehouse), over every cell at risk.
    pub heat: BTreeMap<String, BTreeMap<String, f64>>,
}

pub async fn load(store: &Store, filters: &Filters) -> Result<StockoutInput, ReportError> {
    let run = latest_forecast_run(store, filters.as_of).await?;
    let (promotion, from, to) = promotion_in_run(store, filters, &run).await?;
    let everywhere = Filters {
        warehouse: None,
        ..filters.clone()
    };
    let cells = load_window(store, &run, &promotion, from, to, &everywhere).await?;

    let mut sql =
        Sql::new("SELECT i.sku, i.warehouse, i.on_hand, i.inbound FROM inventory i WHERE 1 = 1");
    sql.restrict_to_promotion(&promotion, "i");
    everywhere.restrict(&mut sql, "i");
    let stock = report_fetch!(store, sql, (String, String, i64, i64))
        .into_iter()
        .map(|(sku, warehouse, on_hand, inbound)| ((sku, warehouse), (on_hand, inbound)))
        .collect();

    let demand_before = if from > run.first_date() {
        load_window(
            store,
            &run,
            &promotion,
            run.first_date(),
            from - chrono::Duration::days(1),
            &everywhere,
        )
        .await?
        .into_iter()
        .map(|c| ((c.sku, c.warehouse), c.demand.mean))
        .collect()
    } else {
        HashMap::new()
    };

    let planned = run_for_promotion(store, &promotion.promo_id, None)
        .await
        .map_err(|e| match e {
            crate::allocation::AllocationStoreError::Store(e) => ReportError::Store(e),
            other => ReportError::BadInput(other.to_string()),
        })?;
    let allocation = match planned {
        Some(run_id) => {
            let mut sql = Sql::new(
                "SELECT t.sku, t.from_warehouse, t.to_warehouse, t.units FROM allocation_transfers t WHERE ",
            );
            sql.clause("t.run_id = ?", vec![Bind::Text(run_id.clone())]);
            if let Some(sku) = &filters.sku {
                sql.clause(" AND t.sku = ?", vec![Bind::Text(sku.clone())]);
            }
            Some((
                run_id,
                report_fetch!(store, sql, (String, String, String, i64)),
            ))
        }
        None => None,
    };
    Ok(StockoutInput {
        forecast_run: run.id,
        promotion,
        from,
        to,
        cells,
        stock,
        demand_before,
        allocation,
    })
}

/// Stock on hand plus inbound for a cell, and demand expected before the window starts.
fn stock_of(input: &StockoutInput, sku: &str, warehouse: &str) -> i64 {
    input
        .stock
        .get(&(sku.to_string(), warehouse.to_string()))
        .map_or(0, |(on_hand, inbound)| on_hand + inbound)
}

fn demand_before(input: &StockoutInput, sku: &str, warehouse: &str) -> f64 {
    input
        .demand_before
        .get(&(sku.to_string(), warehouse.to_string()))
        .copied()
        .unwrap_or(0.0)
}

/// Surplus over p90 demand per SKU, by warehouse: what could leave without creating a risk.
fn surplus_over_p90(input: &StockoutInput) -> HashMap<&str, Vec<(&str, i64)>> {
    let mut surplus: HashMap<&str, Vec<(&str, i64)>> = HashMap::new();
    let demand_p90: HashMap<(&str, &str), f64> = input
        .cells
        .iter()
        .map(|c| ((c.sku.as_str(), c.warehouse.as_str()), c.demand.p90()))
        .collect();
    for ((sku, warehouse), (on_hand, inbound)) in &input.stock {
        let need = demand_p90
            .get(&(sku.as_str(), warehouse.as_str()))
            .copied()
            .unwrap_or(0.0)
            .ceil() as i64;
        let spare = ((*on_hand + *inbound) as f64 - demand_before(input, sku, warehouse)).floor()
            as i64
            - need;
        if spare > 0 {
            surplus
                .entry(sku.as_str())
                .or_default()
                .push((warehouse.as_str(), spare));
        }
    }
    surplus
}

/// The published allocation's transfers into each (sku, warehouse).
fn planned_moves(input: &StockoutInput) -> HashMap<(&str, &str), Vec<(String, i64)>> {
    let mut planned: HashMap<(&str, &str), Vec<(String, i64)>> = HashMap::new();
    if let Some((_, transfers)) = &input.allocation {
        for (sku, from, to, units) in transfers {
            planned
                .entry((sku.as_str(), to.as_str()))
                .or_default()
                .push((from.clone(), *units));
        }
    }
    planned
}

/// What would close a cell's risk: the allocation's planned moves into it, else the largest
/// surplus of the SKU elsewhere, up to the shortfall against p90.
fn fix_for(
    input: &StockoutInput,
    cell: &CellWindow,
    at_start: f64,
    planned: &HashMap<(&str, &str), Vec<(String, i64)>>,
    surplus: &HashMap<&str, Vec<(&str, i64)>>,
) -> Fix {
    if let (Some((run, _)), Some(moves)) = (
        &input.allocation,
        planned.get(&(cell.sku.as_str(), cell.warehouse.as_str())),
    ) {
        let mut moves = moves.clone();
        moves.sort();
        return Fix::Allocation {
            run: run.clone(),
            moves,
        };
    }
    let need = ((cell.demand.p90() - at_start).ceil() as i64).max(1);
    let best = surplus.get(cell.sku.as_str()).and_then(|sources| {
        sources
            .iter()
            .filter(|(warehouse, _)| *warehouse != cell.warehouse)
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
    });
    match best {
        Some((from, spare)) => Fix::Surplus {
            from_warehouse: from.to_string(),
            units: need.min(*spare),
        },
        None => Fix::None,
    }
}

pub fn build(input: &StockoutInput, filters: &Filters) -> Result<StockoutReport, ReportError> {
    let surplus = surplus_over_p90(input);
    let planned = planned_moves(input);
    let mut rows = Vec::new();
    let mut cells_checked = 0;
    for cell in &input.cells {
        if !filters.matches(&cell.sku, &cell.category, &cell.warehouse) {
            continue;
        }
        cells_checked += 1;
        let stock = stock_of(input, &cell.sku, &cell.warehouse);
        let before = demand_before(input, &cell.sku, &cell.warehouse);
        let at_start = (stock as f64 - before).max(0.0);
        let (probability, short) = cell.demand.shortfall(at_start);
        if probability < filters.min_probability || short <= 0.0 {
            continue;
        }
        let unit_margin = promotional_unit_margin(
            regular_price(cell.unit_price),
            input.promotion.discount_pct,
            filters.margin_rate,
        );
        rows.push(RiskRow {
            sku: cell.sku.clone(),
            warehouse: cell.warehouse.clone(),
            category: cell.category.clone(),
            stockout_probability: probability,
            expected_demand_units: cell.demand.mean,
            p90_demand_units: cell.demand.p90(),
            stock_units: stock,
            demand_before_units: before,
            projected_stock_units: at_start,
            expected_shortfall_units: short,
            margin_at_risk: unit_margin * short,
            fix: fix_for(input, cell, at_start, &planned, &surplus),
        });
    }
    if rows.is_empty() {
        return Err(ReportError::Empty(format!(
            "no SKU × warehouse with P(stock-out) ≥ {:.0}% in promotion {} ({} … {}; {} cells checked){}",
            filters.min_probability * 100.0,
            input.promotion.promo_id,
            input.from,
            input.to,
            cells_checked,
            filters.describe_suffix()
        )));
    }
    let mut heat: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for row in &rows {
        *heat
            .entry(row.category.clone())
            .or_default()
            .entry(row.warehouse.clone())
            .or_default() += row.margin_at_risk;
    }
    rows.sort_by(|a, b| {
        b.margin_at_risk
            .total_cmp(&a.margin_at_risk)
            .then_with(|| a.sku.cmp(&b.sku))
            .then_with(|| a.warehouse.cmp(&b.warehouse))
    });
    let cells_at_risk = rows.len();
    let margin_at_risk_total = rows.iter().map(|r| r.margin_at_risk).sum();
    let rows_left_out = cut(&mut rows, filters.rows());
    Ok(StockoutReport {
        forecast_run: input.forecast_run.clone(),
        promotion: input.promotion.clone(),
        window_from: input.from,
        window_to: input.to,
        min_probability: filters.min_probability,
        margin_rate: filters.margin_rate,
        cells_checked,
        cells_at_risk,
        margin_at_risk_total,
        rows,
        rows_left_out,
        heat,
    })
}

impl StockoutReport {
    pub fn view(&self) -> ReportView {
        let mut view = ReportView::new(format!(
            "Stock-out risk in promotion {} \"{}\"",
            self.promotion.promo_id, self.promotion.name
        ));
        view.context.push(format!(
            "Scope: {}, {}% off; window {} … {}; forecast run {}",
            self.promotion.scope(),
            self.promotion.discount_pct,
            self.window_from,
            self.window_to,
            self.forecast_run
        ));
        view.context.push(format!(
            "{} of {} SKU × warehouse cells have P(window demand > stock at the window's start) ≥ {:.0}%; margin at risk {}",
            super::format::grouped(self.cells_at_risk as f64, 0),
            super::format::grouped(self.cells_checked as f64, 0),
            self.min_probability * 100.0,
            super::format::display(&Value::Money(self.margin_at_risk_total))
        ));
        let mut section = Section::new(
            "Cells at risk, by margin at risk",
            vec![
                column("sku", "sku"),
                column("warehouse", "warehouse"),
                column("stockout_probability", "P(out)"),
                column("expected_demand_units", "demand, units"),
                column("demand_before_units", "demand before, units"),
                column("projected_stock_units", "at start, units"),
                column("expected_shortfall_units", "short, units"),
                column("margin_at_risk", "margin at risk"),
                column("fix", "fix"),
            ],
        );
        for row in &self.rows {
            section.push(vec![
                Value::text(&row.sku),
                Value::text(&row.warehouse),
                Value::Share(row.stockout_probability),
                Value::Units(row.expected_demand_units),
                Value::Units(row.demand_before_units),
                Value::Units(row.projected_stock_units),
                Value::Units(row.expected_shortfall_units),
                Value::Money(row.margin_at_risk),
                Value::Text(row.fix.describe()),
            ]);
        }
        section.rows_left_out = self.rows_left_out;
        view.sections.push(section);
        let columns: Vec<String> = {
            let mut all: Vec<String> = self
                .heat
                .values()
                .flat_map(|row| row.keys().cloned())
                .collect();
            all.sort();
            all.dedup();
            all
        };
        let rows: Vec<String> = self.heat.keys().cloned().collect();
        let values = rows
            .iter()
            .map(|category| {
                columns
                    .iter()
                    .map(|warehouse| {
                        self.heat
                            .get(category)
                            .and_then(|row| row.get(warehouse))
                            .copied()
                            .unwrap_or(0.0)
                    })
                    .collect()
            })
            .collect();
        view.charts.push(Chart::Heat {
            title: "Margin at risk by category and warehouse".to_string(),
            unit: "$".to_string(),
            rows,
            columns,
            values,
        });
        view.notes.push(format!(
            "Stock at the window's start = on hand + inbound (stock on order, the inventory file's inbound column) − expected demand from the day after the forecast's as-of date to the day before the window, at least 0. Margin at risk = regular price × (1 − discount) × {:.0}% margin × expected shortfall E[(D − stock at start)⁺]; a fix \"plan\" comes from the latest published allocation run for the promotion, \"move\" from the warehouse with the most stock above its own p90 demand.",
            self.margin_rate * 100.0
        ));
        view
    }
}
