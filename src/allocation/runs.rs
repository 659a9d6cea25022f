//! Allocation runs in the database: written in one transaction (run, promotions covered,
//! targets, transfers and the solver's figures), flipped to `published` last, read back,
//! listed and compared. Which published run is in force is `in_force`'s rule.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use polars::prelude::*;

use super::{in_force, AllocationStoreError};
use crate::allocate::{AllocationProblem, AllocationSolution, Policy};
use crate::store::{FrameRows, OnConflict, Store};
use crate::{on_backend, on_tx};

#[derive(Debug, Clone)]
pub struct RunHeader {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub as_of: NaiveDate,
    /// The run's label: its promotion ids joined by '+'.
    pub promotion: String,
    /// Every promotion the run plans (one group of overlapping windows), sorted.
    pub promotions: Vec<String>,
    /// Span of the promotions' windows ahead of `as_of`.
    pub window_start: Option<NaiveDate>,
    pub window_end: Option<NaiveDate>,
    pub policy: Policy,
    pub input_fingerprint: String,
}

/// The run-level figures the solver computed (`allocate::PlanFigures`), as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunFigures {
    pub units_placed: i64,
    pub transfers: i64,
    pub units_to_move: i64,
    pub units_from_inbound: i64,
    pub expected_sales_units: f64,
    pub expected_demand_units: f64,
    pub fill_rate: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSummary {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub as_of: NaiveDate,
    pub promotion: String,
    pub promotions: Vec<String>,
    pub window_start: Option<NaiveDate>,
    pub window_end: Option<NaiveDate>,
    pub policy: String,
    pub status: String,
    pub objective: f64,
    pub bound: f64,
    pub gap: f64,
    pub messages: String,
    /// `None` for runs written before figures were stored.
    pub figures: Option<RunFigures>,
}

/// One line of a run's stored figures, the same wherever a run is summed up (the nightly
/// summary, `allocate`, `allocation show`).
pub fn figures_line(run: &RunSummary) -> String {
    let window = match (run.window_start, run.window_end) {
        (Some(start), Some(end)) => format!(" ({start} … {end})"),
        _ => String::new(),
    };
    let head = format!(
        "allocation {} for {}{window}",
        run.id,
        run.promotions.join(", ")
    );
    match &run.figures {
        Some(f) => format!(
            "{head}: {} units placed, {} units to move between warehouses in {} transfer(s), {} units from inbound, expected fill rate {}",
            f.units_placed,
            f.units_to_move,
            f.transfers,
            f.units_from_inbound,
            f.fill_rate
                .map_or("–".to_string(), |rate| format!("{:.1}%", rate * 100.0))
        ),
        None => format!("{head}: no stored figures (written before they were kept)"),
    }
}

pub fn policy_name(policy: Policy) -> &'static str {
    match policy {
        Policy::Margin => "margin",
        Policy::FairShare => "fair-share",
    }
}

pub fn new_run_id(now: DateTime<Utc>) -> String {
    format!(
        "alloc-{}-{:06x}",
        now.format("%Y%m%dT%H%M%S"),
        rand::random::<u32>() & 0xff_ffff
    )
}

fn targets_frame(
    problem: &AllocationProblem,
    solution: &AllocationSolution,
    run_id: &str,
) -> PolarsResult<DataFrame> {
    let n = solution.targets.len();
    let sku: Vec<&str> = solution
        .targets
        .iter()
        .map(|t| problem.skus[t.sku_index].sku.as_str())
        .collect();
    let warehouse: Vec<&str> = solution
        .targets
        .iter()
        .map(|t| problem.warehouses[t.warehouse_index].warehouse.as_str())
        .collect();
    DataFrame::new(
        n,
        vec![
            Series::new("run_id".into(), vec![run_id; n]).into(),
            Series::new("sku".into(), sku).into(),
            Series::new("warehouse".into(), warehouse).into(),
            Series::new(
                "target_units".into(),
                solution
                    .targets
                    .iter()
                    .map(|t| t.target_units as i64)
                    .collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                "current_units".into(),
                solution
                    .targets
                    .iter()
                    .map(|t| t.current_units as i64)
                    .collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                "expected_sales".into(),
                solution
                    .targets
                    .iter()
                    .map(|t| t.expected_sales)
                    .collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                "fill_rate".into(),
                solution
                    .targets
                    .iter()
                    .map(|t| t.fill_rate)
                    .collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                "change_units".into(),
                solution
                    .targets
                    .iter()
                    .map(|t| t.change_units)
                    .collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                "expected_demand_units".into(),
                solution
                    .targets
                    .iter()
                    .map(|t| t.expected_demand_units)
                    .collect::<Vec<_>>(),
            )
            .into(),
        ],
    )
}

fn warehouse_figures_frame(
    problem: &AllocationProblem,
    solution: &AllocationSolution,
    run_id: &str,
) -> PolarsResult<DataFrame> {
    // Only warehouses the plan has cells at: a warehouse outside every scope has no figures.
    let rows: Vec<_> = solution
        .figures
        .warehouses
        .iter()
        .filter(|w| w.cells > 0)
        .collect();
    let n = rows.len();
    let int = |name: &str, f: &dyn Fn(&crate::allocate::WarehouseFigures) -> i64| {
        Series::new(name.into(), rows.iter().map(|w| f(w)).collect::<Vec<_>>()).into()
    };
    DataFrame::new(
        n,
        vec![
            Series::new("run_id".into(), vec![run_id; n]).into(),
            Series::new(
                "warehouse".into(),
                rows.iter()
                    .map(|w| problem.warehouses[w.warehouse_index].warehouse.as_str())
                    .collect::<Vec<_>>(),
            )
            .into(),
            int("cells", &|w| w.cells as i64),
            int("current_units", &|w| w.current_units as i64),
            int("target_units", &|w| w.target_units as i64),
            int("transfer_in_units", &|w| w.transfer_in_units as i64),
            int("transfer_out_units", &|w| w.transfer_out_units as i64),
            int("inbound_units", &|w| w.inbound_units as i64),
            int("change_units", &|w| w.change_units),
            int("untargeted_units", &|w| w.untargeted_units as i64),
            Series::new(
                "expected_sales_units".into(),
                rows.iter()
                    .map(|w| w.expected_sales_units)
                    .collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                "expected_demand_units".into(),
                rows.iter()
                    .map(|w| w.expected_demand_units)
                    .collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                "fill_rate".into(),
                rows.iter().map(|w| w.fill_rate).collect::<Vec<_>>(),
            )
            .into(),
        ],
    )
}

fn transfers_frame(
    problem: &AllocationProblem,
    solution: &AllocationSolution,
    run_id: &str,
) -> PolarsResult<DataFrame> {
    let mut sku = Vec::new();
    let mut from = Vec::new();
    let mut to = Vec::new();
    let mut units = Vec::new();
    for transfer in &solution.transfers {
        sku.push(problem.skus[transfer.sku_index].sku.as_str());
        from.push(
            problem.warehouses[transfer.from_warehouse]
                .warehouse
                .as_str(),
        );
        to.push(problem.warehouses[transfer.to_warehouse].warehouse.as_str());
        units.push(transfer.units as i64);
    }
    for placement in &solution.inbound {
        sku.push(problem.skus[placement.sku_index].sku.as_str());
        from.push("inbound");
        to.push(
            problem.warehouses[placement.to_warehouse]
                .warehouse
                .as_str(),
        );
        units.push(placement.units as i64);
    }
    let n = sku.len();
    DataFrame::new(
        n,
        vec![
            Series::new("run_id".into(), vec![run_id; n]).into(),
            Series::new("sku".into(), sku).into(),
            Series::new("from_warehouse".into(), from).into(),
            Series::new("to_warehouse".into(), to).into(),
            Series::new("units".into(), units).into(),
        ],
    )
}

/// Writes the run, its targets and transfers, then marks it published, all in one
/// transaction: readers see the whole run or, if anything fails, the previous one.
pub async fn publish(
    store: &Store,
    header: &RunHeader,
    problem: &AllocationProblem,
    solution: &AllocationSolution,
) -> Result<(), AllocationStoreError> {
    write_run(store, header, problem, solution, true).await
}

/// Writes the run, its targets and transfers in one transaction, as `published` or left
/// `writing` (invisible to readers) for a job's publish step to flip later.
pub async fn write_run(
    store: &Store,
    header: &RunHeader,
    problem: &AllocationProblem,
    solution: &AllocationSolution,
    publish_now: bool,
) -> Result<(), AllocationStoreError> {
    let targets = targets_frame(problem, solution, &header.id)?;
    let transfers = transfers_frame(problem, solution, &header.id)?;
    let warehouse_figures = warehouse_figures_frame(problem, solution, &header.id)?;
    let messages = solution.messages.join("\n");
    let figures = &solution.figures;
    let promotions: Vec<&str> = if header.promotions.is_empty() {
        vec![header.promotion.as_str()]
    } else {
        header.promotions.iter().map(String::as_str).collect()
    };
    let mut tx = store.begin_write().await?;
    on_tx!(&mut tx, conn => {
        sqlx::query(
            "INSERT INTO allocation_runs (id, created_at, as_of, promotion, policy, status, objective, bound, gap, \
             input_fingerprint, messages, window_start, window_end, units_placed, transfers, units_to_move, \
             units_from_inbound, expected_sales_units, expected_demand_units, fill_rate) \
             VALUES ($1, $2, $3, $4, $5, 'writing', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        )
        .bind(&header.id)
        .bind(header.created_at)
        .bind(header.as_of)
        .bind(&header.promotion)
        .bind(policy_name(header.policy))
        .bind(solution.objective)
        .bind(solution.bound)
        .bind(solution.gap.max(0.0))
        .bind(&header.input_fingerprint)
        .bind(&messages)
        .bind(header.window_start)
        .bind(header.window_end)
        .bind(figures.units_placed as i64)
        .bind(figures.transfers as i64)
        .bind(figures.units_to_move as i64)
        .bind(figures.units_from_inbound as i64)
        .bind(figures.expected_sales_units)
        .bind(figures.expected_demand_units)
        .bind(figures.fill_rate)
        .execute(&mut **conn)
        .await?;
        for promotion in &promotions {
            sqlx::query("INSERT INTO allocation_run_promotions (run_id, promotion) VALUES ($1, $2)")
                .bind(&header.id)
                .bind(*promotion)
                .execute(&mut **conn)
                .await?;
        }
    });
    if warehouse_figures.height() > 0 {
        tx.upsert_rows(
            "allocation_warehouse_figures",
            &FrameRows::new(&warehouse_figures)?,
            &["run_id", "warehouse"],
            OnConflict::Update,
        )
        .await?;
    }
    tx.upsert_rows(
        "allocation_targets",
        &FrameRows::new(&targets)?,
        &["run_id", "sku", "warehouse"],
        OnConflict::Update,
    )
    .await?;
    if transfers.height() > 0 {
        tx.upsert_rows(
            "allocation_transfers",
            &FrameRows::new(&transfers)?,
            &["run_id", "sku", "from_warehouse", "to_warehouse"],
            OnConflict::Update,
        )
        .await?;
    }
    if publish_now {
        on_tx!(&mut tx, conn => {
            sqlx::query("UPDATE allocation_runs SET status = 'published', published_at = $2 WHERE id = $1")
                .bind(&header.id)
                .bind(Utc::now())
                .execute(&mut **conn)
                .await?;
        });
    }
    tx.commit().await?;
    Ok(())
}

/// A stored `allocation_runs` row ([`RUN_COLUMNS`]): the figures are nullable columns, set
/// together, so a row decodes flat and [`RunSummary`] groups them.
#[derive(sqlx::FromRow)]
struct RunSummaryRow {
    id: String,
    created_at: DateTime<Utc>,
    published_at: Option<DateTime<Utc>>,
    as_of: NaiveDate,
    promotion: String,
    window_start: Option<NaiveDate>,
    window_end: Option<NaiveDate>,
    policy: String,
    status: String,
    objective: f64,
    bound: f64,
    gap: f64,
    messages: String,
    units_placed: Option<i64>,
    transfers: Option<i64>,
    units_to_move: Option<i64>,
    units_from_inbound: Option<i64>,
    expected_sales_units: Option<f64>,
    expected_demand_units: Option<f64>,
    fill_rate: Option<f64>,
}

impl From<RunSummaryRow> for RunSummary {
    fn from(row: RunSummaryRow) -> RunSummary {
        let figures = match (
            row.units_placed,
            row.transfers,
            row.units_to_move,
            row.units_from_inbound,
            row.expected_sales_units,
            row.expected_demand_units,
        ) {
            (
                Some(placed),
                Some(transfers),
                Some(to_move),
                Some(inbound),
                Some(sales),
                Some(demand),
            ) => Some(RunFigures {
                units_placed: placed,
                transfers,
                units_to_move: to_move,
                units_from_inbound: inbound,
                expected_sales_units: sales,
                expected_demand_units: demand,
                fill_rate: row.fill_rate,
            }),
            _ => None,
        };
        RunSummary {
            id: row.id,
            created_at: row.created_at,
            published_at: row.published_at,
            as_of: row.as_of,
            promotion: row.promotion,
            promotions: Vec::new(),
            window_start: row.window_start,
            window_end: row.window_end,
            policy: row.policy,
            status: row.status,
            objective: row.objective,
            bound: row.bound,
            gap: row.gap,
            messages: row.messages,
            figures,
        }
    }
}

const RUN_COLUMNS: &str = "id, created_at, published_at, as_of, promotion, policy, status, objective, bound, gap, \
     messages, window_start, window_end, units_placed, transfers, units_to_move, units_from_inbound, \
     expected_sales_units, expected_demand_units, fill_rate";

/// Fills in each summary's promotions (the run's label when it has no promotion rows).
async fn with_promotions(
    store: &Store,
    mut runs: Vec<RunSummary>,
) -> Result<Vec<RunSummary>, AllocationStoreError> {
    let rows: Vec<(String, String)> = on_backend!(store, pool => {
        sqlx::query_as("SELECT run_id, promotion FROM allocation_run_promotions ORDER BY run_id, promotion")
            .fetch_all(pool)
            .await?
    });
    let mut by_run: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (run, promotion) in rows {
        by_run.entry(run).or_default().push(promotion);
    }
    for run in &mut runs {
        run.promotions = by_run
            .remove(&run.id)
            .unwrap_or_else(|| vec![run.promotion.clone()]);
    }
    Ok(runs)
}

/// Every run, newest first (created, then id).
pub async fn list_runs(store: &Store) -> Result<Vec<RunSummary>, AllocationStoreError> {
    let sql =
        format!("SELECT {RUN_COLUMNS} FROM allocation_runs ORDER BY created_at DESC, id DESC");
    let rows: Vec<RunSummaryRow> = on_backend!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await?
    });
    with_promotions(store, rows.into_iter().map(RunSummary::from).collect()).await
}

/// The allocation in force (see `in_force`), or with `promotion` the latest published run
/// that plans that promotion.
pub async fn latest_published(store: &Store) -> Result<Option<RunSummary>, AllocationStoreError> {
    match in_force::run_in_force(store, None).await? {
        Some(id) => Ok(Some(find_run(store, &id).await?)),
        None => Ok(None),
    }
}

/// The latest published run that plans `promotion` (see `in_force`).
pub async fn latest_for_promotion(
    store: &Store,
    promotion: &str,
) -> Result<Option<RunSummary>, AllocationStoreError> {
    match in_force::run_for_promotion(store, promotion, None).await? {
        Some(id) => Ok(Some(find_run(store, &id).await?)),
        None => Ok(None),
    }
}

pub async fn find_run(store: &Store, id: &str) -> Result<RunSummary, AllocationStoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM allocation_runs WHERE id = $1");
    let row: Option<RunSummaryRow> = on_backend!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
    });
    let run = RunSummary::from(
        row.ok_or_else(|| AllocationStoreError::BadInput(format!("no allocation run '{id}'")))?,
    );
    let promotions: Vec<String> = on_backend!(store, pool => {
        sqlx::query_scalar("SELECT promotion FROM allocation_run_promotions WHERE run_id = $1 ORDER BY promotion")
            .bind(id)
            .fetch_all(pool)
            .await?
    });
    Ok(RunSummary {
        promotions: if promotions.is_empty() {
            vec![run.promotion.clone()]
        } else {
            promotions
        },
        ..run
    })
}

/// One warehouse's figures as the solver computed them (`allocate::WarehouseFigures`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct StoredWarehouseFigures {
    pub warehouse: String,
    pub cells: i64,
    pub current_units: i64,
    pub target_units: i64,
    pub transfer_in_units: i64,
    pub transfer_out_units: i64,
    pub inbound_units: i64,
    pub change_units: i64,
    pub untargeted_units: i64,
    pub expected_sales_units: f64,
    pub expected_demand_units: f64,
    pub fill_rate: Option<f64>,
}

pub async fn warehouse_figures(
    store: &Store,
    run_id: &str,
) -> Result<Vec<StoredWarehouseFigures>, AllocationStoreError> {
    let rows = on_backend!(store, pool => {
        sqlx::query_as(
            "SELECT warehouse, cells, current_units, target_units, transfer_in_units, transfer_out_units, \
             inbound_units, change_units, untargeted_units, expected_sales_units, expected_demand_units, fill_rate \
             FROM allocation_warehouse_figures WHERE run_id = $1 ORDER BY warehouse",
        )
        .bind(run_id)
        .fetch_all(pool)
        .await?
    });
    Ok(rows)
}

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct TargetRow {
    pub sku: String,
    pub warehouse: String,
    pub target_units: i64,
    pub current_units: i64,
    pub expected_sales: f64,
    pub fill_rate: f64,
    /// Units the plan's transfers and inbound placements bring in, minus those shipped out.
    pub change_units: i64,
}

pub async fn run_targets(
    store: &Store,
    run_id: &str,
) -> Result<Vec<TargetRow>, AllocationStoreError> {
    let rows: Vec<TargetRow> = on_backend!(store, pool => {
        sqlx::query_as(
            "SELECT sku, warehouse, target_units, current_units, expected_sales, fill_rate, change_units \
             FROM allocation_targets WHERE run_id = $1 ORDER BY sku, warehouse",
        )
        .bind(run_id)
        .fetch_all(pool)
        .await?
    });
    Ok(rows)
}

/// Two runs compared: whether they plan the same promotions, and the targets that differ.
#[derive(Debug, Clone)]
pub struct RunDiff {
    pub a: RunSummary,
    pub b: RunSummary,
    /// (sku, warehouse) → (units in a, units in b), only where they differ.
    pub differences: BTreeMap<(String, String), (i64, i64)>,
}

impl RunDiff {
    /// Like with like: both runs plan exactly the same promotions.
    pub fn same_promotions(&self) -> bool {
        self.a.promotions == self.b.promotions
    }

    /// The warning to print when they do not.
    pub fn mismatch(&self) -> Option<String> {
        (!self.same_promotions()).then(|| {
            format!(
                "the runs plan different promotions ({} has {}, {} has {}): their targets answer different questions, so differences below are not changes to one plan",
                self.a.id,
                self.a.promotions.join(", "),
                self.b.id,
                self.b.promotions.join(", ")
            )
        })
    }
}

/// Targets that differ between two runs, and whether the runs are comparable.
pub async fn diff_runs(store: &Store, a: &str, b: &str) -> Result<RunDiff, AllocationStoreError> {
    let run_a = find_run(store, a).await?;
    let run_b = find_run(store, b).await?;
    let mut merged: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for row in run_targets(store, a).await? {
        merged.entry((row.sku, row.warehouse)).or_default().0 = row.target_units;
    }
    for row in run_targets(store, b).await? {
        merged.entry((row.sku, row.warehouse)).or_default().1 = row.target_units;
    }
    merged.retain(|_, (a, b)| a != b);
    Ok(RunDiff {
        a: run_a,
        b: run_b,
        differences: merged,
    })
}
