//! `stockcast bench nightly`: one night of the nightly job (ingest → poll signals → forecast →
//! allocate → publish → report) on generated data, on SQLite and PostgreSQL, through the
//! same runner as `stockcast jobs run`.
//!
//! A night is what production sees: years of history already loaded by earlier nights, and
//! tonight's file with the last day's sales. So the last day's sales rows are held back into
//! `sales_<day>.csv`, the history is loaded first (the backfill, timed and reported apart),
//! then the job runs and ingests the new file beside the unchanged ones (skipped by
//! fingerprint), forecasts on all the history, allocates and publishes. Generating the data is
//! not timed. One run per backend: the run is heavy, and each step's time is reported from the
//! run's history.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::NaiveDate;

use super::BenchError;
use crate::contract::Frequency;
use crate::generate::{generate, GenerateConfig, OutputFormat};
use crate::ingest::{ingest_dir, IngestOptions};
use crate::jobs::{parse_job, run_job, RunOptions};
use crate::store::scratch::ScratchDatabase;
use crate::store::{Store, StoreOptions};

#[derive(Debug, Clone)]
pub struct NightlyBenchConfig {
    pub skus: usize,
    pub warehouses: usize,
    pub days: usize,
    pub seed: u64,
    pub sqlite: bool,
    /// Server to create a scratch database on; PostgreSQL is skipped when `None`.
    pub postgres_admin_url: Option<String>,
    /// Scratch folder for the generated files, the SQLite database, models and reports.
    pub work_dir: PathBuf,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct NightlyBackendResult {
    pub backend: &'static str,
    /// Loading the history before the night (not part of `seconds`).
    pub backfill_seconds: f64,
    pub seconds: f64,
    pub status: String,
    pub error: Option<String>,
    pub steps: Vec<BenchStep>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchStep {
    pub step: String,
    pub seconds: f64,
    pub rows_in: Option<i64>,
    pub rows_out: Option<i64>,
    pub detail: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct NightlyBenchResult {
    pub generate_seconds: f64,
    pub sales_rows: usize,
    /// The night's day and its sales rows (in `sales_<day>.csv`).
    pub night: NaiveDate,
    pub night_sales_rows: usize,
    pub backends: Vec<NightlyBackendResult>,
}

fn job_text(data_dir: &std::path::Path) -> String {
    format!(
        "name = \"nightly\"\nschedule = \"0 30 2 * * *\"\ndata_dir = \"{}\"\nfreq = \"day\"\n\
         steps = [\"ingest\", \"refresh-poll-signals\", \"forecast\", \"allocate\", \"publish\", \"report\"]\n\
         [retry]\ntimeout_seconds = 3600\nretries = 0\n",
        data_dir.display().to_string().replace('\\', "\\\\")
    )
}

/// Moves the sales rows of `night` out of `data_dir/sales.csv` into `held/sales_<night>.csv`
/// and returns that file and its row count.
fn hold_back_night(
    data_dir: &Path,
    held_dir: &Path,
    night: NaiveDate,
) -> Result<(PathBuf, usize), BenchError> {
    let io =
        |path: &Path, e: std::io::Error| BenchError::Invalid(format!("{}: {e}", path.display()));
    let sales = data_dir.join("sales.csv");
    let history = data_dir.join("sales.csv.history");
    std::fs::create_dir_all(held_dir).map_err(|e| io(held_dir, e))?;
    let night_file = held_dir.join(format!("sales_{night}.csv"));
    let reader = std::io::BufReader::new(std::fs::File::open(&sales).map_err(|e| io(&sales, e))?);
    let mut kept = BufWriter::new(std::fs::File::create(&history).map_err(|e| io(&history, e))?);
    let mut held =
        BufWriter::new(std::fs::File::create(&night_file).map_err(|e| io(&night_file, e))?);
    let prefix = format!("{night},");
    let mut held_rows = 0;
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| io(&sales, e))?;
        // The generator writes `date` first; the header goes to both files.
        if index == 0 || !line.starts_with(&prefix) {
            writeln!(kept, "{line}").map_err(|e| io(&history, e))?;
        }
        if index == 0 || line.starts_with(&prefix) {
            writeln!(held, "{line}").map_err(|e| io(&night_file, e))?;
            held_rows += usize::from(index > 0);
        }
    }
    kept.flush().map_err(|e| io(&history, e))?;
    held.flush().map_err(|e| io(&night_file, e))?;
    std::fs::rename(&history, &sales).map_err(|e| io(&sales, e))?;
    Ok((night_file, held_rows))
}

async fn run_on(
    store: &Store,
    backend: &'static str,
    config: &NightlyBenchConfig,
    data_dir: &Path,
    night_file: &Path,
) -> Result<NightlyBackendResult, BenchError> {
    let job = parse_job(Path::new("nightly.toml"), &job_text(data_dir))
        .map_err(|e| BenchError::Invalid(e.to_string()))?;
    let base_dir = config.work_dir.join(backend);
    std::fs::create_dir_all(&base_dir).map_err(|e| BenchError::Invalid(e.to_string()))?;
    // Earlier nights: the history without tonight's file.
    let tonight = data_dir.join(night_file.file_name().expect("a file name"));
    let _ = std::fs::remove_file(&tonight);
    let started = Instant::now();
    ingest_dir(
        store,
        data_dir,
        &IngestOptions {
            freq: Frequency::Day,
            ..IngestOptions::default()
        },
    )
    .await
    .map_err(|e| BenchError::Invalid(format!("backfill: {e}")))?;
    let backfill_seconds = started.elapsed().as_secs_f64();
    std::fs::copy(night_file, &tonight)
        .map_err(|e| BenchError::Invalid(format!("{}: {e}", tonight.display())))?;
    let started = Instant::now();
    let report = run_job(store, &job, &RunOptions::manual(base_dir, None))
        .await
        .map_err(|e| BenchError::Invalid(e.to_string()))?;
    Ok(NightlyBackendResult {
        backend,
        backfill_seconds,
        seconds: started.elapsed().as_secs_f64(),
        status: report.status.as_str().to_string(),
        error: report.error.clone(),
        steps: report
            .steps
            .iter()
            .map(|s| BenchStep {
                step: s.step.to_string(),
                seconds: s.seconds,
                rows_in: s.rows_in,
                rows_out: s.rows_out,
                detail: s.error.clone().unwrap_or_else(|| s.detail.clone()),
            })
            .collect(),
    })
}

pub async fn bench_nightly(config: &NightlyBenchConfig) -> Result<NightlyBenchResult, BenchError> {
    let data_dir = config.work_dir.join("data");
    let generate_config = GenerateConfig {
        skus: config.skus,
        warehouses: config.warehouses,
        days: config.days,
        seed: config.seed,
        format: OutputFormat::Csv,
        end_date: crate::jobs::default_sample_end_date(),
        truth_days: 28,
        latent_popularity: false,
    };
    let started = Instant::now();
    let generated = generate(&generate_config, &data_dir)?;
    let generate_seconds = started.elapsed().as_secs_f64();
    let sales_rows = generated
        .files
        .iter()
        .find(|(path, _)| path.file_name().is_some_and(|name| name == "sales.csv"))
        .map_or(0, |(_, rows)| *rows);
    let night = generate_config.end_date;
    let (night_file, night_sales_rows) =
        hold_back_night(&data_dir, &config.work_dir.join("tonight"), night)?;
    let mut backends = Vec::new();
    if config.sqlite {
        let url = format!("sqlite://{}", config.work_dir.join("nightly.db").display());
        let store = Store::open(&url, &StoreOptions::default()).await?;
        backends.push(run_on(&store, "sqlite", config, &data_dir, &night_file).await?);
        store.close().await;
    }
    if let Some(admin_url) = &config.postgres_admin_url {
        let scratch = ScratchDatabase::create(admin_url, "stockcast_bench").await?;
        let store = Store::open(&scratch.url, &StoreOptions::default()).await?;
        let result = run_on(&store, "postgres", config, &data_dir, &night_file).await;
        store.close().await;
        scratch.drop_database().await?;
        backends.push(result?);
    }
    Ok(NightlyBenchResult {
        generate_seconds,
        sales_rows,
        night,
        night_sales_rows,
        backends,
    })
}
