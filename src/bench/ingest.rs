//! `stockcast bench ingest`: rows/s parsed and validated, and rows/s loaded into SQLite and
//! PostgreSQL, for a generated sales file.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;

use super::{median, BenchError};
use crate::contract::Table;
use crate::generate::{generate, GenerateConfig, OutputFormat};
use crate::ingest::{
    discover, load, new_batch_id, prepare, IngestOptions, KnownKeys, LoadContext, PreparedFile,
};
use crate::store::scratch::ScratchDatabase;
use crate::store::{Store, StoreOptions};

#[derive(Debug, Clone)]
pub struct IngestBenchConfig {
    pub skus: usize,
    pub warehouses: usize,
    pub days: usize,
    pub seed: u64,
    pub runs: usize,
    /// Server to create scratch databases on; PostgreSQL is skipped when `None`.
    pub postgres_admin_url: Option<String>,
    /// Scratch folder for the generated files and SQLite databases.
    pub work_dir: PathBuf,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct IngestBenchResult {
    pub rows: usize,
    pub sales_file_bytes: u64,
    pub runs: usize,
    pub parse_seconds: Vec<f64>,
    pub sqlite_seconds: Vec<f64>,
    pub postgres_seconds: Vec<f64>,
    pub parse_rows_per_second: f64,
    pub sqlite_rows_per_second: f64,
    pub postgres_rows_per_second: Option<f64>,
}

fn split_sales(prepared: Vec<PreparedFile>) -> (Vec<PreparedFile>, Vec<PreparedFile>) {
    prepared
        .into_iter()
        .partition(|file| file.table != Table::Sales)
}

async fn timed_load(
    store: &Store,
    dimensions: &[PreparedFile],
    sales: &[PreparedFile],
) -> Result<f64, BenchError> {
    store.migrate().await?;
    let now = Utc::now();
    let batch_id = new_batch_id(now);
    let context = LoadContext {
        batch_id: &batch_id,
        who: "bench",
        started_at: now,
        finished_at: now,
        freq: crate::contract::Frequency::Day,
    };
    load(store, dimensions, &context).await?;
    let batch_id = new_batch_id(now);
    let context = LoadContext {
        batch_id: &batch_id,
        ..context
    };
    let started = Instant::now();
    load(store, sales, &context).await?;
    Ok(started.elapsed().as_secs_f64())
}

pub async fn bench_ingest(config: &IngestBenchConfig) -> Result<IngestBenchResult, BenchError> {
    if config.runs == 0 || config.runs > 20 {
        return Err(BenchError::Invalid(
            "--runs must be between 1 and 20".to_string(),
        ));
    }
    let data_dir = config.work_dir.join("data");
    generate(
        &GenerateConfig {
            skus: config.skus,
            warehouses: config.warehouses,
            days: config.days,
            seed: config.seed,
            format: OutputFormat::Csv,
            end_date: crate::jobs::default_sample_end_date(),
            truth_days: 28,
            latent_popularity: false,
        },
        &data_dir,
    )?;
    let files: Vec<_> = discover(&data_dir)?
        .into_iter()
        .filter(|(_, table, _)| matches!(table, Table::Warehouses | Table::Products | Table::Sales))
        .collect();
    let sales_file = files
        .iter()
        .find(|(_, table, _)| *table == Table::Sales)
        .map(|(path, _, _)| path.clone())
        .ok_or_else(|| BenchError::Invalid("the generator wrote no sales file".to_string()))?;
    let sales_file_bytes = std::fs::metadata(&sales_file)
        .map(|meta| meta.len())
        .unwrap_or(0);
    let options = IngestOptions {
        force: true,
        who: "bench".to_string(),
        ..IngestOptions::default()
    };
    let no_history = HashSet::new();

    let mut parse_seconds = Vec::with_capacity(config.runs);
    let mut prepared = Vec::new();
    for _ in 0..config.runs {
        let started = Instant::now();
        prepared = prepare(&files, KnownKeys::default(), &no_history, &options)?;
        parse_seconds.push(started.elapsed().as_secs_f64());
    }
    // Dimension files are a few thousand rows next to millions of sales rows, so the parse
    // time is the sales file's; rates are per sales row.
    let (dimensions, sales) = split_sales(prepared);
    let rows = sales
        .iter()
        .filter_map(|file| file.validated.as_ref())
        .map(|validated| validated.rows_read)
        .sum::<usize>();
    assert!(rows > 0, "generated sales file has rows");

    let mut sqlite_seconds = Vec::with_capacity(config.runs);
    for run in 0..config.runs {
        let path = config.work_dir.join(format!("bench-{run}.db"));
        let _ = std::fs::remove_file(&path);
        let store = Store::connect(
            &format!("sqlite://{}", path.display()),
            &StoreOptions::default(),
        )
        .await?;
        sqlite_seconds.push(timed_load(&store, &dimensions, &sales).await?);
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    let mut postgres_seconds = Vec::new();
    if let Some(admin_url) = &config.postgres_admin_url {
        for _ in 0..config.runs {
            let scratch = ScratchDatabase::create(admin_url, "stockcast_bench").await?;
            let store = Store::connect(&scratch.url, &StoreOptions::default()).await?;
            let seconds = timed_load(&store, &dimensions, &sales).await;
            store.close().await;
            scratch.drop_database().await?;
            postgres_seconds.push(seconds?);
        }
    }

    let rate = |seconds: &[f64]| rows as f64 / median(seconds);
    Ok(IngestBenchResult {
        rows,
        sales_file_bytes,
        runs: config.runs,
        parse_rows_per_second: rate(&parse_seconds),
        sqlite_rows_per_second: rate(&sqlite_seconds),
        postgres_rows_per_second: (!postgres_seconds.is_empty()).then(|| rate(&postgres_seconds)),
        parse_seconds,
        sqlite_seconds,
        postgres_seconds,
    })
}
