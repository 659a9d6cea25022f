//! `stockcast bench forecast --data DIR --as-of DATE --horizon N`: stockcast, the reference
//! pipeline (mlforecast + LightGBM, when its Python is there) and the built-in baselines on
//! one origin of a real dataset in the data contract, all scored on the same actuals.

use std::path::{Path, PathBuf};

use std::time::Instant;

use chrono::NaiveDate;
use polars::prelude::*;

use super::forecast::python_script;
use super::BenchError;
use crate::contract::Frequency;
use crate::forecast::baselines::{recent_mean, seasonal_naive, weekday_mean, PromotionNaive};
use crate::forecast::build_panel::build_panel;
use crate::forecast::cell::cell_promotions;
use crate::forecast::dataset::Dataset;
use crate::forecast::engine::{
    fit_forecaster, predict, ForecastOutput, ForecastSettings, Forecaster,
};
use crate::forecast::evaluation::{score, score_intervals, window_coverage, Actuals, Scores};
use crate::forecast::panel::{period_days, Panel};

#[derive(Debug, Clone)]
pub struct RealForecastBenchConfig {
    pub data: PathBuf,
    pub freq: Frequency,
    pub as_of: NaiveDate,
    pub horizon: usize,
    /// Python with mlforecast and lightgbm (from `../shared/baselines/setup.sh`).
    pub python: Option<PathBuf>,
    /// Folder holding `mlforecast_baseline.py`.
    pub baselines_dir: Option<PathBuf>,
    pub work_dir: PathBuf,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ForecasterRow {
    pub name: String,
    /// End-to-end seconds (reading the folder, fitting, forecasting), where measured.
    pub seconds: Option<f64>,
    pub scores: Scores,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CategoryChoice {
    pub category: String,
    pub chosen: String,
    pub pooled: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RealForecastBenchResult {
    pub series_scored: usize,
    pub cells_scored: usize,
    pub gap_cells: usize,
    pub actual_units: f64,
    /// stockcast first, then the reference pipeline and the baselines.
    pub rows: Vec<ForecasterRow>,
    pub choices: Vec<CategoryChoice>,
    /// Rows whose quantiles are out of order, or whose p10 is above 0 where the
    /// distribution puts 10% or more on zero (should be none).
    pub incoherent_quantiles: usize,
    /// Why the reference pipeline has no row, when it ran and failed (it needs a season of
    /// history for its lags, for one): the other forecasters are still scored.
    pub reference_error: Option<String>,
}

fn invalid(error: impl std::fmt::Display) -> BenchError {
    BenchError::Invalid(error.to_string())
}

/// `[cell][step]` of a baseline over the horizon.
fn baseline(
    panel: &Panel,
    horizon: usize,
    forecast: impl Fn(usize, usize, usize) -> f64,
) -> Vec<f64> {
    let warehouses = panel.warehouse_count();
    let mut dense = vec![0.0; panel.cell_count() * horizon];
    for sku in 0..panel.sku_count() {
        for warehouse in 0..warehouses {
            let cell = sku * warehouses + warehouse;
            for step in 0..horizon {
                dense[cell * horizon + step] = forecast(sku, warehouse, panel.history_len + step);
            }
        }
    }
    dense
}

/// Reads a forecast file (date, sku, warehouse, mean) into `[cell][step]`; rows outside the
/// panel or the horizon are ignored, missing rows are zero.
fn read_forecast_file(path: &Path, panel: &Panel, horizon: usize) -> Result<Vec<f64>, BenchError> {
    let frame = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|reader| reader.finish())
        .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    let text = |name: &str| -> Result<Vec<Option<String>>, BenchError> {
        Ok(frame
            .column(name)
            .and_then(|c| c.cast(&DataType::String))
            .map_err(|e| invalid(format!("{}: {e}", path.display())))?
            .str()
            .map_err(invalid)?
            .iter()
            .map(|v| v.map(str::to_string))
            .collect())
    };
    let (dates, skus, warehouses) = (text("date")?, text("sku")?, text("warehouse")?);
    let means: Vec<Option<f64>> = frame
        .column("mean")
        .and_then(|c| c.cast(&DataType::Float64))
        .map_err(|e| invalid(format!("{}: {e}", path.display())))?
        .f64()
        .map_err(invalid)?
        .iter()
        .collect();
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
    let per = period_days(panel.freq);
    let mut dense = vec![0.0; panel.cell_count() * horizon];
    for row in 0..frame.height() {
        let (Some(date), Some(sku), Some(warehouse), Some(mean)) =
            (&dates[row], &skus[row], &warehouses[row], means[row])
        else {
            continue;
        };
        let Ok(date) = date.get(..10).unwrap_or(date).parse::<NaiveDate>() else {
            continue;
        };
        let (Some(&sku), Some(&warehouse)) = (
            sku_index.get(sku.as_str()),
            warehouse_index.get(warehouse.as_str()),
        ) else {
            continue;
        };
        let offset = (date - panel.date_of(panel.history_len)).num_days();
        if offset < 0 || offset % per != 0 {
            continue;
        }
        let step = (offset / per) as usize;
        if step < horizon && mean.is_finite() {
            dense[(sku * panel.warehouse_count() + warehouse) * horizon + step] = mean;
        }
    }
    Ok(dense)
}

fn run_reference(
    config: &RealForecastBenchConfig,
    panel: &Panel,
) -> Result<Option<(f64, Vec<f64>)>, BenchError> {
    let (Some(python), Some(baselines)) = (&config.python, &config.baselines_dir) else {
        return Ok(None);
    };
    let out = config.work_dir.join("mlforecast.csv");
    let started = Instant::now();
    let output = python_script(
        python,
        &baselines.join("mlforecast_baseline.py"),
        &config.data,
        config.as_of,
        config.horizon,
    )
    .args(["--freq", config.freq.as_str(), "--out"])
    .arg(&out)
    .output()
    .map_err(|e| invalid(format!("{}: {e}", python.display())))?;
    if !output.status.success() {
        return Err(invalid(format!(
            "the reference pipeline failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )));
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Some((
        seconds,
        read_forecast_file(&out, panel, config.horizon)?,
    )))
}

/// Counts rows whose quantiles break the coherence rules: out of order, or a p10 above zero
/// where the distribution has P(0) ≥ 10% (checked on the negative binomial itself).
fn incoherent_quantiles(
    levels: &[f64],
    mean: &[f64],
    dispersion: &[f64],
    quantiles: &[f64],
) -> usize {
    let width = levels.len();
    let p10 = levels.iter().position(|l| (l - 0.1).abs() < 1e-9);
    let mut bad = 0;
    let mut zero = Vec::new();
    for row in 0..mean.len() {
        let values = &quantiles[row * width..(row + 1) * width];
        let ordered = values.windows(2).all(|pair| pair[0] <= pair[1] + 1e-9);
        let mass_at_zero_respected = match p10 {
            Some(index) if values[index] > 0.0 => {
                // P(0) ≥ 10% exactly when the 10% quantile lies inside the mass at zero.
                crate::forecast::quantiles::negative_binomial_quantiles(
                    mean[row],
                    dispersion[row],
                    &[0.1],
                    &mut zero,
                );
                zero[0] > 0.0
            }
            _ => true,
        };
        bad += usize::from(!ordered || !mass_at_zero_respected || values.iter().any(|v| *v < 0.0));
    }
    bad
}

pub fn bench_real_forecast(
    config: &RealForecastBenchConfig,
) -> Result<RealForecastBenchResult, BenchError> {
    let started = Instant::now();
    let dataset = Dataset::from_dir(&config.data, config.freq).map_err(invalid)?;
    let panel =
        build_panel(&dataset, config.freq, config.as_of, config.horizon).map_err(invalid)?;
    let mut settings = ForecastSettings::new(config.freq, config.horizon);
    settings.quantiles = vec![0.1, 0.5, 0.9];
    let forecaster = fit_forecaster(&panel, &settings);
    let output = predict(&panel, &forecaster, &settings);
    let stockcast_seconds = started.elapsed().as_secs_f64();

    let actuals = scoring_actuals(&dataset, &panel, config)?;
    let mut rows = vec![ForecasterRow {
        name: "stockcast".to_string(),
        seconds: Some(stockcast_seconds),
        scores: stockcast_scores(&panel, &output, &actuals),
    }];
    let mut reference_error = None;
    match run_reference(config, &panel) {
        Ok(Some((seconds, forecast))) => rows.push(ForecasterRow {
            name: "mlforecast + LightGBM".to_string(),
            seconds: Some(seconds),
            scores: score(&actuals, &forecast),
        }),
        Ok(None) => {}
        Err(BenchError::Invalid(reason)) => reference_error = Some(reason),
        Err(other) => return Err(other),
    }
    for (name, forecast) in baseline_forecasts(&panel, config) {
        rows.push(ForecasterRow {
            name: name.to_string(),
            seconds: None,
            scores: score(&actuals, &forecast),
        });
    }
    Ok(RealForecastBenchResult {
        series_scored: actuals.scored_series(),
        cells_scored: actuals.scored_cells(),
        gap_cells: actuals.gap_cells,
        actual_units: actuals.actual_units(),
        incoherent_quantiles: incoherent_quantiles(
            &output.quantile_levels,
            &output.mean,
            &output.dispersion,
            &output.quantiles,
        ),
        rows,
        choices: category_choices(&forecaster),
        reference_error,
    })
}

/// The actuals after the origin, up to the horizon or the data's last sales date.
fn scoring_actuals(
    dataset: &Dataset,
    panel: &Panel,
    config: &RealForecastBenchConfig,
) -> Result<Actuals, BenchError> {
    let (_, last) = dataset
        .sales_date_range()
        .map_err(invalid)?
        .ok_or_else(|| invalid("no sales"))?;
    let end = panel
        .date_of(panel.history_len + config.horizon - 1)
        .min(last);
    if end <= config.as_of {
        return Err(invalid(format!(
            "{}: no sales after --as-of {} to score against",
            config.data.display(),
            config.as_of
        )));
    }
    let full = build_panel(dataset, config.freq, end, 1).map_err(invalid)?;
    Ok(Actuals::from_panels(panel, &full, config.horizon))
}

/// stockcast's means scored, and its p10–p90 per period and over each cell's window.
fn stockcast_scores(panel: &Panel, output: &ForecastOutput, actuals: &Actuals) -> Scores {
    let horizon = actuals.horizon;
    let warehouses = panel.warehouse_count();
    let dense = |values: &dyn Fn(usize) -> f64| -> Vec<f64> {
        let mut out = vec![0.0; panel.cell_count() * horizon];
        for row in 0..output.len() {
            let cell = output.sku[row] as usize * warehouses + output.warehouse[row] as usize;
            let step = output.period[row] as usize - panel.history_len;
            out[cell * horizon + step] = values(row);
        }
        out
    };
    let index = |level: f64| {
        output
            .quantile_levels
            .iter()
            .position(|l| (l - level).abs() < 1e-9)
    };
    let mean = dense(&|row| output.mean[row]);
    let dispersion = dense(&|row| output.dispersion[row]);
    let mut scores = score(actuals, &mean);
    if let (Some(low), Some(high)) = (index(0.1), index(0.9)) {
        let p10 = dense(&|row| output.quantile(row, low));
        let p90 = dense(&|row| output.quantile(row, high));
        score_intervals(&mut scores, actuals, &p10, &p90);
        scores.window_coverage_p10_p90 = window_coverage(actuals, &mean, &dispersion);
    }
    scores
}

/// The built-in baselines' `[cell][step]` forecasts, named as the table prints them.
fn baseline_forecasts(
    panel: &Panel,
    config: &RealForecastBenchConfig,
) -> Vec<(&'static str, Vec<f64>)> {
    let horizon = config.horizon;
    let origin = panel.history_len;
    let mut baselines: Vec<(&str, Vec<f64>)> = vec![
        (
            "seasonal naive",
            baseline(panel, horizon, |s, w, t| {
                seasonal_naive(panel, s, w, origin, t)
            }),
        ),
        (
            match config.freq {
                Frequency::Day => "mean of the last 28 days",
                Frequency::Week => "mean of the last 4 weeks",
            },
            baseline(panel, horizon, |s, w, _| recent_mean(panel, s, w, origin)),
        ),
    ];
    if config.freq == Frequency::Day {
        baselines.push((
            "same weekday, last 8 weeks",
            baseline(panel, horizon, |s, w, t| {
                weekday_mean(panel, s, w, origin, t)
            }),
        ));
    }
    let promoted = panel.promo_period.iter().any(|p| *p > 0) || !panel.cell_promotions.is_empty();
    if promoted {
        let warehouses = panel.warehouse_count();
        let naive = PromotionNaive::new(panel, origin);
        let mut promos = Vec::new();
        let mut dense = vec![0.0; panel.cell_count() * horizon];
        for sku in 0..panel.sku_count() {
            for warehouse in 0..warehouses {
                cell_promotions(panel, sku, warehouse, &mut promos);
                let cell = sku * warehouses + warehouse;
                for step in 0..horizon {
                    dense[cell * horizon + step] =
                        naive.forecast(panel, sku, warehouse, &promos[origin + step]);
                }
            }
        }
        baselines.push(("promotion-aware naive", dense));
    }
    baselines
}

fn category_choices(forecaster: &Forecaster) -> Vec<CategoryChoice> {
    forecaster
        .categories
        .iter()
        .map(|fit| CategoryChoice {
            category: fit.category.clone(),
            chosen: fit.chosen(),
            pooled: fit.pooled_choice,
        })
        .collect()
}
