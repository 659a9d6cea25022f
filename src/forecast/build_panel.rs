//! Typed input frames → [`Panel`]: polars (lazy) does the relational work (filter to the
//! as-of date, map keys to indices, bucket dates into periods, sum), then the small results
//! are written into dense arrays. Pure: no IO, no clock.

use std::collections::HashMap;

use chrono::NaiveDate;
use polars::prelude::*;

use super::dataset::Dataset;
use super::panel::{period_days, Panel, EVENT_DISTANCE_CAP_DAYS, PROMO_DIP_DAYS};
use super::ForecastError;
use crate::contract::Frequency;

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")
}

fn to_days(date: NaiveDate) -> i32 {
    (date - epoch()).num_days() as i32
}

fn text_column(frame: &DataFrame, name: &str) -> Result<Vec<Option<String>>, ForecastError> {
    Ok(frame
        .column(name)?
        .as_materialized_series()
        .str()?
        .iter()
        .map(|value| value.map(str::to_string))
        .collect())
}

/// Maps sku/warehouse text to dense indices, in sorted order.
fn index_of(values: &[String]) -> HashMap<&str, usize> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (v.as_str(), i))
        .collect()
}

/// Sums sales up to `as_of` per (sku index, warehouse index, period) with polars.
fn aggregate_sales(
    dataset: &Dataset,
    skus: &[String],
    warehouses: &[String],
    start_days: i32,
    as_of_days: i32,
    days_per_period: i64,
) -> Result<DataFrame, ForecastError> {
    let sku_map = df!(
        "sku" => skus,
        "sku_index" => (0..skus.len() as u32).collect::<Vec<u32>>(),
    )?;
    let warehouse_map = df!(
        "warehouse" => warehouses,
        "warehouse_index" => (0..warehouses.len() as u32).collect::<Vec<u32>>(),
    )?;
    let days = col("date").cast(DataType::Int32);
    let frame = dataset
        .sales
        .clone()
        .lazy()
        .filter(
            days.clone()
                .lt_eq(lit(as_of_days))
                .and(days.clone().gt_eq(lit(start_days))),
        )
        .join(
            sku_map.lazy(),
            [col("sku")],
            [col("sku")],
            JoinArgs::new(JoinType::Inner),
        )
        .join(
            warehouse_map.lazy(),
            [col("warehouse")],
            [col("warehouse")],
            JoinArgs::new(JoinType::Inner),
        )
        .with_column(
            ((days - lit(start_days)) / lit(days_per_period as i32))
                .cast(DataType::UInt32)
                .alias("period"),
        )
        .group_by([col("sku_index"), col("warehouse_index"), col("period")])
        .agg([col("units").sum().cast(DataType::Float32).alias("units")])
        .collect()?;
    Ok(frame)
}

pub fn build_panel(
    dataset: &Dataset,
    freq: Frequency,
    as_of: NaiveDate,
    horizon: usize,
) -> Result<Panel, ForecastError> {
    if horizon == 0 {
        return Err(ForecastError::InvalidSetting(
            "--horizon must be at least 1 period".to_string(),
        ));
    }
    if horizon > super::engine::MAX_HORIZON_PERIODS {
        return Err(ForecastError::InvalidSetting(format!(
            "--horizon {horizon} is over the limit of {} periods",
            super::engine::MAX_HORIZON_PERIODS
        )));
    }
    let (first, last) = dataset.sales_date_range()?.ok_or(ForecastError::NoSales)?;
    if as_of < first || as_of > last {
        return Err(ForecastError::AsOfOutside { as_of, first, last });
    }
    let days_per_period = period_days(freq);
    let start = first;
    let history_len = ((as_of - start).num_days() / days_per_period) as usize + 1;
    let total_len = history_len + horizon;
    let minimum_history = match freq {
        Frequency::Day => 56,
        Frequency::Week => 8,
    };
    if history_len < minimum_history {
        return Err(ForecastError::InvalidSetting(format!(
            "--as-of {as_of} leaves {history_len} periods of history; at least {minimum_history} are needed"
        )));
    }

    // Catalogue: every product (a SKU never sold still gets a cold-start forecast).
    let product_skus = text_column(&dataset.products, "sku")?;
    let product_categories = text_column(&dataset.products, "category")?;
    let mut catalogue: Vec<(String, String)> = product_skus
        .into_iter()
        .zip(product_categories)
        .filter_map(|(sku, category)| Some((sku?, category?)))
        .collect();
    catalogue.sort();
    catalogue.dedup_by(|a, b| a.0 == b.0);
    let mut categories: Vec<String> = catalogue.iter().map(|(_, c)| c.clone()).collect();
    categories.sort();
    categories.dedup();
    let category_index = index_of(&categories);
    let skus: Vec<String> = catalogue.iter().map(|(s, _)| s.clone()).collect();
    let sku_category: Vec<usize> = catalogue
        .iter()
        .map(|(_, c)| category_index[c.as_str()])
        .collect();
    let mut warehouses: Vec<String> = text_column(&dataset.warehouses, "warehouse")?
        .into_iter()
        .flatten()
        .collect();
    warehouses.sort();
    warehouses.dedup();
    if skus.is_empty() || warehouses.is_empty() {
        return Err(ForecastError::InvalidSetting(
            "no products or no warehouses in the input".to_string(),
        ));
    }
    let sku_index = index_of(&skus);
    let sku_count = skus.len();
    let warehouse_count = warehouses.len();

    let start_days = to_days(start);
    let as_of_days = to_days(as_of);
    let period_of = |days: i32| -> Option<usize> {
        let offset = i64::from(days - start_days);
        (offset >= 0).then(|| (offset / days_per_period) as usize)
    };

    // Sales → dense cells and SKU totals.
    let sales = aggregate_sales(
        dataset,
        &skus,
        &warehouses,
        start_days,
        as_of_days,
        days_per_period,
    )?;
    let mut cell_units = vec![0f32; sku_count * warehouse_count * history_len];
    let mut units = vec![0f32; sku_count * history_len];
    let mut active_from: Vec<Option<usize>> = vec![None; sku_count];
    {
        let s = sales
            .column("sku_index")?
            .as_materialized_series()
            .u32()?
            .clone();
        let w = sales
            .column("warehouse_index")?
            .as_materialized_series()
            .u32()?
            .clone();
        let p = sales
            .column("period")?
            .as_materialized_series()
            .u32()?
            .clone();
        let u = sales
            .column("units")?
            .as_materialized_series()
            .f32()?
            .clone();
        for (((sku, warehouse), period), value) in s
            .into_no_null_iter()
            .zip(w.into_no_null_iter())
            .zip(p.into_no_null_iter())
            .zip(u.into_no_null_iter())
        {
            let (sku, warehouse, period) = (sku as usize, warehouse as usize, period as usize);
            if period >= history_len || !value.is_finite() {
                continue;
            }
            cell_units[(sku * warehouse_count + warehouse) * history_len + period] += value;
            units[sku * history_len + period] += value;
            if value > 0.0 {
                active_from[sku] = Some(active_from[sku].map_or(period, |first| first.min(period)));
            }
        }
    }

    // Stock-outs up to the as-of date censor the SKU's sales in that period.
    let mut censored = vec![false; sku_count * history_len];
    if let Some(levels) = &dataset.stock_levels {
        let outs = levels
            .clone()
            .lazy()
            .filter(
                col("on_hand")
                    .eq(lit(0i64))
                    .and(col("date").cast(DataType::Int32).lt_eq(lit(as_of_days))),
            )
            .select([col("sku"), col("date").cast(DataType::Int32).alias("days")])
            .collect()?;
        let skus_out = text_column(&outs, "sku")?;
        let days_out = outs.column("days")?.as_materialized_series().i32()?.clone();
        for (sku, days) in skus_out.iter().zip(days_out.iter()) {
            if let (Some(sku), Some(days)) = (sku, days) {
                if let (Some(&sku), Some(period)) = (sku_index.get(sku.as_str()), period_of(days)) {
                    if period < history_len {
                        censored[sku * history_len + period] = true;
                    }
                }
            }
        }
    }

    // Promotions: known in advance, so they cover the future periods too.
    let mut discount = vec![0f32; sku_count * total_len];
    let mut promo_period = vec![0u16; sku_count * total_len];
    let mut since_promo_end = vec![0u16; sku_count * total_len];
    {
        let promos = &dataset.promotions;
        let promo_sku = text_column(promos, "sku").unwrap_or_else(|_| vec![None; promos.height()]);
        let promo_category =
            text_column(promos, "category").unwrap_or_else(|_| vec![None; promos.height()]);
        let promo_warehouse =
            text_column(promos, "warehouse").unwrap_or_else(|_| vec![None; promos.height()]);
        let starts = promos
            .column("start_date")?
            .as_materialized_series()
            .date()?
            .physical()
            .clone();
        let ends = promos
            .column("end_date")?
            .as_materialized_series()
            .date()?
            .physical()
            .clone();
        let discounts = promos
            .column("discount_pct")?
            .as_materialized_series()
            .f64()?
            .clone();
        let dip_periods = (PROMO_DIP_DAYS / days_per_period).max(1) as usize;
        for row in 0..promos.height() {
            // Warehouse-scoped promotions move demand between warehouses more than they change
            // a SKU's total; the SKU-level model leaves them out.
            if promo_warehouse[row].is_some() {
                continue;
            }
            let (Some(begin), Some(end), Some(pct)) =
                (starts.get(row), ends.get(row), discounts.get(row))
            else {
                continue;
            };
            let fraction = (pct / 100.0).clamp(0.0, 0.95) as f32;
            let first_period = period_of(begin.max(start_days)).unwrap_or(0);
            let Some(last_period) = period_of(end) else {
                continue;
            };
            if first_period >= total_len {
                continue;
            }
            let last_period = last_period.min(total_len - 1);
            let start_period = period_of(begin).unwrap_or(0);
            for sku in 0..sku_count {
                let in_scope = match (&promo_sku[row], &promo_category[row]) {
                    (Some(scope_sku), _) => skus[sku] == *scope_sku,
                    (None, Some(scope_category)) => {
                        categories[sku_category[sku]] == *scope_category
                    }
                    (None, None) => true,
                };
                if !in_scope {
                    continue;
                }
                let base = sku * total_len;
                for period in first_period..=last_period {
                    if fraction > discount[base + period] {
                        discount[base + period] = fraction;
                        promo_period[base + period] =
                            (period + 1 - start_period).min(u16::MAX as usize) as u16;
                    }
                }
                for (offset, period) in
                    (last_period + 1..(last_period + 1 + dip_periods).min(total_len)).enumerate()
                {
                    let value = (offset + 1) as u16;
                    if since_promo_end[base + period] == 0 || value < since_promo_end[base + period]
                    {
                        since_promo_end[base + period] = value;
                    }
                }
            }
        }
        // A period inside a promotion is not a post-promotion dip.
        for index in 0..discount.len() {
            if discount[index] > 0.0 {
                since_promo_end[index] = 0;
            }
        }
    }

    // Poll answers up to the end of the as-of day.
    let mut poll_sku = vec![[0f32; 4]; sku_count * history_len];
    let mut poll_category = vec![[0f32; 4]; categories.len() * history_len];
    if let Some(polls) = &dataset.poll_responses {
        let cutoff_micros = (i64::from(as_of_days) + 1) * 86_400_000_000;
        let recent = polls
            .clone()
            .lazy()
            .filter(
                col("responded_at")
                    .cast(DataType::Int64)
                    .lt(lit(cutoff_micros)),
            )
            .with_column(
                (col("responded_at").cast(DataType::Int64) / lit(86_400_000_000i64))
                    .cast(DataType::Int32)
                    .alias("days"),
            )
            .collect()?;
        let poll_skus = text_column(&recent, "sku").unwrap_or_else(|_| vec![None; recent.height()]);
        let poll_categories =
            text_column(&recent, "category").unwrap_or_else(|_| vec![None; recent.height()]);
        let interest = recent
            .column("interest")?
            .as_materialized_series()
            .i64()?
            .clone();
        let intends = match recent.column("intends_to_buy") {
            Ok(column) => column
                .as_materialized_series()
                .bool()?
                .iter()
                .collect::<Vec<_>>(),
            Err(_) => vec![None; recent.height()],
        };
        let days = recent
            .column("days")?
            .as_materialized_series()
            .i32()?
            .clone();
        for row in 0..recent.height() {
            let (Some(day), Some(score)) = (days.get(row), interest.get(row)) else {
                continue;
            };
            let Some(period) = period_of(day).filter(|p| *p < history_len) else {
                continue;
            };
            let answer = [
                1.0,
                score as f32,
                if intends[row].is_some() { 1.0 } else { 0.0 },
                if intends[row] == Some(true) { 1.0 } else { 0.0 },
            ];
            let mut category = poll_categories[row]
                .as_deref()
                .and_then(|c| category_index.get(c).copied());
            if let Some(sku) = poll_skus[row]
                .as_deref()
                .and_then(|s| sku_index.get(s).copied())
            {
                let cell = &mut poll_sku[sku * history_len + period];
                for k in 0..4 {
                    cell[k] += answer[k];
                }
                category = category.or(Some(sku_category[sku]));
            }
            if let Some(category) = category {
                let cell = &mut poll_category[category * history_len + period];
                for k in 0..4 {
                    cell[k] += answer[k];
                }
            }
        }
    }

    // Seasonal events: distances in days from each period's first day.
    let horizon_end = start + chrono::Duration::days(total_len as i64 * days_per_period);
    let mut event_days: Vec<i32> = match &dataset.events {
        Some(events) => events
            .column("date")?
            .as_materialized_series()
            .date()?
            .physical()
            .iter()
            .flatten()
            .collect(),
        None => crate::calendar::us_retail_events(
            start - chrono::Duration::days(60),
            horizon_end + chrono::Duration::days(60),
        )
        .into_iter()
        .map(|event| to_days(event.date))
        .collect(),
    };
    event_days.sort_unstable();
    event_days.dedup();
    let cap = i64::from(EVENT_DISTANCE_CAP_DAYS);
    let mut days_to_event = Vec::with_capacity(total_len);
    let mut days_since_event = Vec::with_capacity(total_len);
    for period in 0..total_len {
        let day = start_days + (period as i64 * days_per_period) as i32;
        let next = event_days.partition_point(|event| *event < day);
        let ahead = event_days
            .get(next)
            .map_or(cap, |event| i64::from(event - day).min(cap));
        let behind = if next > 0 {
            i64::from(day - event_days[next - 1]).min(cap)
        } else {
            cap
        };
        days_to_event.push(ahead as u16);
        days_since_event.push(behind as u16);
    }

    Ok(Panel {
        freq,
        start,
        history_len,
        total_len,
        skus,
        sku_category,
        categories,
        warehouses,
        units,
        cell_units,
        censored,
        active_from,
        discount,
        promo_period,
        since_promo_end,
        poll_sku,
        poll_category,
        days_to_event,
        days_since_event,
    })
}
