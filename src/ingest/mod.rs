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

use chrono::{DateTime, Utc};
use sqlx::Row;

pub use error::IngestError;
pub use quarantine::quarantine_path;
pub use read::{file_sha256, read_raw, RawFile};
pub use records::{load_records, RecordsReport, RejectedRecord};
pub use validate::{validate, KnownKeys, Validated};

use crate::contract::{FileFormat, Frequency, Table};
use crate::store::{FrameRows, OnConflict, Store, StoreTx};
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

/// Lists the contract files in a folder, in load order (dimensions first), then by name.
pub fn discover(dir: &Path) -> Result<Vec<(PathBuf, Table, FileFormat)>, IngestError> {
    let entries = std::fs::read_dir(dir).map_err(|error| IngestError::Unreadable {
        path: dir.to_path_buf(),
        message: error.to_string(),
    })?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| IngestError::Unreadable {
            path: dir.to_path_buf(),
            message: error.to_string(),
        })?;
        if !entry.file_type().is_ok_and(|kind| kind.is_file()) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some((table, format)) = Table::from_file_name(&name) {
            found.push((entry.path(), table, format));
        }
    }
    if found.is_empty() {
        return Err(IngestError::NoFiles {
            path: dir.to_path_buf(),
        });
    }
    found.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    Ok(found)
}

/// Reads and validates every file. `loaded_before` holds `(table, sha256)` of files already
/// loaded; those are skipped unless `force`. No database access.
pub fn prepare(
    files: &[(PathBuf, Table, FileFormat)],
    mut known: KnownKeys,
    loaded_before: &HashSet<(String, String)>,
    options: &IngestOptions,
) -> Result<Vec<PreparedFile>, IngestError> {
    let mut prepared = Vec::with_capacity(files.len());
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
        let validated = validate(*table, &raw.frame, first_line, &known, options.freq)?;
        remember_keys(*table, &validated, &mut known)?;
        prepared.push(PreparedFile {
            path: raw.path,
            table: *table,
            sha256: raw.sha256,
            validated: Some(validated),
            ignored_columns: raw.ignored_columns,
        });
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
        let (status, read, accepted, rejected, merged) = match &file.validated {
            Some(validated) => {
                let rows = FrameRows::new(&validated.accepted)?;
                tx.upsert_rows(
                    file.table.name(),
                    &rows,
                    conflict_key(file.table),
                    OnConflict::Update,
                )
                .await?;
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
            &format!("{}-{:03}", context.batch_id, index + 1),
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
    let files = discover(dir)?;
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
        prepare_seconds,
        load_seconds,
    })
}
