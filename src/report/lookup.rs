//! Shared look-ups at the edge: which forecast run and promotion a report is about, and
//! whether the names in the filters exist (an unknown SKU is a typo, not an empty result).

use chrono::{Duration, NaiveDate};

use super::query::{Bind, Sql};
use super::{Filters, Name, ReportError};
use crate::report_fetch;
use crate::store::Store;

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRef {
    pub id: String,
    pub as_of: NaiveDate,
    pub freq: String,
    pub horizon: i64,
    pub model_id: String,
}

impl RunRef {
    pub fn period_days(&self) -> i64 {
        if self.freq == "week" {
            7
        } else {
            1
        }
    }

    pub fn first_date(&self) -> NaiveDate {
        self.as_of + Duration::days(1)
    }

    pub fn last_date(&self) -> NaiveDate {
        self.as_of + Duration::days(self.horizon * self.period_days())
    }
}

type RunRow = (String, NaiveDate, String, i64, String);

fn run_from(row: RunRow) -> RunRef {
    RunRef {
        id: row.0,
        as_of: row.1,
        freq: row.2,
        horizon: row.3,
        model_id: row.4,
    }
}

/// Complete forecast runs made on or before `as_of` (all when None), newest first.
pub async fn forecast_runs(
    store: &Store,
    as_of: Option<NaiveDate>,
    limit: usize,
) -> Result<Vec<RunRef>, ReportError> {
    let mut sql = Sql::new(
        "SELECT id, as_of, freq, horizon, model_id FROM forecast_runs WHERE status = 'complete'",
    );
    if let Some(as_of) = as_of {
        sql.clause(" AND as_of <= ?", vec![Bind::Date(as_of)]);
    }
    sql.push(" ORDER BY as_of DESC, created_at DESC, id DESC LIMIT ");
    let limit = sql.param(Bind::Int(limit.clamp(1, 1000) as i64));
    sql.push(&limit);
    let rows = report_fetch!(store, sql, RunRow);
    Ok(rows.into_iter().map(run_from).collect())
}

/// The forecast run a report reads: the latest complete one as of `--as-of`.
pub async fn latest_forecast_run(
    store: &Store,
    as_of: Option<NaiveDate>,
) -> Result<RunRef, ReportError> {
    forecast_runs(store, as_of, 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            ReportError::Empty(match as_of {
                Some(date) => format!(
                    "no complete forecast run as of {date}; run `stockcast forecast --from-db` first"
                ),
                None => "no complete forecast run yet; run `stockcast forecast --from-db` first"
                    .to_string(),
            })
        })
}

/// The promotion a report is about is the contract's one.
pub use crate::allocate::Promotion;

type PromotionRow = (
    String,
    String,
    NaiveDate,
    NaiveDate,
    f64,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn promotion_from(row: PromotionRow) -> Promotion {
    Promotion {
        promo_id: row.0,
        name: row.1,
        start_date: row.2,
        end_date: row.3,
        discount_pct: row.4,
        sku: row.5,
        category: row.6,
        warehouse: row.7,
    }
}

const PROMOTION_COLUMNS: &str =
    "SELECT promo_id, name, start_date, end_date, discount_pct, sku, category, warehouse FROM promotions";

/// A promotion by id; an unknown id is bad input (exit 2).
pub async fn promotion(store: &Store, id: &str) -> Result<Promotion, ReportError> {
    let mut sql = Sql::new(PROMOTION_COLUMNS);
    sql.clause(" WHERE promo_id = ?", vec![Bind::Text(id.to_string())]);
    report_fetch!(store, sql, PromotionRow)
        .into_iter()
        .next()
        .map(promotion_from)
        .ok_or_else(|| ReportError::Unknown {
            name: Name::Promotion,
            value: id.to_string(),
        })
}

/// Promotions overlapping `[from, to]`, by start date.
pub async fn promotions_overlapping(
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Promotion>, ReportError> {
    let mut sql = Sql::new(PROMOTION_COLUMNS);
    sql.clause(
        " WHERE end_date >= ? AND start_date <= ? ORDER BY start_date, promo_id",
        vec![Bind::Date(from), Bind::Date(to)],
    );
    Ok(report_fetch!(store, sql, PromotionRow)
        .into_iter()
        .map(promotion_from)
        .collect())
}

/// The promotion a forward-looking report is about: `--promotion`, or else the earliest one
/// overlapping the forecast run's horizon that matches the filters, preferring promotions
/// wider than one SKU. The window is clipped
/// to the days the run forecasts.
pub async fn promotion_in_run(
    store: &Store,
    filters: &Filters,
    run: &RunRef,
) -> Result<(Promotion, NaiveDate, NaiveDate), ReportError> {
    let chosen = match &filters.promotion {
        Some(id) => promotion(store, id).await?,
        None => {
            let mut candidates =
                promotions_overlapping(store, run.first_date(), run.last_date()).await?;
            // The broadest first: a store-, category- or warehouse-wide promotion is what a
            // morning report is about; single-SKU deals only when there is nothing else.
            candidates.sort_by(|a, b| {
                (a.sku.is_some(), a.start_date, &a.promo_id).cmp(&(
                    b.sku.is_some(),
                    b.start_date,
                    &b.promo_id,
                ))
            });
            candidates
                .into_iter()
                .find(|p| filters.matches_promotion(p))
                .ok_or_else(|| {
                    ReportError::Empty(format!(
                        "no promotion in the forecast horizon {} … {} (forecast run as of {}){}",
                        run.first_date(),
                        run.last_date(),
                        run.as_of,
                        filters.describe_suffix()
                    ))
                })?
        }
    };
    let from = chosen.start_date.max(run.first_date());
    let to = chosen.end_date.min(run.last_date());
    if from > to {
        return Err(ReportError::Empty(format!(
            "promotion {} ({} … {}) is outside the forecast horizon {} … {} of the run as of {}",
            chosen.promo_id,
            chosen.start_date,
            chosen.end_date,
            run.first_date(),
            run.last_date(),
            run.as_of
        )));
    }
    Ok((chosen, from, to))
}

/// Unknown names in `--sku`, `--category` or `--warehouse` are bad input (exit 2).
pub async fn check_names(store: &Store, filters: &Filters) -> Result<(), ReportError> {
    let checks: [(&Option<String>, &str, Name); 3] = [
        (
            &filters.sku,
            "SELECT sku FROM products WHERE sku = ?",
            Name::Sku,
        ),
        (
            &filters.category,
            "SELECT category FROM products WHERE category = ? LIMIT 1",
            Name::Category,
        ),
        (
            &filters.warehouse,
            "SELECT warehouse FROM warehouses WHERE warehouse = ?",
            Name::Warehouse,
        ),
    ];
    for (value, text, name) in checks {
        let Some(value) = value else { continue };
        let mut sql = Sql::default();
        sql.clause(text, vec![Bind::Text(value.clone())]);
        let found = report_fetch!(store, sql, (String,));
        if found.is_empty() {
            return Err(ReportError::Unknown {
                name,
                value: value.clone(),
            });
        }
    }
    Ok(())
}

/// Categories of the catalogue: sku → category.
pub async fn categories(
    store: &Store,
) -> Result<std::collections::HashMap<String, String>, ReportError> {
    let sql = Sql::new("SELECT sku, category FROM products");
    Ok(report_fetch!(store, sql, (String, String))
        .into_iter()
        .collect())
}

/// The last day of known sales: the last date ingested files cover. Live rows past it are
/// provisional (see `store::sales_source`), so accuracy is never scored against them.
pub async fn last_sales_date(store: &Store) -> Result<Option<NaiveDate>, ReportError> {
    Ok(crate::store::sales_source::ingested_through(store).await?)
}
