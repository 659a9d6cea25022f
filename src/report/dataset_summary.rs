//! What the store holds: the history span, catalogue size and upcoming promotions.

use chrono::NaiveDate;
use sqlx::Row;

use crate::on_backend;
use crate::store::{Store, StoreError, TableCount};

#[derive(Debug, Clone, serde::Serialize)]
pub struct DatasetSummary {
    pub backend: &'static str,
    pub tables: Vec<TableCount>,
    pub sales_first_date: Option<NaiveDate>,
    pub sales_last_date: Option<NaiveDate>,
    pub units_total: f64,
    pub series: i64,
    pub promotions_after_history: i64,
}

pub async fn dataset_summary(store: &Store) -> Result<DatasetSummary, StoreError> {
    let status = store.status().await?;
    let (first, last, units_total, series) = on_backend!(store, pool => {
        // The history span is what ingested files cover; units and series count the rows in
        // force (store::sales_source), so a live sale later ingested is counted once.
        let row = sqlx::query(
            "SELECT (SELECT MIN(first_date) FROM sales_coverage) AS first_date, \
             (SELECT MAX(last_date) FROM sales_coverage) AS last_date, \
             (SELECT COALESCE(SUM(units), 0.0) FROM sales_in_force) AS units_total",
        )
        .fetch_one(pool)
        .await?;
        let series: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT DISTINCT sku, warehouse FROM sales_in_force) AS s",
        )
        .fetch_one(pool)
        .await?;
        (
            row.try_get::<Option<NaiveDate>, _>("first_date")?,
            row.try_get::<Option<NaiveDate>, _>("last_date")?,
            row.try_get::<f64, _>("units_total")?,
            series,
        )
    });
    let promotions_after_history: i64 = match last {
        Some(last) => on_backend!(store, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM promotions WHERE end_date > $1")
                .bind(last)
                .fetch_one(pool)
                .await?
        }),
        None => 0,
    };
    Ok(DatasetSummary {
        backend: status.backend,
        tables: status.tables,
        sales_first_date: first,
        sales_last_date: last,
        units_total,
        series,
        promotions_after_history,
    })
}
