//! Where sales come from, and which rows count (migration `0007_sales_sources.sql`).
//!
//! `sales.source` is `import` for rows loaded from sales files and `live` for units the
//! reservation core committed. A retailer's nightly export usually includes those web orders
//! again, so the rule is:
//!
//! - ingested sales are authoritative for every date an ingested file covered (the span from
//!   its first to its last accepted date, recorded in `sales_coverage` by ingest);
//! - live rows count, provisionally, only for dates no ingested file has covered yet; once a
//!   file covers the date they are superseded, never added on top, and kept for
//!   `report reconciliation`;
//! - the nightly's as-of is the last date ingested files cover ([`ingested_through`]); live
//!   rows never move it.
//!
//! Readers count sales through the `sales_in_force` view, which is that rule written once;
//! only ingest, the reservation core and the reconciliation report read `sales` itself.

use chrono::NaiveDate;

use super::{Store, StoreError, StoreTx};
use crate::{on_backend, on_tx};

/// The last date an ingested sales file covers: the nightly's as-of and the end of the
/// history readers score against. `None` before the first sales file.
pub async fn ingested_through(store: &Store) -> Result<Option<NaiveDate>, StoreError> {
    let last: Option<NaiveDate> = on_backend!(store, pool => {
        sqlx::query_scalar("SELECT MAX(last_date) FROM sales_coverage")
            .fetch_one(pool)
            .await?
    });
    Ok(last)
}

/// Records that the sales file loaded as `ingest_run_id` covers `first ..= last`, inside the
/// load's transaction so coverage and rows appear together.
pub async fn record_coverage(
    tx: &mut StoreTx,
    ingest_run_id: &str,
    (first, last): (NaiveDate, NaiveDate),
) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO sales_coverage (ingest_run_id, first_date, last_date) VALUES ($1, $2, $3) \
             ON CONFLICT (ingest_run_id) DO UPDATE SET first_date = excluded.first_date, \
             last_date = excluded.last_date",
        )
        .bind(ingest_run_id)
        .bind(first)
        .bind(last)
        .execute(&mut **conn)
        .await?;
    });
    Ok(())
}
