//! Forecast output at the edges: a frame with `date, sku, warehouse, mean, p10, p50, p90`
//! (plus any other requested quantiles), written to CSV/Parquet or to the `forecasts` table.

use std::fs::File;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use polars::prelude::*;

use super::engine::ForecastOutput;
use super::panel::Panel;
use super::{quantile_column, ForecastError};
use crate::on_tx;
use crate::store::{FrameRows, OnConflict, Store, StoreError};

pub fn to_frame(panel: &Panel, output: &ForecastOutput) -> Result<DataFrame, ForecastError> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let start_days = (panel.start - epoch).num_days() as i32;
    let days_per_period = super::panel::period_days(panel.freq) as i32;
    let dates: Vec<i32> = output
        .period
        .iter()
        .map(|p| start_days + *p as i32 * days_per_period)
        .collect();
    let mut columns: Vec<Column> = vec![
        Series::new("date".into(), dates)
            .cast(&DataType::Date)?
            .into(),
        Series::new(
            "sku".into(),
            output
                .sku
                .iter()
                .map(|s| panel.skus[*s as usize].as_str())
                .collect::<Vec<_>>(),
        )
        .into(),
        Series::new(
            "warehouse".into(),
            output
                .warehouse
                .iter()
                .map(|w| panel.warehouses[*w as usize].as_str())
                .collect::<Vec<_>>(),
        )
        .into(),
        Series::new("mean".into(), output.mean.clone()).into(),
    ];
    for (index, level) in output.quantile_levels.iter().enumerate() {
        let values: Vec<f64> = (0..output.len())
            .map(|row| output.quantile(row, index))
            .collect();
        columns.push(Series::new(quantile_column(*level).into(), values).into());
    }
    Ok(DataFrame::new(output.len(), columns)?)
}

/// Writes CSV or Parquet by the file's extension, through a temporary file and a rename.
pub fn write_file(frame: &mut DataFrame, path: &Path) -> Result<(), ForecastError> {
    let failed = |message: String| ForecastError::Output {
        path: path.display().to_string(),
        message,
    };
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let partial = path.with_extension("partial");
    let mut file = File::create(&partial).map_err(|e| failed(e.to_string()))?;
    match extension.as_deref() {
        Some("csv") => CsvWriter::new(&mut file)
            .include_header(true)
            .finish(frame)
            .map_err(|e| failed(e.to_string()))?,
        Some("parquet") => {
            ParquetWriter::new(&mut file)
                .finish(frame)
                .map_err(|e| failed(e.to_string()))?;
        }
        _ => {
            let _ = std::fs::remove_file(&partial);
            return Err(ForecastError::InvalidSetting(format!(
                "{}: --out must end in .csv or .parquet",
                path.display()
            )));
        }
    }
    file.sync_all().map_err(|e| failed(e.to_string()))?;
    std::fs::rename(&partial, path).map_err(|e| failed(e.to_string()))?;
    Ok(())
}

pub struct ForecastRun<'a> {
    pub id: &'a str,
    pub model_id: &'a str,
    pub created_at: DateTime<Utc>,
    pub as_of: NaiveDate,
    pub freq: &'a str,
    pub horizon: usize,
}

/// Whether a stored run is visible to readers at once or waits for a job's publish step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Flipped to `complete` in the same transaction as its rows.
    Complete,
    /// Left `writing` (invisible to readers) until the job's publish step flips it.
    Staged,
}

/// Writes a forecast run in one transaction: the run row, every forecast row, then the
/// status flip to `complete`. A failure leaves nothing behind.
pub async fn write_run(
    store: &Store,
    run: &ForecastRun<'_>,
    frame: &DataFrame,
) -> Result<(), ForecastError> {
    write_run_as(store, run, frame, RunState::Complete).await
}

/// [`write_run`], optionally leaving the run staged (`writing`) for a later publish.
pub async fn write_run_as(
    store: &Store,
    run: &ForecastRun<'_>,
    frame: &DataFrame,
    state: RunState,
) -> Result<(), ForecastError> {
    let table = frame
        .select(["sku", "warehouse", "date", "mean", "p10", "p50", "p90"])
        .map_err(|_| {
            ForecastError::InvalidSetting(
                "the forecasts table needs the p10, p50 and p90 quantiles".to_string(),
            )
        })?;
    let mut with_run = table.clone();
    with_run.with_column(Series::new("run_id".into(), vec![run.id; table.height()]).into())?;
    with_run.rechunk_mut();
    let query_error = |error: sqlx::Error| ForecastError::Store(StoreError::from(error));
    let mut tx = store.begin_write().await?;
    on_tx!(&mut tx, conn => {
        sqlx::query(
            "INSERT INTO forecast_runs (id, model_id, created_at, as_of, freq, horizon, status, rows) \
             VALUES ($1, $2, $3, $4, $5, $6, 'writing', 0)",
        )
        .bind(run.id)
        .bind(run.model_id)
        .bind(run.created_at)
        .bind(run.as_of)
        .bind(run.freq)
        .bind(run.horizon as i64)
        .execute(&mut **conn)
        .await
        .map_err(query_error)?;
    });
    let rows = FrameRows::new(&with_run)?;
    tx.upsert_rows(
        "forecasts",
        &rows,
        &["run_id", "sku", "warehouse", "date"],
        OnConflict::Update,
    )
    .await?;
    let status = match state {
        RunState::Complete => "complete",
        RunState::Staged => "writing",
    };
    on_tx!(&mut tx, conn => {
        sqlx::query("UPDATE forecast_runs SET status = $3, rows = $2 WHERE id = $1")
            .bind(run.id)
            .bind(table.height() as i64)
            .bind(status)
            .execute(&mut **conn)
            .await
            .map_err(query_error)?;
    });
    tx.commit().await?;
    Ok(())
}

/// Adds one shard's rows to a staged run (the run row exists, status `writing`), in one
/// transaction; the run is flipped to `complete` later by whoever publishes it.
pub async fn append_rows(
    store: &Store,
    run_id: &str,
    frame: &DataFrame,
) -> Result<usize, ForecastError> {
    let table = frame
        .select(["sku", "warehouse", "date", "mean", "p10", "p50", "p90"])
        .map_err(|_| {
            ForecastError::InvalidSetting(
                "the forecasts table needs the p10, p50 and p90 quantiles".to_string(),
            )
        })?;
    let mut with_run = table.clone();
    with_run.with_column(Series::new("run_id".into(), vec![run_id; table.height()]).into())?;
    with_run.rechunk_mut();
    let query_error = |error: sqlx::Error| ForecastError::Store(StoreError::from(error));
    let mut tx = store.begin_write().await?;
    let rows = FrameRows::new(&with_run)?;
    tx.upsert_rows(
        "forecasts",
        &rows,
        &["run_id", "sku", "warehouse", "date"],
        OnConflict::Update,
    )
    .await?;
    on_tx!(&mut tx, conn => {
        sqlx::query("UPDATE forecast_runs SET rows = rows + $2 WHERE id = $1")
            .bind(run_id)
            .bind(table.height() as i64)
            .execute(&mut **conn)
            .await
            .map_err(query_error)?;
    });
    tx.commit().await?;
    Ok(table.height())
}
