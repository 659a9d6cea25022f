//! Loading what an [`AllocationProblem`] for a group of overlapping promotions is built
//! from: their windows and scopes from `promotions`, demand over the window from a forecast
//! (a file or the latest complete run in the database), stock from `inventory`, sizes and
//! prices from `products`, capacities and regions from `warehouses`. The construction itself
//! is the pure [`allocate::build_problem`](crate::allocate::build_problem).

use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::*;
use sqlx::Row;

use super::AllocationStoreError;
use crate::allocate::{
    build_problem, group_of, ForecastDay, InventoryRow, NetworkRows, PlannedPromotions, Policy,
    ProblemError, ProductRow, Promotion, PromotionWindow, WarehouseRow,
};
pub use crate::allocate::{BuiltProblem, Economics};
use crate::on_backend;
use crate::store::Store;

/// Per (sku, warehouse, date) forecast rows.
pub struct ForecastRows {
    pub frame: DataFrame,
}

impl ForecastRows {
    pub fn from_file(path: &Path) -> Result<ForecastRows, AllocationStoreError> {
        let bad = |message: String| {
            AllocationStoreError::BadInput(format!("{}: {message}", path.display()))
        };
        let plpath = PlRefPath::try_from_path(path).map_err(|e| bad(e.to_string()))?;
        let lazy = match path.extension().and_then(|e| e.to_str()) {
            Some("parquet") => LazyFrame::scan_parquet(plpath, ScanArgsParquet::default()),
            _ => LazyCsvReader::new(plpath)
                .with_has_header(true)
                .with_try_parse_dates(true)
                .finish(),
        }
        .map_err(|e| bad(e.to_string()))?;
        let frame = lazy
            .select([
                col("date").cast(DataType::Date),
                col("sku").cast(DataType::String),
                col("warehouse").cast(DataType::String),
                col("mean").cast(DataType::Float64),
                col("p10").cast(DataType::Float64),
                col("p90").cast(DataType::Float64),
            ])
            .collect()
            .map_err(|e| {
                bad(format!(
                    "expected columns date, sku, warehouse, mean, p10, p90: {e}"
                ))
            })?;
        Ok(ForecastRows { frame })
    }

    /// The latest complete forecast run made on or before `as_of`.
    pub async fn latest_from_store(
        store: &Store,
        as_of: NaiveDate,
    ) -> Result<ForecastRows, AllocationStoreError> {
        let run: Option<String> = on_backend!(store, pool => {
            sqlx::query_scalar(
                "SELECT id FROM forecast_runs WHERE status = 'complete' AND as_of <= $1 \
                 ORDER BY as_of DESC, created_at DESC LIMIT 1",
            )
            .bind(as_of)
            .fetch_optional(pool)
            .await?
        });
        let run = run.ok_or_else(|| {
            AllocationStoreError::BadInput(format!(
                "no complete forecast run as of {as_of}; run `stockcast forecast --from-db` first"
            ))
        })?;
        ForecastRows::from_store_run(store, &run).await
    }

    /// The rows of one forecast run, whatever its status (a job reads its own staged run), in
    /// key order, so window sums add up in the same order on every backend.
    pub async fn from_store_run(
        store: &Store,
        run: &str,
    ) -> Result<ForecastRows, AllocationStoreError> {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
        let (date, sku, warehouse, mean, p10, p90) = on_backend!(store, pool => {
            let rows = sqlx::query("SELECT date, sku, warehouse, mean, p10, p90 FROM forecasts WHERE run_id = $1 ORDER BY sku, warehouse, date")
                .bind(run)
                .fetch_all(pool)
                .await?;
            let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for row in &rows {
                columns.0.push((row.try_get::<NaiveDate, _>("date")? - epoch).num_days() as i32);
                columns.1.push(row.try_get::<String, _>("sku")?);
                columns.2.push(row.try_get::<String, _>("warehouse")?);
                columns.3.push(row.try_get::<f64, _>("mean")?);
                columns.4.push(row.try_get::<f64, _>("p10")?);
                columns.5.push(row.try_get::<f64, _>("p90")?);
            }
            columns
        });
        let frame = DataFrame::new_infer_height(vec![
            Series::new("date".into(), date)
                .cast(&DataType::Date)?
                .into(),
            Series::new("sku".into(), sku).into(),
            Series::new("warehouse".into(), warehouse).into(),
            Series::new("mean".into(), mean).into(),
            Series::new("p10".into(), p10).into(),
            Series::new("p90".into(), p90).into(),
        ])?;
        Ok(ForecastRows { frame })
    }
}

/// Every promotion's window, for grouping overlapping promotions.
pub async fn promotion_windows(
    store: &Store,
) -> Result<Vec<PromotionWindow>, AllocationStoreError> {
    let rows: Vec<(String, NaiveDate, NaiveDate)> = on_backend!(store, pool => {
        sqlx::query_as("SELECT promo_id, start_date, end_date FROM promotions ORDER BY start_date, promo_id")
            .fetch_all(pool)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|(promotion, start, end)| PromotionWindow {
            promotion,
            start,
            end,
        })
        .collect())
}

/// `promotion` and every promotion whose window overlaps it (directly or through others),
/// as of `as_of`: what one plan must cover (see `allocate::overlapping_groups`).
pub async fn group_for_promotion(
    store: &Store,
    promotion: &str,
    as_of: NaiveDate,
) -> Result<Vec<PromotionWindow>, AllocationStoreError> {
    let windows = promotion_windows(store).await?;
    let Some(own) = windows.iter().find(|w| w.promotion == promotion) else {
        return Err(AllocationStoreError::UnknownPromotion(
            promotion.to_string(),
        ));
    };
    if own.end <= as_of {
        return Err(ProblemError::PromotionEnded {
            promotion: promotion.to_string(),
            end: own.end,
            as_of,
        }
        .into());
    }
    Ok(group_of(&windows, promotion, as_of).unwrap_or_default())
}

/// Loads the rows for `promotion_ids` (a group whose windows overlap) and builds one problem
/// for them (see [`allocate::build_problem`](crate::allocate::build_problem)).
pub async fn load_problem(
    store: &Store,
    promotion_ids: &[String],
    as_of: NaiveDate,
    forecast: &ForecastRows,
    policy: Policy,
    economics: &Economics,
) -> Result<BuiltProblem, AllocationStoreError> {
    let promotions = load_promotions(store, promotion_ids).await?;
    let planned = PlannedPromotions::ahead_of(promotions, as_of)?;
    let network = load_network(store).await?;
    let window = forecast.between(planned.window_start, planned.window_end)?;
    let days = window.days()?;
    Ok(build_problem(&planned, &network, &days, policy, economics)?)
}

/// The promotions by id, in the order asked; an unknown id is bad input.
pub async fn load_promotions(
    store: &Store,
    promotion_ids: &[String],
) -> Result<Vec<Promotion>, AllocationStoreError> {
    let mut promotions = Vec::with_capacity(promotion_ids.len());
    for promotion_id in promotion_ids {
        let promotion = on_backend!(store, pool => {
            match sqlx::query("SELECT promo_id, name, start_date, end_date, discount_pct, sku, category, warehouse FROM promotions WHERE promo_id = $1")
                .bind(promotion_id)
                .fetch_optional(pool)
                .await?
            {
                Some(row) => Some(Promotion {
                    promo_id: row.try_get("promo_id")?,
                    name: row.try_get("name")?,
                    start_date: row.try_get("start_date")?,
                    end_date: row.try_get("end_date")?,
                    discount_pct: row.try_get("discount_pct")?,
                    sku: row.try_get("sku")?,
                    category: row.try_get("category")?,
                    warehouse: row.try_get("warehouse")?,
                }),
                None => None,
            }
        })
        .ok_or_else(|| AllocationStoreError::UnknownPromotion(promotion_id.clone()))?;
        promotions.push(promotion);
    }
    Ok(promotions)
}

/// Products and warehouses by id, and the inventory.
pub async fn load_network(store: &Store) -> Result<NetworkRows, AllocationStoreError> {
    type Product = (String, String, Option<f64>, Option<i64>, Option<f64>);
    let products: Vec<Product> = on_backend!(store, pool => {
        sqlx::query_as("SELECT sku, category, unit_volume_m3, case_pack, unit_price FROM products ORDER BY sku")
            .fetch_all(pool)
            .await?
    });
    type Warehouse = (String, String, Option<f64>, Option<f64>);
    let warehouses: Vec<Warehouse> = on_backend!(store, pool => {
        sqlx::query_as("SELECT warehouse, region, capacity_units, capacity_m3 FROM warehouses ORDER BY warehouse")
            .fetch_all(pool)
            .await?
    });
    type Inventory = (String, String, i64, i64, i64);
    let inventory: Vec<Inventory> = on_backend!(store, pool => {
        sqlx::query_as("SELECT sku, warehouse, on_hand, inbound, min_presentation FROM inventory")
            .fetch_all(pool)
            .await?
    });
    Ok(NetworkRows {
        products: products
            .into_iter()
            .map(
                |(sku, category, unit_volume_m3, case_pack, unit_price)| ProductRow {
                    sku,
                    category,
                    unit_volume_m3,
                    case_pack,
                    unit_price,
                },
            )
            .collect(),
        warehouses: warehouses
            .into_iter()
            .map(
                |(warehouse, region, capacity_units, capacity_m3)| WarehouseRow {
                    warehouse,
                    region,
                    capacity_units,
                    capacity_m3,
                },
            )
            .collect(),
        inventory: inventory
            .into_iter()
            .map(
                |(sku, warehouse, on_hand, inbound, min_presentation)| InventoryRow {
                    sku,
                    warehouse,
                    on_hand,
                    inbound,
                    min_presentation,
                },
            )
            .collect(),
    })
}

/// A forecast's rows inside one window, in the forecast's order.
pub struct ForecastWindow {
    frame: DataFrame,
}

impl ForecastRows {
    /// The rows dated `from` to `to` (inclusive).
    pub fn between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<ForecastWindow, AllocationStoreError> {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
        let day = |date: NaiveDate| (date - epoch).num_days() as i32;
        let frame = self
            .frame
            .clone()
            .lazy()
            .filter(
                col("date")
                    .cast(DataType::Int32)
                    .gt_eq(lit(day(from)))
                    .and(col("date").cast(DataType::Int32).lt_eq(lit(day(to)))),
            )
            .select([
                col("date").cast(DataType::Int32).alias("day"),
                col("sku"),
                col("warehouse"),
                col("mean"),
                col("p10"),
                col("p90"),
            ])
            .collect()?;
        Ok(ForecastWindow { frame })
    }
}

impl ForecastWindow {
    /// The rows as [`ForecastDay`]s. A row without a SKU or warehouse names no cell and is
    /// dropped; a missing mean counts as 0 and a missing p10 or p90 as no spread.
    pub fn days(&self) -> Result<Vec<ForecastDay<'_>>, AllocationStoreError> {
        let column = |name: &str| -> Result<&Series, AllocationStoreError> {
            Ok(self.frame.column(name)?.as_materialized_series())
        };
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
        let (days, sku, warehouse) = (
            column("day")?.i32()?,
            column("sku")?.str()?,
            column("warehouse")?.str()?,
        );
        let (mean, p10, p90) = (
            column("mean")?.f64()?,
            column("p10")?.f64()?,
            column("p90")?.f64()?,
        );
        let mut out = Vec::with_capacity(self.frame.height());
        for row in 0..self.frame.height() {
            let (Some(day), Some(sku), Some(warehouse)) =
                (days.get(row), sku.get(row), warehouse.get(row))
            else {
                continue;
            };
            let (p10, p90) = match (p10.get(row), p90.get(row)) {
                (Some(p10), Some(p90)) => (p10, p90),
                _ => (0.0, 0.0),
            };
            out.push(ForecastDay {
                date: epoch + chrono::Duration::days(i64::from(day)),
                sku,
                warehouse,
                mean: mean.get(row).unwrap_or(0.0),
                p10,
                p90,
            });
        }
        Ok(out)
    }
}
