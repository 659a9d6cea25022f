//! Read-only reports over the store, printed by the CLI each morning.
//!
//! Each report kind has one file: an edge `load` (SQL with bound parameters, every filter
//! pushed into the query) that returns plain rows, and a pure `build` from those rows to a
//! small report model (serialised as the JSON form). The model's `view` is a render-neutral
//! [`view::ReportView`] that `render_text` (terminal table, CSV) and `render_html` (one
//! self-contained page with inline SVG charts) print.

pub mod accuracy;
mod dataset_summary;
pub mod forecast_window;
pub mod format;
pub mod job_history;
pub mod lookup;
pub mod poll_signals;
pub mod promo_lift;
pub mod query;
pub mod reconciliation;
pub mod render_html;
pub mod render_text;
pub mod small_base;
pub mod stockout_risk;
pub mod target_allocation;
pub mod view;
pub mod window_demand;

pub use dataset_summary::{dataset_summary, DatasetSummary};

use chrono::NaiveDate;
use thiserror::Error;

use crate::store::{Store, StoreError};
use view::ReportView;

/// Rows a report may show at most even with `--top 0` (all).
pub const MAX_ROWS: usize = 100_000;

#[derive(Debug, Error)]
pub enum ReportError {
    /// Nothing to report (no promotion ahead, a filter matching nothing): not a failure.
    #[error("{0}")]
    Empty(String),
    #[error("{0}")]
    BadInput(String),
    /// A promotion, SKU, category or warehouse the database does not know.
    #[error("{name} {value}: {}", name.unknown_reason())]
    Unknown { name: Name, value: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Artifact(String),
}

impl ReportError {
    pub fn is_bad_input(&self) -> bool {
        matches!(self, ReportError::BadInput(_) | ReportError::Unknown { .. })
    }
}

/// What a name given to a report refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    Promotion,
    Sku,
    Category,
    Warehouse,
}

impl Name {
    /// Why a name of this kind was refused.
    pub fn unknown_reason(self) -> &'static str {
        match self {
            Name::Promotion => "no such promotion",
            _ => "not in the catalogue",
        }
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Name::Promotion => "promotion",
            Name::Sku => "SKU",
            Name::Category => "category",
            Name::Warehouse => "warehouse",
        })
    }
}

impl From<sqlx::Error> for ReportError {
    fn from(error: sqlx::Error) -> Self {
        ReportError::Store(StoreError::from(error))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportKind {
    /// Expected units and p10–p90 per SKU × warehouse for a promotion window, beside last year.
    Forecast,
    /// Model-implied lift of upcoming promotions and realised lift of past ones.
    PromoLift,
    /// Where P(demand > stock + inbound) is high in the promotion, by margin at risk.
    StockoutRisk,
    /// The published allocation: targets vs stock per warehouse, transfers, fill, capacity.
    Allocation,
    /// Realised forecast accuracy by category and horizon vs seasonal naive, over runs.
    Accuracy,
    /// Recent poll interest and intent by category beside forecast changes.
    PollSignals,
    /// Pipeline job runs: durations and failures.
    Jobs,
    /// Live sales (committed by the reservation core) beside ingested sales per day and SKU.
    Reconciliation,
}

impl ReportKind {
    pub const ALL: [ReportKind; 8] = [
        ReportKind::Forecast,
        ReportKind::PromoLift,
        ReportKind::StockoutRisk,
        ReportKind::Allocation,
        ReportKind::Accuracy,
        ReportKind::PollSignals,
        ReportKind::Jobs,
        ReportKind::Reconciliation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Forecast => "forecast",
            ReportKind::PromoLift => "promo-lift",
            ReportKind::StockoutRisk => "stockout-risk",
            ReportKind::Allocation => "allocation",
            ReportKind::Accuracy => "accuracy",
            ReportKind::PollSignals => "poll-signals",
            ReportKind::Jobs => "jobs",
            ReportKind::Reconciliation => "reconciliation",
        }
    }
}

/// What the reader narrows a report to. Names are checked against the catalogue first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Filters {
    pub promotion: Option<String>,
    pub category: Option<String>,
    pub sku: Option<String>,
    pub warehouse: Option<String>,
    pub as_of: Option<NaiveDate>,
    /// Rows per table (0 = all, up to [`MAX_ROWS`]).
    pub top: usize,
    /// Allocation run (default: the one in force).
    pub run: Option<String>,
    /// Allocation: compare with the previous published run.
    pub diff: bool,
    /// Stockout risk: the smallest P(demand > stock) listed.
    pub min_probability: f64,
    /// Margin kept per unit sold, as a share of the promotional price (as `allocate`).
    pub margin_rate: f64,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            promotion: None,
            category: None,
            sku: None,
            warehouse: None,
            as_of: None,
            top: 20,
            run: None,
            diff: false,
            min_probability: 0.2,
            margin_rate: crate::allocate::DEFAULT_MARGIN_RATE,
        }
    }
}

impl Filters {
    pub fn rows(&self) -> usize {
        if self.top == 0 {
            MAX_ROWS
        } else {
            self.top.min(MAX_ROWS)
        }
    }

    pub fn matches(&self, sku: &str, category: &str, warehouse: &str) -> bool {
        self.sku.as_deref().is_none_or(|s| s == sku)
            && self.category.as_deref().is_none_or(|c| c == category)
            && self.warehouse.as_deref().is_none_or(|w| w == warehouse)
    }

    /// Whether a promotion can touch the filtered SKUs and warehouses at all.
    pub fn matches_promotion(&self, promotion: &lookup::Promotion) -> bool {
        let sku_ok = match (&self.sku, &promotion.sku) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        let category_ok = match (&self.category, &promotion.category) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        let warehouse_ok = match (&self.warehouse, &promotion.warehouse) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        sku_ok && category_ok && warehouse_ok
    }

    /// Adds the SKU/category/warehouse filters to a query over rows aliased `alias`.
    pub fn restrict(&self, sql: &mut query::Sql, alias: &str) {
        sql.restrict_scope(
            alias,
            self.sku.as_deref(),
            self.category.as_deref(),
            self.warehouse.as_deref(),
        );
    }

    /// " for --sku X --warehouse Y", or "" without filters: for one-line empty messages.
    pub fn describe_suffix(&self) -> String {
        let mut parts = Vec::new();
        for (flag, value) in [
            ("--promotion", &self.promotion),
            ("--category", &self.category),
            ("--sku", &self.sku),
            ("--warehouse", &self.warehouse),
        ] {
            if let Some(value) = value {
                parts.push(format!("{flag} {value}"));
            }
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" for {}", parts.join(" "))
        }
    }
}

/// A built report: what to print, and the typed model for `--format json`.
#[derive(Debug, Clone)]
pub struct BuiltReport {
    pub view: ReportView,
    pub json: serde_json::Value,
}

fn built<M: serde::Serialize>(model: &M, view: ReportView) -> Result<BuiltReport, ReportError> {
    let json = serde_json::to_value(model)
        .map_err(|error| ReportError::Artifact(format!("serialising the report: {error}")))?;
    Ok(BuiltReport { view, json })
}

/// Loads and builds one report. `Err(ReportError::Empty)` means "nothing to report".
pub async fn build_report(
    store: &Store,
    kind: ReportKind,
    filters: &Filters,
) -> Result<BuiltReport, ReportError> {
    lookup::check_names(store, filters).await?;
    match kind {
        ReportKind::Forecast => {
            let input = forecast_window::load(store, filters).await?;
            let model = forecast_window::build(&input, filters)?;
            built(&model, model.view())
        }
        ReportKind::PromoLift => {
            let input = promo_lift::load(store, filters).await?;
            let model = promo_lift::build(&input, filters)?;
            built(&model, model.view())
        }
        ReportKind::StockoutRisk => {
            let input = stockout_risk::load(store, filters).await?;
            let model = stockout_risk::build(&input, filters)?;
            built(&model, model.view())
        }
        ReportKind::Allocation => {
            let input = target_allocation::load(store, filters).await?;
            let model = target_allocation::build(&input, filters)?;
            built(&model, model.view())
        }
        ReportKind::Accuracy => {
            let input = accuracy::load(store, filters).await?;
            let model = accuracy::build(&input, filters)?;
            built(&model, model.view())
        }
        ReportKind::PollSignals => {
            let input = poll_signals::load(store, filters).await?;
            let model = poll_signals::build(&input, filters)?;
            built(&model, model.view())
        }
        ReportKind::Jobs => {
            let input = job_history::load(store, filters).await?;
            let model = job_history::build(&input, filters)?;
            built(&model, model.view())
        }
        ReportKind::Reconciliation => {
            let input = reconciliation::load(store, filters).await?;
            let model = reconciliation::build(&input, filters)?;
            built(&model, model.view())
        }
    }
}
