//! Typed input frames → [`Panel`]: polars (lazy) does the relational work (filter to the
//! as-of date, map keys to indices, bucket dates into periods, sum), then the small results
//! are written into dense arrays. Pure: no IO, no clock.

use std::collections::HashMap;

use chrono::NaiveDate;
use polars::prelude::*;

use super::dataset::Dataset;
use super::panel::{period_days, CellPromotion, EventDay, Panel};
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

/// The period grid: history from the first sale to `as_of`, then the horizon.
struct Grid {
    start: NaiveDate,
    days_per_period: i64,
    history_len: usize,
    total_len: usize,
    start_days: i32,
    as_of_days: i32,
}

impl Grid {
    /// The period a day (days since the epoch) falls in, if not before the start.
    fn period_of(&self, days: i32) -> Option<usize> {
        let offset = i64::from(days - self.start_days);
        (offset >= 0).then(|| (offset / self.days_per_period) as usize)
    }

    /// The period of a day up to `as_of`, if inside the history.
    fn history_period_of(&self, days: i32) -> Option<usize> {
        self.period_of(days).filter(|p| *p < self.history_len)
    }
}

fn grid(
    dataset: &Dataset,
    freq: Frequency,
    as_of: NaiveDate,
    horizon: usize,
) -> Result<Grid, ForecastError> {
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
    let history_len = ((as_of - first).num_days() / days_per_period) as usize + 1;
    let minimum_history = match freq {
        Frequency::Day => 56,
        Frequency::Week => 8,
    };
    if history_len < minimum_history {
        return Err(ForecastError::InvalidSetting(format!(
            "--as-of {as_of} leaves {history_len} periods of history; at least {minimum_history} are needed"
        )));
    }
    Ok(Grid {
        start: first,
        days_per_period,
        history_len,
        total_len: history_len + horizon,
        start_days: to_days(first),
        as_of_days: to_days(as_of),
    })
}

/// Every product (a SKU never sold still gets a cold-start forecast) and warehouse, sorted.
struct Catalogue {
    skus: Vec<String>,
    sku_category: Vec<usize>,
    categories: Vec<String>,
    warehouses: Vec<String>,
}

/// Positions in the catalogue by name, built once for the stages that read names.
struct CatalogueIndex<'a> {
    sku: HashMap<&'a str, usize>,
    category: HashMap<&'a str, usize>,
    warehouse: HashMap<&'a str, usize>,
}

impl Catalogue {
    fn index(&self) -> CatalogueIndex<'_> {
        CatalogueIndex {
            sku: index_of(&self.skus),
            category: index_of(&self.categories),
            warehouse: index_of(&self.warehouses),
        }
    }
}

fn catalogue(dataset: &Dataset) -> Result<Catalogue, ForecastError> {
    let product_skus = text_column(&dataset.products, "sku")?;
    let product_categories = text_column(&dataset.products, "category")?;
    let mut products: Vec<(String, String)> = product_skus
        .into_iter()
        .zip(product_categories)
        .filter_map(|(sku, category)| Some((sku?, category?)))
        .collect();
    products.sort();
    products.dedup_by(|a, b| a.0 == b.0);
    let mut categories: Vec<String> = products.iter().map(|(_, c)| c.clone()).collect();
    categories.sort();
    categories.dedup();
    let category_index = index_of(&categories);
    let skus: Vec<String> = products.iter().map(|(s, _)| s.clone()).collect();
    let sku_category: Vec<usize> = products
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
    Ok(Catalogue {
        skus,
        sku_category,
        categories,
        warehouses,
    })
}

/// Units sold per cell and period, per SKU and period, and each SKU's first selling period.
struct DenseSales {
    cell_units: Vec<f32>,
    units: Vec<f32>,
    active_from: Vec<Option<usize>>,
}

fn dense_sales(
    dataset: &Dataset,
    catalogue: &Catalogue,
    grid: &Grid,
) -> Result<DenseSales, ForecastError> {
    let (sku_count, warehouse_count) = (catalogue.skus.len(), catalogue.warehouses.len());
    let history_len = grid.history_len;
    let sales = aggregate_sales(
        dataset,
        &catalogue.skus,
        &catalogue.warehouses,
        grid.start_days,
        grid.as_of_days,
        grid.days_per_period,
    )?;
    let mut cell_units = vec![0f32; sku_count * warehouse_count * history_len];
    let mut units = vec![0f32; sku_count * history_len];
    let mut active_from: Vec<Option<usize>> = vec![None; sku_count];
    let index = |name: &str| -> Result<UInt32Chunked, ForecastError> {
        Ok(sales.column(name)?.as_materialized_series().u32()?.clone())
    };
    let (s, w, p) = (
        index("sku_index")?,
        index("warehouse_index")?,
        index("period")?,
    );
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
    Ok(DenseSales {
        cell_units,
        units,
        active_from,
    })
}

/// Stock-outs up to the as-of date censor sales: the cell's in that period, and the SKU
/// total's (some of its demand went unserved). Returns (per SKU, per cell) flags.
fn stock_out_censoring(
    dataset: &Dataset,
    catalogue: &Catalogue,
    index: &CatalogueIndex,
    grid: &Grid,
) -> Result<(Vec<bool>, Vec<bool>), ForecastError> {
    let (sku_count, warehouse_count) = (catalogue.skus.len(), catalogue.warehouses.len());
    let history_len = grid.history_len;
    let mut censored = vec![false; sku_count * history_len];
    let mut cell_censored = vec![false; sku_count * warehouse_count * history_len];
    let Some(levels) = &dataset.stock_levels else {
        return Ok((censored, cell_censored));
    };
    let outs = levels
        .clone()
        .lazy()
        .filter(
            col("on_hand").eq(lit(0i64)).and(
                col("date")
                    .cast(DataType::Int32)
                    .lt_eq(lit(grid.as_of_days)),
            ),
        )
        .select([
            col("sku"),
            col("warehouse"),
            col("date").cast(DataType::Int32).alias("days"),
        ])
        .collect()?;
    let skus_out = text_column(&outs, "sku")?;
    let warehouses_out = text_column(&outs, "warehouse")?;
    let days_out = outs.column("days")?.as_materialized_series().i32()?.clone();
    for ((sku, warehouse), days) in skus_out.iter().zip(&warehouses_out).zip(days_out.iter()) {
        let (Some(sku), Some(days)) = (sku, days) else {
            continue;
        };
        let (Some(&sku), Some(period)) =
            (index.sku.get(sku.as_str()), grid.history_period_of(days))
        else {
            continue;
        };
        censored[sku * history_len + period] = true;
        match warehouse.as_deref().and_then(|w| index.warehouse.get(w)) {
            Some(&warehouse) => {
                cell_censored[(sku * warehouse_count + warehouse) * history_len + period] = true
            }
            // A stock level without a warehouse (an older store) censors every cell.
            None => {
                for warehouse in 0..warehouse_count {
                    cell_censored[(sku * warehouse_count + warehouse) * history_len + period] =
                        true;
                }
            }
        }
    }
    Ok((censored, cell_censored))
}

/// Per period: [answers, interest, answered the intent question, intends to buy].
type PollCounts = Vec<[f32; 4]>;

/// Poll answers up to the end of the as-of day, summed per SKU and per category and period.
fn poll_answers(
    dataset: &Dataset,
    catalogue: &Catalogue,
    index: &CatalogueIndex,
    grid: &Grid,
) -> Result<(PollCounts, PollCounts), ForecastError> {
    let history_len = grid.history_len;
    let mut poll_sku = vec![[0f32; 4]; catalogue.skus.len() * history_len];
    let mut poll_category = vec![[0f32; 4]; catalogue.categories.len() * history_len];
    let Some(polls) = &dataset.poll_responses else {
        return Ok((poll_sku, poll_category));
    };
    let cutoff_micros = (i64::from(grid.as_of_days) + 1) * 86_400_000_000;
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
        let Some(period) = grid.history_period_of(day) else {
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
            .and_then(|c| index.category.get(c).copied());
        if let Some(sku) = poll_skus[row]
            .as_deref()
            .and_then(|s| index.sku.get(s).copied())
        {
            let cell = &mut poll_sku[sku * history_len + period];
            for k in 0..4 {
                cell[k] += answer[k];
            }
            category = category.or(Some(catalogue.sku_category[sku]));
        }
        if let Some(category) = category {
            let cell = &mut poll_category[category * history_len + period];
            for k in 0..4 {
                cell[k] += answer[k];
            }
        }
    }
    Ok((poll_sku, poll_category))
}

/// The dense panel the engine fits on: history up to `as_of` on the period grid of `freq`,
/// then `horizon` periods to forecast.
pub fn build_panel(
    dataset: &Dataset,
    freq: Frequency,
    as_of: NaiveDate,
    horizon: usize,
) -> Result<Panel, ForecastError> {
    let grid = grid(dataset, freq, as_of, horizon)?;
    let catalogue = catalogue(dataset)?;
    let sales = dense_sales(dataset, &catalogue, &grid)?;
    let index = catalogue.index();
    let (censored, cell_censored) = stock_out_censoring(dataset, &catalogue, &index, &grid)?;
    let cell_active_from = cell_first_sales(
        &sales.cell_units,
        catalogue.skus.len() * catalogue.warehouses.len(),
        grid.history_len,
    );
    let promotions = promotion_calendar(dataset, &catalogue, &index, &grid)?;
    let (poll_sku, poll_category) = poll_answers(dataset, &catalogue, &index, &grid)?;

    // Named events over the grid and a season either side, for event windows and for
    // finding the same event a year earlier.
    let horizon_end =
        grid.start + chrono::Duration::days(grid.total_len as i64 * grid.days_per_period);
    let (event_names, events) = named_events(
        dataset,
        grid.start - chrono::Duration::days(400),
        horizon_end + chrono::Duration::days(60),
    )?;

    Ok(Panel {
        freq,
        start: grid.start,
        history_len: grid.history_len,
        total_len: grid.total_len,
        skus: catalogue.skus,
        sku_category: catalogue.sku_category,
        categories: catalogue.categories,
        warehouses: catalogue.warehouses,
        units: sales.units,
        cell_units: sales.cell_units,
        censored,
        cell_censored,
        active_from: sales.active_from,
        cell_active_from,
        discount: promotions.discount,
        promo_period: promotions.promo_period,
        promo_length: promotions.promo_length,
        promo_words: promotions.promo_words,
        cell_promotions: promotions.cell_promotions,
        promo_vocabulary: promotions.vocabulary,
        poll_sku,
        poll_category,
        events,
        event_names,
    })
}

/// First period with sales of each of `rows` series laid out `[row][period]`.
fn cell_first_sales(units: &[f32], rows: usize, history_len: usize) -> Vec<Option<usize>> {
    (0..rows)
        .map(|row| {
            units[row * history_len..(row + 1) * history_len]
                .iter()
                .position(|value| *value > 0.0)
        })
        .collect()
}

struct PromotionCalendar {
    discount: Vec<f32>,
    promo_period: Vec<u16>,
    promo_length: Vec<u16>,
    promo_words: Vec<u32>,
    cell_promotions: Vec<CellPromotion>,
    vocabulary: Vec<String>,
}

/// Vocabulary entries kept from promotion names.
pub const MAX_PROMOTION_WORDS: usize = 16;
/// A word must name at least this many promotions (and this share of them) to be learned from.
const MIN_WORD_PROMOTIONS: usize = 5;
const MIN_WORD_SHARE: f64 = 0.02;
/// A word in more than this share of names says nothing about a promotion's mechanic.
const MAX_WORD_SHARE: f64 = 0.9;

/// Lower-case alphabetic words of two letters or more, each once.
fn name_words(name: &str) -> Vec<String> {
    let mut words: Vec<String> = name
        .split(|c: char| !c.is_alphabetic())
        .filter(|word| word.chars().count() >= 2)
        .map(str::to_lowercase)
        .collect();
    words.sort();
    words.dedup();
    words
}

/// The words that recur in promotion names, merged where they always occur together
/// ("feature ad"), most frequent first; and each promotion's words as a bit mask.
pub fn promotion_vocabulary(names: &[Option<String>]) -> (Vec<String>, Vec<u32>) {
    let words: Vec<Vec<String>> = names
        .iter()
        .map(|name| name.as_deref().map(name_words).unwrap_or_default())
        .collect();
    let mut occurrences: HashMap<&str, Vec<u32>> = HashMap::new();
    for (promotion, list) in words.iter().enumerate() {
        for word in list {
            occurrences
                .entry(word.as_str())
                .or_default()
                .push(promotion as u32);
        }
    }
    let total = names.len();
    let minimum = MIN_WORD_PROMOTIONS.max((MIN_WORD_SHARE * total as f64).ceil() as usize);
    let maximum = (MAX_WORD_SHARE * total as f64).floor() as usize;
    // Words with the same set of promotions are one entry.
    let mut groups: HashMap<&Vec<u32>, Vec<&str>> = HashMap::new();
    for (word, promotions) in &occurrences {
        if promotions.len() >= minimum && promotions.len() <= maximum {
            groups.entry(promotions).or_default().push(word);
        }
    }
    let mut entries: Vec<(usize, String, &Vec<u32>)> = groups
        .into_iter()
        .map(|(promotions, mut group)| {
            group.sort();
            (promotions.len(), group.join(" "), promotions)
        })
        .collect();
    entries.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    entries.truncate(MAX_PROMOTION_WORDS);
    let mut masks = vec![0u32; total];
    for (bit, (_, _, promotions)) in entries.iter().enumerate() {
        for promotion in *promotions {
            masks[*promotion as usize] |= 1 << bit;
        }
    }
    (
        entries.into_iter().map(|(_, name, _)| name).collect(),
        masks,
    )
}

/// Promotions are known in advance, so they cover the future periods too. One without a
/// warehouse scope acts on the SKU in every warehouse (the `[sku][period]` arrays); one with
/// a warehouse scope acts on its cells only.
fn promotion_calendar(
    dataset: &Dataset,
    catalogue: &Catalogue,
    index: &CatalogueIndex,
    grid: &Grid,
) -> Result<PromotionCalendar, ForecastError> {
    let sku_count = catalogue.skus.len();
    let total_len = grid.total_len;
    let promos = &dataset.promotions;
    let promo_sku = text_column(promos, "sku").unwrap_or_else(|_| vec![None; promos.height()]);
    let promo_category =
        text_column(promos, "category").unwrap_or_else(|_| vec![None; promos.height()]);
    let promo_warehouse =
        text_column(promos, "warehouse").unwrap_or_else(|_| vec![None; promos.height()]);
    let promo_names = text_column(promos, "name").unwrap_or_else(|_| vec![None; promos.height()]);
    let (vocabulary, masks) = promotion_vocabulary(&promo_names);
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
    let period_of =
        |days: i32| -> i64 { i64::from(days - grid.start_days).div_euclid(grid.days_per_period) };
    let mut calendar = PromotionCalendar {
        discount: vec![0f32; sku_count * total_len],
        promo_period: vec![0u16; sku_count * total_len],
        promo_length: vec![0u16; sku_count * total_len],
        promo_words: vec![0u32; sku_count * total_len],
        cell_promotions: Vec::new(),
        vocabulary,
    };
    for row in 0..promos.height() {
        let (Some(begin), Some(end), Some(pct)) =
            (starts.get(row), ends.get(row), discounts.get(row))
        else {
            continue;
        };
        let fraction = (pct / 100.0).clamp(0.0, 0.95) as f32;
        let (start_period, end_period) = (period_of(begin), period_of(end));
        if end_period < 0 || start_period >= total_len as i64 {
            continue;
        }
        let first = start_period.max(0) as usize;
        let last = (end_period as usize).min(total_len - 1);
        let length = (end_period - start_period + 1).clamp(1, i64::from(u16::MAX)) as u16;
        let in_scope: Vec<usize> = match (&promo_sku[row], &promo_category[row]) {
            (Some(scope_sku), _) => index
                .sku
                .get(scope_sku.as_str())
                .copied()
                .into_iter()
                .collect(),
            (None, Some(scope_category)) => (0..sku_count)
                .filter(|sku| catalogue.categories[catalogue.sku_category[*sku]] == *scope_category)
                .collect(),
            (None, None) => (0..sku_count).collect(),
        };
        if let Some(warehouse) = &promo_warehouse[row] {
            let Some(&warehouse) = index.warehouse.get(warehouse.as_str()) else {
                continue;
            };
            for sku in in_scope {
                calendar.cell_promotions.push(CellPromotion {
                    sku: sku as u32,
                    warehouse: warehouse as u32,
                    first: first as u32,
                    last: last as u32,
                    start: start_period,
                    end: end_period,
                    discount: fraction,
                    words: masks[row],
                });
            }
            continue;
        }
        for sku in in_scope {
            let base = sku * total_len;
            for period in first..=last {
                let index = base + period;
                calendar.promo_words[index] |= masks[row];
                // The deepest promotion covering the period defines it; a promotion without
                // a price cut (a feature ad) still marks the period as promoted.
                if calendar.promo_period[index] == 0 || fraction > calendar.discount[index] {
                    calendar.discount[index] = fraction;
                    calendar.promo_period[index] =
                        (period as i64 + 1 - start_period).min(i64::from(u16::MAX)) as u16;
                    calendar.promo_length[index] = length;
                }
            }
        }
    }
    calendar
        .cell_promotions
        .sort_by_key(|promotion| (promotion.sku, promotion.warehouse, promotion.first));
    Ok(calendar)
}

/// Event names (sorted) and every dated occurrence in `[from, to]`, from the events table
/// or, when there is none, the built-in calendar.
fn named_events(
    dataset: &Dataset,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Vec<String>, Vec<EventDay>), ForecastError> {
    let mut dated: Vec<(i32, String)> = match &dataset.events {
        Some(events) => {
            let days: Vec<Option<i32>> = events
                .column("date")?
                .as_materialized_series()
                .date()?
                .physical()
                .iter()
                .collect();
            let names = text_column(events, "event")
                .unwrap_or_else(|_| vec![Some("event".to_string()); events.height()]);
            days.into_iter()
                .zip(names)
                .filter_map(|(day, name)| Some((day?, name.unwrap_or_else(|| "event".into()))))
                .collect()
        }
        None => crate::calendar::us_retail_events(from, to)
            .into_iter()
            .map(|event| (to_days(event.date), event.event))
            .collect(),
    };
    let (from, to) = (to_days(from), to_days(to));
    dated.retain(|(day, _)| *day >= from && *day <= to);
    let mut names: Vec<String> = dated.iter().map(|(_, name)| name.clone()).collect();
    names.sort();
    names.dedup();
    let index = index_of(&names);
    let mut events: Vec<EventDay> = dated
        .iter()
        .map(|(day, name)| EventDay {
            day: *day,
            event: index[name.as_str()],
        })
        .collect();
    events.sort();
    events.dedup();
    Ok((names, events))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recurring_name_words_become_one_vocabulary_entry_each() {
        let mut names: Vec<Option<String>> = Vec::new();
        for i in 0..40 {
            names.push(Some(format!("Brand {i} feature ad at store {i}")));
            names.push(Some(format!("Brand {i} price cut at store {i}")));
        }
        names.push(None);
        let (vocabulary, masks) = promotion_vocabulary(&names);
        // "at", "brand" and "store" are in almost every name; "feature ad" always together.
        assert_eq!(
            vocabulary,
            vec!["ad feature".to_string(), "cut price".to_string()]
        );
        assert_eq!(masks[0], 0b01);
        assert_eq!(masks[1], 0b10);
        assert_eq!(masks[80], 0);
    }
}
