//! The publish guard's edge: loads what [`super::guard::judge`] compares (the staged
//! forecast's horizon totals per category, recent and last year's sales in force, the run in
//! force over the same dates) from the store.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};

use super::guard::{CategoryFigures, GuardInput, GuardSettings};
use super::JobError;
use crate::calendar::LAST_YEAR_DAYS;
use crate::on_backend;
use crate::store::Store;

/// (as-of, first forecast date, last forecast date) of a forecast run with rows.
async fn run_span(
    store: &Store,
    run_id: &str,
) -> Result<Option<(NaiveDate, NaiveDate, NaiveDate)>, JobError> {
    let span: Option<(NaiveDate, Option<NaiveDate>, Option<NaiveDate>)> = on_backend!(store, pool => {
        sqlx::query_as(
            "SELECT r.as_of, (SELECT MIN(f.date) FROM forecasts f WHERE f.run_id = r.id), \
             (SELECT MAX(f.date) FROM forecasts f WHERE f.run_id = r.id) \
             FROM forecast_runs r WHERE r.id = $1",
        )
        .bind(run_id)
        .fetch_optional(pool)
        .await?
    });
    Ok(match span {
        Some((as_of, Some(first), Some(last))) => Some((as_of, first, last)),
        _ => None,
    })
}

/// The forecast run readers take now (the latest complete one), other than `candidate`.
async fn run_in_force(store: &Store, candidate: &str) -> Result<Option<String>, JobError> {
    let id: Option<String> = on_backend!(store, pool => {
        sqlx::query_scalar(
            "SELECT id FROM forecast_runs WHERE status = 'complete' AND id <> $1 \
             ORDER BY as_of DESC, created_at DESC, id DESC LIMIT 1",
        )
        .bind(candidate)
        .fetch_optional(pool)
        .await?
    });
    Ok(id)
}

/// Loads the guard's input for the staged forecast `forecast_run` and allocation runs.
pub async fn load(
    store: &Store,
    forecast_run: &str,
    allocation_runs: &[String],
    settings: &GuardSettings,
) -> Result<GuardInput, JobError> {
    let Some((as_of, _, last)) = run_span(store, forecast_run).await? else {
        return Ok(GuardInput {
            horizon_days: 0,
            run_rate_days: settings.run_rate_days,
            categories: Vec::new(),
            allocation_expected_units: Vec::new(),
        });
    };
    let horizon_days = (last - as_of).num_days().max(1);
    let run_rate_days = settings.run_rate_days;
    type Totals = (String, f64, f64, f64, f64);
    let totals: Vec<Totals> = on_backend!(store, pool => {
        sqlx::query_as(
            "SELECT p.category, SUM(f.mean), SUM(f.p10 + f.p50 + f.p90), MIN(f.mean), MIN(f.p10) \
             FROM forecasts f JOIN products p ON p.sku = f.sku WHERE f.run_id = $1 \
             GROUP BY p.category ORDER BY p.category",
        )
        .bind(forecast_run)
        .fetch_all(pool)
        .await?
    });

    // Recent sales, and the same window and the horizon a year earlier, in one pass over the
    // sales in force (live rows count only where no file covers the day).
    let recent = (as_of - Duration::days(run_rate_days), as_of);
    let last_year_recent = (
        recent.0 - Duration::days(LAST_YEAR_DAYS),
        recent.1 - Duration::days(LAST_YEAR_DAYS),
    );
    let last_year_horizon = (
        as_of - Duration::days(LAST_YEAR_DAYS),
        last - Duration::days(LAST_YEAR_DAYS),
    );
    type Sales = (String, f64, f64, f64);
    let sales: Vec<Sales> = on_backend!(store, pool => {
        sqlx::query_as(
            "SELECT p.category, \
             SUM(CASE WHEN s.date > $1 AND s.date <= $2 THEN s.units ELSE 0.0 END), \
             SUM(CASE WHEN s.date > $3 AND s.date <= $4 THEN s.units ELSE 0.0 END), \
             SUM(CASE WHEN s.date > $5 AND s.date <= $6 THEN s.units ELSE 0.0 END) \
             FROM sales_in_force s JOIN products p ON p.sku = s.sku \
             WHERE (s.date > $1 AND s.date <= $2) OR (s.date > $3 AND s.date <= $6) \
             GROUP BY p.category",
        )
        .bind(recent.0)
        .bind(recent.1)
        .bind(last_year_recent.0)
        .bind(last_year_recent.1)
        .bind(last_year_horizon.0)
        .bind(last_year_horizon.1)
        .fetch_all(pool)
        .await?
    });
    let sales: BTreeMap<String, (f64, f64, f64)> = sales
        .into_iter()
        .map(|(category, recent, ly_recent, ly_horizon)| {
            (category, (recent, ly_recent, ly_horizon))
        })
        .collect();
    // Last year counts only where ingested history reaches back to its first day.
    let history_start: Option<NaiveDate> = on_backend!(store, pool => {
        sqlx::query_scalar("SELECT MIN(first_date) FROM sales_coverage")
            .fetch_one(pool)
            .await?
    });
    let has_last_year =
        history_start.is_some_and(|start| start <= last_year_recent.0 + Duration::days(1));

    let mut overlap: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    if let Some(in_force) = run_in_force(store, forecast_run).await? {
        if let Some((_, first_in_force, last_in_force)) = run_span(store, &in_force).await? {
            let from = (as_of + Duration::days(1)).max(first_in_force);
            let to = last.min(last_in_force);
            if from <= to {
                let rows: Vec<(String, f64, f64)> = on_backend!(store, pool => {
                    sqlx::query_as(
                        "SELECT p.category, \
                         SUM(CASE WHEN f.run_id = $1 THEN f.mean ELSE 0.0 END), \
                         SUM(CASE WHEN f.run_id = $2 THEN f.mean ELSE 0.0 END) \
                         FROM forecasts f JOIN products p ON p.sku = f.sku \
                         WHERE f.run_id IN ($1, $2) AND f.date >= $3 AND f.date <= $4 \
                         GROUP BY p.category",
                    )
                    .bind(forecast_run)
                    .bind(&in_force)
                    .bind(from)
                    .bind(to)
                    .fetch_all(pool)
                    .await?
                });
                overlap = rows
                    .into_iter()
                    .map(|(category, candidate, current)| (category, (candidate, current)))
                    .collect();
            }
        }
    }

    let categories = totals
        .into_iter()
        .map(
            |(category, forecast_units, quantile_sum_units, min_mean, min_p10)| {
                let (recent_units, ly_recent, ly_horizon) =
                    sales.get(&category).copied().unwrap_or((0.0, 0.0, 0.0));
                CategoryFigures {
                    forecast_units,
                    quantile_sum_units,
                    min_value_units: min_mean.min(min_p10),
                    recent_units,
                    last_year: has_last_year.then_some((ly_recent, ly_horizon)),
                    in_force_overlap_units: overlap.get(&category).copied(),
                    category,
                }
            },
        )
        .collect();

    let mut allocation_expected_units = Vec::with_capacity(allocation_runs.len());
    for run in allocation_runs {
        let expected: f64 = on_backend!(store, pool => {
            sqlx::query_scalar(
                "SELECT COALESCE(SUM(expected_sales), 0.0) FROM allocation_targets WHERE run_id = $1",
            )
            .bind(run)
            .fetch_one(pool)
            .await?
        });
        allocation_expected_units.push((run.clone(), expected));
    }
    Ok(GuardInput {
        horizon_days,
        run_rate_days,
        categories,
        allocation_expected_units,
    })
}
