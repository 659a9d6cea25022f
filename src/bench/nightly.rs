//! `stockcast bench nightly`: the whole nightly job (ingest → poll signals → forecast →
//! allocate → publish → report) on generated data, on SQLite and PostgreSQL, through the
//! same runner as `stockcast jobs run`. Generating the data is not timed. One run per
//! backend: the run is heavy, and each step's time is reported from the run's history.

use std::path::PathBuf;
use std::time::Instant;

use super::BenchError;
use crate::generate::{generate, GenerateConfig, OutputFormat};
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

async fn run_on(
    store: &Store,
    backend: &'static str,
    config: &NightlyBenchConfig,
    data_dir: &std::path::Path,
) -> Result<NightlyBackendResult, BenchError> {
    let job = parse_job(std::path::Path::new("nightly.toml"), &job_text(data_dir))
        .map_err(|e| BenchError::Invalid(e.to_string()))?;
    let base_dir = config.work_dir.join(backend);
    std::fs::create_dir_all(&base_dir).map_err(|e| BenchError::Invalid(e.to_string()))?;
    let started = Instant::now();
    let report = run_job(store, &job, &RunOptions::manual(base_dir, None))
        .await
        .map_err(|e| BenchError::Invalid(e.to_string()))?;
    Ok(NightlyBackendResult {
        backend,
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
    };
    let started = Instant::now();
    let generated = generate(&generate_config, &data_dir)?;
    let generate_seconds = started.elapsed().as_secs_f64();
    let sales_rows = generated
        .files
        .iter()
        .find(|(path, _)| path.file_name().is_some_and(|name| name == "sales.csv"))
        .map_or(0, |(_, rows)| *rows);
    let mut backends = Vec::new();
    if config.sqlite {
        let url = format!("sqlite://{}", config.work_dir.join("nightly.db").display());
        let store = Store::open(&url, &StoreOptions::default()).await?;
        backends.push(run_on(&store, "sqlite", config, &data_dir).await?);
        store.close().await;
    }
    if let Some(admin_url) = &config.postgres_admin_url {
        let scratch = ScratchDatabase::create(admin_url, "stockcast_bench").await?;
        let store = Store::open(&scratch.url, &StoreOptions::default()).await?;
        let result = run_on(&store, "postgres", config, &data_dir).await;
        store.close().await;
        scratch.drop_database().await?;
        backends.push(result?);
    }
    Ok(NightlyBenchResult {
        generate_seconds,
        sales_rows,
        backends,
    })
}
