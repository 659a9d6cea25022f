//! The generator's output files, their row types and their CSV / DataFrame encoders.
//!
//! The input tables take their file stems and columns from the data contract
//! ([`crate::contract::Table`]); only the truth files, which are not inputs, list their own.
//! CSV records go through the `csv` writer into large byte buffers, one per chunk, with
//! numbers formatted into a reused field buffer (no per-row allocation). Parquet chunks are
//! built as polars `DataFrame`s named from the same column list, with these types: dates →
//! `Date`, ids/names → `String` (null where the CSV field is empty), whole numbers → `Int64`,
//! decimals → `Float64` (rounded to the same number of decimals as the CSV),
//! `intends_to_buy` → `Boolean`, `responded_at` → `Datetime(ms, "UTC")`. A file's Parquet
//! schema is that of its encoder's frame.

use chrono::{Datelike, NaiveDate};
use polars::prelude::*;

use super::catalog::Category;
use super::promotions::NO_PROMO;
use super::OutputFormat;
use crate::contract::Table;

/// One output file: an input table of the contract, or a truth file.
#[derive(Debug)]
pub(crate) enum TableDef {
    Input(Table),
    /// A file of what the generator simulated (for scoring forecasts), not an input table:
    /// its path relative to the output directory (without extension) and its columns.
    Truth {
        path: &'static str,
        columns: &'static [&'static str],
    },
}

pub(crate) const WAREHOUSES: TableDef = TableDef::Input(Table::Warehouses);
pub(crate) const PRODUCTS: TableDef = TableDef::Input(Table::Products);
pub(crate) const PROMOTIONS: TableDef = TableDef::Input(Table::Promotions);
pub(crate) const SALES: TableDef = TableDef::Input(Table::Sales);
pub(crate) const INVENTORY: TableDef = TableDef::Input(Table::Inventory);
pub(crate) const STOCK_LEVELS: TableDef = TableDef::Input(Table::StockLevels);
pub(crate) const POLL_RESPONSES: TableDef = TableDef::Input(Table::PollResponses);
pub(crate) const EVENTS: TableDef = TableDef::Input(Table::Events);
pub(crate) const EXPECTED_DEMAND: TableDef = TableDef::Truth {
    path: "truth/expected_demand",
    columns: &["date", "sku", "warehouse", "expected_units"],
};
pub(crate) const FUTURE_SALES: TableDef = TableDef::Truth {
    path: "truth/future_sales",
    columns: &["date", "sku", "warehouse", "units"],
};

impl TableDef {
    /// The file's path relative to the output directory, without extension.
    pub(crate) fn path(&self) -> &'static str {
        match self {
            TableDef::Input(table) => table.name(),
            TableDef::Truth { path, .. } => path,
        }
    }

    /// The columns in file order.
    pub(crate) fn column_names(&self) -> Vec<&'static str> {
        match self {
            TableDef::Input(table) => table.columns().iter().map(|column| column.name).collect(),
            TableDef::Truth { columns, .. } => columns.to_vec(),
        }
    }

    /// The CSV header record (with its terminator).
    pub(crate) fn csv_header(&self) -> Result<Vec<u8>, EncodeError> {
        let mut writer = csv_writer(Vec::new());
        writer.write_record(self.column_names())?;
        Ok(writer.into_inner().map_err(|error| error.into_error())?)
    }
}

/// Why a chunk could not be encoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EncodeError {
    #[error(transparent)]
    Frame(#[from] PolarsError),
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The one CSV dialect of every generated file: comma-separated, `\n`-terminated, a field
/// quoted only when it holds a comma, a quote or a line break.
fn csv_writer(buffer: Vec<u8>) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(buffer)
}

/// One chunk's CSV records, written field by field.
pub(crate) struct CsvRecords {
    writer: csv::Writer<Vec<u8>>,
    /// A number's digits, formatted here before they become a field.
    field: Vec<u8>,
}

impl CsvRecords {
    fn with_capacity(bytes: usize) -> CsvRecords {
        CsvRecords {
            writer: csv_writer(Vec::with_capacity(bytes)),
            field: Vec::with_capacity(32),
        }
    }

    #[inline]
    fn text(&mut self, value: &str) -> csv::Result<()> {
        self.writer.write_field(value)
    }

    #[inline]
    fn bytes(&mut self, value: &[u8]) -> csv::Result<()> {
        self.writer.write_field(value)
    }

    #[inline]
    fn empty(&mut self) -> csv::Result<()> {
        self.writer.write_field(b"")
    }

    #[inline]
    fn unsigned(&mut self, value: u64) -> csv::Result<()> {
        self.field.clear();
        put_u64(&mut self.field, value);
        self.writer.write_field(&self.field)
    }

    /// `scaled / 10^decimals` with exactly `decimals` fraction digits.
    #[inline]
    fn fixed(&mut self, scaled: u64, decimals: u32) -> csv::Result<()> {
        self.field.clear();
        put_fixed(&mut self.field, scaled, decimals);
        self.writer.write_field(&self.field)
    }

    /// Ends the current record.
    #[inline]
    fn end(&mut self) -> csv::Result<()> {
        self.writer.write_record(None::<&[u8]>)
    }

    fn finish(self) -> Result<Vec<u8>, EncodeError> {
        Ok(self
            .writer
            .into_inner()
            .map_err(|error| error.into_error())?)
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
    /// Writes one record, its fields in [`TableDef::column_names`] order.
    fn csv(&self, names: &Names, out: &mut CsvRecords) -> csv::Result<()>;
    /// The rows as a frame whose columns are in [`TableDef::column_names`] order (they are
    /// named from it).
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame>;

    /// The table's Parquet schema: its encoder's frame of no rows.
    fn schema(names: &Names) -> PolarsResult<Schema> {
        Ok(Self::frame(&[], names)?.schema().as_ref().clone())
    }
}

/// Encodes rows in the requested format.
pub(crate) fn encode<R: TableRow>(
    rows: &[R],
    names: &Names,
    format: OutputFormat,
) -> Result<Chunk, EncodeError> {
    let data = match format {
        OutputFormat::Csv => {
            let mut out = CsvRecords::with_capacity(rows.len() * R::CSV_BYTES);
            for r in rows {
                r.csv(names, &mut out)?;
            }
            Encoded::Csv(out.finish()?)
        }
        OutputFormat::Parquet => Encoded::Frame(R::frame(rows, names)?),
    };
    Ok(Chunk {
        rows: rows.len(),
        data,
    })
}

fn col_date<T>(rows: &[T], names: &Names, day: impl Fn(&T) -> u32) -> Column {
    Int32Chunked::from_vec(
        PlSmallStr::EMPTY,
        rows.iter()
            .map(|r| names.epoch_day0 + day(r) as i32)
            .collect(),
    )
    .into_date()
    .into_column()
}

fn col_abs_date<T>(rows: &[T], date: impl Fn(&T) -> NaiveDate) -> Column {
    Int32Chunked::from_vec(
        PlSmallStr::EMPTY,
        rows.iter().map(|r| epoch_days(date(r))).collect(),
    )
    .into_date()
    .into_column()
}

fn col_str<'a, T: 'a>(rows: &'a [T], f: impl Fn(&'a T) -> &'a str) -> Column {
    StringChunked::from_iter_values(PlSmallStr::EMPTY, rows.iter().map(f)).into_column()
}

fn col_opt_str<'a, T: 'a>(rows: &'a [T], f: impl Fn(&'a T) -> Option<&'a str>) -> Column {
    StringChunked::from_iter_options(PlSmallStr::EMPTY, rows.iter().map(f)).into_column()
}

fn col_int<T>(rows: &[T], f: impl Fn(&T) -> i64) -> Column {
    Int64Chunked::from_vec(PlSmallStr::EMPTY, rows.iter().map(f).collect()).into_column()
}

fn col_float<T>(rows: &[T], f: impl Fn(&T) -> f64) -> Column {
    Float64Chunked::from_vec(PlSmallStr::EMPTY, rows.iter().map(f).collect()).into_column()
}

/// A frame of `def`'s columns, named in order from its column list.
fn frame(def: &TableDef, height: usize, columns: Vec<Column>) -> PolarsResult<DataFrame> {
    let names = def.column_names();
    assert_eq!(
        names.len(),
        columns.len(),
        "{}: one encoded column per column",
        def.path()
    );
    let columns = columns
        .into_iter()
        .zip(names)
        .map(|(column, name)| column.with_name(name.into()))
        .collect();
    DataFrame::new(height, columns)
}

#[inline]
fn put_date_sku_wh(
    out: &mut CsvRecords,
    names: &Names,
    day: u32,
    sku: u32,
    wh: u32,
) -> csv::Result<()> {
    out.bytes(&names.dates[day as usize])?;
    out.text(&names.skus[sku as usize])?;
    out.text(&names.warehouses[wh as usize])
}

impl TableRow for SalesRow {
    const DEF: &'static TableDef = &SALES;
    fn csv(&self, names: &Names, out: &mut CsvRecords) -> csv::Result<()> {
        put_date_sku_wh(out, names, self.day, self.sku, self.wh)?;
        out.unsigned(u64::from(self.units))?;
        out.fixed(self.price_cents, 2)?;
        if self.promo != NO_PROMO {
            out.text(&names.promos[self.promo as usize])?;
        } else {
            out.empty()?;
        }
        out.end()
    }
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame> {
        frame(
            Self::DEF,
            rows.len(),
            vec![
                col_date(rows, names, |r| r.day),
                col_str(rows, |r| names.skus[r.sku as usize].as_str()),
                col_str(rows, |r| names.warehouses[r.wh as usize].as_str()),
                col_int(rows, |r| i64::from(r.units)),
                col_float(rows, |r| r.price_cents as f64 / 100.0),
                col_opt_str(rows, |r| {
                    (r.promo != NO_PROMO).then(|| names.promos[r.promo as usize].as_str())
                }),
            ],
        )
    }
}

impl TableRow for InventoryRow {
    const DEF: &'static TableDef = &INVENTORY;
    fn csv(&self, names: &Names, out: &mut CsvRecords) -> csv::Result<()> {
        out.text(&names.skus[self.sku as usize])?;
        out.text(&names.warehouses[self.wh as usize])?;
        out.unsigned(u64::from(self.on_hand))?;
        out.unsigned(u64::from(self.inbound))?;
        out.unsigned(u64::from(self.min_presentation))?;
        out.end()
    }
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame> {
        frame(
            Self::DEF,
            rows.len(),
            vec![
                col_str(rows, |r| names.skus[r.sku as usize].as_str()),
                col_str(rows, |r| names.warehouses[r.wh as usize].as_str()),
                col_int(rows, |r| i64::from(r.on_hand)),
                col_int(rows, |r| i64::from(r.inbound)),
                col_int(rows, |r| i64::from(r.min_presentation)),
            ],
        )
    }
}

impl TableRow for StockRow {
    const DEF: &'static TableDef = &STOCK_LEVELS;
    fn csv(&self, names: &Names, out: &mut CsvRecords) -> csv::Result<()> {
        put_date_sku_wh(out, names, self.day, self.sku, self.wh)?;
        out.unsigned(u64::from(self.on_hand))?;
        out.end()
    }
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame> {
        frame(
            Self::DEF,
            rows.len(),
            vec![
                col_date(rows, names, |r| r.day),
                col_str(rows, |r| names.skus[r.sku as usize].as_str()),
                col_str(rows, |r| names.warehouses[r.wh as usize].as_str()),
                col_int(rows, |r| i64::from(r.on_hand)),
            ],
        )
    }
}

impl TableRow for UnitsRow {
    const DEF: &'static TableDef = &FUTURE_SALES;
    fn csv(&self, names: &Names, out: &mut CsvRecords) -> csv::Result<()> {
        put_date_sku_wh(out, names, self.day, self.sku, self.wh)?;
        out.unsigned(u64::from(self.units))?;
        out.end()
    }
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame> {
        frame(
            Self::DEF,
            rows.len(),
            vec![
                col_date(rows, names, |r| r.day),
                col_str(rows, |r| names.skus[r.sku as usize].as_str()),
                col_str(rows, |r| names.warehouses[r.wh as usize].as_str()),
                col_int(rows, |r| i64::from(r.units)),
            ],
        )
    }
}

impl TableRow for TruthRow {
    const DEF: &'static TableDef = &EXPECTED_DEMAND;
    fn csv(&self, names: &Names, out: &mut CsvRecords) -> csv::Result<()> {
        put_date_sku_wh(out, names, self.day, self.sku, self.wh)?;
        out.fixed(scaled(self.expected, 4), 4)?;
        out.end()
    }
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame> {
        frame(
            Self::DEF,
            rows.len(),
            vec![
                col_date(rows, names, |r| r.day),
                col_str(rows, |r| names.skus[r.sku as usize].as_str()),
                col_str(rows, |r| names.warehouses[r.wh as usize].as_str()),
                col_float(rows, |r| rounded(r.expected, 4)),
            ],
        )
    }
}

fn put_two(buf: &mut Vec<u8>, v: u32) {
    buf.push(b'0' + (v / 10 % 10) as u8);
    buf.push(b'0' + (v % 10) as u8);
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a second of a day.
fn timestamp_bytes(date: &[u8; 10], second: u32) -> [u8; 20] {
    let mut buf = Vec::with_capacity(20);
    buf.extend_from_slice(date);
    buf.push(b'T');
    put_two(&mut buf, second / 3600);
    buf.push(b':');
    put_two(&mut buf, second / 60 % 60);
    buf.push(b':');
    put_two(&mut buf, second % 60);
    buf.push(b'Z');
    buf.try_into().expect("20 bytes")
}

impl TableRow for PollRow {
    const DEF: &'static TableDef = &POLL_RESPONSES;
    fn csv(&self, names: &Names, out: &mut CsvRecords) -> csv::Result<()> {
        out.bytes(&timestamp_bytes(
            &names.dates[self.day as usize],
            self.second,
        ))?;
        match self.subject {
            PollSubject::Sku(s) => {
                out.text(&names.skus[s as usize])?;
                out.empty()?;
            }
            PollSubject::Category(c) => {
                out.empty()?;
                out.text(c.name())?;
            }
        }
        out.unsigned(u64::from(self.interest))?;
        out.text(if self.intends { "true" } else { "false" })?;
        out.end()
    }
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame> {
        let ts = Int64Chunked::from_vec(
            PlSmallStr::EMPTY,
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
            Self::DEF,
            rows.len(),
            vec![
                ts,
                col_opt_str(rows, |r| match r.subject {
                    PollSubject::Sku(s) => Some(names.skus[s as usize].as_str()),
                    PollSubject::Category(_) => None,
                }),
                col_opt_str(rows, |r| match r.subject {
                    PollSubject::Sku(_) => None,
                    PollSubject::Category(c) => Some(c.name()),
                }),
                col_int(rows, |r| i64::from(r.interest)),
                BooleanChunked::from_iter_values(PlSmallStr::EMPTY, rows.iter().map(|r| r.intends))
                    .into_column(),
            ],
        )
    }
}

impl TableRow for WarehouseRow {
    const DEF: &'static TableDef = &WAREHOUSES;
    fn csv(&self, _names: &Names, out: &mut CsvRecords) -> csv::Result<()> {
        out.text(&self.id)?;
        out.text(self.region)?;
        out.unsigned(self.capacity_units)?;
        out.fixed(self.capacity_m3_e2, 2)?;
        out.end()
    }
    fn frame(rows: &[Self], _names: &Names) -> PolarsResult<DataFrame> {
        frame(
            Self::DEF,
            rows.len(),
            vec![
                col_str(rows, |r| r.id.as_str()),
                col_str(rows, |r| r.region),
                col_int(rows, |r| r.capacity_units as i64),
                col_float(rows, |r| r.capacity_m3_e2 as f64 / 100.0),
            ],
        )
    }
}

impl TableRow for ProductRow {
    const DEF: &'static TableDef = &PRODUCTS;
    fn csv(&self, names: &Names, out: &mut CsvRecords) -> csv::Result<()> {
        out.text(&names.skus[self.sku as usize])?;
        out.text(self.category.name())?;
        out.fixed(self.volume_e4, 4)?;
        out.unsigned(u64::from(self.case_pack))?;
        out.fixed(self.price_cents, 2)?;
        out.end()
    }
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame> {
        frame(
            Self::DEF,
            rows.len(),
            vec![
                col_str(rows, |r| names.skus[r.sku as usize].as_str()),
                col_str(rows, |r| r.category.name()),
                col_float(rows, |r| r.volume_e4 as f64 / 1e4),
                col_int(rows, |r| i64::from(r.case_pack)),
                col_float(rows, |r| r.price_cents as f64 / 100.0),
            ],
        )
    }
}

impl TableRow for PromoRow {
    const DEF: &'static TableDef = &PROMOTIONS;
    const CSV_BYTES: usize = 96;
    fn csv(&self, names: &Names, out: &mut CsvRecords) -> csv::Result<()> {
        out.text(&self.id)?;
        out.text(&self.name)?;
        out.bytes(&date_bytes(self.start))?;
        out.bytes(&date_bytes(self.end))?;
        out.unsigned(u64::from(self.discount_pct))?;
        match self.sku {
            Some(s) => out.text(&names.skus[s as usize])?,
            None => out.empty()?,
        }
        match self.category {
            Some(c) => out.text(c.name())?,
            None => out.empty()?,
        }
        match self.warehouse {
            Some(w) => out.text(&names.warehouses[w as usize])?,
            None => out.empty()?,
        }
        out.end()
    }
    fn frame(rows: &[Self], names: &Names) -> PolarsResult<DataFrame> {
        frame(
            Self::DEF,
            rows.len(),
            vec![
                col_str(rows, |r| r.id.as_str()),
                col_str(rows, |r| r.name.as_str()),
                col_abs_date(rows, |r| r.start),
                col_abs_date(rows, |r| r.end),
                col_int(rows, |r| i64::from(r.discount_pct)),
                col_opt_str(rows, |r| r.sku.map(|s| names.skus[s as usize].as_str())),
                col_opt_str(rows, |r| r.category.map(|c| c.name())),
                col_opt_str(rows, |r| {
                    r.warehouse.map(|w| names.warehouses[w as usize].as_str())
                }),
            ],
        )
    }
}

impl TableRow for EventRow {
    const DEF: &'static TableDef = &EVENTS;
    fn csv(&self, _names: &Names, out: &mut CsvRecords) -> csv::Result<()> {
        out.bytes(&date_bytes(self.date))?;
        out.text(&self.event)?;
        out.end()
    }
    fn frame(rows: &[Self], _names: &Names) -> PolarsResult<DataFrame> {
        frame(
            Self::DEF,
            rows.len(),
            vec![
                col_abs_date(rows, |r| r.date),
                col_str(rows, |r| r.event.as_str()),
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
        let mut out = CsvRecords::with_capacity(0);
        out.text("a,\"b\"").unwrap();
        out.end().unwrap();
        b.extend_from_slice(out.finish().unwrap().trim_ascii_end());
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
        assert_eq!(**df.schema(), PollRow::schema(&names).unwrap());
        let buf = match encode(&rows, &names, OutputFormat::Csv).unwrap().data {
            Encoded::Csv(bytes) => bytes,
            Encoded::Frame(_) => unreachable!("CSV asked for"),
        };
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
        assert_eq!(**df.schema(), SalesRow::schema(&names).unwrap());
    }
}
