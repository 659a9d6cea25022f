//! Demand over a promotion window per SKU × warehouse, from a forecast run's daily rows summed
//! inside the database. The sums are turned into window demand by the allocation core's rule
//! (`allocate::WindowDemand`), the one the allocation problem uses.

use chrono::NaiveDate;

use super::lookup::{Promotion, RunRef};
use super::query::{Bind, Sql};
use super::{Filters, ReportError};
use crate::allocate::WindowDemand;
use crate::report_fetch;
use crate::store::Store;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CellWindow {
    pub sku: String,
    pub warehouse: String,
    pub category: String,
    pub unit_price: Option<f64>,
    pub demand: WindowDemand,
    pub days: i64,
}

/// Sums the run's rows over `[from, to]` per SKU × warehouse, inside the database, for the
/// promotion's scope and the filters.
pub async fn load_window(
    store: &Store,
    run: &RunRef,
    promotion: &Promotion,
    from: NaiveDate,
    to: NaiveDate,
    filters: &Filters,
) -> Result<Vec<CellWindow>, ReportError> {
    let mut sql = Sql::new(
        "SELECT w.sku, w.warehouse, p.category, p.unit_price, w.mean, w.spread, w.days FROM (\
         SELECT f.sku, f.warehouse, SUM(f.mean) AS mean, \
         SUM((f.p90 - f.p10) * (f.p90 - f.p10)) AS spread, COUNT(*) AS days \
         FROM forecasts f WHERE ",
    );
    sql.clause(
        "f.run_id = ? AND f.date >= ? AND f.date <= ?",
        vec![Bind::Text(run.id.clone()), Bind::Date(from), Bind::Date(to)],
    );
    sql.restrict_to_promotion(promotion, "f");
    filters.restrict(&mut sql, "f");
    sql.push(" GROUP BY f.sku, f.warehouse) w JOIN products p ON p.sku = w.sku ORDER BY w.sku, w.warehouse");
    type Row = (String, String, String, Option<f64>, f64, f64, i64);
    let rows = report_fetch!(store, sql, Row);
    Ok(rows
        .into_iter()
        .map(
            |(sku, warehouse, category, unit_price, mean, spread, days)| CellWindow {
                sku,
                warehouse,
                category,
                unit_price,
                demand: WindowDemand::from_daily_sums(mean, spread),
                days,
            },
        )
        .collect())
}
