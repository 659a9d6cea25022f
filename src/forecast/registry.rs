//! The model registry: each fit writes `models/<id>.json` (coefficients, feature schema,
//! training window, data fingerprint, backtest metrics, crate version) and a `model_runs` row.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::engine::{ForecastSettings, Forecaster};
use super::panel::Panel;
use super::ForecastError;
use crate::contract::Frequency;
use crate::on_backend;
use crate::store::{Store, StoreError, StoreTx};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ModelArtifact {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub crate_version: String,
    pub as_of: NaiveDate,
    pub freq: Frequency,
    pub training_start: NaiveDate,
    pub training_end: NaiveDate,
    pub data_fingerprint: String,
    pub feature_schema: Vec<String>,
    pub settings: ForecastSettings,
    pub forecaster: Forecaster,
    /// Backtest metrics when the fit was backtested (`stockcast backtest --save`).
    pub backtest: Option<serde_json::Value>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelSummary {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub as_of: NaiveDate,
    pub freq: String,
    pub horizon: i64,
    pub training_start: NaiveDate,
    pub training_end: NaiveDate,
    pub artifact_path: String,
    pub summary: String,
}

/// A digest of what the model learned from: catalogue, grid and every SKU's history.
pub fn data_fingerprint(panel: &Panel) -> String {
    let mut hasher = Sha256::new();
    hasher.update(panel.start.to_string().as_bytes());
    hasher.update((panel.history_len as u64).to_le_bytes());
    for (sku, name) in panel.skus.iter().enumerate() {
        hasher.update(name.as_bytes());
        let row = &panel.units[sku * panel.history_len..(sku + 1) * panel.history_len];
        for value in row {
            hasher.update(value.to_le_bytes());
        }
    }
    for warehouse in &panel.warehouses {
        hasher.update(warehouse.as_bytes());
    }
    hex::encode(&hasher.finalize()[..16])
}

pub fn new_model_id(now: DateTime<Utc>) -> String {
    format!(
        "mdl-{}-{:06x}",
        now.format("%Y%m%dT%H%M%S"),
        rand::random::<u32>() & 0xff_ffff
    )
}

pub fn artifact_path(models_dir: &Path, id: &str) -> PathBuf {
    models_dir.join(format!("{id}.json"))
}

pub fn save_artifact(
    models_dir: &Path,
    artifact: &ModelArtifact,
) -> Result<PathBuf, ForecastError> {
    std::fs::create_dir_all(models_dir)
        .map_err(|e| ForecastError::Registry(format!("{}: {e}", models_dir.display())))?;
    let path = artifact_path(models_dir, &artifact.id);
    let partial = path.with_extension("json.partial");
    let text = serde_json::to_string_pretty(artifact)
        .map_err(|e| ForecastError::Registry(e.to_string()))?;
    std::fs::write(&partial, text)
        .map_err(|e| ForecastError::Registry(format!("{}: {e}", partial.display())))?;
    std::fs::rename(&partial, &path)
        .map_err(|e| ForecastError::Registry(format!("{}: {e}", path.display())))?;
    Ok(path)
}

pub fn load_artifact(models_dir: &Path, id: &str) -> Result<ModelArtifact, ForecastError> {
    if id.contains('/') || id.contains('\\') || id.contains("..") {
        return Err(ForecastError::InvalidSetting(format!(
            "model id '{id}' is not a plain name"
        )));
    }
    let path = artifact_path(models_dir, id);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ForecastError::InvalidSetting(format!(
            "{}: cannot read model artifact: {e}",
            path.display()
        ))
    })?;
    let artifact: ModelArtifact = serde_json::from_str(&text).map_err(|e| {
        ForecastError::InvalidSetting(format!(
            "{}: not a stockcast model artifact: {e}",
            path.display()
        ))
    })?;
    if artifact.feature_schema.len() != artifact.forecaster.feature_names.len() {
        return Err(ForecastError::InvalidSetting(format!(
            "{}: feature schema does not match its coefficients",
            path.display()
        )));
    }
    Ok(artifact)
}

pub fn summarise(forecaster: &Forecaster) -> String {
    forecaster
        .categories
        .iter()
        .map(|fit| format!("{}={}", fit.category, fit.blend.describe()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One `model_runs` row.
struct ModelRecord<'a> {
    id: &'a str,
    created_at: DateTime<Utc>,
    as_of: NaiveDate,
    freq: Frequency,
    horizon: usize,
    training_start: NaiveDate,
    training_end: NaiveDate,
    data_fingerprint: &'a str,
    crate_version: &'a str,
    artifact_path: &'a Path,
    summary: &'a str,
}

async fn insert_model_record(
    tx: &mut StoreTx,
    record: &ModelRecord<'_>,
) -> Result<(), ForecastError> {
    let query_error = |error: sqlx::Error| ForecastError::Store(StoreError::from(error));
    crate::on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO model_runs (id, created_at, as_of, freq, horizon, training_start, training_end, \
             data_fingerprint, crate_version, artifact_path, summary) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(record.id)
        .bind(record.created_at)
        .bind(record.as_of)
        .bind(record.freq.as_str())
        .bind(record.horizon as i64)
        .bind(record.training_start)
        .bind(record.training_end)
        .bind(record.data_fingerprint)
        .bind(record.crate_version)
        .bind(record.artifact_path.display().to_string())
        .bind(record.summary)
        .execute(&mut **conn)
        .await
        .map_err(query_error)?;
    });
    Ok(())
}

pub async fn record_model(
    store: &Store,
    artifact: &ModelArtifact,
    path: &Path,
) -> Result<(), ForecastError> {
    let mut tx = store.begin_write().await?;
    insert_model_record(
        &mut tx,
        &ModelRecord {
            id: &artifact.id,
            created_at: artifact.created_at,
            as_of: artifact.as_of,
            freq: artifact.freq,
            horizon: artifact.settings.horizon,
            training_start: artifact.training_start,
            training_end: artifact.training_end,
            data_fingerprint: &artifact.data_fingerprint,
            crate_version: &artifact.crate_version,
            artifact_path: path,
            summary: &summarise(&artifact.forecaster),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The data fingerprint of a model fitted in shards: each shard digests only its own
/// category's data, so no single digest covers what the model learned from.
pub const SHARDED_DATA_FINGERPRINT: &str = "sharded";

/// A model fitted in parts (one shard per category) and merged afterwards. Its row exists
/// from the start, because forecast rows written by the shards reference it; its artifact
/// and summary follow once every part is merged ([`finish_sharded_model`]).
#[derive(Debug, Clone)]
pub struct ShardedModel {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub as_of: NaiveDate,
    pub freq: Frequency,
    pub horizon: usize,
    pub training_start: NaiveDate,
    pub models_dir: PathBuf,
}

impl ShardedModel {
    pub fn artifact_path(&self) -> PathBuf {
        artifact_path(&self.models_dir, &self.id)
    }
}

/// Writes the row of a sharded model still being fitted, in the caller's transaction (the
/// one that queues its shards).
pub async fn create_sharded_model(
    tx: &mut StoreTx,
    model: &ShardedModel,
) -> Result<(), ForecastError> {
    insert_model_record(
        tx,
        &ModelRecord {
            id: &model.id,
            created_at: model.created_at,
            as_of: model.as_of,
            freq: model.freq,
            horizon: model.horizon,
            training_start: model.training_start,
            training_end: model.as_of,
            data_fingerprint: SHARDED_DATA_FINGERPRINT,
            crate_version: env!("CARGO_PKG_VERSION"),
            artifact_path: &model.artifact_path(),
            summary: "sharded: fitting",
        },
    )
    .await
}

/// Saves the merged fit of a sharded model as its artifact and completes its row; returns
/// the model's summary.
pub async fn finish_sharded_model(
    store: &Store,
    model: &ShardedModel,
    forecaster: Forecaster,
) -> Result<String, ForecastError> {
    let mut settings = ForecastSettings::new(model.freq, model.horizon);
    settings.quantiles = vec![0.1, 0.5, 0.9];
    let summary = summarise(&forecaster);
    let artifact = ModelArtifact {
        id: model.id.clone(),
        created_at: model.created_at,
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        as_of: model.as_of,
        freq: model.freq,
        training_start: model.training_start,
        training_end: model.as_of,
        data_fingerprint: SHARDED_DATA_FINGERPRINT.to_string(),
        feature_schema: forecaster.feature_names.clone(),
        settings,
        forecaster,
        backtest: None,
    };
    save_artifact(&model.models_dir, &artifact)?;
    let query_error = |error: sqlx::Error| ForecastError::Store(StoreError::from(error));
    on_backend!(store, pool => {
        sqlx::query("UPDATE model_runs SET summary = $2 WHERE id = $1")
            .bind(&model.id)
            .bind(&summary)
            .execute(pool)
            .await
            .map_err(query_error)?;
    });
    Ok(summary)
}

pub async fn list_models(store: &Store) -> Result<Vec<ModelSummary>, ForecastError> {
    let query_error = |error: sqlx::Error| ForecastError::Store(StoreError::from(error));
    let models = on_backend!(store, pool => {
        sqlx::query(
            "SELECT id, created_at, as_of, freq, horizon, training_start, training_end, artifact_path, summary \
             FROM model_runs ORDER BY created_at DESC, id DESC",
        )
        .fetch_all(pool)
        .await
        .map_err(query_error)?
        .into_iter()
        .map(|row| {
            Ok(ModelSummary {
                id: row.try_get("id")?,
                created_at: row.try_get("created_at")?,
                as_of: row.try_get("as_of")?,
                freq: row.try_get("freq")?,
                horizon: row.try_get("horizon")?,
                training_start: row.try_get("training_start")?,
                training_end: row.try_get("training_end")?,
                artifact_path: row.try_get("artifact_path")?,
                summary: row.try_get("summary")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(query_error)?
    });
    Ok(models)
}
