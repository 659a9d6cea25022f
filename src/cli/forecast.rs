use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;

use super::output::{spinner, thousands};
use super::{open_store, Cli};
use stockcast::contract::Frequency;
use stockcast::forecast::dataset::Dataset;
use stockcast::forecast::output::RunState;
use stockcast::forecast::pipeline::{self, ForecastRequest};
use stockcast::forecast::registry::summarise;
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

/// `--as-of`, or the last day of known sales: for a folder, its last sales date; for the
/// database, the last date ingested files cover (live sales past it are provisional and never
/// move the origin; see `store::sales_source`).
pub async fn resolve_as_of(
    store: &Store,
    input: &InputArgs,
    dataset: &Dataset,
    as_of: Option<NaiveDate>,
) -> anyhow::Result<NaiveDate> {
    if let Some(date) = as_of {
        return Ok(date);
    }
    if input.from_db {
        if let Some(last) = stockcast::store::sales_source::ingested_through(store).await? {
            return Ok(last);
        }
    }
    Ok(dataset.sales_date_range()?.ok_or(ForecastError::NoSales)?.1)
}

pub async fn run(cli: &Cli, args: &ForecastArgs) -> anyhow::Result<()> {
    let store = open_store(cli).await?;
    let dataset = args.input.load(&store, cli.quiet).await?;
    let request = ForecastRequest {
        freq: args.input.freq,
        as_of: resolve_as_of(&store, &args.input, &dataset, args.as_of).await?,
        horizon: args.horizon,
        quantiles: parse_quantiles(&args.quantiles)?,
        models_dir: args.models_dir.clone(),
        model: args.model.clone(),
    };
    let progress = spinner(
        if args.model.is_some() {
            "predicting"
        } else {
            "fitting category models and predicting"
        },
        cli.quiet,
    );
    let computed = pipeline::compute(&dataset, &request);
    progress.finish_and_clear();
    let mut computed = computed?;
    for fit in &computed.forecaster.categories {
        if let Some(reason) = &fit.fallback_reason {
            eprintln!("note: category {}: {reason}", fit.category);
        }
    }
    let progress = spinner("writing forecasts", cli.quiet);
    let stored = pipeline::store(
        &store,
        &mut computed,
        &request,
        args.out.as_deref(),
        RunState::Complete,
    )
    .await;
    progress.finish_and_clear();
    let stored = stored?;
    if !cli.quiet {
        println!(
            "model {}: {}",
            stored.model_id,
            summarise(&computed.forecaster)
        );
        println!(
            "forecast from {} for {} {}(s): {} rows ({} SKUs × {} warehouses)",
            request.as_of,
            args.horizon,
            args.input.freq.as_str(),
            thousands(stored.rows),
            computed.panel.sku_count(),
            computed.panel.warehouse_count()
        );
        if let Some(path) = &args.out {
            println!("wrote {}", path.display());
        }
        match &stored.run_id {
            Some(run_id) => println!("stored as forecast run {run_id}"),
            None => {
                println!("not stored in the database: the forecasts table needs p10, p50 and p90")
            }
        }
    }
    Ok(())
}
