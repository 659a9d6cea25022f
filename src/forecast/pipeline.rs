//! The forecast command's work as library calls, shared by `stockcast forecast` and the job
//! runner: [`compute`] (CPU only: panel, fit or saved model, predict, frame) then [`store`]
//! (artifact, `model_runs`, optional file, and the forecast run, complete or staged).

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, Utc};
use polars::prelude::DataFrame;

use super::build_panel::build_panel;
use super::dataset::Dataset;
use super::engine::{fit_forecaster, predict, ForecastSettings, Forecaster};
use super::output::{to_frame, write_file, write_run_as, ForecastRun, RunState};
use super::panel::Panel;
use super::registry::{
    data_fingerprint, load_artifact, new_model_id, record_model, save_artifact, ModelArtifact,
};
use super::ForecastError;
use crate::contract::Frequency;
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct ForecastRequest {
    pub freq: Frequency,
    pub as_of: NaiveDate,
    pub horizon: usize,
    pub quantiles: Vec<f64>,
    pub models_dir: PathBuf,
    /// Forecast with this saved model instead of fitting.
    pub model: Option<String>,
}

pub struct ComputedForecast {
    pub panel: Panel,
    pub model_id: String,
    pub forecaster: Forecaster,
    /// Set when the model was fitted now (to be saved by [`store`]).
    pub new_artifact: Option<ModelArtifact>,
    pub frame: DataFrame,
}

pub struct StoredForecast {
    pub model_id: String,
    /// None when the quantiles requested do not include p10, p50 and p90.
    pub run_id: Option<String>,
    pub rows: usize,
}

pub fn new_forecast_run_id() -> String {
    format!(
        "fc-{}-{:06x}",
        Utc::now().format("%Y%m%dT%H%M%S"),
        rand::random::<u32>() & 0xff_ffff
    )
}

/// CPU-bound: builds the panel, fits (or loads) the model and predicts. No database.
pub fn compute(
    dataset: &Dataset,
    request: &ForecastRequest,
) -> Result<ComputedForecast, ForecastError> {
    let mut settings = ForecastSettings::new(request.freq, request.horizon);
    settings.quantiles = request.quantiles.clone();
    let panel = build_panel(dataset, request.freq, request.as_of, request.horizon)?;
    let (model_id, forecaster, new_artifact) = match &request.model {
        Some(id) => {
            let artifact = load_artifact(&request.models_dir, id)?;
            if artifact.freq != request.freq {
                return Err(ForecastError::InvalidSetting(format!(
                    "model {id} was fitted on {} data, not {}",
                    artifact.freq.as_str(),
                    request.freq.as_str()
                )));
            }
            (artifact.id, artifact.forecaster, None)
        }
        None => {
            let forecaster = fit_forecaster(&panel, &settings);
            let now = Utc::now();
            let artifact = ModelArtifact {
                id: new_model_id(now),
                created_at: now,
                crate_version: env!("CARGO_PKG_VERSION").to_string(),
                as_of: request.as_of,
                freq: request.freq,
                training_start: panel.start,
                training_end: request.as_of,
                data_fingerprint: data_fingerprint(&panel),
                feature_schema: forecaster.feature_names.clone(),
                settings: settings.clone(),
                forecaster: forecaster.clone(),
                backtest: None,
            };
            (artifact.id.clone(), forecaster, Some(artifact))
        }
    };
    let output = predict(&panel, &forecaster, &settings);
    let frame = to_frame(&panel, &output)?;
    Ok(ComputedForecast {
        panel,
        model_id,
        forecaster,
        new_artifact,
        frame,
    })
}

/// Saves a newly fitted model, writes `out` if given, and stores the forecast run
/// (`RunState::Complete` for readers at once, `RunState::Staged` for a job to publish later).
pub async fn store(
    store: &Store,
    computed: &mut ComputedForecast,
    request: &ForecastRequest,
    out: Option<&Path>,
    state: RunState,
) -> Result<StoredForecast, ForecastError> {
    if let Some(artifact) = &computed.new_artifact {
        let path = save_artifact(&request.models_dir, artifact)?;
        record_model(store, artifact, &path).await?;
    }
    if let Some(path) = out {
        write_file(&mut computed.frame, path)?;
    }
    let frame = &computed.frame;
    let storable =
        frame.column("p10").is_ok() && frame.column("p50").is_ok() && frame.column("p90").is_ok();
    let run_id = if storable {
        let run_id = new_forecast_run_id();
        let run = ForecastRun {
            id: &run_id,
            model_id: &computed.model_id,
            created_at: Utc::now(),
            as_of: request.as_of,
            freq: request.freq.as_str(),
            horizon: request.horizon,
        };
        write_run_as(store, &run, frame, state).await?;
        Some(run_id)
    } else {
        None
    };
    Ok(StoredForecast {
        model_id: computed.model_id.clone(),
        run_id,
        rows: frame.height(),
    })
}
