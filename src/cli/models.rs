use std::path::PathBuf;

use super::output::table;
use super::{open_store, Cli};
use stockcast::forecast::registry::{list_models, load_artifact};

#[derive(Debug, clap::Args)]
pub struct ModelsArgs {
    /// Folder of model artifacts.
    #[arg(long, global = true, default_value = "models")]
    pub models_dir: PathBuf,
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// List fitted models, newest first.
    List,
    /// Show one model: training window, fingerprint, per-category model and features.
    Show { id: String },
}

pub async fn run(cli: &Cli, args: &ModelsArgs) -> anyhow::Result<()> {
    match &args.command {
        ModelsCommand::List => {
            let store = open_store(cli).await?;
            let mut out = table(&[
                "model",
                "created",
                "as of",
                "freq",
                "horizon",
                "training window",
                "models",
            ]);
            for model in list_models(&store).await? {
                out.add_row(vec![
                    model.id,
                    model.created_at.format("%Y-%m-%d %H:%M").to_string(),
                    model.as_of.to_string(),
                    model.freq,
                    model.horizon.to_string(),
                    format!("{} … {}", model.training_start, model.training_end),
                    model.summary,
                ]);
            }
            println!("{out}");
        }
        ModelsCommand::Show { id } => {
            let artifact = load_artifact(&args.models_dir, id)?;
            println!(
                "model {} (stockcast {}), created {}",
                artifact.id, artifact.crate_version, artifact.created_at
            );
            println!(
                "as of {} · {} data · horizon {} · training {} … {}",
                artifact.as_of,
                artifact.freq.as_str(),
                artifact.settings.horizon,
                artifact.training_start,
                artifact.training_end
            );
            println!("data fingerprint {}", artifact.data_fingerprint);
            println!(
                "features ({}): {}",
                artifact.feature_schema.len(),
                artifact.feature_schema.join(", ")
            );
            let mut out = table(&[
                "category",
                "forecasts with",
                "training rows",
                "held-out WAPE (bias) by candidate",
                "dispersion by volume band (regular / promoted)",
            ]);
            for fit in &artifact.forecaster.categories {
                let chosen = if fit.pooled_choice && fit.fallback_reason.is_none() {
                    format!("{} (chosen on all categories)", fit.chosen())
                } else {
                    fit.chosen()
                };
                let dispersion = |row: &[f64]| {
                    row.iter()
                        .map(|d| format!("{d:.2}"))
                        .collect::<Vec<_>>()
                        .join(" / ")
                };
                out.add_row(vec![
                    fit.category.clone(),
                    chosen,
                    fit.training_rows.to_string(),
                    fit.holdout
                        .iter()
                        .map(|score| {
                            format!(
                                "{}: {} (bias {})",
                                score.candidate,
                                score
                                    .wape
                                    .map_or("–".to_string(), |w| format!("{:.1}%", w * 100.0)),
                                score
                                    .bias
                                    .map_or("–".to_string(), |b| format!("{:+.1}%", b * 100.0))
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                    format!(
                        "{} | {}",
                        dispersion(&fit.dispersion[0]),
                        dispersion(&fit.dispersion[1])
                    ),
                ]);
            }
            println!("{out}");
        }
    }
    Ok(())
}
