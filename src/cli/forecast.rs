use std::path::PathBuf;

use anyhow::Context;
use chrono::{NaiveDate, Utc};

use super::output::{spinner, thousands};
use super::{open_store, BadInput, Cli};
use stockcast::contract::Frequency;
use stockcast::forecast::build_panel::build_panel;
use stockcast::forecast::dataset::Dataset;
use stockcast::forecast::engine::{fit_forecaster, predict, ForecastSettings};
use stockcast::forecast::output::{to_frame, write_file, write_run, ForecastRun};
use stockcast::forecast::registry::{
    data_fingerprint, load_artifact, new_model_id, record_model, save_artifact, summarise,
    ModelArtifact,
};
use stockcast::forecast::{parse_quantiles, ForecastError};
use stockcast::store::Store;

/// Where the history comes from.
#[derive(Debug, clap::Args)]
pub struct InputArgs {
    /// Folder of input files in the data contract (validated like `ingest`, nothing written).
    #[arg(long, conflicts_with = "from_db", required_unless_present = "from_db")]
    pub data: Option<PathBuf>,
    /// Read the history from the database instead of a folder.
    #[arg(long)]
    pub from_db: bool,
    /// Period of the history and of the forecast.
    #[arg(long, value_enum, default_value_t = Frequency::Day)]
    pub freq: Frequency,
}

impl InputArgs {
    pub async fn load(&self, store: &Store, quiet: bool) -> anyhow::Result<Dataset> {
        let progress = spinner("reading history", quiet);
        let dataset = match &self.data {
            Some(dir) => Dataset::from_dir(dir, self.freq)
                .with_context(|| format!("reading {}", dir.display())),
            None => Dataset::from_store(store)
                .await
                .context("reading history from the database"),
        };
        progress.finish_and_clear();
        let dataset = dataset?;
        if dataset.rows_rejected > 0 && !quiet {
            eprintln!("warning: {} invalid input row(s) left out; run `stockcast ingest` to see them quarantined", dataset.rows_rejected);
        }
        Ok(dataset)
    }
}

#[derive(Debug, clap::Args)]
pub struct ForecastArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Forecast origin: only data up to and including this date is used (default: last sales date).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Periods to forecast after --as-of.
    #[arg(long)]
    pub horizon: usize,
    /// Quantile levels to produce.
    #[arg(long, default_value = "0.1,0.5,0.9")]
    pub quantiles: String,
    /// Write the forecast here (.csv or .parquet).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Forecast with a saved model instead of fitting (see `stockcast models list`).
    #[arg(long)]
    pub model: Option<String>,
    /// Folder of model artifacts.
    #[arg(long, default_value = "models")]
    pub models_dir: PathBuf,
}

pub fn resolve_as_of(dataset: &Dataset, as_of: Option<NaiveDate>) -> anyhow::Result<NaiveDate> {
    match as_of {
        Some(date) => Ok(date),
        None => Ok(dataset.sales_date_range()?.ok_or(ForecastError::NoSales)?.1),
    }
}

pub async fn run(cli: &Cli, args: &ForecastArgs) -> anyhow::Result<()> {
    let store = open_store(cli).await?;
    let dataset = args.input.load(&store, cli.quiet).await?;
    let as_of = resolve_as_of(&dataset, args.as_of)?;
    let mut settings = ForecastSettings::new(args.input.freq, args.horizon);
    settings.quantiles = parse_quantiles(&args.quantiles)?;
    let panel = build_panel(&dataset, args.input.freq, as_of, args.horizon)?;

    let (model_id, forecaster) = match &args.model {
        Some(id) => {
            let artifact = load_artifact(&args.models_dir, id)?;
            if artifact.freq != args.input.freq {
                return Err(BadInput(format!(
                    "model {id} was fitted on {} data, not {}",
                    artifact.freq.as_str(),
                    args.input.freq.as_str()
                ))
                .into());
            }
            (artifact.id, artifact.forecaster)
        }
        None => {
            let progress = spinner("fitting category models", cli.quiet);
            let forecaster = fit_forecaster(&panel, &settings);
            progress.finish_and_clear();
            let now = Utc::now();
            let artifact = ModelArtifact {
                id: new_model_id(now),
                created_at: now,
                crate_version: env!("CARGO_PKG_VERSION").to_string(),
                as_of,
                freq: args.input.freq,
                training_start: panel.start,
                training_end: as_of,
                data_fingerprint: data_fingerprint(&panel),
                feature_schema: forecaster.feature_names.clone(),
                settings: settings.clone(),
                forecaster,
                backtest: None,
            };
            let path = save_artifact(&args.models_dir, &artifact)?;
            record_model(&store, &artifact, &path).await?;
            (artifact.id, artifact.forecaster)
        }
    };
    for fit in &forecaster.categories {
        if let Some(reason) = &fit.fallback_reason {
            eprintln!("note: category {}: {reason}", fit.category);
        }
    }
    let progress = spinner("predicting", cli.quiet);
    let output = predict(&panel, &forecaster, &settings);
    let mut frame = to_frame(&panel, &output)?;
    progress.finish_and_clear();

    let progress = spinner("writing forecasts", cli.quiet);
    if let Some(path) = &args.out {
        write_file(&mut frame, path)?;
    }
    let run_id = format!(
        "fc-{}-{:06x}",
        Utc::now().format("%Y%m%dT%H%M%S"),
        rand::random::<u32>() & 0xff_ffff
    );
    let stored = if frame.column("p10").is_ok()
        && frame.column("p50").is_ok()
        && frame.column("p90").is_ok()
    {
        let run = ForecastRun {
            id: &run_id,
            model_id: &model_id,
            created_at: Utc::now(),
            as_of,
            freq: args.input.freq.as_str(),
            horizon: args.horizon,
        };
        write_run(&store, &run, &frame).await?;
        true
    } else {
        false
    };
    progress.finish_and_clear();
    if !cli.quiet {
        println!("model {model_id}: {}", summarise(&forecaster));
        println!(
            "forecast from {as_of} for {} {}(s): {} rows ({} SKUs × {} warehouses)",
            args.horizon,
            args.input.freq.as_str(),
            thousands(frame.height()),
            panel.sku_count(),
            panel.warehouse_count()
        );
        if let Some(path) = &args.out {
            println!("wrote {}", path.display());
        }
        if stored {
            println!("stored as forecast run {run_id}");
        } else {
            println!("not stored in the database: the forecasts table needs p10, p50 and p90");
        }
    }
    Ok(())
}
