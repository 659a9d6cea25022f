use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;

use super::output::spinner;
use super::{open_store, Cli};
use stockcast::report::render_html::render_html;
use stockcast::report::render_text::{render_csv, render_table, TABLE_WIDTH};
use stockcast::report::{build_report, Filters, Name, ReportError, ReportKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Csv,
    Json,
    Html,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Which report.
    #[arg(value_enum)]
    pub kind: ReportKind,
    /// Promotion id (default: the first promotion in the latest forecast run's horizon).
    #[arg(long)]
    pub promotion: Option<String>,
    #[arg(long)]
    pub category: Option<String>,
    #[arg(long)]
    pub sku: Option<String>,
    #[arg(long)]
    pub warehouse: Option<String>,
    /// Read the forecast and allocation runs made on or before this date (default: the latest).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Rows per table (0 = all, at most 100,000).
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// allocation: the run to show (default: the one in force).
    #[arg(long)]
    pub run: Option<String>,
    /// allocation: compare with the previous published run for the same promotion.
    #[arg(long)]
    pub diff: bool,
    /// stockout-risk: list cells whose P(stock-out) is at least this.
    #[arg(long, default_value_t = 0.2)]
    pub min_probability: f64,
    /// stockout-risk: margin kept per unit, as a share of the promotional price (as `allocate`).
    #[arg(long, default_value_t = stockcast::allocate::DEFAULT_MARGIN_RATE)]
    pub margin_rate: f64,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Write the report here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl ReportArgs {
    pub fn filters(&self) -> anyhow::Result<Filters> {
        if !(0.0..=1.0).contains(&self.min_probability) {
            return Err(
                super::BadInput("--min-probability must be between 0 and 1".to_string()).into(),
            );
        }
        if !(0.0..=1.0).contains(&self.margin_rate) {
            return Err(
                super::BadInput("--margin-rate must be between 0 and 1".to_string()).into(),
            );
        }
        Ok(Filters {
            promotion: self.promotion.clone(),
            category: self.category.clone(),
            sku: self.sku.clone(),
            warehouse: self.warehouse.clone(),
            as_of: self.as_of,
            top: self.top,
            run: self.run.clone(),
            diff: self.diff,
            min_probability: self.min_probability,
            margin_rate: self.margin_rate,
        })
    }
}

pub async fn run(cli: &Cli, args: &ReportArgs) -> anyhow::Result<()> {
    let filters = args.filters()?;
    let store = open_store(cli).await?;
    let progress = spinner(
        &format!("building the {} report", args.kind.as_str()),
        cli.quiet,
    );
    let built = build_report(&store, args.kind, &filters).await;
    progress.finish_and_clear();
    let built = match built {
        Ok(built) => built,
        Err(ReportError::Empty(message)) => return report_nothing(cli, args, &message),
        Err(ReportError::Unknown { name, value }) => {
            // The library names what is unknown; the user typed it as a flag.
            let flag = match name {
                Name::Promotion => "--promotion",
                Name::Sku => "--sku",
                Name::Category => "--category",
                Name::Warehouse => "--warehouse",
            };
            let message = format!("{flag} {value}: {}", name.unknown_reason());
            return Err(anyhow::Error::from(super::BadInput(message)))
                .with_context(|| format!("report {}", args.kind.as_str()));
        }
        Err(error) => {
            return Err(error).with_context(|| format!("report {}", args.kind.as_str()));
        }
    };
    let text = match args.format {
        ReportFormat::Table => render_table(&built.view, TABLE_WIDTH),
        ReportFormat::Csv => render_csv(&built.view).context("writing CSV")?,
        ReportFormat::Json => {
            let mut text = serde_json::to_string_pretty(&built.json).context("writing JSON")?;
            text.push('\n');
            text
        }
        ReportFormat::Html => render_html(&built.view),
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            if !cli.quiet {
                eprintln!("wrote {}", path.display());
            }
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// Nothing to report is an answer, not a failure: exit 0. A terminal table prints the one
/// line; JSON prints a valid document saying so (to `--out` too, so a reader of the file never
/// finds last time's report or no JSON at all); CSV and HTML print nothing on stdout and write
/// no file, so a pipe or a redirect gets no text that is not CSV or HTML, and the line goes to
/// stderr.
fn report_nothing(cli: &Cli, args: &ReportArgs, message: &str) -> anyhow::Result<()> {
    match args.format {
        ReportFormat::Table => println!("{message}"),
        ReportFormat::Json => {
            let document = serde_json::json!({
                "report": args.kind.as_str(),
                "empty": true,
                "message": message,
            });
            let mut text = serde_json::to_string_pretty(&document).context("writing JSON")?;
            text.push('\n');
            match &args.out {
                Some(path) => {
                    std::fs::write(path, text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    if !cli.quiet {
                        eprintln!("{message}; wrote {}", path.display());
                    }
                }
                None => print!("{text}"),
            }
        }
        ReportFormat::Csv | ReportFormat::Html => eprintln!("{message}"),
    }
    Ok(())
}
