//! Ingest: a folder of contract files → validated rows in the store, rejected rows in
//! quarantine files, one `ingest_runs` row per file.
//!
//! Two phases. [`prepare`] reads and validates every file without touching the database
//! (a file that cannot be parsed stops everything here, before anything is written). [`load`]
//! then writes all accepted rows and their `ingest_runs` rows in one transaction, so an
//! ingest is loaded whole or not at all.

mod error;
mod quarantine;
mod read;
mod records;
mod validate;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

pub use error::IngestError;
pub use quarantine::quarantine_path;
pub use read::{file_sha256, read_raw, RawFile};
pub use records::{load_records, RecordsReport, RejectedRecord};
pub use validate::{
    merge_sales_across_files, validate, validate_file, EarlierFiles, FileRows, KnownKeys, Validated,
};

use validate::text_column;

use crate::contract::{FileFormat, Frequency, Table};
use crate::store::{sales_source, FrameRows, OnConflict, Store, StoreTx};
use crate::{on_backend, on_tx};

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub freq: Frequency,
    /// Re-load files whose content was loaded before (by default they are skipped).
    pub force: bool,
    /// Recorded in `ingest_runs.who`.
    pub who: String,
    /// Where quarantine files go; beside each input by default.
    pub quarantine_dir: Option<PathBuf>,
    /// Fingerprint each file (sha256) to skip content loaded before. Readers that load
    /// nothing (the forecaster reading a folder) turn it off: hashing costs a pass over
    /// every byte.
    pub fingerprint_files: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            freq: Frequency::Day,
            force: false,
            who: std::env::var("USER").unwrap_or_else(|_| "stockcast".to_string()),
            quarantine_dir: None,
            fingerprint_files: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Loaded,
    Unchanged,
}

impl FileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Loaded => "loaded",
            FileStatus::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    pub file: PathBuf,
    pub table: String,
    pub status: FileStatus,
    pub rows_read: usize,
    pub rows_accepted: usize,
    pub rows_rejected: usize,
    pub rows_merged: usize,
    pub quarantine_file: Option<PathBuf>,
    pub ignored_columns: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct IngestReport {
    pub batch_id: String,
    pub files: Vec<FileReport>,
    /// Files in the folder that were not read, with the reason.
    pub skipped: Vec<SkippedFile>,
    pub prepare_seconds: f64,
    pub load_seconds: f64,
}

impl IngestReport {
    pub fn rows_rejected(&self) -> usize {
        self.files.iter().map(|file| file.rows_rejected).sum()
    }

    pub fn rows_accepted(&self) -> usize {
        self.files.iter().map(|file| file.rows_accepted).sum()
    }
}

/// One file after validation, ready to load.
pub struct PreparedFile {
    pub path: PathBuf,
    pub table: Table,
    pub sha256: String,
    /// `None` when the same content was loaded before and `force` is off.
    pub validated: Option<Validated>,
    pub ignored_columns: Vec<String>,
}

/// A file in the input folder that ingest does not read, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SkippedFile {
    pub file: PathBuf,
    pub reason: String,
}

/// What [`discover_all`] found in a folder.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The contract files, in load order (dimensions first), then by name.
    pub files: Vec<(PathBuf, Table, FileFormat)>,
    /// Other files, each with the reason it is not read (for a note to the user).
    pub skipped: Vec<SkippedFile>,
}

/// Lists the contract files in a folder, in load order (dimensions first), then by name.
pub fn discover(dir: &Path) -> Result<Vec<(PathBuf, Table, FileFormat)>, IngestError> {
    Ok(discover_all(dir)?.files)
}

/// [`discover`], plus the files it leaves out and why. A file name is matched to its table
/// without regard to case (`Sales.CSV` is a sales file): exports from Windows tools often
/// capitalise names, and two tables never differ by case alone.
pub fn discover_all(dir: &Path) -> Result<Discovered, IngestError> {
    let entries = std::fs::read_dir(dir).map_err(|error| IngestError::Unreadable {
        path: dir.to_path_buf(),
        message: error.to_string(),
    })?;
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| IngestError::Unreadable {
            path: dir.to_path_buf(),
            message: error.to_string(),
        })?;
        // Folders (the generator's `truth/`) hold no input.
        if !entry.file_type().is_ok_and(|kind| kind.is_file()) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().to_string();
        match Table::from_file_name(&name.to_lowercase()) {
            Some((table, format)) => found.push((entry.path(), table, format)),
            None => {
                if let Some(reason) = skip_reason(&name) {
                    skipped.push(SkippedFile {
                        file: entry.path(),
                        reason,
                    });
                }
            }
        }
    }
    skipped.sort_by(|a, b| a.file.cmp(&b.file));
    if found.is_empty() {
        return Err(IngestError::NoFiles {
            path: dir.to_path_buf(),
            skipped: skipped
                .iter()
                .map(|file| {
                    file.file
                        .file_name()
                        .map(|name| name.to_string_lossy().to_string())
                        .unwrap_or_default()
                })
                .collect(),
        });
    }
    found.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    Ok(Discovered {
        files: found,
        skipped,
    })
}

/// Extensions of compressed files, with the compression's name.
const COMPRESSED_EXTENSIONS: &[(&str, &str)] = &[
    ("gz", "gzip"),
    ("gzip", "gzip"),
    ("tgz", "gzip"),
    ("zst", "zstd"),
    ("zstd", "zstd"),
    ("bz2", "bzip2"),
    ("xz", "xz"),
    ("zip", "zip"),
    ("lz4", "lz4"),
];

/// Why a file that names no table is not read, or `None` for files nobody expects read:
/// hidden files and ingest's own quarantine output.
fn skip_reason(name: &str) -> Option<String> {
    let lower = name.to_lowercase();
    if name.starts_with('.')
        || lower.ends_with(".rejected.csv")
        || lower.ends_with(".rejected.csv.partial")
    {
        return None;
    }
    let Some((stem, extension)) = lower.rsplit_once('.') else {
        return Some("not an input file (no .csv or .parquet extension)".to_string());
    };
    if let Some((_, compression)) = COMPRESSED_EXTENSIONS
        .iter()
        .find(|(known, _)| *known == extension)
    {
        let plain = name.rsplit_once('.').map_or(name, |(plain, _)| plain);
        return Some(match Table::from_file_name(stem) {
            Some((table, _)) => format!(
                "{compression}-compressed {table} file; decompress it to {plain} to load it"
            ),
            None => format!("{compression}-compressed, and not an input file"),
        });
    }
    if FileFormat::from_extension(extension).is_some() {
        let tables = Table::LOAD_ORDER.map(Table::name).join(", ");
        return Some(match closest_table(stem) {
            Some(table) => {
                format!("no table named '{stem}' (did you mean {table}?); the tables are {tables}")
            }
            None => format!("no table named '{stem}'; the tables are {tables}"),
        });
    }
    match Table::from_file_name(&format!("{stem}.csv")) {
        Some((table, _)) => Some(format!(
            "a {table} file must end in .csv or .parquet, not .{extension}"
        )),
        None => Some(format!(
            "not an input file (.{extension}, not .csv or .parquet)"
        )),
    }
}

/// The table a mistyped file stem most likely meant (`salez_2025` → `sales`), if any is
/// within two edits of the stem or of one of its `_`/`-`-separated prefixes.
fn closest_table(stem: &str) -> Option<Table> {
    let prefixes = stem
        .char_indices()
        .filter(|(_, ch)| *ch == '_' || *ch == '-')
        .map(|(at, _)| &stem[..at])
        .chain(std::iter::once(stem));
    let mut best: Option<(usize, Table)> = None;
    for prefix in prefixes {
        for table in Table::LOAD_ORDER {
            let distance = edit_distance(prefix, table.name());
            if distance <= 2
                && distance * 3 <= table.name().len()
                && best.is_none_or(|(shortest, _)| distance < shortest)
            {
                best = Some((distance, table));
            }
        }
    }
    best.map(|(_, table)| table)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// Reads and validates every file. `loaded_before` holds `(table, sha256)` of files already
/// loaded; those are skipped unless `force`. No database access.
pub fn prepare(
    files: &[(PathBuf, Table, FileFormat)],
    mut known: KnownKeys,
    loaded_before: &HashSet<(String, String)>,
    options: &IngestOptions,
) -> Result<Vec<PreparedFile>, IngestError> {
    // Every file is checked for compression before any is read: a compressed one found
    // after minutes of validating the others would waste them.
    for (path, _, _) in files {
        read::check_not_compressed(path)?;
    }
    let mut prepared = Vec::with_capacity(files.len());
    // Files come grouped by table: one record of earlier files per table.
    let mut earlier: Option<(Table, EarlierFiles)> = None;
    for (path, table, format) in files {
        let sha256 = if options.fingerprint_files {
            file_sha256(path)?
        } else {
            String::new()
        };
        if !options.force && loaded_before.contains(&(table.name().to_string(), sha256.clone())) {
            prepared.push(PreparedFile {
                path: path.clone(),
                table: *table,
                sha256,
                validated: None,
                ignored_columns: Vec::new(),
            });
            continue;
        }
        let raw = read_raw(path, *table, *format, sha256)?;
        let first_line = match format {
            FileFormat::Csv => 2,
            FileFormat::Parquet => 1,
        };
        if earlier.as_ref().is_none_or(|(seen, _)| seen != table) {
            earlier = Some((*table, EarlierFiles::default()));
        }
        let (_, earlier_files) = earlier.as_mut().expect("set above");
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().to_string())
            .unwrap_or_default();
        let rows = FileRows {
            name: &name,
            first_line,
            malformed: &raw.malformed,
            lines: raw.lines.as_deref(),
        };
        let validated = validate_file(
            *table,
            &raw.frame,
            &rows,
            &known,
            options.freq,
            earlier_files,
        )?;
        remember_keys(*table, &validated, &mut known)?;
        prepared.push(PreparedFile {
            path: raw.path,
            table: *table,
            sha256: raw.sha256,
            validated: Some(validated),
            ignored_columns: raw.ignored_columns,
        });
    }
    drop(earlier);
    let mut sales: Vec<&mut Validated> = prepared
        .iter_mut()
        .filter(|file| file.table == Table::Sales)
        .filter_map(|file| file.validated.as_mut())
        .collect();
    if sales.len() > 1 {
        merge_sales_across_files(&mut sales)?;
    }
    Ok(prepared)
}

fn remember_keys(
    table: Table,
    validated: &Validated,
    known: &mut KnownKeys,
) -> Result<(), IngestError> {
    let text = |name: &str| -> Result<Vec<String>, IngestError> {
        Ok(validated
            .accepted
            .column(name)?
            .as_materialized_series()
            .str()?
            .iter()
            .flatten()
            .map(str::to_string)
            .collect())
    };
    match table {
        Table::Products => {
            known.skus.extend(text("sku")?);
            known.categories.extend(text("category")?);
        }
        Table::Warehouses => known.warehouses.extend(text("warehouse")?),
        _ => {}
    }
    Ok(())
}

impl Store {
    /// The skus, warehouses and categories already stored.
    pub async fn known_keys(&self) -> Result<KnownKeys, IngestError> {
        let mut known = KnownKeys::default();
        on_backend!(self, pool => {
            for row in sqlx::query("SELECT sku, category FROM products").fetch_all(pool).await.map_err(crate::store::StoreError::from)? {
                known.skus.insert(row.try_get("sku").map_err(crate::store::StoreError::from)?);
                known.categories.insert(row.try_get("category").map_err(crate::store::StoreError::from)?);
            }
            for row in sqlx::query("SELECT warehouse FROM warehouses").fetch_all(pool).await.map_err(crate::store::StoreError::from)? {
                known.warehouses.insert(row.try_get("warehouse").map_err(crate::store::StoreError::from)?);
            }
        });
        Ok(known)
    }

    /// `(table, sha256)` of every file loaded before.
    pub async fn loaded_file_hashes(&self) -> Result<HashSet<(String, String)>, IngestError> {
        let rows: Vec<(String, String)> = on_backend!(self, pool => {
            sqlx::query_as("SELECT DISTINCT table_name, file_sha256 FROM ingest_runs WHERE status = 'loaded'")
                .fetch_all(pool)
                .await
                .map_err(crate::store::StoreError::from)?
        });
        Ok(rows.into_iter().collect())
    }

    pub async fn dataset_setting(&self, name: &str) -> Result<Option<String>, IngestError> {
        let value: Option<String> = on_backend!(self, pool => {
            sqlx::query_scalar("SELECT value FROM dataset_settings WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await
                .map_err(crate::store::StoreError::from)?
        });
        Ok(value)
    }
}

/// Column conflict targets in the database (sales rows carry their `source`).
fn conflict_key(table: Table) -> &'static [&'static str] {
    match table {
        Table::Sales => &["sku", "warehouse", "date", "source"],
        Table::PollResponses => &["response_key"],
        other => other.key(),
    }
}

pub struct LoadContext<'a> {
    pub batch_id: &'a str,
    pub who: &'a str,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub freq: Frequency,
}

/// Writes every prepared file and its `ingest_runs` row in one transaction.
pub async fn load(
    store: &Store,
    prepared: &[PreparedFile],
    context: &LoadContext<'_>,
) -> Result<(), IngestError> {
    let mut tx = store.begin_write().await?;
    for (index, file) in prepared.iter().enumerate() {
        let run_id = format!("{}-{:03}", context.batch_id, index + 1);
        let (status, read, accepted, rejected, merged) = match &file.validated {
            Some(validated) => {
                if file.table == Table::Inventory {
                    check_held_units(&mut tx, &file.path, validated).await?;
                }
                let rows = FrameRows::new(&validated.accepted)?;
                let upserted = tx
                    .upsert_rows(
                        file.table.name(),
                        &rows,
                        conflict_key(file.table),
                        OnConflict::Update,
                    )
                    .await;
                match upserted {
                    // Only a hold taken on PostgreSQL between the check and the write gets
                    // here; the database's CHECK still refuses the count.
                    Err(error) if file.table == Table::Inventory && is_check_violation(&error) => {
                        return Err(IngestError::Conflict(format!(
                            "{}: on_hand is below the units held by live reservations \
                             (holds changed during the ingest); nothing was loaded: {error}",
                            file.path.display()
                        )));
                    }
                    other => other?,
                }
                // The dates this file speaks for: live rows on them stop counting.
                if file.table == Table::Sales {
                    if let Some(span) = accepted_date_span(&validated.accepted)? {
                        sales_source::record_coverage(&mut tx, &run_id, span).await?;
                    }
                }
                (
                    FileStatus::Loaded,
                    validated.rows_read,
                    validated.accepted.height(),
                    validated.rows_rejected,
                    validated.rows_merged,
                )
            }
            None => (FileStatus::Unchanged, 0, 0, 0, 0),
        };
        record_run(
            &mut tx,
            &run_id,
            context,
            file,
            status,
            [read, accepted, rejected, merged],
        )
        .await?;
    }
    on_tx!(&mut tx, conn => {
        sqlx::query(
            "INSERT INTO dataset_settings (name, value) VALUES ('freq', $1) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(context.freq.as_str())
        .execute(&mut **conn)
        .await
        .map_err(crate::store::StoreError::from)?;
    });
    tx.commit().await?;
    Ok(())
}

/// First and last date of accepted sales rows (`None` when every row was rejected).
fn accepted_date_span(
    accepted: &polars::prelude::DataFrame,
) -> Result<Option<(NaiveDate, NaiveDate)>, IngestError> {
    use polars::prelude::*;
    let days = accepted
        .column("date")?
        .as_materialized_series()
        .date()?
        .physical()
        .clone();
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let day = |n: i32| epoch + chrono::Duration::days(i64::from(n));
    Ok(days
        .min()
        .zip(days.max())
        .map(|(first, last)| (day(first), day(last))))
}

/// Refuses an inventory count below the units live reservations hold on a row (the
/// database's `reserved <= on_hand` CHECK would refuse it with a bare constraint name).
/// The whole ingest stops rather than quarantining the row: a count below the holds means
/// either the count or the holds are wrong, and someone has to decide which.
async fn check_held_units(
    tx: &mut StoreTx,
    path: &Path,
    validated: &Validated,
) -> Result<(), IngestError> {
    let held: Vec<(String, String, i64)> = on_tx!(tx, conn => {
        sqlx::query_as("SELECT sku, warehouse, reserved FROM inventory WHERE reserved > 0")
            .fetch_all(&mut **conn)
            .await
            .map_err(crate::store::StoreError::from)?
    });
    if held.is_empty() {
        return Ok(());
    }
    let held: std::collections::HashMap<(String, String), i64> = held
        .into_iter()
        .map(|(sku, warehouse, reserved)| ((sku, warehouse), reserved))
        .collect();
    let accepted = &validated.accepted;
    let sku = text_column(accepted, "sku")?;
    let warehouse = text_column(accepted, "warehouse")?;
    let on_hand = accepted
        .column("on_hand")?
        .as_materialized_series()
        .i64()?
        .clone();
    let mut below = (0..accepted.height()).filter_map(|row| {
        let key = (sku.get(row)?.to_string(), warehouse.get(row)?.to_string());
        let reserved = *held.get(&key)?;
        let counted = on_hand.get(row)?;
        (counted < reserved).then_some((row, key, counted, reserved))
    });
    let Some((row, (sku, warehouse), counted, reserved)) = below.next() else {
        return Ok(());
    };
    let more = below.count();
    Err(IngestError::BadFile {
        path: path.to_path_buf(),
        line: validated.accepted_lines.get(row).copied().unwrap_or(0),
        message: format!(
            "on_hand: {counted} is below the {reserved} unit(s) held by live reservations for \
             sku {sku} at warehouse {warehouse}{}; nothing was loaded (recount, or release the \
             holds first)",
            match more {
                0 => String::new(),
                more => format!(" (and {more} more row(s) below their holds)"),
            }
        ),
    })
}

/// A CHECK constraint refused a write: SQLite's extended code 275, PostgreSQL's 23514.
fn is_check_violation(error: &crate::store::StoreError) -> bool {
    match error {
        crate::store::StoreError::Query(sqlx::Error::Database(database)) => {
            matches!(database.code().as_deref(), Some("275" | "23514"))
        }
        _ => false,
    }
}

async fn record_run(
    tx: &mut StoreTx,
    id: &str,
    context: &LoadContext<'_>,
    file: &PreparedFile,
    status: FileStatus,
    counts: [usize; 4],
) -> Result<(), IngestError> {
    let [read, accepted, rejected, merged] = counts.map(|count| count as i64);
    let file_name = file.path.display().to_string();
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO ingest_runs (id, batch_id, started_at, finished_at, who, file, file_sha256, \
             table_name, status, rows_read, rows_accepted, rows_rejected, rows_merged) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(id)
        .bind(context.batch_id)
        .bind(context.started_at)
        .bind(context.finished_at)
        .bind(context.who)
        .bind(&file_name)
        .bind(&file.sha256)
        .bind(file.table.name())
        .bind(status.as_str())
        .bind(read)
        .bind(accepted)
        .bind(rejected)
        .bind(merged)
        .execute(&mut **conn)
        .await
        .map_err(crate::store::StoreError::from)?;
    });
    Ok(())
}

pub fn new_batch_id(now: DateTime<Utc>) -> String {
    let suffix: u32 = rand::random::<u32>() & 0xff_ffff;
    format!("ing-{}-{suffix:06x}", now.format("%Y%m%dT%H%M%S"))
}

/// The whole ingest of one folder: discover, validate, load in one transaction, then write
/// quarantine files.
pub async fn ingest_dir(
    store: &Store,
    dir: &Path,
    options: &IngestOptions,
) -> Result<IngestReport, IngestError> {
    let started_at = Utc::now();
    if let Some(stored) = store.dataset_setting("freq").await? {
        if stored != options.freq.as_str() {
            return Err(IngestError::Conflict(format!(
                "--freq {} does not match the database, which holds {stored}ly history; \
                 use --freq {stored} or a new database",
                options.freq.as_str()
            )));
        }
    }
    let Discovered { files, skipped } = discover_all(dir)?;
    let prepare_started = Instant::now();
    let known = store.known_keys().await?;
    let loaded_before = store.loaded_file_hashes().await?;
    let mut prepared = prepare(&files, known, &loaded_before, options)?;
    let prepare_seconds = prepare_started.elapsed().as_secs_f64();

    // Quarantine files are written before the load, so a rejected row is never lost even if
    // the load fails; a re-run rewrites them.
    let mut reports = Vec::with_capacity(prepared.len());
    for file in &mut prepared {
        let mut report = FileReport {
            file: file.path.clone(),
            table: file.table.name().to_string(),
            status: FileStatus::Unchanged,
            rows_read: 0,
            rows_accepted: 0,
            rows_rejected: 0,
            rows_merged: 0,
            quarantine_file: None,
            ignored_columns: file.ignored_columns.clone(),
        };
        if let Some(validated) = &mut file.validated {
            let target = quarantine_path(&file.path, options.quarantine_dir.as_deref());
            report.quarantine_file =
                quarantine::write_quarantine(&target, &mut validated.rejected)?;
            report.status = FileStatus::Loaded;
            report.rows_read = validated.rows_read;
            report.rows_accepted = validated.accepted.height();
            report.rows_rejected = validated.rows_rejected;
            report.rows_merged = validated.rows_merged;
        }
        reports.push(report);
    }

    let load_started = Instant::now();
    let batch_id = new_batch_id(started_at);
    let context = LoadContext {
        batch_id: &batch_id,
        who: &options.who,
        started_at,
        finished_at: Utc::now(),
        freq: options.freq,
    };
    load(store, &prepared, &context).await?;
    let load_seconds = load_started.elapsed().as_secs_f64();

    Ok(IngestReport {
        batch_id,
        files: reports,
        skipped,
        prepare_seconds,
        load_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_stem_suggests_the_table_it_meant() {
        assert_eq!(closest_table("salez"), Some(Table::Sales));
        assert_eq!(closest_table("salez_2025"), Some(Table::Sales));
        assert_eq!(
            closest_table("stock_levelz-week4"),
            Some(Table::StockLevels)
        );
        assert_eq!(closest_table("inventary"), Some(Table::Inventory));
        assert_eq!(closest_table("notes"), None);
        assert_eq!(closest_table("x"), None);
    }

    #[test]
    fn skipped_files_say_why_and_own_output_is_silent() {
        let reason = |name: &str| skip_reason(name).unwrap_or_default();
        assert!(reason("salez.csv").contains("did you mean sales?"));
        assert!(reason("sales.txt").contains("a sales file must end in .csv or .parquet"));
        assert!(reason("Sales_2025.csv.GZ").contains("decompress it to Sales_2025.csv"));
        assert!(reason("README").contains("not an input file"));
        assert_eq!(skip_reason(".DS_Store"), None);
        assert_eq!(skip_reason("sales.rejected.csv"), None);
        assert_eq!(skip_reason("Sales.Rejected.CSV"), None);
        assert_eq!(skip_reason("sales.rejected.csv.partial"), None);
    }
}
