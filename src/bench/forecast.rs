//! `stockcast bench forecast`: features + fit + forecast with quantiles on generated data,
//! end to end from the input files to a forecast file, with peak memory; optionally the
//! Python reference pipeline on the same data, origin and horizon, all scored by the shared
//! `score.py` against the same actuals (alongside seasonal naive and the generator's truth).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chrono::NaiveDate;
use polars::prelude::*;

use super::{median, BenchError};
use crate::contract::Frequency;
use crate::forecast::build_panel::build_panel;
use crate::forecast::dataset::Dataset;
use crate::forecast::engine::{fit_forecaster, predict, seasonal_naive, ForecastSettings};
use crate::forecast::output::{to_frame, write_file};
use crate::forecast::panel::Panel;
use crate::generate::{generate, GenerateConfig, OutputFormat};

#[derive(Debug, Clone)]
pub struct ForecastBenchConfig {
    pub skus: usize,
    pub warehouses: usize,
    pub days: usize,
    pub seed: u64,
    pub horizon: usize,
    pub runs: usize,
    /// Python with mlforecast and lightgbm (from `../shared/baselines/setup.sh`).
    pub python: Option<PathBuf>,
    /// Folder holding `mlforecast_baseline.py` and `score.py`.
    pub baselines_dir: Option<PathBuf>,
    pub work_dir: PathBuf,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ForecastBenchResult {
    pub as_of: NaiveDate,
    pub seconds: f64,
    pub run_seconds: Vec<f64>,
    pub peak_rss_mb: f64,
    pub rows: usize,
    pub series: usize,
    pub baseline_seconds: Option<f64>,
    pub speedup: Option<f64>,
    /// `score.py`'s lines, one per scored file.
    pub scores: Vec<String>,
}

/// Peak resident memory of this process since the last reset, in MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets the kernel's peak-RSS mark so the next reading covers only what follows.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn run_stockcast(
    data: &Path,
    as_of: NaiveDate,
    horizon: usize,
    out: &Path,
) -> Result<(usize, Panel), BenchError> {
    let dataset =
        Dataset::from_dir(data, Frequency::Day).map_err(|e| BenchError::Invalid(e.to_string()))?;
    let panel = build_panel(&dataset, Frequency::Day, as_of, horizon)
        .map_err(|e| BenchError::Invalid(e.to_string()))?;
    let settings = ForecastSettings::new(Frequency::Day, horizon);
    let forecaster = fit_forecaster(&panel, &settings);
    let output = predict(&panel, &forecaster, &settings);
    let mut frame = to_frame(&panel, &output).map_err(|e| BenchError::Invalid(e.to_string()))?;
    write_file(&mut frame, out).map_err(|e| BenchError::Invalid(e.to_string()))?;
    Ok((frame.height(), panel))
}

/// Seasonal naive and the generator's noise-free truth as forecast files, for scoring.
fn write_reference_files(
    data: &Path,
    panel: &Panel,
    horizon: usize,
    dir: &Path,
) -> Result<Vec<PathBuf>, BenchError> {
    let invalid = |e: String| BenchError::Invalid(e);
    let mut naive = crate::forecast::engine::ForecastOutput {
        quantile_levels: Vec::new(),
        ..Default::default()
    };
    for sku in 0..panel.sku_count() {
        for warehouse in 0..panel.warehouse_count() {
            for target in panel.history_len..panel.history_len + horizon {
                naive.sku.push(sku as u32);
                naive.warehouse.push(warehouse as u32);
                naive.period.push(target as u32);
                naive.mean.push(seasonal_naive(
                    panel,
                    sku,
                    warehouse,
                    panel.history_len,
                    target,
                ));
            }
        }
    }
    let naive_path = dir.join("seasonal_naive.csv");
    let mut frame = to_frame(panel, &naive).map_err(|e| invalid(e.to_string()))?;
    write_file(&mut frame, &naive_path).map_err(|e| invalid(e.to_string()))?;
    let mut files = vec![naive_path];

    let truth = data.join("truth").join("expected_demand.csv");
    if truth.exists() {
        let mut frame = LazyCsvReader::new(
            PlRefPath::try_from_path(&truth).map_err(|e| invalid(e.to_string()))?,
        )
        .with_has_header(true)
        .finish()
        .and_then(|lazy| {
            lazy.select([
                col("date"),
                col("sku"),
                col("warehouse"),
                col("expected_units").alias("mean"),
            ])
            .collect()
        })
        .map_err(|e| invalid(format!("{}: {e}", truth.display())))?;
        let truth_path = dir.join("truth.csv");
        write_file(&mut frame, &truth_path).map_err(|e| invalid(e.to_string()))?;
        files.push(truth_path);
    }
    Ok(files)
}

/// `python SCRIPT --data DIR --as-of DATE --horizon N`: the arguments both reference
/// scripts share.
fn python_script(
    python: &Path,
    script: &Path,
    data: &Path,
    as_of: NaiveDate,
    horizon: usize,
) -> Command {
    let mut command = Command::new(python);
    command.arg(script).arg("--data").arg(data).args([
        "--as-of",
        &as_of.to_string(),
        "--horizon",
        &horizon.to_string(),
    ]);
    command
}

pub fn bench_forecast(config: &ForecastBenchConfig) -> Result<ForecastBenchResult, BenchError> {
    if config.runs == 0 || config.runs > 10 {
        return Err(BenchError::Invalid(
            "--runs must be between 1 and 10".to_string(),
        ));
    }
    let end_date = crate::jobs::default_sample_end_date();
    let data = config.work_dir.join("data");
    generate(
        &GenerateConfig {
            skus: config.skus,
            warehouses: config.warehouses,
            days: config.days,
            seed: config.seed,
            format: OutputFormat::Csv,
            end_date,
            truth_days: (config.horizon + 7).min(config.days),
        },
        &data,
    )?;
    // The origin leaves one horizon of known actuals to score against.
    let as_of = end_date - chrono::Duration::days(config.horizon as i64);
    let out = config.work_dir.join("stockcast.csv");

    let mut run_seconds = Vec::with_capacity(config.runs);
    let mut peak = 0.0f64;
    let mut rows = 0;
    let mut last_panel = None;
    for _ in 0..config.runs {
        reset_peak_rss();
        let started = Instant::now();
        let (written, panel) = run_stockcast(&data, as_of, config.horizon, &out)?;
        rows = written;
        last_panel = Some(panel);
        run_seconds.push(started.elapsed().as_secs_f64());
        peak = peak.max(peak_rss_mb());
    }
    let seconds = median(&run_seconds);
    let panel = last_panel.expect("at least one run");
    let series = panel.sku_count() * panel.warehouse_count();

    let mut baseline_seconds = None;
    let mut scores = Vec::new();
    if let (Some(python), Some(baselines)) = (&config.python, &config.baselines_dir) {
        let baseline_out = config.work_dir.join("mlforecast.csv");
        let started = Instant::now();
        let status = python_script(
            python,
            &baselines.join("mlforecast_baseline.py"),
            &data,
            as_of,
            config.horizon,
        )
        .arg("--out")
        .arg(&baseline_out)
        .status()
        .map_err(|e| BenchError::Invalid(format!("{}: {e}", python.display())))?;
        if !status.success() {
            return Err(BenchError::Invalid(format!(
                "the Python baseline failed ({status})"
            )));
        }
        baseline_seconds = Some(started.elapsed().as_secs_f64());

        let mut files = vec![out.clone(), baseline_out];
        files.extend(write_reference_files(
            &data,
            &panel,
            config.horizon,
            &config.work_dir,
        )?);
        let output = python_script(
            python,
            &baselines.join("score.py"),
            &data,
            as_of,
            config.horizon,
        )
        .args(&files)
        .output()
        .map_err(|e| BenchError::Invalid(format!("score.py: {e}")))?;
        if !output.status.success() {
            return Err(BenchError::Invalid(format!(
                "score.py failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        scores = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect();
    }
    Ok(ForecastBenchResult {
        as_of,
        seconds,
        run_seconds,
        peak_rss_mb: peak,
        rows,
        series,
        speedup: baseline_seconds.map(|b| b / seconds),
        baseline_seconds,
        scores,
    })
}
