//! Row validation: pure functions from a frame of text columns to typed accepted rows and
//! quarantined rows with a reason. No IO, no clock.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDate};
use polars::prelude::*;
use sha2::{Digest, Sha256};

use crate::contract::{Column as ContractColumn, ColumnKind, Frequency, Table};

/// Years a date may fall in: wide enough for any retail history and plan, narrow enough
/// that a typo (9999-12-31, 0001-01-01) is caught.
const SUPPORTED_YEARS: std::ops::RangeInclusive<i32> = 1900..=2199;

/// The skus, warehouses and categories rows may refer to: those already stored plus those
/// accepted earlier in the same ingest.
#[derive(Debug, Default, Clone)]
pub struct KnownKeys {
    pub skus: HashSet<String>,
    pub warehouses: HashSet<String>,
    pub categories: HashSet<String>,
}

pub struct Validated {
    /// Typed rows ready to load, with database column names (duplicates already merged).
    pub accepted: DataFrame,
    /// The input line of each accepted row, for errors found at load time (empty for sales,
    /// whose accepted rows are sums of input rows).
    pub accepted_lines: Vec<usize>,
    /// The rejected input rows as text, plus `line` and `reason`.
    pub rejected: DataFrame,
    pub rows_read: usize,
    pub rows_rejected: usize,
    /// Input rows folded into another row with the same key (sales exports hold one row per
    /// transaction, so several rows for one day are summed).
    pub rows_merged: usize,
}

/// Collects the reasons a row fails; a row with no reason is accepted.
struct Reasons(Vec<Option<String>>);

impl Reasons {
    fn add(&mut self, row: usize, message: impl FnOnce() -> String) {
        match &mut self.0[row] {
            Some(existing) => {
                existing.push_str("; ");
                existing.push_str(&message());
            }
            slot @ None => *slot = Some(message()),
        }
    }

    fn is_ok(&self, row: usize) -> bool {
        self.0[row].is_none()
    }
}

const MAX_SHOWN_VALUE_CHARS: usize = 60;

fn shown(value: &str) -> String {
    if value.chars().count() <= MAX_SHOWN_VALUE_CHARS {
        format!("'{value}'")
    } else {
        format!(
            "'{}…'",
            value
                .chars()
                .take(MAX_SHOWN_VALUE_CHARS)
                .collect::<String>()
        )
    }
}

/// The first control character in `value` other than tab. PostgreSQL refuses NUL in text
/// (and would fail the whole load), SQLite stores it; other control characters are stored by
/// both but break every CSV, table and report a name is printed in. Rejecting them all keeps
/// the two backends in agreement. Tab is kept: spreadsheets put it in pasted names and it
/// harms nothing.
fn first_control_character(value: &str) -> Option<char> {
    value.chars().find(|ch| ch.is_control() && *ch != '\t')
}

/// Optional columns the database keeps NOT NULL with a default: an absent column or an
/// empty value takes the database's default, instead of failing the load on NULL.
fn integer_default(table: Table, column: &str) -> Option<i64> {
    match (table, column) {
        (Table::Inventory, "inbound" | "min_presentation") => Some(0),
        _ => None,
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" | "y" => Some(true),
        "false" | "f" | "0" | "no" | "n" => Some(false),
        _ => None,
    }
}

fn days_since_epoch(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    (date - epoch).num_days() as i32
}

/// Parses one contract column into its typed series, recording a reason for each bad value.
fn parse_column(
    column: &ContractColumn,
    raw: Option<&StringChunked>,
    height: usize,
    reasons: &mut Reasons,
) -> Series {
    let name: PlSmallStr = column.name.into();
    let values: Vec<Option<&str>> = match raw {
        Some(raw) => raw
            .iter()
            .map(|value| value.map(str::trim).filter(|value| !value.is_empty()))
            .collect(),
        None => vec![None; height],
    };
    if column.required {
        for (row, value) in values.iter().enumerate() {
            if value.is_none() {
                reasons.add(row, || format!("{}: missing", column.name));
            }
        }
    }
    match column.kind {
        ColumnKind::Text => {
            check_text(column, &values, reasons);
            Series::new(name, values)
        }
        ColumnKind::Number => Series::new(name, parse_each(column, &values, reasons, parse_number)),
        ColumnKind::Integer => {
            Series::new(name, parse_each(column, &values, reasons, parse_integer))
        }
        ColumnKind::Bool => Series::new(name, parse_each(column, &values, reasons, parse_bool)),
        ColumnKind::Date => Series::new(name, parse_dates(column, &values, reasons))
            .cast(&DataType::Date)
            .expect("i32 casts to date"),
        ColumnKind::Timestamp => {
            Series::new(name, parse_each(column, &values, reasons, parse_timestamp))
                .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
                .expect("i64 casts to datetime")
        }
    }
}

/// A value the column's kind cannot read.
fn invalid_value(column: &ContractColumn, reasons: &mut Reasons, row: usize, value: &str) {
    reasons.add(row, || {
        format!(
            "{}: expected {}, got {}",
            column.name,
            column.kind.describe(),
            shown(value)
        )
    })
}

/// Each present value through `parse`; a value it cannot read gets a reason.
fn parse_each<T>(
    column: &ContractColumn,
    values: &[Option<&str>],
    reasons: &mut Reasons,
    parse: impl Fn(&str) -> Option<T>,
) -> Vec<Option<T>> {
    values
        .iter()
        .enumerate()
        .map(|(row, value)| {
            let value = (*value)?;
            let parsed = parse(value);
            if parsed.is_none() {
                invalid_value(column, reasons, row, value);
            }
            parsed
        })
        .collect()
}

/// Text holds no control character but tab.
fn check_text(column: &ContractColumn, values: &[Option<&str>], reasons: &mut Reasons) {
    for (row, value) in values.iter().enumerate() {
        if let Some(control) = value.and_then(first_control_character) {
            let what = if matches!(control, '\n' | '\r') {
                " (a line break)"
            } else {
                ""
            };
            reasons.add(row, || {
                format!(
                    "{}: control character U+{:04X}{what} in text (only tab is allowed)",
                    column.name, control as u32
                )
            });
        }
    }
}

fn parse_number(value: &str) -> Option<f64> {
    value
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
}

fn parse_integer(value: &str) -> Option<i64> {
    if let Ok(integer) = value.parse::<i64>() {
        return Some(integer);
    }
    // Spreadsheet exports write whole numbers as `3.0`.
    match value.parse::<f64>() {
        Ok(number) if number.is_finite() && number.fract() == 0.0 && number.abs() < 9.0e15 => {
            Some(number as i64)
        }
        _ => None,
    }
}

fn parse_timestamp(value: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|instant| instant.timestamp_micros())
}

/// Days since the epoch of each present date; a date outside the supported years gets its
/// own reason.
fn parse_dates(
    column: &ContractColumn,
    values: &[Option<&str>],
    reasons: &mut Reasons,
) -> Vec<Option<i32>> {
    // Dates repeat across millions of rows; parse each distinct text once.
    // `Err(true)`: a well-formed date outside the supported years.
    let mut cache: HashMap<&str, Result<i32, bool>> = HashMap::new();
    values
        .iter()
        .enumerate()
        .map(|(row, value)| {
            let value = (*value)?;
            let days = *cache.entry(value).or_insert_with(|| {
                match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
                    Ok(date) if SUPPORTED_YEARS.contains(&date.year()) => {
                        Ok(days_since_epoch(date))
                    }
                    Ok(_) => Err(true),
                    Err(_) => Err(false),
                }
            });
            match days {
                Ok(days) => Some(days),
                Err(true) => {
                    reasons.add(row, || {
                        format!(
                            "{}: {} is out of the supported range {}–{}",
                            column.name,
                            shown(value),
                            SUPPORTED_YEARS.start(),
                            SUPPORTED_YEARS.end()
                        )
                    });
                    None
                }
                Err(false) => {
                    invalid_value(column, reasons, row, value);
                    None
                }
            }
        })
        .collect()
}

/// Typed columns by name, for the table rules.
struct Typed {
    columns: Vec<Series>,
}

impl Typed {
    fn get(&self, name: &str) -> Option<&Series> {
        self.columns
            .iter()
            .find(|series| series.name().as_str() == name)
    }

    fn text(&self, name: &str) -> Option<&StringChunked> {
        self.get(name)
            .map(|series| series.str().expect("text column"))
    }

    fn number(&self, name: &str) -> Option<&Float64Chunked> {
        self.get(name)
            .map(|series| series.f64().expect("number column"))
    }

    fn integer(&self, name: &str) -> Option<&Int64Chunked> {
        self.get(name)
            .map(|series| series.i64().expect("integer column"))
    }

    fn date_days(&self, name: &str) -> Option<&Int32Chunked> {
        self.get(name)
            .map(|series| series.date().expect("date column").physical())
    }
}

fn check_at_least_f64(typed: &Typed, name: &str, minimum: f64, reasons: &mut Reasons) {
    if let Some(values) = typed.number(name) {
        for (row, value) in values.iter().enumerate() {
            if let Some(value) = value.filter(|value| *value < minimum) {
                reasons.add(row, || format!("{name}: must be ≥ {minimum}, got {value}"));
            }
        }
    }
}

fn check_between_i64(typed: &Typed, name: &str, low: i64, high: i64, reasons: &mut Reasons) {
    if let Some(values) = typed.integer(name) {
        for (row, value) in values.iter().enumerate() {
            if let Some(value) = value.filter(|value| *value < low || *value > high) {
                reasons.add(row, || {
                    if high == i64::MAX {
                        format!("{name}: must be ≥ {low}, got {value}")
                    } else {
                        format!("{name}: must be between {low} and {high}, got {value}")
                    }
                });
            }
        }
    }
}

fn check_known(
    typed: &Typed,
    name: &str,
    known: &HashSet<String>,
    what: &str,
    reasons: &mut Reasons,
) {
    if let Some(values) = typed.text(name) {
        let mut last_known: Option<&str> = None;
        for (row, value) in values.iter().enumerate() {
            let Some(value) = value else { continue };
            if last_known == Some(value) {
                continue;
            }
            if known.contains(value) {
                last_known = Some(value);
            } else {
                reasons.add(row, || format!("{name}: unknown {what} {}", shown(value)));
            }
        }
    }
}

/// Rejects every row whose key repeats the key of a row accepted before it, in this file or
/// in an earlier file of the same table in this ingest.
fn check_unique_key(
    table: Table,
    typed: &Typed,
    rows: &FileRows<'_>,
    reasons: &mut Reasons,
    height: usize,
    earlier: &mut EarlierFiles,
) {
    let key_columns: Vec<&Series> = table
        .key()
        .iter()
        .map(|name| typed.get(name).expect("key column present"))
        .collect();
    let this_file = earlier.files.len() - 1;
    for row in 0..height {
        if !reasons.is_ok(row) {
            continue;
        }
        let key: Vec<String> = key_columns
            .iter()
            .map(|series| {
                series
                    .str_value(row)
                    .map(|v| v.into_owned())
                    .unwrap_or_default()
            })
            .collect();
        match earlier.keys.get(&key) {
            Some(&(file, line)) => {
                let seen = if file == this_file {
                    format!("first seen on line {line}")
                } else {
                    format!("first seen in {} line {line}", earlier.files[file])
                };
                reasons.add(row, || {
                    format!(
                        "duplicate key ({}) = ({}), {seen}",
                        table.key().join(", "),
                        key.join(", ")
                    )
                })
            }
            None => {
                earlier.keys.insert(key, (this_file, rows.line(row)));
            }
        }
    }
}

fn apply_table_rules(
    table: Table,
    typed: &Typed,
    known: &KnownKeys,
    freq: Frequency,
    reasons: &mut Reasons,
    height: usize,
) {
    match table {
        Table::Warehouses => {
            check_at_least_f64(typed, "capacity_units", 0.0, reasons);
            check_at_least_f64(typed, "capacity_m3", 0.0, reasons);
        }
        Table::Products => {
            check_at_least_f64(typed, "unit_volume_m3", 0.0, reasons);
            check_at_least_f64(typed, "unit_price", 0.0, reasons);
            check_between_i64(typed, "case_pack", 1, i64::MAX, reasons);
        }
        Table::Promotions => {
            if let (Some(start), Some(end)) =
                (typed.date_days("start_date"), typed.date_days("end_date"))
            {
                for (row, (start, end)) in start.iter().zip(end.iter()).enumerate() {
                    if let (Some(start), Some(end)) = (start, end) {
                        if end < start {
                            reasons.add(row, || "end_date: before start_date".to_string());
                        }
                    }
                }
            }
            if let Some(discount) = typed.number("discount_pct") {
                for (row, value) in discount.iter().enumerate() {
                    if let Some(value) = value.filter(|v| !(0.0..100.0).contains(v)) {
                        reasons.add(row, || {
                            format!("discount_pct: must be in [0, 100), got {value}")
                        });
                    }
                }
            }
            check_known(typed, "sku", &known.skus, "sku", reasons);
            check_known(typed, "warehouse", &known.warehouses, "warehouse", reasons);
        }
        Table::Inventory => {
            check_known(typed, "sku", &known.skus, "sku", reasons);
            check_known(typed, "warehouse", &known.warehouses, "warehouse", reasons);
            check_between_i64(typed, "on_hand", 0, i64::MAX, reasons);
            check_between_i64(typed, "inbound", 0, i64::MAX, reasons);
            check_between_i64(typed, "min_presentation", 0, i64::MAX, reasons);
        }
        Table::StockLevels => {
            check_known(typed, "sku", &known.skus, "sku", reasons);
            check_known(typed, "warehouse", &known.warehouses, "warehouse", reasons);
            check_between_i64(typed, "on_hand", 0, i64::MAX, reasons);
        }
        Table::Sales => {
            check_known(typed, "sku", &known.skus, "sku", reasons);
            check_known(typed, "warehouse", &known.warehouses, "warehouse", reasons);
            check_at_least_f64(typed, "units", 0.0, reasons);
            check_at_least_f64(typed, "price", 0.0, reasons);
            if freq == Frequency::Week {
                check_weekly_anchor(typed, reasons, height);
            }
        }
        Table::PollResponses => {
            check_between_i64(typed, "interest", 1, 5, reasons);
            let sku = typed.text("sku");
            let category = typed.text("category");
            for row in 0..height {
                let has_sku = sku.is_some_and(|values| values.get(row).is_some());
                let has_category = category.is_some_and(|values| values.get(row).is_some());
                if !has_sku && !has_category {
                    reasons.add(row, || {
                        "sku or category: one of them is required".to_string()
                    });
                }
            }
            check_known(typed, "sku", &known.skus, "sku", reasons);
            check_known(typed, "category", &known.categories, "category", reasons);
        }
        Table::Events => {}
    }
}

/// Weekly history must be dated on one weekday (the week's start or end, as the export
/// chose): the most common weekday in the file is the anchor and other rows are rejected.
fn check_weekly_anchor(typed: &Typed, reasons: &mut Reasons, height: usize) {
    let Some(days) = typed.date_days("date") else {
        return;
    };
    let mut counts = [0usize; 7];
    for day in days.iter().flatten() {
        counts[day.rem_euclid(7) as usize] += 1;
    }
    let anchor = (0..7)
        .max_by_key(|index| counts[*index])
        .expect("seven weekdays");
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let anchor_name = (epoch + chrono::Duration::days(anchor as i64)).weekday();
    for row in 0..height {
        if let Some(day) = days.get(row) {
            if day.rem_euclid(7) as usize != anchor {
                reasons.add(row, || {
                    format!("date: weekly history is dated on {anchor_name}s; this row is not")
                });
            }
        }
    }
}

/// A text column of a validated frame.
pub(crate) fn text_column(frame: &DataFrame, name: &str) -> PolarsResult<StringChunked> {
    Ok(frame.column(name)?.as_materialized_series().str()?.clone())
}

/// Whether rows are strictly increasing by (sku, warehouse, date), so no key repeats.
/// Exports are usually sorted; checking is one pass, grouping is a hash of every row.
fn strictly_sorted_by_key(accepted: &DataFrame) -> PolarsResult<bool> {
    let sku = text_column(accepted, "sku")?;
    let warehouse = text_column(accepted, "warehouse")?;
    let date = accepted
        .column("date")?
        .as_materialized_series()
        .date()?
        .physical()
        .clone();
    let mut previous: Option<(&str, &str, i32)> = None;
    for ((sku, warehouse), date) in sku.iter().zip(warehouse.iter()).zip(date.iter()) {
        let (Some(sku), Some(warehouse), Some(date)) = (sku, warehouse, date) else {
            return Ok(false);
        };
        let key = (sku, warehouse, date);
        if previous.is_some_and(|previous| previous >= key) {
            return Ok(false);
        }
        previous = Some(key);
    }
    Ok(true)
}

/// The column order of accepted sales rows, whichever way they were merged, so frames of
/// several files stack.
const SALES_COLUMNS: [&str; 7] = [
    "date",
    "sku",
    "warehouse",
    "units",
    "price",
    "promo_id",
    "source",
];

/// Sums the rows of each (sku, warehouse, date) group: price becomes the units-weighted
/// mean, promo_id the first one given.
fn sum_sales_groups(rows: LazyFrame, extra: Vec<Expr>) -> LazyFrame {
    let mut aggregations = vec![
        col("units").sum().alias("units"),
        when(col("units").sum().gt(lit(0.0)))
            .then(
                (col("price") * col("units")).sum()
                    / col("units").filter(col("price").is_not_null()).sum(),
            )
            .otherwise(col("price").mean())
            .alias("price"),
        col("promo_id").drop_nulls().first().alias("promo_id"),
    ];
    aggregations.extend(extra);
    rows.group_by([col("sku"), col("warehouse"), col("date")])
        .agg(aggregations)
        .with_column(lit("import").alias("source"))
}

/// Sums sales rows that share (sku, warehouse, date); price becomes the units-weighted mean.
fn merge_sales(accepted: DataFrame) -> PolarsResult<(DataFrame, usize)> {
    let before = accepted.height();
    if strictly_sorted_by_key(&accepted)? {
        let mut unique = accepted;
        unique.with_column(Series::new("source".into(), vec!["import"; before]).into())?;
        return Ok((unique, 0));
    }
    let merged = sum_sales_groups(accepted.lazy(), Vec::new())
        .select(SALES_COLUMNS.map(col))
        .collect()?;
    let after = merged.height();
    Ok((merged, before - after))
}

fn date_span(accepted: &DataFrame) -> PolarsResult<Option<(i32, i32)>> {
    let days = accepted
        .column("date")?
        .as_materialized_series()
        .date()?
        .physical()
        .clone();
    Ok(days.min().zip(days.max()))
}

/// Sums sales rows that share (sku, warehouse, date) across the files of one ingest, as
/// [`validate_file`] does within one file: the sum is loaded with the first file (in load
/// order) that holds the key, and the later files count their row as merged. Without this,
/// the later file's row would overwrite the earlier one's on load. Files whose date spans
/// do not overlap cannot share a key (history beside tonight's file, the usual case) and
/// are not regrouped.
pub fn merge_sales_across_files(files: &mut [&mut Validated]) -> PolarsResult<()> {
    let spans = files
        .iter()
        .map(|file| date_span(&file.accepted))
        .collect::<PolarsResult<Vec<_>>>()?;
    let overlaps = |a: Option<(i32, i32)>, b: Option<(i32, i32)>| matches!((a, b), (Some(a), Some(b)) if a.0 <= b.1 && b.0 <= a.1);
    let involved: Vec<usize> = (0..files.len())
        .filter(|&i| (0..files.len()).any(|j| j != i && overlaps(spans[i], spans[j])))
        .collect();
    if involved.is_empty() {
        return Ok(());
    }
    const FILE: &str = "__file";
    let parts = involved
        .iter()
        .enumerate()
        .map(|(order, &index)| {
            files[index]
                .accepted
                .clone()
                .lazy()
                .with_column(lit(order as u32).alias(FILE))
        })
        .collect::<Vec<_>>();
    // Rows keep their order within a group, so "first" is the earliest file's.
    let merged = sum_sales_groups(
        concat(parts, UnionArgs::default())?,
        vec![col(FILE).min().alias(FILE)],
    )
    .collect()?;
    for (order, &index) in involved.iter().enumerate() {
        let own = merged
            .clone()
            .lazy()
            .filter(col(FILE).eq(lit(order as u32)))
            .select(SALES_COLUMNS.map(col))
            .collect()?;
        let file = &mut *files[index];
        file.rows_merged += file.accepted.height() - own.height();
        file.accepted = own;
        file.accepted.rechunk_mut();
    }
    Ok(())
}

/// Poll exports carry no id: the key is a hash of the row plus its occurrence number, so
/// re-loading a file is idempotent while two identical answers are both kept.
fn add_poll_response_keys(
    accepted: &mut DataFrame,
    occurrences: &mut HashMap<String, usize>,
) -> PolarsResult<()> {
    let text_of = |name: &str| -> PolarsResult<Vec<String>> {
        let column = accepted.column(name)?.cast(&DataType::String)?;
        Ok(column
            .as_materialized_series()
            .str()?
            .iter()
            .map(|value| value.unwrap_or("").to_string())
            .collect())
    };
    let parts = [
        text_of("responded_at")?,
        text_of("sku")?,
        text_of("category")?,
        text_of("interest")?,
        text_of("intends_to_buy")?,
    ];
    let keys: Vec<String> = (0..accepted.height())
        .map(|row| {
            let mut hasher = Sha256::new();
            for part in &parts {
                hasher.update(part[row].as_bytes());
                hasher.update([0x1f]);
            }
            let digest = hex::encode(&hasher.finalize()[..16]);
            let occurrence = occurrences.entry(digest.clone()).or_insert(0);
            *occurrence += 1;
            format!("{digest}-{occurrence}")
        })
        .collect();
    accepted.with_column(Series::new("response_key".into(), keys).into())?;
    Ok(())
}

/// What ingest has accepted from earlier files of one table in the same ingest, so that a
/// key repeated in another file meets the same rule as a key repeated within one file
/// (rejected, naming the file and line it was first seen on), and identical poll answers in
/// two files are both kept as they are within one. Use one per table, across its files in
/// load order.
#[derive(Debug, Default)]
pub struct EarlierFiles {
    /// The file names, in the order they were validated.
    files: Vec<String>,
    /// Each accepted key: (index into `files`, line).
    keys: HashMap<Vec<String>, (usize, usize)>,
    /// Poll answers seen so far, by content hash.
    poll_occurrences: HashMap<String, usize>,
}

/// Where a file's rows come from, for the line numbers and file names in reasons.
#[derive(Debug, Clone, Copy)]
pub struct FileRows<'a> {
    /// The file as named in reasons about it (its file name).
    pub name: &'a str,
    /// The line number of the first data row: 2 for a CSV with a header, 1 for the first
    /// Parquet row, 0 for the first JSON record.
    pub first_line: usize,
    /// Rows the reader found malformed, as (row, reason): quarantined with that reason
    /// alone, whatever their values.
    pub malformed: &'a [(usize, String)],
    /// The line of each row when rows are not one per line from `first_line` on (a quoted
    /// field spanning lines, blank lines).
    pub lines: Option<&'a [usize]>,
}

impl FileRows<'_> {
    fn line(&self, row: usize) -> usize {
        self.lines
            .and_then(|lines| lines.get(row).copied())
            .unwrap_or(self.first_line + row)
    }
}

/// Validates one file's rows on its own. `first_line` is the line number of the first data
/// row (2 for a CSV with a header, 1 for the first Parquet row).
pub fn validate(
    table: Table,
    raw: &DataFrame,
    first_line: usize,
    known: &KnownKeys,
    freq: Frequency,
) -> PolarsResult<Validated> {
    let rows = FileRows {
        name: "",
        first_line,
        malformed: &[],
        lines: None,
    };
    validate_file(table, raw, &rows, known, freq, &mut EarlierFiles::default())
}

/// Validates one file's rows, after the earlier files of the same table in this ingest.
pub fn validate_file(
    table: Table,
    raw: &DataFrame,
    rows: &FileRows<'_>,
    known: &KnownKeys,
    freq: Frequency,
    earlier: &mut EarlierFiles,
) -> PolarsResult<Validated> {
    earlier.files.push(rows.name.to_string());
    let height = raw.height();
    let mut reasons = Reasons(vec![None; height]);
    // Seeded first, so no other check counts a malformed row as accepted (its key, say).
    for (row, reason) in rows.malformed {
        reasons.add(*row, || reason.clone());
    }
    let mut columns = Vec::with_capacity(table.columns().len());
    for column in table.columns() {
        let raw_column = match raw.column(column.name) {
            Ok(found) => Some(found.as_materialized_series().str()?.clone()),
            Err(_) => None,
        };
        let mut series = parse_column(column, raw_column.as_ref(), height, &mut reasons);
        if let Some(default) = integer_default(table, column.name) {
            let filled: Int64Chunked = series
                .i64()?
                .iter()
                .map(|value| Some(value.unwrap_or(default)))
                .collect();
            series = filled.with_name(column.name.into()).into_series();
        }
        columns.push(series);
    }
    let typed = Typed { columns };
    apply_table_rules(table, &typed, known, freq, &mut reasons, height);
    if table != Table::Sales && !table.key().is_empty() {
        check_unique_key(table, &typed, rows, &mut reasons, height, earlier);
    }
    // A malformed row's values are not what the file meant (a field may have shifted), so
    // the reasons they earned would mislead: the row's reason is the malformation alone.
    for (row, reason) in rows.malformed {
        reasons.0[*row] = Some(reason.clone());
    }

    let accept_mask: BooleanChunked = reasons.0.iter().map(|reason| reason.is_none()).collect();
    let reject_mask = !&accept_mask;
    let typed_frame = DataFrame::new(
        height,
        typed.columns.into_iter().map(Column::from).collect(),
    )?;
    let mut accepted = typed_frame.filter(&accept_mask)?;

    let accepted_lines = if table == Table::Sales {
        Vec::new()
    } else {
        (0..height)
            .filter(|row| reasons.is_ok(*row))
            .map(|row| rows.line(row))
            .collect()
    };
    let lines: Vec<i64> = (0..height).map(|row| rows.line(row) as i64).collect();
    let reason_texts: Vec<Option<String>> = reasons.0;
    let mut rejected_source = raw.clone();
    rejected_source.with_column(Series::new("line".into(), lines).into())?;
    rejected_source.with_column(Series::new("reason".into(), reason_texts).into())?;
    let rejected = rejected_source.filter(&reject_mask)?;
    let rows_rejected = rejected.height();

    let mut rows_merged = 0;
    match table {
        Table::Sales => {
            let (merged, folded) = merge_sales(accepted)?;
            accepted = merged;
            rows_merged = folded;
        }
        Table::PollResponses => {
            add_poll_response_keys(&mut accepted, &mut earlier.poll_occurrences)?
        }
        _ => {}
    }
    accepted.rechunk_mut();

    Ok(Validated {
        accepted,
        accepted_lines,
        rejected,
        rows_read: height,
        rows_rejected,
        rows_merged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(columns: &[(&str, Vec<Option<&str>>)]) -> DataFrame {
        let height = columns[0].1.len();
        DataFrame::new(
            height,
            columns
                .iter()
                .map(|(name, values)| Series::new((*name).into(), values.clone()).into())
                .collect(),
        )
        .unwrap()
    }

    fn known() -> KnownKeys {
        KnownKeys {
            skus: ["S1".to_string()].into_iter().collect(),
            warehouses: ["W1".to_string()].into_iter().collect(),
            categories: ["sofas".to_string()].into_iter().collect(),
        }
    }

    fn reasons_of(validated: &Validated) -> Vec<String> {
        validated
            .rejected
            .column("reason")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|r| r.unwrap().to_string())
            .collect()
    }

    #[test]
    fn sales_rows_are_typed_merged_and_rejected_with_reasons() {
        let frame = raw(&[
            (
                "date",
                vec![
                    Some("2025-01-01"),
                    Some("2025-01-01"),
                    Some("2025-13-01"),
                    Some("2025-01-02"),
                    Some("2025-01-02"),
                ],
            ),
            (
                "sku",
                vec![Some("S1"), Some("S1"), Some("S1"), Some("S9"), Some("S1")],
            ),
            (
                "warehouse",
                vec![Some("W1"), Some("W1"), Some("W1"), Some("W1"), Some("W1")],
            ),
            (
                "units",
                vec![Some("2"), Some("1.5"), Some("1"), Some("1"), Some("-1")],
            ),
        ]);
        let validated = validate(Table::Sales, &frame, 2, &known(), Frequency::Day).unwrap();
        assert_eq!(validated.rows_read, 5);
        assert_eq!(validated.rows_rejected, 3);
        assert_eq!(validated.rows_merged, 1);
        assert_eq!(validated.accepted.height(), 1);
        let units = validated
            .accepted
            .column("units")
            .unwrap()
            .f64()
            .unwrap()
            .get(0);
        assert_eq!(units, Some(3.5));
        let reasons = reasons_of(&validated);
        assert!(reasons[0].contains("date: expected a date"), "{reasons:?}");
        assert!(reasons[1].contains("unknown sku 'S9'"), "{reasons:?}");
        assert!(reasons[2].contains("units: must be ≥ 0"), "{reasons:?}");
        let lines: Vec<i64> = validated
            .rejected
            .column("line")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(lines, vec![4, 5, 6]);
    }

    fn sales(dates: &[&str], units: &[&str]) -> Validated {
        let frame = raw(&[
            ("date", dates.iter().map(|d| Some(*d)).collect()),
            ("sku", vec![Some("S1"); dates.len()]),
            ("warehouse", vec![Some("W1"); dates.len()]),
            ("units", units.iter().map(|u| Some(*u)).collect()),
        ]);
        validate(Table::Sales, &frame, 2, &known(), Frequency::Day).unwrap()
    }

    #[test]
    fn sales_of_one_day_in_two_files_are_summed_into_the_first() {
        let mut first = sales(&["2025-01-01", "2025-01-02"], &["5", "1"]);
        let mut second = sales(&["2025-01-01", "2025-01-03"], &["4", "2"]);
        merge_sales_across_files(&mut [&mut first, &mut second]).unwrap();
        let units = |v: &Validated| -> Vec<Option<f64>> {
            v.accepted
                .column("units")
                .unwrap()
                .f64()
                .unwrap()
                .iter()
                .collect()
        };
        let mut kept = units(&first);
        kept.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(kept, vec![Some(1.0), Some(9.0)]);
        assert_eq!(units(&second), vec![Some(2.0)]);
        assert_eq!((first.rows_merged, second.rows_merged), (0, 1));
        let names = |v: &Validated| -> Vec<String> {
            v.accepted
                .get_column_names()
                .iter()
                .map(|n| n.to_string())
                .collect()
        };
        assert_eq!(names(&first), SALES_COLUMNS.map(String::from).to_vec());
    }

    #[test]
    fn sales_files_of_disjoint_dates_are_left_alone() {
        let mut history = sales(&["2025-01-01", "2025-01-02"], &["5", "1"]);
        let mut tonight = sales(&["2025-01-03"], &["4"]);
        merge_sales_across_files(&mut [&mut history, &mut tonight]).unwrap();
        assert_eq!(history.accepted.height(), 2);
        assert_eq!(tonight.accepted.height(), 1);
        assert_eq!((history.rows_merged, tonight.rows_merged), (0, 0));
    }

    #[test]
    fn duplicate_dimension_keys_are_rejected_after_the_first() {
        let frame = raw(&[
            ("sku", vec![Some("A"), Some("A")]),
            ("category", vec![Some("sofas"), Some("beds")]),
        ]);
        let validated = validate(
            Table::Products,
            &frame,
            2,
            &KnownKeys::default(),
            Frequency::Day,
        )
        .unwrap();
        assert_eq!(validated.accepted.height(), 1);
        assert!(reasons_of(&validated)[0].contains("first seen on line 2"));
    }

    #[test]
    fn promotions_ending_before_they_start_are_rejected() {
        let frame = raw(&[
            ("promo_id", vec![Some("P1"), Some("P2")]),
            ("name", vec![Some("ok"), Some("bad")]),
            ("start_date", vec![Some("2025-11-20"), Some("2025-11-20")]),
            ("end_date", vec![Some("2025-11-30"), Some("2025-11-01")]),
            ("discount_pct", vec![Some("20"), Some("20")]),
        ]);
        let validated = validate(Table::Promotions, &frame, 2, &known(), Frequency::Day).unwrap();
        assert_eq!(validated.accepted.height(), 1);
        assert_eq!(reasons_of(&validated), vec!["end_date: before start_date"]);
    }

    #[test]
    fn weekly_sales_off_the_anchor_weekday_are_rejected() {
        // 2025-01-05 and 2025-01-12 are Sundays; 2025-01-15 is a Wednesday.
        let frame = raw(&[
            (
                "date",
                vec![Some("2025-01-05"), Some("2025-01-12"), Some("2025-01-15")],
            ),
            ("sku", vec![Some("S1"); 3]),
            ("warehouse", vec![Some("W1"); 3]),
            ("units", vec![Some("1"); 3]),
        ]);
        let validated = validate(Table::Sales, &frame, 2, &known(), Frequency::Week).unwrap();
        assert_eq!(validated.accepted.height(), 2);
        assert!(reasons_of(&validated)[0].contains("Sun"));
    }

    #[test]
    fn poll_responses_need_a_subject_and_get_stable_keys() {
        let frame = raw(&[
            (
                "responded_at",
                vec![
                    Some("2025-03-02T14:05:00Z"),
                    Some("2025-03-02T14:05:00Z"),
                    Some("yesterday"),
                    Some("2025-03-02T14:05:00+02:00"),
                ],
            ),
            ("sku", vec![Some("S1"), Some("S1"), Some("S1"), None]),
            ("interest", vec![Some("4"), Some("4"), Some("4"), Some("6")]),
        ]);
        let validated =
            validate(Table::PollResponses, &frame, 2, &known(), Frequency::Day).unwrap();
        assert_eq!(validated.accepted.height(), 2);
        let keys: Vec<&str> = validated
            .accepted
            .column("response_key")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert_ne!(keys[0], keys[1], "identical answers are both kept");
        let reasons = reasons_of(&validated);
        assert!(reasons[0].contains("responded_at"));
        assert!(reasons[1].contains("interest: must be between 1 and 5"));
        assert!(reasons[1].contains("sku or category"));
    }
}
