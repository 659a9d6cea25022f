//! Allocation runs in the database: written in one transaction, flipped to `published` last,
//! read back as the latest published run, listed and compared.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use polars::prelude::*;
use sqlx::Row;

use super::AllocationStoreError;
use crate::allocate::{AllocationProblem, AllocationSolution, Policy};
use crate::store::{FrameRows, OnConflict, Store};
use crate::{on_backend, on_tx};

#[derive(Debug, Clone)]
pub struct RunHeader {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub as_of: NaiveDate,
    pub promotion: String,
    pub policy: Policy,
    pub input_fingerprint: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSummary {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub as_of: NaiveDate,
    pub promotion: String,
    pub policy: String,
    pub status: String,
    pub objective: f64,
    pub bound: f64,
    pub gap: f64,
    pub messages: String,
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
    let messages = solution.messages.join("\n");
    let mut tx = store.begin_write().await?;
    on_tx!(&mut tx, conn => {
        sqlx::query(
            "INSERT INTO allocation_runs (id, created_at, as_of, promotion, policy, status, objective, bound, gap, \
             input_fingerprint, messages) VALUES ($1, $2, $3, $4, $5, 'writing', $6, $7, $8, $9, $10)",
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
        .execute(&mut **conn)
        .await?;
    });
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

/// Reads a [`RunSummary`] from a row of either backend (expanded once per backend).
macro_rules! summary_from_row {
    ($row:expr) => {
        (|| -> Result<RunSummary, sqlx::Error> {
            let row = $row;
            Ok(RunSummary {
                id: row.try_get("id")?,
                created_at: row.try_get("created_at")?,
                published_at: row.try_get("published_at")?,
                as_of: row.try_get("as_of")?,
                promotion: row.try_get("promotion")?,
                policy: row.try_get("policy")?,
                status: row.try_get("status")?,
                objective: row.try_get("objective")?,
                bound: row.try_get("bound")?,
                gap: row.try_get("gap")?,
                messages: row.try_get("messages")?,
            })
        })()
    };
}

const RUN_COLUMNS: &str = "id, created_at, published_at, as_of, promotion, policy, status, objective, bound, gap, messages";

/// Every run, newest first.
pub async fn list_runs(store: &Store) -> Result<Vec<RunSummary>, AllocationStoreError> {
    let sql =
        format!("SELECT {RUN_COLUMNS} FROM allocation_runs ORDER BY created_at DESC, id DESC");
    let runs = on_backend!(store, pool => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| summary_from_row!(row))
            .collect::<Result<Vec<_>, _>>()?
    });
    Ok(runs)
}

/// The allocation in force: the most recently published run.
pub async fn latest_published(store: &Store) -> Result<Option<RunSummary>, AllocationStoreError> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM allocation_runs WHERE status = 'published' \
         ORDER BY published_at DESC, id DESC LIMIT 1"
    );
    let run = on_backend!(store, pool => {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_optional(pool).await? {
            Some(row) => Some(summary_from_row!(&row)?),
            None => None,
        }
    });
    Ok(run)
}

pub async fn find_run(store: &Store, id: &str) -> Result<RunSummary, AllocationStoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM allocation_runs WHERE id = $1");
    let run = on_backend!(store, pool => {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await? {
            Some(row) => Some(summary_from_row!(&row)?),
            None => None,
        }
    });
    run.ok_or_else(|| AllocationStoreError::BadInput(format!("no allocation run '{id}'")))
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TargetRow {
    pub sku: String,
    pub warehouse: String,
    pub target_units: i64,
    pub current_units: i64,
    pub expected_sales: f64,
    pub fill_rate: f64,
}

pub async fn run_targets(
    store: &Store,
    run_id: &str,
) -> Result<Vec<TargetRow>, AllocationStoreError> {
    let rows = on_backend!(store, pool => {
        sqlx::query(
            "SELECT sku, warehouse, target_units, current_units, expected_sales, fill_rate \
             FROM allocation_targets WHERE run_id = $1 ORDER BY sku, warehouse",
        )
        .bind(run_id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            Ok(TargetRow {
                sku: row.try_get("sku")?,
                warehouse: row.try_get("warehouse")?,
                target_units: row.try_get("target_units")?,
                current_units: row.try_get("current_units")?,
                expected_sales: row.try_get("expected_sales")?,
                fill_rate: row.try_get("fill_rate")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?
    });
    Ok(rows)
}

/// Targets that differ between two runs: (sku, warehouse) → (units in a, units in b).
pub async fn diff_runs(
    store: &Store,
    a: &str,
    b: &str,
) -> Result<BTreeMap<(String, String), (i64, i64)>, AllocationStoreError> {
    find_run(store, a).await?;
    find_run(store, b).await?;
    let mut merged: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for row in run_targets(store, a).await? {
        merged.entry((row.sku, row.warehouse)).or_default().0 = row.target_units;
    }
    for row in run_targets(store, b).await? {
        merged.entry((row.sku, row.warehouse)).or_default().1 = row.target_units;
    }
    merged.retain(|_, (a, b)| a != b);
    Ok(merged)
}
