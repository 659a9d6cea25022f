//! Building an [`AllocationProblem`] for a group of overlapping promotions: their windows and
//! scopes from `promotions`, demand over the window from a forecast (a file or the latest complete run
//! in the database), stock from `inventory`, sizes and prices from `products`, capacities
//! and regions from `warehouses`.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::*;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::AllocationStoreError;
use crate::allocate::{
    group_of, AllocationProblem, CellInput, Policy, PromotionWindow, QuantilePoint, SkuInput,
    WarehouseInput,
};
use crate::on_backend;
use crate::store::Store;

/// Economic assumptions where the data contract has no column; each is a CLI option.
#[derive(Debug, Clone)]
pub struct Economics {
    /// Share of the promotional price kept as margin.
    pub margin_rate: f64,
    /// Cost of holding one unit through the window, as a share of its regular price.
    pub holding_rate: f64,
    /// Per-unit transfer cost inside a region and between regions.
    pub transfer_same_region: f64,
    pub transfer_cross_region: f64,
    /// Warehouses served first when stock is short (tier 1); the rest are tier 2.
    pub flagships: Vec<String>,
}

impl Default for Economics {
    fn default() -> Self {
        Economics {
            margin_rate: 0.4,
            holding_rate: 0.01,
            transfer_same_region: 1.0,
            transfer_cross_region: 4.0,
            flagships: Vec::new(),
        }
    }
}

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

struct Promotion {
    id: String,
    /// The part of the window ahead of the as-of date.
    start: NaiveDate,
    end: NaiveDate,
    discount_pct: f64,
    sku: Option<String>,
    category: Option<String>,
    warehouse: Option<String>,
}

/// z of the 10th/90th percentile: (p90 − p10) ≈ 2·1.2816·σ.
const P10_P90_WIDTH_IN_SD: f64 = 2.0 * 1.281_551_565_5;

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
        return Err(AllocationStoreError::BadInput(format!(
            "--promotion {promotion}: no such promotion"
        )));
    };
    if own.end <= as_of {
        return Err(AllocationStoreError::BadInput(format!(
            "--promotion {promotion} ended on {} (before --as-of {as_of})",
            own.end
        )));
    }
    Ok(group_of(&windows, promotion, as_of).unwrap_or_default())
}

/// A problem for a group of promotions planned together, and what it covers.
pub struct BuiltProblem {
    pub problem: AllocationProblem,
    pub fingerprint: String,
    /// The promotions, with the part of their windows ahead of the as-of date.
    pub windows: Vec<PromotionWindow>,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
}

/// Builds one problem for `promotions` (a group whose windows overlap): the SKUs in any of
/// their scopes, each cell's demand summed over the days on which at least one promotion
/// covering it runs (a day two promotions share counts once), and one pool of stock and
/// warehouse capacity for all of them. A SKU in several promotions earns the margin of the
/// deepest discount among them.
pub async fn build_problem(
    store: &Store,
    promotion_ids: &[String],
    as_of: NaiveDate,
    forecast: &ForecastRows,
    policy: Policy,
    economics: &Economics,
) -> Result<BuiltProblem, AllocationStoreError> {
    if promotion_ids.is_empty() {
        return Err(AllocationStoreError::BadInput(
            "no promotion to allocate".to_string(),
        ));
    }
    let mut promotions: Vec<Promotion> = Vec::new();
    for promotion_id in promotion_ids {
        let promotion = on_backend!(store, pool => {
            match sqlx::query("SELECT start_date, end_date, discount_pct, sku, category, warehouse FROM promotions WHERE promo_id = $1")
                .bind(promotion_id)
                .fetch_optional(pool)
                .await?
            {
                Some(row) => Some(Promotion {
                    id: promotion_id.clone(),
                    start: row.try_get("start_date")?,
                    end: row.try_get("end_date")?,
                    discount_pct: row.try_get("discount_pct")?,
                    sku: row.try_get("sku")?,
                    category: row.try_get("category")?,
                    warehouse: row.try_get("warehouse")?,
                }),
                None => None,
            }
        })
        .ok_or_else(|| AllocationStoreError::BadInput(format!("--promotion {promotion_id}: no such promotion")))?;
        if promotion.end <= as_of {
            return Err(AllocationStoreError::BadInput(format!(
                "--promotion {promotion_id} ended on {} (before --as-of {as_of})",
                promotion.end
            )));
        }
        promotions.push(Promotion {
            start: promotion.start.max(as_of + chrono::Duration::days(1)),
            ..promotion
        });
    }
    promotions.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
    let window_start = promotions
        .iter()
        .map(|p| p.start)
        .min()
        .expect("one promotion");
    let window_end = promotions
        .iter()
        .map(|p| p.end)
        .max()
        .expect("one promotion");

    // Catalogue and sites.
    type ProductRow = (String, String, Option<f64>, Option<i64>, Option<f64>);
    let products: Vec<ProductRow> = on_backend!(store, pool => {
        sqlx::query_as("SELECT sku, category, unit_volume_m3, case_pack, unit_price FROM products ORDER BY sku")
            .fetch_all(pool)
            .await?
    });
    type WarehouseRow = (String, String, Option<f64>, Option<f64>);
    let warehouse_rows: Vec<WarehouseRow> = on_backend!(store, pool => {
        sqlx::query_as("SELECT warehouse, region, capacity_units, capacity_m3 FROM warehouses ORDER BY warehouse")
            .fetch_all(pool)
            .await?
    });
    type InventoryRow = (String, String, i64, i64, i64);
    let inventory: Vec<InventoryRow> = on_backend!(store, pool => {
        sqlx::query_as("SELECT sku, warehouse, on_hand, inbound, min_presentation FROM inventory")
            .fetch_all(pool)
            .await?
    });
    if warehouse_rows.is_empty() || products.is_empty() {
        return Err(AllocationStoreError::BadInput(
            "the database has no products or no warehouses; run `stockcast ingest` first"
                .to_string(),
        ));
    }

    let warehouses: Vec<WarehouseInput> = warehouse_rows
        .iter()
        .map(|(warehouse, region, units, m3)| WarehouseInput {
            warehouse: warehouse.clone(),
            region: region.clone(),
            capacity_units: *units,
            capacity_m3: *m3,
            priority_tier: if economics.flagships.is_empty()
                || economics.flagships.contains(warehouse)
            {
                1
            } else {
                2
            },
        })
        .collect();
    let warehouse_index: HashMap<&str, usize> = warehouses
        .iter()
        .enumerate()
        .map(|(i, w)| (w.warehouse.as_str(), i))
        .collect();

    let in_scope = |promotion: &Promotion, sku: &str, category: &str| match (
        &promotion.sku,
        &promotion.category,
    ) {
        (Some(scope), _) => scope == sku,
        (None, Some(scope)) => scope == category,
        (None, None) => true,
    };
    let mut skus: Vec<SkuInput> = Vec::new();
    let mut sku_index: HashMap<String, usize> = HashMap::new();
    // Per promotion, which of `skus` it covers.
    let mut covers: Vec<Vec<bool>> = vec![Vec::new(); promotions.len()];
    for (sku, category, volume, case_pack, price) in &products {
        let covering: Vec<bool> = promotions
            .iter()
            .map(|p| in_scope(p, sku, category))
            .collect();
        let Some(discount_pct) = promotions
            .iter()
            .zip(&covering)
            .filter(|(_, covered)| **covered)
            .map(|(p, _)| p.discount_pct)
            .reduce(f64::max)
        else {
            continue;
        };
        for (list, covered) in covers.iter_mut().zip(covering) {
            list.push(covered);
        }
        let price = price.unwrap_or(100.0);
        sku_index.insert(sku.clone(), skus.len());
        skus.push(SkuInput {
            sku: sku.clone(),
            unit_margin: price * (1.0 - discount_pct / 100.0) * economics.margin_rate,
            holding_cost: price * economics.holding_rate,
            unit_volume_m3: volume.unwrap_or(0.0),
            case_pack: case_pack.unwrap_or(1).clamp(1, u32::MAX as i64) as u32,
            inbound_units: 0,
        });
    }
    let scoped_warehouse: Vec<Option<usize>> = promotions
        .iter()
        .map(|p| {
            p.warehouse
                .as_deref()
                .map(|w| warehouse_index.get(w).copied().unwrap_or(usize::MAX))
        })
        .collect();

    // Demand per (sku, warehouse): summed daily means and variances (from p10–p90) over the
    // days some promotion covering the cell runs.
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let day = |date: NaiveDate| (date - epoch).num_days() as i32;
    let windows_days: Vec<(i32, i32)> = promotions
        .iter()
        .map(|p| (day(p.start), day(p.end)))
        .collect();
    let rows = forecast
        .frame
        .clone()
        .lazy()
        .filter(
            col("date")
                .cast(DataType::Int32)
                .gt_eq(lit(day(window_start)))
                .and(
                    col("date")
                        .cast(DataType::Int32)
                        .lt_eq(lit(day(window_end))),
                ),
        )
        .select([
            col("date").cast(DataType::Int32).alias("day"),
            col("sku"),
            col("warehouse"),
            col("mean"),
            ((col("p90") - col("p10")) / lit(P10_P90_WIDTH_IN_SD))
                .pow(2)
                .alias("variance"),
        ])
        .collect()?;
    if rows.height() == 0 {
        return Err(AllocationStoreError::BadInput(format!(
            "the forecast does not cover the promotion window {window_start} … {window_end}"
        )));
    }
    let mut demand: HashMap<(usize, usize), (f64, f64)> = HashMap::new();
    {
        let column = |name: &str| -> Result<Series, AllocationStoreError> {
            Ok(rows.column(name)?.as_materialized_series().clone())
        };
        let (days, sku, warehouse, mean, variance) = (
            column("day")?,
            column("sku")?,
            column("warehouse")?,
            column("mean")?,
            column("variance")?,
        );
        let (days, sku, warehouse, mean, variance) = (
            days.i32()?,
            sku.str()?,
            warehouse.str()?,
            mean.f64()?,
            variance.f64()?,
        );
        for row in 0..rows.height() {
            let (Some(d), Some(sku), Some(warehouse)) =
                (days.get(row), sku.get(row), warehouse.get(row))
            else {
                continue;
            };
            let (Some(&s), Some(&w)) = (sku_index.get(sku), warehouse_index.get(warehouse)) else {
                continue;
            };
            let covered = (0..promotions.len()).any(|p| {
                covers[p][s]
                    && scoped_warehouse[p].is_none_or(|only| only == w)
                    && (windows_days[p].0..=windows_days[p].1).contains(&d)
            });
            if !covered {
                continue;
            }
            let entry = demand.entry((s, w)).or_default();
            entry.0 += mean.get(row).unwrap_or(0.0).max(0.0);
            entry.1 += variance.get(row).unwrap_or(0.0).max(0.0);
        }
    }

    let mut stock: HashMap<(usize, usize), (u64, u64)> = HashMap::new();
    for (sku, warehouse, on_hand, inbound, minimum) in &inventory {
        let (Some(&s), Some(&w)) = (
            sku_index.get(sku.as_str()),
            warehouse_index.get(warehouse.as_str()),
        ) else {
            continue;
        };
        stock.insert((s, w), (*on_hand as u64, *minimum as u64));
        skus[s].inbound_units += *inbound as u64;
    }

    let mut cells = Vec::new();
    let mut keys: Vec<(usize, usize)> = demand.keys().chain(stock.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    for (s, w) in keys {
        let (mean, variance) = demand.get(&(s, w)).copied().unwrap_or((0.0, 0.0));
        let (current, minimum) = stock.get(&(s, w)).copied().unwrap_or((0, 0));
        let sd = variance.sqrt();
        let points = if mean <= 0.0 {
            vec![
                QuantilePoint {
                    level: 0.1,
                    units: 0.0,
                },
                QuantilePoint {
                    level: 0.5,
                    units: 0.0,
                },
                QuantilePoint {
                    level: 0.9,
                    units: 0.0,
                },
            ]
        } else {
            let p10 = (mean - 1.2816 * sd).max(0.0);
            let p50 = mean.max(p10);
            let p90 = (mean + 1.2816 * sd).max(p50);
            vec![
                QuantilePoint {
                    level: 0.1,
                    units: p10,
                },
                QuantilePoint {
                    level: 0.5,
                    units: p50,
                },
                QuantilePoint {
                    level: 0.9,
                    units: p90,
                },
            ]
        };
        cells.push(CellInput {
            sku_index: s,
            warehouse_index: w,
            demand: points,
            mean: (mean > 0.0).then_some(mean),
            current_units: current,
            min_presentation: minimum,
        });
    }

    let transfer_cost_per_unit: Vec<Vec<f64>> = (0..warehouses.len())
        .map(|from| {
            (0..warehouses.len())
                .map(|to| {
                    if from == to {
                        0.0
                    } else if warehouses[from].region == warehouses[to].region {
                        economics.transfer_same_region
                    } else {
                        economics.transfer_cross_region
                    }
                })
                .collect()
        })
        .collect();
    let problem = AllocationProblem {
        skus,
        warehouses,
        cells,
        transfer_cost_per_unit,
        policy,
    };
    let fingerprint = {
        let mut hasher = Sha256::new();
        hasher.update(serde_json::to_vec(&problem).unwrap_or_default());
        hex::encode(&hasher.finalize()[..16])
    };
    Ok(BuiltProblem {
        problem,
        fingerprint,
        windows: promotions
            .iter()
            .map(|p| PromotionWindow {
                promotion: p.id.clone(),
                start: p.start,
                end: p.end,
            })
            .collect(),
        window_start,
        window_end,
    })
}
