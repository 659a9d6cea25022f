//! `stockcast bench reports`: every report kind built (load + core + table rendering) on a
//! prepared database, several runs each, medians. The baseline in the same invocation is
//! reading the latest forecast run whole, which is what a report without its filters pushed
//! into SQL would have to start from.
//!
//! `prepare_dataset` builds the benchmark database with the stockcast binary itself
//! (generate → ingest → two forecast runs, one with realised days → allocate), so the figure
//! is reproducible from one command.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use chrono::{Duration, NaiveDate};

use super::{median, BenchError};
use crate::report::render_text::{render_table, TABLE_WIDTH};
use crate::report::{build_report, lookup, Filters, ReportError, ReportKind};
use crate::store::Store;

#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportTiming {
    pub report: &'static str,
    pub seconds: Vec<f64>,
    pub median_seconds: f64,
    /// "ok", or the one-line empty message.
    pub outcome: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportsBenchResult {
    pub forecast_rows: i64,
    pub reports: Vec<ReportTiming>,
    pub baseline_full_run_read_seconds: f64,
    pub slowest_median_seconds: f64,
}

#[derive(Debug, Clone)]
pub struct PrepareConfig {
    pub exe: PathBuf,
    pub dir: PathBuf,
    pub skus: usize,
    pub warehouses: usize,
    pub days: usize,
    pub seed: u64,
    pub end_date: NaiveDate,
    pub horizon: usize,
}

fn run_step(config: &PrepareConfig, database_url: &str, args: &[&str]) -> Result<(), BenchError> {
    let status = Command::new(&config.exe)
        .args(args)
        .current_dir(&config.dir)
        .env("STOCKCAST_DATABASE_URL", database_url)
        .status()
        .map_err(|e| BenchError::Invalid(format!("running {}: {e}", config.exe.display())))?;
    if !status.success() {
        return Err(BenchError::Invalid(format!(
            "`stockcast {}` failed ({status})",
            args.join(" ")
        )));
    }
    Ok(())
}

/// Builds (once) the benchmark database in `config.dir` and returns its URL. A marker file
/// records the parameters; a folder prepared with others is refused rather than reused.
pub async fn prepare_dataset(config: &PrepareConfig) -> Result<String, BenchError> {
    std::fs::create_dir_all(&config.dir)
        .map_err(|e| BenchError::Invalid(format!("{}: {e}", config.dir.display())))?;
    let database_url = format!("sqlite://{}", config.dir.join("stockcast.db").display());
    let marker = config.dir.join("prepared.txt");
    let signature = format!(
        "skus={} warehouses={} days={} seed={} end={} horizon={}\n",
        config.skus, config.warehouses, config.days, config.seed, config.end_date, config.horizon
    );
    if let Ok(existing) = std::fs::read_to_string(&marker) {
        if existing == signature {
            return Ok(database_url);
        }
        return Err(BenchError::Invalid(format!(
            "{} was prepared with {}; use another --dir",
            config.dir.display(),
            existing.trim()
        )));
    }
    let data = config.dir.join("data");
    let (skus, warehouses, days, seed) = (
        config.skus.to_string(),
        config.warehouses.to_string(),
        config.days.to_string(),
        config.seed.to_string(),
    );
    let data_text = data.display().to_string();
    let end = config.end_date.to_string();
    run_step(
        config,
        &database_url,
        &[
            "generate",
            "--out",
            &data_text,
            "--skus",
            &skus,
            "--warehouses",
            &warehouses,
            "--days",
            &days,
            "--seed",
            &seed,
            "--end-date",
            &end,
        ],
    )?;
    run_step(config, &database_url, &["ingest", "--data", &data_text])?;
    let horizon = config.horizon.to_string();
    // A run whose horizon is half realised (for the accuracy report), then the latest one.
    let earlier = (config.end_date - Duration::days(config.horizon as i64 / 2)).to_string();
    run_step(
        config,
        &database_url,
        &[
            "forecast",
            "--from-db",
            "--as-of",
            &earlier,
            "--horizon",
            &horizon,
        ],
    )?;
    run_step(
        config,
        &database_url,
        &["forecast", "--from-db", "--horizon", &horizon],
    )?;
    let store = Store::open(&database_url, &Default::default()).await?;
    let run = lookup::latest_forecast_run(&store, None)
        .await
        .map_err(|e| BenchError::Invalid(e.to_string()))?;
    let promotion = lookup::promotions_overlapping(&store, run.first_date(), run.last_date())
        .await
        .map_err(|e| BenchError::Invalid(e.to_string()))?
        .into_iter()
        .min_by_key(|p| (p.sku.is_some(), p.category.is_some(), p.start_date))
        .ok_or_else(|| BenchError::Invalid("no promotion in the forecast horizon".to_string()))?;
    store.close().await;
    run_step(
        config,
        &database_url,
        &[
            "allocate",
            "--as-of",
            &run.as_of.to_string(),
            "--promotion",
            &promotion.promo_id,
        ],
    )?;
    std::fs::write(&marker, signature)
        .map_err(|e| BenchError::Invalid(format!("{}: {e}", marker.display())))?;
    Ok(database_url)
}

/// Times every report kind `runs` times on `store` with default filters.
pub async fn bench_reports(store: &Store, runs: usize) -> Result<ReportsBenchResult, BenchError> {
    if runs == 0 || runs > 50 {
        return Err(BenchError::Invalid(
            "--runs must be between 1 and 50".to_string(),
        ));
    }
    let run = lookup::latest_forecast_run(store, None)
        .await
        .map_err(|e| BenchError::Invalid(format!("{e} (prepare the database first)")))?;
    let started = Instant::now();
    let forecast_rows = full_run_read(store, &run.id).await?;
    let baseline_full_run_read_seconds = started.elapsed().as_secs_f64();

    let filters = Filters::default();
    let mut reports = Vec::new();
    for kind in ReportKind::ALL {
        let mut seconds = Vec::with_capacity(runs);
        let mut outcome = "ok".to_string();
        for _ in 0..runs {
            let started = Instant::now();
            match build_report(store, kind, &filters).await {
                Ok(built) => {
                    std::hint::black_box(render_table(&built.view, TABLE_WIDTH));
                }
                Err(ReportError::Empty(message)) => outcome = message,
                Err(error) => {
                    return Err(BenchError::Invalid(format!("{}: {error}", kind.as_str())))
                }
            }
            seconds.push(started.elapsed().as_secs_f64());
        }
        reports.push(ReportTiming {
            report: kind.as_str(),
            median_seconds: median(&seconds),
            seconds,
            outcome,
        });
    }
    let slowest_median_seconds = reports.iter().map(|r| r.median_seconds).fold(0.0, f64::max);
    Ok(ReportsBenchResult {
        forecast_rows,
        reports,
        baseline_full_run_read_seconds,
        slowest_median_seconds,
    })
}

async fn full_run_read(store: &Store, run_id: &str) -> Result<i64, BenchError> {
    let rows: Vec<(String, String, NaiveDate, f64, f64, f64, f64)> = crate::on_backend!(store, pool => {
        sqlx::query_as("SELECT sku, warehouse, date, mean, p10, p50, p90 FROM forecasts WHERE run_id = $1")
            .bind(run_id)
            .fetch_all(pool)
            .await
            .map_err(crate::store::StoreError::from)?
    });
    Ok(rows.len() as i64)
}
