use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;

use super::output::{table, thousands};
use super::Cli;
use stockcast::generate::{generate, GenerateConfig, OutputFormat};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    Csv,
    Parquet,
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Folder to write the dataset into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of SKUs in the catalogue.
    #[arg(long, default_value_t = 200)]
    pub skus: usize,
    /// Number of warehouses.
    #[arg(long, default_value_t = 8)]
    pub warehouses: usize,
    /// Days of sales history.
    #[arg(long, default_value_t = 1095)]
    pub days: usize,
    /// Random seed: the same seed writes the same files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// File format of the written tables.
    #[arg(long, value_enum, default_value_t = FormatArg::Csv)]
    pub format: FormatArg,
    /// Last day of sales history (YYYY-MM-DD); promotions are planned 90 days past it.
    #[arg(long)]
    pub end_date: Option<NaiveDate>,
    /// Trailing history days covered by truth/expected_demand (plus the 90 future days);
    /// default 182, or all history when shorter.
    #[arg(long)]
    pub truth_days: Option<usize>,
    /// Add latent popularity: slow swings in category and SKU demand that customer polls
    /// show 1–3 weeks ahead and the calendar does not know (off by default).
    #[arg(long)]
    pub latent_popularity: bool,
}

pub fn run(cli: &Cli, args: &GenerateArgs) -> anyhow::Result<()> {
    let config = GenerateConfig {
        skus: args.skus,
        warehouses: args.warehouses,
        days: args.days,
        seed: args.seed,
        format: match args.format {
            FormatArg::Csv => OutputFormat::Csv,
            FormatArg::Parquet => OutputFormat::Parquet,
        },
        end_date: args
            .end_date
            .unwrap_or_else(stockcast::jobs::default_sample_end_date),
        truth_days: args.truth_days.unwrap_or(182.min(args.days)),
        latent_popularity: args.latent_popularity,
    };
    let summary = generate(&config, &args.out)
        .with_context(|| format!("generating into {}", args.out.display()))?;
    if !cli.quiet {
        let mut out = table(&["file", "rows"]);
        for (path, rows) in &summary.files {
            out.add_row(vec![path.display().to_string(), thousands(*rows)]);
        }
        println!("{out}");
        println!("generated in {:.2} s", summary.seconds);
    }
    Ok(())
}
