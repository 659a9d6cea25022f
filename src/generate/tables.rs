//! Output table definitions (the data contract), row types and their
//! CSV / DataFrame encoders.
//!
//! CSV is formatted by hand into large byte buffers (no per-row
//! allocation). Parquet chunks are built as polars `DataFrame`s with these
//! types: dates → `Date`, ids/names → `String` (null where the CSV field is
//! empty), integers → `Int64`, decimals → `Float64` (rounded to the same
//! number of decimals as the CSV), `intends_to_buy` → `Boolean`,
//! `responded_at` → `Datetime(ms, "UTC")`.

use chrono::{Datelike, NaiveDate};
use polars::prelude::*;

use super::catalog::Category;
use super::promotions::NO_PROMO;
use super::OutputFormat;

/// Column type in the data contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColType {
    Date,
    Str,
    Int,
    Float,
    Bool,
    Timestamp,
}

/// One output table: its path (relative to the output directory, without
/// extension) and its columns in order.
#[derive(Debug)]
pub(crate) struct TableDef {
    pub path: &'static str,
    pub columns: &'static [(&'static str, ColType)],
}

use ColType::{Bool, Date as D, Float as F, Int as I, Str as S, Timestamp as Ts};

pub(crate) const WAREHOUSES: TableDef = TableDef {
    path: "warehouses",
    columns: &[
        ("warehouse", S),
        ("region", S),
        ("capacity_units", I),
        ("capacity_m3", F),
    ],
};
pub(crate) const PRODUCTS: TableDef = TableDef {
    path: "products",
    columns: &[
        ("sku", S),
        ("category", S),
        ("unit_volume_m3", F),
        ("case_pack", I),
        ("unit_price", F),
    ],
};
pub(crate) const PROMOTIONS: TableDef = TableDef {
    path: "promotions",
    columns: &[
        ("promo_id", S),
        ("name", S),
        ("start_date", D),
        ("end_date", D),
        ("discount_pct", I),
        ("sku", S),
        ("category", S),
        ("warehouse", S),
    ],
};
pub(crate) const SALES: TableDef = TableDef {
    path: "sales",
    columns: &[
        ("date", D),
        ("sku", S),
        ("warehouse", S),
        ("units", I),
        ("price", F),
        ("promo_id", S),
    ],
};
pub(crate) const INVENTORY: TableDef = TableDef {
    path: "inventory",
    columns: &[
        ("sku", S),
        ("warehouse", S),
        ("on_hand", I),
        ("inbound", I),
        ("min_presentation", I),
    ],
};
pub(crate) const STOCK_LEVELS: TableDef = TableDef {
    path: "stock_levels",
    columns: &[("date", D), ("sku", S), ("warehouse", S), ("on_hand", I)],
};
pub(crate) const POLL_RESPONSES: TableDef = TableDef {
    path: "poll_responses",
    columns: &[
        ("responded_at", Ts),
        ("sku", S),
        ("category", S),
        ("interest", I),
        ("intends_to_buy", Bool),
    ],
};
pub(crate) const EVENTS: TableDef = TableDef {
    path: "events",
    columns: &[("date", D), ("event", S)],
};
pub(crate) const EXPECTED_DEMAND: TableDef = TableDef {
    path: "truth/expected_demand",
    columns: &[
        ("date", D),
        ("sku", S),
        ("warehouse", S),
        ("expected_units", F),
    ],
};
pub(crate) const FUTURE_SALES: TableDef = TableDef {
    path: "truth/future_sales",
    columns: &[("date", D), ("sku", S), ("warehouse", S), ("units", I)],
};

impl TableDef {
    /// The polars schema used for Parquet output.
    pub(crate) fn schema(&self) -> Schema {
        Schema::from_iter(self.columns.iter().map(|(name, ty)| {
            let dtype = match ty {
                ColType::Date => DataType::Date,
                ColType::Str => DataType::String,
                ColType::Int => DataType::Int64,
                ColType::Float => DataType::Float64,
                ColType::Bool => DataType::Boolean,
                ColType::Timestamp => {
                    DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
                }
            };
            Field::new((*name).into(), dtype)
        }))
    }

    /// The CSV header line (with trailing newline).
    pub(crate) fn csv_header(&self) -> String {
        let mut s = self
            .columns
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(",");
        s.push('\n');
        s
    }
}

/// Precomputed string forms shared by all encoders.
pub(crate) struct Names {
    /// Days since 1970-01-01 of day index 0.
    pub epoch_day0: i32,
    /// `YYYY-MM-DD` of every day index in the horizon.
    pub dates: Vec<[u8; 10]>,
    pub skus: Vec<String>,
    pub warehouses: Vec<String>,
    pub promos: Vec<String>,
}

/// Days since the Unix epoch.
pub(crate) fn epoch_days(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - 719_163
}

/// `YYYY-MM-DD` as 10 bytes (years 0..=9999).
pub(crate) fn date_bytes(d: NaiveDate) -> [u8; 10] {
    let mut out = *b"0000-00-00";
    let y = d.year().clamp(0, 9999) as u32;
    let (m, day) = (d.month(), d.day());
    out[0] = b'0' + (y / 1000) as u8;
    out[1] = b'0' + (y / 100 % 10) as u8;
    out[2] = b'0' + (y / 10 % 10) as u8;
    out[3] = b'0' + (y % 10) as u8;
    out[5] = b'0' + (m / 10) as u8;
    out[6] = b'0' + (m % 10) as u8;
    out[8] = b'0' + (day / 10) as u8;
    out[9] = b'0' + (day % 10) as u8;
    out
}

// ---------------------------------------------------------------- formatting

/// Appends an unsigned integer in decimal.
#[inline]
pub(crate) fn put_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Appends `scaled / 10^decimals` with exactly `decimals` fraction digits.
#[inline]
pub(crate) fn put_fixed(buf: &mut Vec<u8>, scaled: u64, decimals: u32) {
    let pow = 10u64.pow(decimals);
    put_u64(buf, scaled / pow);
    if decimals > 0 {
        buf.push(b'.');
        let mut frac = scaled % pow;
        let mut tmp = [b'0'; 20];
        let digits = &mut tmp[..decimals as usize];
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        buf.extend_from_slice(digits);
    }
}

/// Rounds a non-negative float to `decimals` places as a scaled integer.
#[inline]
pub(crate) fn scaled(x: f64, decimals: u32) -> u64 {
    let v = (x.max(0.0) * 10f64.powi(decimals as i32)).round();
    v as u64
}

/// Rounds a float to `decimals` places (the Parquet twin of [`put_fixed`]).
#[inline]
pub(crate) fn rounded(x: f64, decimals: u32) -> f64 {
    scaled(x, decimals) as f64 / 10f64.powi(decimals as i32)
}

/// Appends a string field, quoting it if needed.
pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        buf.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                buf.push(b'"');
            }
            buf.push(b);
        }
        buf.push(b'"');
    } else {
        buf.extend_from_slice(s.as_bytes());
    }
}

// ---------------------------------------------------------------- rows

#[derive(Debug, Clone, Copy)]
pub(crate) struct SalesRow {
    pub day: u32,
    pub sku: u32,
    pub wh: u32,
    pub units: u32,
    pub price_cents: u64,
    pub promo: u32,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct InventoryRow {
    pub sku: u32,
    pub wh: u32,
    pub on_hand: u32,
    pub inbound: u32,
    pub min_presentation: u32,
}

/// End-of-day on-hand of one (sku, warehouse, day).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StockRow {
    pub day: u32,
    pub sku: u32,
    pub wh: u32,
    pub on_hand: u32,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct UnitsRow {
    pub day: u32,
    pub sku: u32,
    pub wh: u32,
    pub units: u32,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct TruthRow {
    pub day: u32,
    pub sku: u32,
    pub wh: u32,
    pub expected: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PollSubject {
    Sku(u32),
    Category(Category),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct PollRow {
    pub day: u32,
    /// Seconds after midnight UTC.
    pub second: u32,
    pub subject: PollSubject,
    pub interest: u8,
    pub intends: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct WarehouseRow {
    pub id: String,
    pub region: &'static str,
    pub capacity_units: u64,
    /// Capacity in 1/100 m³.
    pub capacity_m3_e2: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct ProductRow {
    pub sku: u32,
    pub category: Category,
    pub volume_e4: u64,
    pub case_pack: u32,
    pub price_cents: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct PromoRow {
    pub id: String,
    pub name: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub discount_pct: u32,
    pub sku: Option<u32>,
    pub category: Option<Category>,
    pub warehouse: Option<u32>,
}

#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    pub date: NaiveDate,
    pub event: String,
}

// ---------------------------------------------------------------- encoding

/// An encoded chunk of one table.
pub(crate) enum Encoded {
    Csv(Vec<u8>),
    Frame(DataFrame),
}

pub(crate) struct Chunk {
    pub rows: usize,
    pub data: Encoded,
}

/// A row type that belongs to one table.
pub(crate) trait TableRow: Sized {
    const DEF: &'static TableDef;
    /// Rough CSV bytes per row (buffer pre-sizing).
    const CSV_BYTES: usize = 48;
    fn csv(&self, names: &Names, buf: &mut Vec<u8>);
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame>;
}

/// Encodes rows in the requested format.
pub(crate) fn encode<R: TableRow>(
    rows: &[R],
    names: &Names,
    format: OutputFormat,
) -> PolarsResult<Chunk> {
    let data = match format {
        OutputFormat::Csv => {
            let mut buf = Vec::with_capacity(rows.len() * R::CSV_BYTES);
            for r in rows {
                r.csv(names, &mut buf);
            }
            Encoded::Csv(buf)
        }
        OutputFormat::Parquet => Encoded::Frame(R::frame(rows, names)?),
    };
    Ok(Chunk {
        rows: rows.len(),
        data,
    })
}

fn col_date<T>(name: &str, rows: &[T], names: &Names, day: impl Fn(&T) -> u32) -> Column {
    Int32Chunked::from_vec(
        name.into(),
        rows.iter()
            .map(|r| names.epoch_day0 + day(r) as i32)
            .collect(),
    )
    .into_date()
    .into_column()
}

fn col_abs_date<T>(name: &str, rows: &[T], date: impl Fn(&T) -> NaiveDate) -> Column {
    Int32Chunked::from_vec(
        name.into(),
        rows.iter().map(|r| epoch_days(date(r))).collect(),
    )
    .into_date()
    .into_column()
}

fn col_str<'a, T: 'a>(name: &str, rows: &'a [T], f: impl Fn(&'a T) -> &'a str) -> Column {
    StringChunked::from_iter_values(name.into(), rows.iter().map(f)).into_column()
}

fn col_opt_str<'a, T: 'a>(
    name: &str,
    rows: &'a [T],
    f: impl Fn(&'a T) -> Option<&'a str>,
) -> Column {
    StringChunked::from_iter_options(name.into(), rows.iter().map(f)).into_column()
}

fn col_int<T>(name: &str, rows: &[T], f: impl Fn(&T) -> i64) -> Column {
    Int64Chunked::from_vec(name.into(), rows.iter().map(f).collect()).into_column()
}

fn col_float<T>(name: &str, rows: &[T], f: impl Fn(&T) -> f64) -> Column {
    Float64Chunked::from_vec(name.into(), rows.iter().map(f).collect()).into_column()
}

fn frame(height: usize, columns: Vec<Column>) -> PolarsResult<DataFrame> {
    DataFrame::new(height, columns)
}

#[inline]
fn put_day(buf: &mut Vec<u8>, names: &Names, day: u32) {
    buf.extend_from_slice(&names.dates[day as usize]);
}

#[inline]
fn put_date_sku_wh(buf: &mut Vec<u8>, names: &Names, day: u32, sku: u32, wh: u32) {
    put_day(buf, names, day);
    buf.push(b',');
    buf.extend_from_slice(names.skus[sku as usize].as_bytes());
    buf.push(b',');
    buf.extend_from_slice(names.warehouses[wh as usize].as_bytes());
    buf.push(b',');
}

impl TableRow for SalesRow {
    const DEF: &'static TableDef = &SALES;
    fn csv(&self, names: &Names, buf: &mut Vec<u8>) {
        put_date_sku_wh(buf, names, self.day, self.sku, self.wh);
        put_u64(buf, u64::from(self.units));
        buf.push(b',');
        put_fixed(buf, self.price_cents, 2);
        buf.push(b',');
        if self.promo != NO_PROMO {
            buf.extend_from_slice(names.promos[self.promo as usize].as_bytes());
        }
        buf.push(b'\n');
    }
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame> {
        frame(
            rows.len(),
            vec![
                col_date("date", rows, names, |r| r.day),
                col_str("sku", rows, |r| names.skus[r.sku as usize].as_str()),
                col_str("warehouse", rows, |r| {
                    names.warehouses[r.wh as usize].as_str()
                }),
                col_int("units", rows, |r| i64::from(r.units)),
                col_float("price", rows, |r| r.price_cents as f64 / 100.0),
                col_opt_str("promo_id", rows, |r| {
                    (r.promo != NO_PROMO).then(|| names.promos[r.promo as usize].as_str())
                }),
            ],
        )
    }
}

impl TableRow for InventoryRow {
    const DEF: &'static TableDef = &INVENTORY;
    fn csv(&self, names: &Names, buf: &mut Vec<u8>) {
        buf.extend_from_slice(names.skus[self.sku as usize].as_bytes());
        buf.push(b',');
        buf.extend_from_slice(names.warehouses[self.wh as usize].as_bytes());
        buf.push(b',');
        put_u64(buf, u64::from(self.on_hand));
        buf.push(b',');
        put_u64(buf, u64::from(self.inbound));
        buf.push(b',');
        put_u64(buf, u64::from(self.min_presentation));
        buf.push(b'\n');
    }
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame> {
        frame(
            rows.len(),
            vec![
                col_str("sku", rows, |r| names.skus[r.sku as usize].as_str()),
                col_str("warehouse", rows, |r| {
                    names.warehouses[r.wh as usize].as_str()
                }),
                col_int("on_hand", rows, |r| i64::from(r.on_hand)),
                col_int("inbound", rows, |r| i64::from(r.inbound)),
                col_int("min_presentation", rows, |r| i64::from(r.min_presentation)),
            ],
        )
    }
}

impl TableRow for StockRow {
    const DEF: &'static TableDef = &STOCK_LEVELS;
    fn csv(&self, names: &Names, buf: &mut Vec<u8>) {
        put_date_sku_wh(buf, names, self.day, self.sku, self.wh);
        put_u64(buf, u64::from(self.on_hand));
        buf.push(b'\n');
    }
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame> {
        frame(
            rows.len(),
            vec![
                col_date("date", rows, names, |r| r.day),
                col_str("sku", rows, |r| names.skus[r.sku as usize].as_str()),
                col_str("warehouse", rows, |r| {
                    names.warehouses[r.wh as usize].as_str()
                }),
                col_int("on_hand", rows, |r| i64::from(r.on_hand)),
            ],
        )
    }
}

impl TableRow for UnitsRow {
    const DEF: &'static TableDef = &FUTURE_SALES;
    fn csv(&self, names: &Names, buf: &mut Vec<u8>) {
        put_date_sku_wh(buf, names, self.day, self.sku, self.wh);
        put_u64(buf, u64::from(self.units));
        buf.push(b'\n');
    }
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame> {
        frame(
            rows.len(),
            vec![
                col_date("date", rows, names, |r| r.day),
                col_str("sku", rows, |r| names.skus[r.sku as usize].as_str()),
                col_str("warehouse", rows, |r| {
                    names.warehouses[r.wh as usize].as_str()
                }),
                col_int("units", rows, |r| i64::from(r.units)),
            ],
        )
    }
}

impl TableRow for TruthRow {
    const DEF: &'static TableDef = &EXPECTED_DEMAND;
    fn csv(&self, names: &Names, buf: &mut Vec<u8>) {
        put_date_sku_wh(buf, names, self.day, self.sku, self.wh);
        put_fixed(buf, scaled(self.expected, 4), 4);
        buf.push(b'\n');
    }
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame> {
        frame(
            rows.len(),
            vec![
                col_date("date", rows, names, |r| r.day),
                col_str("sku", rows, |r| names.skus[r.sku as usize].as_str()),
                col_str("warehouse", rows, |r| {
                    names.warehouses[r.wh as usize].as_str()
                }),
                col_float("expected_units", rows, |r| rounded(r.expected, 4)),
            ],
        )
    }
}

fn put_two(buf: &mut Vec<u8>, v: u32) {
    buf.push(b'0' + (v / 10 % 10) as u8);
    buf.push(b'0' + (v % 10) as u8);
}

impl TableRow for PollRow {
    const DEF: &'static TableDef = &POLL_RESPONSES;
    fn csv(&self, names: &Names, buf: &mut Vec<u8>) {
        put_day(buf, names, self.day);
        buf.push(b'T');
        put_two(buf, self.second / 3600);
        buf.push(b':');
        put_two(buf, self.second / 60 % 60);
        buf.push(b':');
        put_two(buf, self.second % 60);
        buf.extend_from_slice(b"Z,");
        match self.subject {
            PollSubject::Sku(s) => {
                buf.extend_from_slice(names.skus[s as usize].as_bytes());
                buf.push(b',');
            }
            PollSubject::Category(c) => {
                buf.push(b',');
                buf.extend_from_slice(c.name().as_bytes());
            }
        }
        buf.push(b',');
        put_u64(buf, u64::from(self.interest));
        buf.extend_from_slice(if self.intends {
            b",true\n"
        } else {
            b",false\n"
        });
    }
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame> {
        let ts = Int64Chunked::from_vec(
            "responded_at".into(),
            rows.iter()
                .map(|r| {
                    (i64::from(names.epoch_day0) + i64::from(r.day)) * 86_400_000
                        + i64::from(r.second) * 1000
                })
                .collect(),
        )
        .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
        .into_column();
        frame(
            rows.len(),
            vec![
                ts,
                col_opt_str("sku", rows, |r| match r.subject {
                    PollSubject::Sku(s) => Some(names.skus[s as usize].as_str()),
                    PollSubject::Category(_) => None,
                }),
                col_opt_str("category", rows, |r| match r.subject {
                    PollSubject::Sku(_) => None,
                    PollSubject::Category(c) => Some(c.name()),
                }),
                col_int("interest", rows, |r| i64::from(r.interest)),
                BooleanChunked::from_iter_values(
                    "intends_to_buy".into(),
                    rows.iter().map(|r| r.intends),
                )
                .into_column(),
            ],
        )
    }
}

impl TableRow for WarehouseRow {
    const DEF: &'static TableDef = &WAREHOUSES;
    fn csv(&self, _names: &Names, buf: &mut Vec<u8>) {
        put_str(buf, &self.id);
        buf.push(b',');
        put_str(buf, self.region);
        buf.push(b',');
        put_u64(buf, self.capacity_units);
        buf.push(b',');
        put_fixed(buf, self.capacity_m3_e2, 2);
        buf.push(b'\n');
    }
    fn frame(rows: &[Self], _names: &Names) -> PolarsResult<DataFrame> {
        frame(
            rows.len(),
            vec![
                col_str("warehouse", rows, |r| r.id.as_str()),
                col_str("region", rows, |r| r.region),
                col_int("capacity_units", rows, |r| r.capacity_units as i64),
                col_float("capacity_m3", rows, |r| r.capacity_m3_e2 as f64 / 100.0),
            ],
        )
    }
}

impl TableRow for ProductRow {
    const DEF: &'static TableDef = &PRODUCTS;
    fn csv(&self, names: &Names, buf: &mut Vec<u8>) {
        buf.extend_from_slice(names.skus[self.sku as usize].as_bytes());
        buf.push(b',');
        buf.extend_from_slice(self.category.name().as_bytes());
        buf.push(b',');
        put_fixed(buf, self.volume_e4, 4);
        buf.push(b',');
        put_u64(buf, u64::from(self.case_pack));
        buf.push(b',');
        put_fixed(buf, self.price_cents, 2);
        buf.push(b'\n');
    }
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame> {
        frame(
            rows.len(),
            vec![
                col_str("sku", rows, |r| names.skus[r.sku as usize].as_str()),
                col_str("category", rows, |r| r.category.name()),
                col_float("unit_volume_m3", rows, |r| r.volume_e4 as f64 / 1e4),
                col_int("case_pack", rows, |r| i64::from(r.case_pack)),
                col_float("unit_price", rows, |r| r.price_cents as f64 / 100.0),
            ],
        )
    }
}

impl TableRow for PromoRow {
    const DEF: &'static TableDef = &PROMOTIONS;
    const CSV_BYTES: usize = 96;
    fn csv(&self, names: &Names, buf: &mut Vec<u8>) {
        put_str(buf, &self.id);
        buf.push(b',');
        put_str(buf, &self.name);
        buf.push(b',');
        buf.extend_from_slice(&date_bytes(self.start));
        buf.push(b',');
        buf.extend_from_slice(&date_bytes(self.end));
        buf.push(b',');
        put_u64(buf, u64::from(self.discount_pct));
        buf.push(b',');
        if let Some(s) = self.sku {
            buf.extend_from_slice(names.skus[s as usize].as_bytes());
        }
        buf.push(b',');
        if let Some(c) = self.category {
            buf.extend_from_slice(c.name().as_bytes());
        }
        buf.push(b',');
        if let Some(w) = self.warehouse {
            buf.extend_from_slice(names.warehouses[w as usize].as_bytes());
        }
        buf.push(b'\n');
    }
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame> {
        frame(
            rows.len(),
            vec![
                col_str("promo_id", rows, |r| r.id.as_str()),
                col_str("name", rows, |r| r.name.as_str()),
                col_abs_date("start_date", rows, |r| r.start),
                col_abs_date("end_date", rows, |r| r.end),
                col_int("discount_pct", rows, |r| i64::from(r.discount_pct)),
                col_opt_str("sku", rows, |r| {
                    r.sku.map(|s| names.skus[s as usize].as_str())
                }),
                col_opt_str("category", rows, |r| r.category.map(|c| c.name())),
                col_opt_str("warehouse", rows, |r| {
                    r.warehouse.map(|w| names.warehouses[w as usize].as_str())
                }),
            ],
        )
    }
}

impl TableRow for EventRow {
    const DEF: &'static TableDef = &EVENTS;
    fn csv(&self, _names: &Names, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&date_bytes(self.date));
        buf.push(b',');
        put_str(buf, &self.event);
        buf.push(b'\n');
    }
    fn frame(rows: &[Self], _names: &Names) -> PolarsResult<DataFrame> {
        frame(
            rows.len(),
            vec![
                col_abs_date("date", rows, |r| r.date),
                col_str("event", rows, |r| r.event.as_str()),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formatting() {
        let mut b = Vec::new();
        put_u64(&mut b, 0);
        b.push(b' ');
        put_u64(&mut b, 1234567890);
        b.push(b' ');
        put_fixed(&mut b, 1999, 2);
        b.push(b' ');
        put_fixed(&mut b, 5, 4);
        b.push(b' ');
        put_fixed(&mut b, scaled(0.12345, 4), 4);
        b.push(b' ');
        put_str(&mut b, "a,\"b\"");
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "0 1234567890 19.99 0.0005 0.1235 \"a,\"\"b\"\"\""
        );
    }

    #[test]
    fn dates() {
        let d = NaiveDate::from_ymd_opt(2025, 3, 2).unwrap();
        assert_eq!(&date_bytes(d), b"2025-03-02");
        assert_eq!(epoch_days(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap()), 1);
    }

    #[test]
    fn schema_matches_frame() {
        let names = Names {
            epoch_day0: 20000,
            dates: vec![*b"2024-10-04"],
            skus: vec!["SKU00001".into()],
            warehouses: vec!["WH01".into()],
            promos: vec!["P0001".into()],
        };
        let rows = [PollRow {
            day: 0,
            second: 3661,
            subject: PollSubject::Category(Category::Rugs),
            interest: 4,
            intends: true,
        }];
        let df = PollRow::frame(&rows, &names).unwrap();
        assert_eq!(**df.schema(), POLL_RESPONSES.schema());
        let mut buf = Vec::new();
        rows[0].csv(&names, &mut buf);
        assert_eq!(buf, b"2024-10-04T01:01:01Z,,rugs,4,true\n");
        let sales = [SalesRow {
            day: 0,
            sku: 0,
            wh: 0,
            units: 2,
            price_cents: 1999,
            promo: NO_PROMO,
        }];
        let df = SalesRow::frame(&sales, &names).unwrap();
        assert_eq!(**df.schema(), SALES.schema());
    }
}
