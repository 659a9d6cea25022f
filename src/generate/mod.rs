//! Realistic synthetic dataset generator.
//!
//! [`generate`] writes a complete, deterministic (per seed) dataset for a
//! furniture-and-decor retailer into an output directory. File names get
//! the `.csv` or `.parquet` extension according to [`OutputFormat`]; dates
//! are `YYYY-MM-DD`; CSV empty fields (Parquet nulls) mean "none"/"all".
//!
//! | file | columns | content |
//! |------|---------|---------|
//! | `warehouses` | warehouse, region, capacity_units, capacity_m3 | `WH01…`; regions cycle Northeast, Southeast, Midwest, Southwest, West, Northwest; two flagship-size sites. Capacities are 1.15–1.4× the peak simulated on-hand stock of the site. |
//! | `products` | sku, category, unit_volume_m3, case_pack, unit_price | `SKU00001…`; 10 categories with very different price/volume/demand. |
//! | `promotions` | promo_id, name, start_date, end_date, discount_pct, sku, category, warehouse | dates inclusive; `discount_pct` integer 10–50; every non-empty scope column must match, empty = all. Overlaps: deepest discount applies (ties: lowest promo_id). Runs until `end_date + 90`. |
//! | `sales` | date, sku, warehouse, units, price, promo_id | only rows with units > 0 (missing row = zero sales); price after discount; promo_id empty when none. Rows ordered by sku, warehouse, date. |
//! | `inventory` | sku, warehouse, on_hand, inbound, min_presentation | stock at the end of the last history day; inbound = ordered, not yet received. |
//! | `stock_levels` | date, sku, warehouse, on_hand | end-of-day on-hand **only** on stock-out days (on_hand = 0) plus the day before and the day after each stock-out spell (those usually have on_hand > 0). Unlisted (sku, warehouse, day) after launch had on_hand > 0. Days before a SKU's launch are never listed. Sales on stock-out days are censored (truncated to what was on hand). |
//! | `poll_responses` | responded_at, sku, category, interest, intends_to_buy | RFC 3339 UTC timestamps over history; exactly one of sku/category is set; interest 1–5; responses lead demand by 1–3 weeks. Grouped by subject (categories first, then SKUs), chronological within a subject. |
//! | `events` | date, event | [`crate::calendar::us_retail_events`] over history + 90 future days. |
//! | `truth/expected_demand` | date, sku, warehouse, expected_units | noise-free mean demand (before stock-out censoring) for the last `truth_days` history days and the 90 future days; every (date, sku, warehouse); 0 before launch. |
//! | `truth/future_sales` | date, sku, warehouse, units | realised demand for the 90 future days (units > 0 only), drawn from `expected_units` **without** stock-out censoring. |
//!
//! Generation is parallel over blocks of SKUs; every SKU and every
//! (SKU, warehouse) has its own seeded ChaCha8 stream and blocks are written
//! in order, so the same seed always produces byte-identical files.

mod buzz;
mod catalog;
mod demand;
mod noise;
mod polls;
mod promotions;
mod seasonality;
mod tables;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use chrono::{Duration, NaiveDate};

use self::buzz::{buzz_multipliers, CATEGORY_BUZZ_DAYS, CATEGORY_BUZZ_SD};
use self::catalog::{build_skus, build_warehouses, Category, REGIONS};
use self::demand::{simulate_block, BlockRows, Scratch, SimContext, WarehouseLoad};
use self::noise::{rng_for, uniform, STREAM_CATEGORY_BUZZ, STREAM_WAREHOUSES};
use self::promotions::build_promotions;
use self::seasonality::DayProfile;
use self::tables::{
    date_bytes, encode, epoch_days, Chunk, EventRow, InventoryRow, Names, PollRow, ProductRow,
    PromoRow, SalesRow, StockRow, TableDef, TableRow, TruthRow, UnitsRow, WarehouseRow,
};
use self::writer::Sink;

/// Length of the future window (days after the last sales date) covered by
/// the promotion calendar, the events and the truth files.
pub const FUTURE_DAYS: usize = 90;

/// Maximum `skus × warehouses × (days + 90)` cells.
pub const MAX_CELLS: u128 = 5_000_000_000;
/// Maximum number of SKUs.
pub const MAX_SKUS: usize = 1_000_000;
/// Maximum number of warehouses.
pub const MAX_WAREHOUSES: usize = 500;
/// Minimum history length (days).
pub const MIN_DAYS: usize = 28;
/// Maximum history length (days, ~20 years).
pub const MAX_DAYS: usize = 7320;

/// Output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Csv,
    Parquet,
}

impl OutputFormat {
    /// File extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Csv => "csv",
            OutputFormat::Parquet => "parquet",
        }
    }
}

/// Generator settings.
#[derive(Debug, Clone)]
pub struct GenerateConfig {
    pub skus: usize,
    pub warehouses: usize,
    /// History length in days (the last one is `end_date`).
    pub days: usize,
    pub seed: u64,
    pub format: OutputFormat,
    /// Last sales date.
    pub end_date: NaiveDate,
    /// Trailing history days covered by `truth/expected_demand` (the 90
    /// future days are always covered). At most `days`.
    pub truth_days: usize,
    /// Add latent popularity (`buzz.rs`): swings in demand that polls lead and the
    /// calendar does not know. Off by default, so published figures stay comparable.
    pub latent_popularity: bool,
}

impl GenerateConfig {
    /// First history day.
    pub fn start_date(&self) -> NaiveDate {
        self.end_date - Duration::days(self.days.saturating_sub(1) as i64)
    }

    /// Last day of the future window (`end_date + 90`).
    pub fn horizon_end(&self) -> NaiveDate {
        self.end_date + Duration::days(FUTURE_DAYS as i64)
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct GenerateSummary {
    /// Every file written with its data row count, in the order of the
    /// data contract.
    pub files: Vec<(PathBuf, usize)>,
    pub seconds: f64,
}

/// Generator failure.
#[derive(thiserror::Error, Debug)]
pub enum GenerateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("invalid generator setting: {0}")]
    Invalid(String),
}

/// Checks the configuration bounds.
pub fn validate(config: &GenerateConfig) -> Result<(), GenerateError> {
    let invalid = |m: String| Err(GenerateError::Invalid(m));
    if config.skus == 0 {
        return invalid("skus must be at least 1".into());
    }
    if config.skus > MAX_SKUS {
        return invalid(format!(
            "skus must be at most {MAX_SKUS} (got {})",
            config.skus
        ));
    }
    if !(1..=MAX_WAREHOUSES).contains(&config.warehouses) {
        return invalid(format!(
            "warehouses must be between 1 and {MAX_WAREHOUSES} (got {})",
            config.warehouses
        ));
    }
    if config.days < MIN_DAYS {
        return invalid(format!(
            "days must be at least {MIN_DAYS} (got {})",
            config.days
        ));
    }
    if config.days > MAX_DAYS {
        return invalid(format!(
            "days must be at most {MAX_DAYS} (got {})",
            config.days
        ));
    }
    if config.truth_days > config.days {
        return invalid(format!(
            "truth_days ({}) must not exceed days ({})",
            config.truth_days, config.days
        ));
    }
    let cells =
        config.skus as u128 * config.warehouses as u128 * (config.days + FUTURE_DAYS) as u128;
    if cells > MAX_CELLS {
        return invalid(format!(
            "skus × warehouses × (days + {FUTURE_DAYS}) = {cells} exceeds the limit of {MAX_CELLS}"
        ));
    }
    let start_ok = config
        .end_date
        .checked_sub_signed(Duration::days(config.days as i64))
        .is_some_and(|d| d >= NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or(d));
    let end_ok = config
        .end_date
        .checked_add_signed(Duration::days(FUTURE_DAYS as i64))
        .is_some_and(|d| d <= NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(d));
    if !start_ok || !end_ok {
        return invalid(format!(
            "end_date {} with {} days of history is outside years 1..=9999",
            config.end_date, config.days
        ));
    }
    Ok(())
}

/// Cells (sku × warehouse × day) simulated per work block.
const BLOCK_CELLS: usize = 1_500_000;

/// One block of encoded output chunks.
struct EncodedBlock {
    sales: Chunk,
    inventory: Chunk,
    stock: Chunk,
    polls: Chunk,
    expected: Chunk,
    future: Chunk,
}

fn encode_block(
    rows: &BlockRows,
    names: &Names,
    format: OutputFormat,
) -> Result<EncodedBlock, (&'static TableDef, String)> {
    fn enc<R: TableRow>(
        rows: &[R],
        names: &Names,
        format: OutputFormat,
    ) -> Result<Chunk, (&'static TableDef, String)> {
        encode(rows, names, format).map_err(|e| (R::DEF, e.to_string()))
    }
    Ok(EncodedBlock {
        sales: enc(&rows.sales, names, format)?,
        inventory: enc(&rows.inventory, names, format)?,
        stock: enc(&rows.stock, names, format)?,
        polls: enc(&rows.polls, names, format)?,
        expected: enc(&rows.expected, names, format)?,
        future: enc(&rows.future, names, format)?,
    })
}

/// `<out_dir>/<table path>.<extension>`: where a table's file goes.
fn table_path(out_dir: &Path, def: &TableDef, format: OutputFormat) -> PathBuf {
    out_dir.join(format!("{}.{}", def.path(), format.extension()))
}

fn small_table<R: TableRow>(
    out_dir: &Path,
    rows: &[R],
    names: &Names,
    format: OutputFormat,
) -> Result<(PathBuf, usize), GenerateError> {
    let mut sink = Sink::create::<R>(out_dir, names, format)?;
    let chunk = encode(rows, names, format).map_err(|e| GenerateError::Write {
        path: table_path(out_dir, R::DEF, format),
        message: e.to_string(),
    })?;
    sink.write(chunk)?;
    sink.finish()
}

/// Generates the full dataset into `out_dir` (created if missing): the catalogue, calendar and
/// promotions, their small tables, then the simulated tables streamed block by block, then the
/// warehouses with capacities sized from the simulated peak stock.
pub fn generate(config: &GenerateConfig, out_dir: &Path) -> Result<GenerateSummary, GenerateError> {
    let started = Instant::now();
    validate(config)?;
    std::fs::create_dir_all(out_dir.join("truth")).map_err(|e| GenerateError::Io {
        path: out_dir.join("truth"),
        source: e,
    })?;

    let format = config.format;
    let horizon = config.days + FUTURE_DAYS;
    let start = config.start_date();
    let horizon_end = config.horizon_end();

    // Catalogue, calendar, promotions.
    let warehouses = build_warehouses(config.seed, config.warehouses);
    let skus = build_skus(config.seed, config.skus, config.warehouses, config.days);
    let profile = day_profile(config, start, horizon);
    let promos = build_promotions(config.seed, start, horizon_end, &skus, &warehouses);

    let names = Names {
        epoch_day0: epoch_days(start),
        dates: profile.dates.iter().map(|&d| date_bytes(d)).collect(),
        skus: skus.iter().map(|s| s.id.clone()).collect(),
        warehouses: warehouses.iter().map(|w| w.id.clone()).collect(),
        promos: promos.promos.iter().map(|p| p.id.clone()).collect(),
    };
    let products_file = small_table(out_dir, &product_rows(&skus), &names, format)?;
    let promotions_file = small_table(out_dir, &promotion_rows(&promos), &names, format)?;
    let events_file = small_table(out_dir, &event_rows(start, horizon_end), &names, format)?;

    let ctx = SimContext {
        seed: config.seed,
        days: config.days,
        horizon,
        truth_start: config.days - config.truth_days,
        warehouses: &warehouses,
        skus: &skus,
        profile: &profile,
        promos: &promos,
        latent_popularity: config.latent_popularity,
    };
    let mut streams = Streams::create(out_dir, &names, format)?;
    streams.write_category_polls(config, &ctx, &names)?;
    let load = simulate_blocks(config, &ctx, &names, &mut streams)?;
    let [sales_file, inventory_file, stock_file, polls_file, expected_file, future_file] =
        streams.finish()?;

    let warehouses_file = small_table(
        out_dir,
        &warehouse_rows(config.seed, &warehouses, &load),
        &names,
        format,
    )?;

    Ok(GenerateSummary {
        files: vec![
            warehouses_file,
            products_file,
            promotions_file,
            sales_file,
            inventory_file,
            stock_file,
            polls_file,
            events_file,
            expected_file,
            future_file,
        ],
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The day profile of the horizon, each category scaled by its latent popularity when asked.
fn day_profile(config: &GenerateConfig, start: NaiveDate, horizon: usize) -> DayProfile {
    let mut profile = DayProfile::new(start, horizon);
    for category in Category::ALL
        .into_iter()
        .filter(|_| config.latent_popularity)
    {
        let mut rng = rng_for(
            config.seed,
            STREAM_CATEGORY_BUZZ,
            category.index() as u64,
            0,
        );
        let multipliers = buzz_multipliers(&mut rng, horizon, CATEGORY_BUZZ_DAYS, CATEGORY_BUZZ_SD);
        profile.scale_category(category, &multipliers);
    }
    profile
}

fn product_rows(skus: &[catalog::Sku]) -> Vec<ProductRow> {
    skus.iter()
        .enumerate()
        .map(|(i, s)| ProductRow {
            sku: i as u32,
            category: s.category,
            volume_e4: s.volume_e4,
            case_pack: s.case_pack,
            price_cents: s.price_cents,
        })
        .collect()
}

fn promotion_rows(promos: &promotions::PromoBook) -> Vec<PromoRow> {
    promos
        .promos
        .iter()
        .map(|p| PromoRow {
            id: p.id.clone(),
            name: p.name.clone(),
            start: p.start,
            end: p.end,
            discount_pct: p.discount_pct,
            sku: p.sku.map(|s| s as u32),
            category: p.category,
            warehouse: p.warehouse.map(|w| w as u32),
        })
        .collect()
}

fn event_rows(start: NaiveDate, horizon_end: NaiveDate) -> Vec<EventRow> {
    crate::calendar::us_retail_events(start, horizon_end)
        .into_iter()
        .map(|e| EventRow {
            date: e.date,
            event: e.event,
        })
        .collect()
}

/// Warehouse capacities from the simulated peak stock.
fn warehouse_rows(
    seed: u64,
    warehouses: &[catalog::Warehouse],
    load: &WarehouseLoad,
) -> Vec<WarehouseRow> {
    let mut rng = rng_for(seed, STREAM_WAREHOUSES, 1, 0);
    warehouses
        .iter()
        .zip(load.peaks())
        .map(|(w, (units, vol_e4))| {
            let headroom = uniform(&mut rng, 1.15, 1.4);
            let units = ((units as f64 * headroom).ceil() as u64).max(100);
            let m3 = (vol_e4 as f64 / 1e4 * headroom).ceil().max(10.0);
            WarehouseRow {
                id: w.id.clone(),
                region: REGIONS[w.region],
                capacity_units: units,
                capacity_m3_e2: (m3 as u64) * 100,
            }
        })
        .collect()
}

/// The streamed tables' files, written block by block.
struct Streams {
    out_dir: PathBuf,
    format: OutputFormat,
    sales: Sink,
    inventory: Sink,
    stock: Sink,
    polls: Sink,
    expected: Sink,
    future: Sink,
}

impl Streams {
    fn create(
        out_dir: &Path,
        names: &Names,
        format: OutputFormat,
    ) -> Result<Streams, GenerateError> {
        Ok(Streams {
            out_dir: out_dir.to_path_buf(),
            format,
            sales: Sink::create::<SalesRow>(out_dir, names, format)?,
            inventory: Sink::create::<InventoryRow>(out_dir, names, format)?,
            stock: Sink::create::<StockRow>(out_dir, names, format)?,
            polls: Sink::create::<PollRow>(out_dir, names, format)?,
            expected: Sink::create::<TruthRow>(out_dir, names, format)?,
            future: Sink::create::<UnitsRow>(out_dir, names, format)?,
        })
    }

    fn table_err(&self, def: &TableDef, message: String) -> GenerateError {
        GenerateError::Write {
            path: table_path(&self.out_dir, def, self.format),
            message,
        }
    }

    /// The category-level poll answers, ahead of the per-SKU ones.
    fn write_category_polls(
        &mut self,
        config: &GenerateConfig,
        ctx: &SimContext<'_>,
        names: &Names,
    ) -> Result<(), GenerateError> {
        let carried: Vec<catalog::Category> = catalog::Category::ALL
            .into_iter()
            .filter(|category| ctx.skus.iter().any(|sku| sku.category == *category))
            .collect();
        let category_polls =
            polls::category_polls(config.seed, ctx.profile, ctx.promos, ctx.days, &carried);
        let chunk = encode(&category_polls, names, self.format)
            .map_err(|e| self.table_err(&tables::POLL_RESPONSES, e.to_string()))?;
        self.polls.write(chunk)
    }

    fn write(&mut self, block: EncodedBlock) -> Result<(), GenerateError> {
        self.sales.write(block.sales)?;
        self.inventory.write(block.inventory)?;
        self.stock.write(block.stock)?;
        self.polls.write(block.polls)?;
        self.expected.write(block.expected)?;
        self.future.write(block.future)
    }

    /// Sales, inventory, stock, polls, expected demand, future units.
    fn finish(self) -> Result<[(PathBuf, usize); 6], GenerateError> {
        Ok([
            self.sales.finish()?,
            self.inventory.finish()?,
            self.stock.finish()?,
            self.polls.finish()?,
            self.expected.finish()?,
            self.future.finish()?,
        ])
    }
}

/// Simulates the SKUs in blocks on worker threads (block `b` on worker `b % workers`) and writes
/// the blocks in order as they arrive; returns the warehouses' simulated load.
fn simulate_blocks(
    config: &GenerateConfig,
    ctx: &SimContext<'_>,
    names: &Names,
    streams: &mut Streams,
) -> Result<WarehouseLoad, GenerateError> {
    let (format, days) = (config.format, config.days);
    let horizon = ctx.horizon;
    let block_skus = (BLOCK_CELLS / (config.warehouses * horizon)).max(1);
    let n_blocks = config.skus.div_ceil(block_skus);
    let n_workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 8)
        .min(n_blocks);

    std::thread::scope(|scope| -> Result<WarehouseLoad, GenerateError> {
        let mut receivers = Vec::with_capacity(n_workers);
        let mut handles = Vec::with_capacity(n_workers);
        for k in 0..n_workers {
            let (tx, rx) = sync_channel::<Result<EncodedBlock, (&'static TableDef, String)>>(1);
            receivers.push(rx);
            handles.push(scope.spawn(move || {
                let mut load = WarehouseLoad::new(ctx.warehouses.len(), ctx.days);
                let mut scratch = Scratch::default();
                let mut b = k;
                while b < n_blocks {
                    let lo = b * block_skus;
                    let hi = (lo + block_skus).min(ctx.skus.len());
                    let rows = simulate_block(ctx, lo..hi, &mut scratch, &mut load);
                    let encoded = encode_block(&rows, names, format);
                    drop(rows);
                    let failed = encoded.is_err();
                    if tx.send(encoded).is_err() || failed {
                        break;
                    }
                    b += n_workers;
                }
                load
            }));
        }

        let mut write_all = || -> Result<(), GenerateError> {
            for b in 0..n_blocks {
                let Ok(block) = receivers[b % n_workers].recv() else {
                    // The worker stopped early (panicked); its join reports it.
                    return Ok(());
                };
                let block = block.map_err(|(def, m)| streams.table_err(def, m))?;
                streams.write(block)?;
            }
            Ok(())
        };
        let written = write_all();
        drop(receivers);

        let mut total = WarehouseLoad::new(config.warehouses, days);
        for h in handles {
            match h.join() {
                Ok(part) => total.merge(&part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        written.map(|()| total)
    })
}

#[cfg(test)]
mod tests;
