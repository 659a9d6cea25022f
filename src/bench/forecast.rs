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
use crate::forecast::baselines::seasonal_naive;
use crate::forecast::build_panel::build_panel;
use crate::forecast::dataset::Dataset;
use crate::forecast::engine::{fit_forecaster, predict, ForecastOutput, ForecastSettings};
use crate::forecast::metrics::block_wape_by_promotion;
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
    /// Median seconds of each of `PHASES`.
    pub phase_seconds: Vec<(String, f64)>,
    pub promotion_weeks: PromotionWeekScores,
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

/// Phases of one end-to-end run, in the order they happen.
pub const PHASES: [&str; 5] = ["load", "panel", "fit", "predict", "write"];

struct StockcastRun {
    rows: usize,
    panel: Panel,
    output: ForecastOutput,
    phase_seconds: [f64; PHASES.len()],
}

fn run_stockcast(
    data: &Path,
    as_of: NaiveDate,
    horizon: usize,
    out: &Path,
) -> Result<StockcastRun, BenchError> {
    let invalid = |e: String| BenchError::Invalid(e);
    let mut phase_seconds = [0.0; PHASES.len()];
    let mut clock = Instant::now();
    let mut lap = |phase: usize| {
        phase_seconds[phase] = clock.elapsed().as_secs_f64();
        clock = Instant::now();
    };
    let dataset = Dataset::from_dir(data, Frequency::Day).map_err(|e| invalid(e.to_string()))?;
    lap(0);
    let panel = build_panel(&dataset, Frequency::Day, as_of, horizon)
        .map_err(|e| invalid(e.to_string()))?;
    drop(dataset);
    lap(1);
    let settings = ForecastSettings::new(Frequency::Day, horizon);
    let forecaster = fit_forecaster(&panel, &settings);
    lap(2);
    let output = predict(&panel, &forecaster, &settings);
    lap(3);
    let mut frame = to_frame(&panel, &output).map_err(|e| invalid(e.to_string()))?;
    write_file(&mut frame, out).map_err(|e| invalid(e.to_string()))?;
    lap(4);
    Ok(StockcastRun {
        rows: frame.height(),
        panel,
        output,
        phase_seconds,
    })
}

/// Seasonal naive over the horizon after the panel's history, one row per cell and period.
fn seasonal_naive_output(panel: &Panel, horizon: usize) -> ForecastOutput {
    let mut naive = ForecastOutput::default();
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
    naive
}

/// `[series][horizon period]` means of a forecast, series = sku × warehouses + warehouse.
fn dense_means(panel: &Panel, output: &ForecastOutput, horizon: usize) -> Vec<f64> {
    let warehouses = panel.warehouse_count();
    let mut dense = vec![0.0; panel.sku_count() * warehouses * horizon];
    for row in 0..output.len() {
        let series = output.sku[row] as usize * warehouses + output.warehouse[row] as usize;
        let step = output.period[row] as usize - panel.history_len;
        dense[series * horizon + step] = output.mean[row];
    }
    dense
}

/// Weekly WAPE on weeks that touch a promotion: stockcast, seasonal naive and the truth
/// against the actuals after the origin (the promotion-week target).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PromotionWeekScores {
    pub stockcast: Option<f64>,
    pub seasonal_naive: Option<f64>,
    pub truth: Option<f64>,
    /// 1 − stockcast / seasonal naive.
    pub gain_over_naive: Option<f64>,
    pub promotion_weeks: usize,
}

fn promotion_week_scores(
    data: &Path,
    panel: &Panel,
    stockcast: &ForecastOutput,
    naive: &ForecastOutput,
    horizon: usize,
) -> Result<PromotionWeekScores, BenchError> {
    let invalid = |e: String| BenchError::Invalid(e);
    let end = panel.date_of(panel.history_len + horizon - 1);
    let dataset = Dataset::from_dir(data, Frequency::Day).map_err(|e| invalid(e.to_string()))?;
    let full = build_panel(&dataset, Frequency::Day, end, 1).map_err(|e| invalid(e.to_string()))?;
    assert_eq!(full.skus, panel.skus, "panels disagree on SKUs");
    assert_eq!(
        full.warehouses, panel.warehouses,
        "panels disagree on warehouses"
    );
    assert_eq!(
        full.start, panel.start,
        "panels disagree on the period grid"
    );
    let warehouses = panel.warehouse_count();
    let series_count = panel.sku_count() * warehouses;
    let mut actual = vec![0.0; series_count * horizon];
    for sku in 0..panel.sku_count() {
        for warehouse in 0..warehouses {
            let series = sku * warehouses + warehouse;
            for step in 0..horizon {
                actual[series * horizon + step] =
                    f64::from(full.cell(sku, warehouse, panel.history_len + step));
            }
        }
    }
    let mut promo = vec![false; panel.sku_count() * horizon];
    for sku in 0..panel.sku_count() {
        for step in 0..horizon {
            promo[sku * horizon + step] =
                panel.discount[panel.future_index(sku, panel.history_len + step)] > 0.0;
        }
    }
    let series_sku: Vec<usize> = (0..series_count).map(|s| s / warehouses).collect();
    let score = |forecast: &[f64]| {
        block_wape_by_promotion(&actual, forecast, horizon, 7, &series_sku, &promo).0
    };
    let stockcast_wape = score(&dense_means(panel, stockcast, horizon));
    let naive_wape = score(&dense_means(panel, naive, horizon));
    let truth_wape = match read_truth(data, panel, horizon)? {
        Some(truth) => score(&truth),
        None => None,
    };
    let promotion_weeks = (0..panel.sku_count())
        .map(|sku| {
            (0..horizon)
                .step_by(7)
                .filter(|&week| {
                    promo[sku * horizon + week..sku * horizon + (week + 7).min(horizon)]
                        .iter()
                        .any(|&p| p)
                })
                .count()
        })
        .sum::<usize>()
        * warehouses;
    Ok(PromotionWeekScores {
        stockcast: stockcast_wape,
        seasonal_naive: naive_wape,
        truth: truth_wape,
        gain_over_naive: stockcast_wape
            .zip(naive_wape)
            .filter(|(_, naive)| *naive > 0.0)
            .map(|(s, n)| 1.0 - s / n),
        promotion_weeks,
    })
}

/// The generator's noise-free expected demand over the horizon, dense like `dense_means`.
fn read_truth(data: &Path, panel: &Panel, horizon: usize) -> Result<Option<Vec<f64>>, BenchError> {
    let invalid = |e: String| BenchError::Invalid(e);
    let path = data.join("truth").join("expected_demand.csv");
    if !path.exists() {
        return Ok(None);
    }
    let frame =
        LazyCsvReader::new(PlRefPath::try_from_path(&path).map_err(|e| invalid(e.to_string()))?)
            .with_has_header(true)
            .with_try_parse_dates(true)
            .finish()
            .and_then(|lazy| {
                lazy.select([
                    col("date").cast(DataType::Date),
                    col("sku").cast(DataType::String),
                    col("warehouse").cast(DataType::String),
                    col("expected_units").cast(DataType::Float64),
                ])
                .collect()
            })
            .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    let sku_index: std::collections::HashMap<&str, usize> = panel
        .skus
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let warehouse_index: std::collections::HashMap<&str, usize> = panel
        .warehouses
        .iter()
        .enumerate()
        .map(|(i, w)| (w.as_str(), i))
        .collect();
    let column = |name: &str| frame.column(name).map_err(|e| invalid(e.to_string()));
    let dates = column("date")?
        .date()
        .map_err(|e| invalid(e.to_string()))?
        .physical()
        .clone();
    let skus = column("sku")?
        .str()
        .map_err(|e| invalid(e.to_string()))?
        .clone();
    let warehouses = column("warehouse")?
        .str()
        .map_err(|e| invalid(e.to_string()))?
        .clone();
    let units = column("expected_units")?
        .f64()
        .map_err(|e| invalid(e.to_string()))?
        .clone();
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let origin_day = (panel.date_of(panel.history_len) - epoch).num_days();
    let warehouse_count = panel.warehouse_count();
    let mut dense = vec![0.0; panel.sku_count() * warehouse_count * horizon];
    for row in 0..frame.height() {
        let (Some(day), Some(sku), Some(warehouse), Some(value)) = (
            dates.get(row),
            skus.get(row),
            warehouses.get(row),
            units.get(row),
        ) else {
            continue;
        };
        let step = i64::from(day) - origin_day;
        let (Some(&sku), Some(&warehouse)) = (sku_index.get(sku), warehouse_index.get(warehouse))
        else {
            continue;
        };
        if (0..horizon as i64).contains(&step) {
            dense[(sku * warehouse_count + warehouse) * horizon + step as usize] = value;
        }
    }
    Ok(Some(dense))
}

/// Seasonal naive and the generator's noise-free truth as forecast files, for scoring.
fn write_reference_files(
    data: &Path,
    panel: &Panel,
    naive: &ForecastOutput,
    dir: &Path,
) -> Result<Vec<PathBuf>, BenchError> {
    let invalid = |e: String| BenchError::Invalid(e);
    let naive_path = dir.join("seasonal_naive.csv");
    let mut frame = to_frame(panel, naive).map_err(|e| invalid(e.to_string()))?;
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
/// `python SCRIPT --data DIR --as-of DATE --horizon N`: how every baseline script is called.
pub(crate) fn python_script(
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
            latent_popularity: false,
        },
        &data,
    )?;
    // The origin leaves one horizon of known actuals to score against.
    let as_of = end_date - chrono::Duration::days(config.horizon as i64);
    let out = config.work_dir.join("stockcast.csv");

    let timed = timed_runs(config, &data, as_of, &out)?;
    let seconds = median(&timed.run_seconds);
    let StockcastRun {
        rows,
        panel,
        output,
        ..
    } = timed.last_run;
    let series = panel.sku_count() * panel.warehouse_count();
    let phase_seconds = PHASES
        .iter()
        .zip(&timed.phase_runs)
        .map(|(name, runs)| (name.to_string(), median(runs)))
        .collect();
    let naive = seasonal_naive_output(&panel, config.horizon);
    let promotion_weeks = promotion_week_scores(&data, &panel, &output, &naive, config.horizon)?;
    drop(output);

    let (baseline_seconds, scores) = match (&config.python, &config.baselines_dir) {
        (Some(python), Some(baselines)) => {
            let reference = Reference {
                python,
                baselines,
                data: &data,
                as_of,
            };
            let (seconds, scores) = reference.run_and_score(config, &panel, &naive, &out)?;
            (Some(seconds), scores)
        }
        _ => (None, Vec::new()),
    };
    Ok(ForecastBenchResult {
        as_of,
        seconds,
        run_seconds: timed.run_seconds,
        peak_rss_mb: timed.peak_rss_mb,
        phase_seconds,
        promotion_weeks,
        rows,
        series,
        speedup: baseline_seconds.map(|b| b / seconds),
        baseline_seconds,
        scores,
    })
}

/// stockcast's end-to-end runs: their seconds, each phase's seconds per run, the peak
/// memory over all of them, and the last run's output.
struct TimedRuns {
    run_seconds: Vec<f64>,
    phase_runs: Vec<Vec<f64>>,
    peak_rss_mb: f64,
    last_run: StockcastRun,
}

fn timed_runs(
    config: &ForecastBenchConfig,
    data: &Path,
    as_of: NaiveDate,
    out: &Path,
) -> Result<TimedRuns, BenchError> {
    let mut run_seconds = Vec::with_capacity(config.runs);
    let mut phase_runs: Vec<Vec<f64>> = vec![Vec::new(); PHASES.len()];
    let mut peak = 0.0f64;
    let mut last_run = None;
    for _ in 0..config.runs {
        // The previous run's output is freed first, so each run's peak is its own.
        drop(last_run.take());
        reset_peak_rss();
        let started = Instant::now();
        let run = run_stockcast(data, as_of, config.horizon, out)?;
        run_seconds.push(started.elapsed().as_secs_f64());
        peak = peak.max(peak_rss_mb());
        for (phase, seconds) in run.phase_seconds.iter().enumerate() {
            phase_runs[phase].push(*seconds);
        }
        last_run = Some(run);
    }
    Ok(TimedRuns {
        run_seconds,
        phase_runs,
        peak_rss_mb: peak,
        last_run: last_run.expect("--runs is at least 1"),
    })
}

/// The Python reference pipeline and its scorer, on the bench's data.
struct Reference<'a> {
    python: &'a Path,
    baselines: &'a Path,
    data: &'a Path,
    as_of: NaiveDate,
}

impl Reference<'_> {
    /// Runs mlforecast, then scores.py on stockcast's, mlforecast's and the reference
    /// files: the reference's seconds and the scorer's lines.
    fn run_and_score(
        &self,
        config: &ForecastBenchConfig,
        panel: &Panel,
        naive: &ForecastOutput,
        stockcast_out: &Path,
    ) -> Result<(f64, Vec<String>), BenchError> {
        let baseline_out = config.work_dir.join("mlforecast.csv");
        let started = Instant::now();
        let status = python_script(
            self.python,
            &self.baselines.join("mlforecast_baseline.py"),
            self.data,
            self.as_of,
            config.horizon,
        )
        .arg("--out")
        .arg(&baseline_out)
        .status()
        .map_err(|e| BenchError::Invalid(format!("{}: {e}", self.python.display())))?;
        if !status.success() {
            return Err(BenchError::Invalid(format!(
                "the Python baseline failed ({status})"
            )));
        }
        let seconds = started.elapsed().as_secs_f64();

        let mut files = vec![stockcast_out.to_path_buf(), baseline_out];
        files.extend(write_reference_files(
            self.data,
            panel,
            naive,
            &config.work_dir,
        )?);
        let output = python_script(
            self.python,
            &self.baselines.join("score.py"),
            self.data,
            self.as_of,
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
        let scores = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        Ok((seconds, scores))
    }
}
