//! The forecaster's input: typed frames for every contract table, read from a folder (through
//! ingest's validation, without writing anything) or from the store.

use std::collections::HashSet;
use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::*;
use sqlx::Row;

use super::ForecastError;
use crate::contract::{Frequency, Table};
use crate::ingest::{discover, prepare, IngestOptions, KnownKeys};
use crate::on_backend;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct Dataset {
    pub products: DataFrame,
    pub warehouses: DataFrame,
    pub sales: DataFrame,
    pub promotions: DataFrame,
    pub inventory: Option<DataFrame>,
    pub stock_levels: Option<DataFrame>,
    pub poll_responses: Option<DataFrame>,
    pub events: Option<DataFrame>,
    /// Input rows that failed validation and were left out (they are not quarantined here;
    /// `stockcast ingest` does that).
    pub rows_rejected: usize,
    /// The whole store's sales span when this dataset holds one category only (a forecast
    /// shard), so the shard's panel has the same calendar as the unsharded one.
    pub sales_span: Option<(NaiveDate, NaiveDate)>,
}

fn empty_promotions() -> DataFrame {
    DataFrame::new(
        0,
        vec![
            Series::new_empty("promo_id".into(), &DataType::String).into(),
            Series::new_empty("start_date".into(), &DataType::Date).into(),
            Series::new_empty("end_date".into(), &DataType::Date).into(),
            Series::new_empty("discount_pct".into(), &DataType::Float64).into(),
        ],
    )
    .expect("empty frame")
}

impl Dataset {
    /// Reads and validates a folder in the data contract. Invalid rows are left out and
    /// counted; a file that cannot be parsed is an error.
    pub fn from_dir(dir: &Path, freq: Frequency) -> Result<Dataset, ForecastError> {
        let files = discover(dir)?;
        let options = IngestOptions {
            freq,
            force: true,
            fingerprint_files: false,
            ..IngestOptions::default()
        };
        let prepared = prepare(&files, KnownKeys::default(), &HashSet::new(), &options)?;
        let mut frames: Vec<(Table, DataFrame)> = Vec::new();
        let mut rows_rejected = 0;
        for file in prepared {
            let Some(validated) = file.validated else {
                continue;
            };
            rows_rejected += validated.rows_rejected;
            match frames.iter_mut().find(|(table, _)| *table == file.table) {
                Some((_, frame)) => {
                    frame.vstack_mut(&validated.accepted)?;
                }
                None => frames.push((file.table, validated.accepted)),
            }
        }
        let mut take = |table: Table| -> Option<DataFrame> {
            let position = frames.iter().position(|(t, _)| *t == table)?;
            let (_, mut frame) = frames.swap_remove(position);
            frame.rechunk_mut();
            Some(frame)
        };
        let missing = |table: Table| {
            ForecastError::InvalidSetting(format!(
                "{}: no {table} file (sales, products and warehouses are required)",
                dir.display()
            ))
        };
        Ok(Dataset {
            products: take(Table::Products).ok_or_else(|| missing(Table::Products))?,
            warehouses: take(Table::Warehouses).ok_or_else(|| missing(Table::Warehouses))?,
            sales: take(Table::Sales).ok_or_else(|| missing(Table::Sales))?,
            promotions: take(Table::Promotions).unwrap_or_else(empty_promotions),
            inventory: take(Table::Inventory),
            stock_levels: take(Table::StockLevels),
            poll_responses: take(Table::PollResponses),
            events: take(Table::Events),
            rows_rejected,
            sales_span: None,
        })
    }

    /// Reads what the forecaster needs from the store. Sales are the rows in force
    /// (`store::sales_source`): ingested days, and live ones only where no file covers the day.
    pub async fn from_store(store: &Store) -> Result<Dataset, ForecastError> {
        Dataset::from_store_for(store, None).await
    }

    /// [`Dataset::from_store`] limited to one category's products, sales, stock-outs and
    /// poll answers (a forecast shard); promotions, warehouses and events stay whole.
    pub async fn from_store_for(
        store: &Store,
        only_category: Option<&str>,
    ) -> Result<Dataset, ForecastError> {
        let (products, warehouses) = load_catalogue(store, only_category).await?;
        Ok(Dataset {
            products,
            warehouses,
            sales: load_sales(store, only_category).await?,
            promotions: load_promotions(store).await?,
            inventory: None,
            stock_levels: Some(load_stock_outs(store, only_category).await?),
            poll_responses: Some(load_polls(store, only_category).await?),
            events: load_events(store).await?,
            rows_rejected: 0,
            sales_span: load_sales_span(store, only_category).await?,
        })
    }

    pub fn sales_date_range(&self) -> Result<Option<(NaiveDate, NaiveDate)>, ForecastError> {
        if let Some(span) = self.sales_span {
            return Ok(Some(span));
        }
        let dates = self
            .sales
            .column("date")?
            .as_materialized_series()
            .date()?
            .physical()
            .clone();
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
        Ok(match (dates.min(), dates.max()) {
            (Some(first), Some(last)) => Some((
                epoch + chrono::Duration::days(i64::from(first)),
                epoch + chrono::Duration::days(i64::from(last)),
            )),
            _ => None,
        })
    }
}

/// Splits packed series rows (sku, warehouse, "YYYY-MM-DD=units,…") into columns: sku,
/// warehouse, days since 1970-01-01, units.
type SalesColumns = (Vec<String>, Vec<String>, Vec<i32>, Vec<f64>);

fn unpack_sales(series: &[(String, String, String)]) -> Result<SalesColumns, ForecastError> {
    let total: usize = series
        .iter()
        .map(|(_, _, packed)| packed.bytes().filter(|b| *b == b',').count() + 1)
        .sum();
    let (mut sku, mut warehouse) = (Vec::with_capacity(total), Vec::with_capacity(total));
    let (mut date, mut units) = (Vec::with_capacity(total), Vec::with_capacity(total));
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    for (series_sku, series_warehouse, packed) in series {
        for entry in packed.split(',') {
            let bad = || {
                ForecastError::InvalidSetting(format!(
                    "sales of {series_sku} in {series_warehouse}: unreadable day {entry:?}"
                ))
            };
            let (day, value) = entry.split_once('=').ok_or_else(bad)?;
            let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| bad())?;
            let value: f64 = value.parse().map_err(|_| bad())?;
            sku.push(series_sku.clone());
            warehouse.push(series_warehouse.clone());
            date.push((day - epoch).num_days() as i32);
            units.push(value);
        }
    }
    Ok((sku, warehouse, date, units))
}

/// One column of every row, decoded as `T`, on either backend.
fn column<'r, R, T>(rows: &'r [R], name: &str) -> Result<Vec<T>, ForecastError>
where
    R: Row,
    T: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'n> &'n str: sqlx::ColumnIndex<R>,
{
    rows.iter()
        .map(|row| row.try_get(name))
        .collect::<Result<_, _>>()
        .map_err(query_error)
}

fn query_error(error: sqlx::Error) -> ForecastError {
    ForecastError::Store(StoreError::from(error))
}

fn date_series(name: &str, dates: Vec<NaiveDate>) -> Result<Series, PolarsError> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    Series::new(
        name.into(),
        dates
            .iter()
            .map(|d| (*d - epoch).num_days() as i32)
            .collect::<Vec<i32>>(),
    )
    .cast(&DataType::Date)
}

/// Products (of one category, or all) and warehouses.
async fn load_catalogue(
    store: &Store,
    only_category: Option<&str>,
) -> Result<(DataFrame, DataFrame), ForecastError> {
    let (sku, category) = on_backend!(store, pool => {
        let rows = sqlx::query("SELECT sku, category FROM products WHERE ($1 IS NULL OR category = $1) ORDER BY sku").bind(only_category).fetch_all(pool).await.map_err(query_error)?;
        (column::<_, String>(&rows, "sku")?, column::<_, String>(&rows, "category")?)
    });
    let products = df!("sku" => sku, "category" => category)?;
    let warehouse: Vec<String> = on_backend!(store, pool => {
        sqlx::query_scalar("SELECT warehouse FROM warehouses ORDER BY warehouse").fetch_all(pool).await.map_err(query_error)?
    });
    let warehouses = df!("warehouse" => warehouse)?;
    Ok((products, warehouses))
}

/// Sales in force, summed per (sku, warehouse, date).
async fn load_sales(
    store: &Store,
    only_category: Option<&str>,
) -> Result<DataFrame, ForecastError> {
    // One row per series with its days packed as "date=units,…": 18M (sku, warehouse,
    // date) rows decoded one by one through the driver cost more than the whole fit; the
    // database concatenates them in C and this side splits plain text.
    let packed = store
        .backend()
        .string_agg("CAST(date AS TEXT) || '=' || CAST(units AS TEXT)", ",");
    let packed_sql = format!(
        "SELECT sku, warehouse, {packed} FROM \
         (SELECT sku, warehouse, date, SUM(units) AS units FROM sales_in_force \
          WHERE ($1 IS NULL OR sku IN (SELECT sku FROM products WHERE category = $1)) \
          GROUP BY sku, warehouse, date) AS daily GROUP BY sku, warehouse"
    );
    let series: Vec<(String, String, String)> = on_backend!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(packed_sql))
            .bind(only_category)
            .fetch_all(pool).await.map_err(query_error)?
    });
    let (sku, warehouse, date, units) = unpack_sales(&series)?;
    let sales = DataFrame::new_infer_height(vec![
        Series::new("sku".into(), sku).into(),
        Series::new("warehouse".into(), warehouse).into(),
        Series::new("date".into(), date)
            .cast(&DataType::Date)?
            .into(),
        Series::new("units".into(), units).into(),
    ])?;
    Ok(sales)
}

/// Every promotion, whatever the category loaded.
async fn load_promotions(store: &Store) -> Result<DataFrame, ForecastError> {
    let promotions = on_backend!(store, pool => {
        let rows = sqlx::query("SELECT promo_id, name, start_date, end_date, discount_pct, sku, category, warehouse FROM promotions")
            .fetch_all(pool).await.map_err(query_error)?;
        let text = |name: &str| column::<_, Option<String>>(&rows, name);
        let dates = |name: &str| column::<_, NaiveDate>(&rows, name);
        let discount: Vec<f64> = column(&rows, "discount_pct")?;
        DataFrame::new_infer_height(vec![
            Series::new("promo_id".into(), text("promo_id")?).into(),
            Series::new("name".into(), text("name")?).into(),
            date_series("start_date", dates("start_date")?)?.into(),
            date_series("end_date", dates("end_date")?)?.into(),
            Series::new("discount_pct".into(), discount).into(),
            Series::new("sku".into(), text("sku")?).into(),
            Series::new("category".into(), text("category")?).into(),
            Series::new("warehouse".into(), text("warehouse")?).into(),
        ])?
    });
    Ok(promotions)
}

/// Days a SKU × warehouse had nothing on hand.
async fn load_stock_outs(
    store: &Store,
    only_category: Option<&str>,
) -> Result<DataFrame, ForecastError> {
    let stock_levels = on_backend!(store, pool => {
        let rows = sqlx::query("SELECT sku, warehouse, date FROM stock_levels WHERE on_hand = 0 \
             AND ($1 IS NULL OR sku IN (SELECT sku FROM products WHERE category = $1))").bind(only_category).fetch_all(pool).await.map_err(query_error)?;
        let sku: Vec<String> = column(&rows, "sku")?;
        let warehouse: Vec<String> = column(&rows, "warehouse")?;
        let date: Vec<NaiveDate> = column(&rows, "date")?;
        let height = sku.len();
        DataFrame::new_infer_height(vec![
            Series::new("sku".into(), sku).into(),
            Series::new("warehouse".into(), warehouse).into(),
            date_series("date", date)?.into(),
            Series::new("on_hand".into(), vec![0i64; height]).into(),
        ])?
    });
    Ok(stock_levels)
}

/// Poll answers about the category or its SKUs.
async fn load_polls(
    store: &Store,
    only_category: Option<&str>,
) -> Result<DataFrame, ForecastError> {
    let poll_responses = on_backend!(store, pool => {
        let rows = sqlx::query("SELECT responded_at, sku, category, interest, intends_to_buy FROM poll_responses \
             WHERE ($1 IS NULL OR category = $1 OR sku IN (SELECT sku FROM products WHERE category = $1))")
            .bind(only_category)
            .fetch_all(pool).await.map_err(query_error)?;
        let mut at = Vec::with_capacity(rows.len());
        let mut sku = Vec::with_capacity(rows.len());
        let mut category = Vec::with_capacity(rows.len());
        let mut interest = Vec::with_capacity(rows.len());
        let mut intends = Vec::with_capacity(rows.len());
        for row in &rows {
            at.push(row.try_get::<chrono::DateTime<chrono::Utc>, _>("responded_at").map_err(query_error)?.timestamp_micros());
            sku.push(row.try_get::<Option<String>, _>("sku").map_err(query_error)?);
            category.push(row.try_get::<Option<String>, _>("category").map_err(query_error)?);
            interest.push(row.try_get::<i64, _>("interest").map_err(query_error)?);
            intends.push(row.try_get::<Option<bool>, _>("intends_to_buy").map_err(query_error)?);
        }
        DataFrame::new_infer_height(vec![
            Series::new("responded_at".into(), at).cast(&DataType::Datetime(TimeUnit::Microseconds, None))?.into(),
            Series::new("sku".into(), sku).into(),
            Series::new("category".into(), category).into(),
            Series::new("interest".into(), interest).into(),
            Series::new("intends_to_buy".into(), intends).into(),
        ])?
    });
    Ok(poll_responses)
}

/// The whole store's first and last sales dates, when only one category is loaded.
async fn load_sales_span(
    store: &Store,
    only_category: Option<&str>,
) -> Result<Option<(NaiveDate, NaiveDate)>, ForecastError> {
    let sales_span = match only_category {
        None => None,
        Some(_) => {
            let span: (Option<NaiveDate>, Option<NaiveDate>) = on_backend!(store, pool => {
                sqlx::query_as("SELECT MIN(date), MAX(date) FROM sales_in_force").fetch_one(pool).await.map_err(query_error)?
            });
            match span {
                (Some(first), Some(last)) => Some((first, last)),
                _ => None,
            }
        }
    };
    Ok(sales_span)
}

/// The named events, if any were loaded.
async fn load_events(store: &Store) -> Result<Option<DataFrame>, ForecastError> {
    let named_events: Vec<(NaiveDate, String)> = on_backend!(store, pool => {
        sqlx::query_as("SELECT date, event FROM events ORDER BY date, event").fetch_all(pool).await.map_err(query_error)?
    });
    let events = if named_events.is_empty() {
        None
    } else {
        let (dates, names): (Vec<NaiveDate>, Vec<String>) = named_events.into_iter().unzip();
        Some(DataFrame::new_infer_height(vec![
            date_series("date", dates)?.into(),
            Series::new("event".into(), names).into(),
        ])?)
    };
    Ok(events)
}

#[cfg(test)]
mod unpack_tests {
    use super::*;

    #[test]
    fn packed_series_unpack_into_columns_and_bad_days_are_named() {
        let series = vec![
            (
                "A".to_string(),
                "W1".to_string(),
                "2026-01-02=3.0,2026-01-01=1.5".to_string(),
            ),
            (
                "B".to_string(),
                "W2".to_string(),
                "1970-01-02=2".to_string(),
            ),
        ];
        let (sku, warehouse, date, units) = unpack_sales(&series).unwrap();
        assert_eq!(sku, ["A", "A", "B"]);
        assert_eq!(warehouse, ["W1", "W1", "W2"]);
        assert_eq!(date, [20455, 20454, 1]);
        assert_eq!(units, [3.0, 1.5, 2.0]);
        let bad = vec![(
            "A".to_string(),
            "W1".to_string(),
            "2026-13-01=1".to_string(),
        )];
        let message = unpack_sales(&bad).unwrap_err().to_string();
        assert!(
            message.contains("A in W1") && message.contains("2026-13-01"),
            "{message}"
        );
    }
}
