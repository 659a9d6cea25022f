use std::path::PathBuf;

use anyhow::Context;

use super::output::{spinner, table, thousands};
use super::{open_store, Cli};
use stockcast::contract::Frequency;
use stockcast::ingest::{ingest_dir, IngestOptions, IngestReport};

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Folder of input files (sales.csv, products.parquet, …; see README "Data contract").
    #[arg(long)]
    pub data: PathBuf,
    /// Period of the sales history: one row per day, or per week (dated by week start or end).
    #[arg(long, value_enum, default_value_t = Frequency::Day)]
    pub freq: Frequency,
    /// Re-load files even if the same content was loaded before.
    #[arg(long)]
    pub force: bool,
    /// Write <name>.rejected.csv files here instead of beside each input.
    #[arg(long)]
    pub quarantine_dir: Option<PathBuf>,
}

/// One note per file of the folder that was not read: a misnamed file would otherwise be
/// left out without a word. On stderr, so the report on stdout stays machine-readable.
fn print_skipped(report: &IngestReport) {
    for skipped in &report.skipped {
        eprintln!(
            "note: skipped {}: {}",
            skipped.file.display(),
            skipped.reason
        );
    }
}

pub fn print_report(report: &IngestReport) {
    print_skipped(report);
    let mut out = table(&[
        "file", "table", "status", "read", "loaded", "merged", "rejected",
    ]);
    for file in &report.files {
        let name = file
            .file
            .file_name()
            .map(|name| name.to_string_lossy().to_string())
            .unwrap_or_default();
        out.add_row(vec![
            name,
            file.table.clone(),
            file.status.as_str().to_string(),
            thousands(file.rows_read),
            thousands(file.rows_accepted),
            thousands(file.rows_merged),
            thousands(file.rows_rejected),
        ]);
    }
    println!("{out}");
    for file in &report.files {
        if let Some(quarantine) = &file.quarantine_file {
            println!(
                "warning: {} row(s) of {} rejected; see {}",
                file.rows_rejected,
                file.file.display(),
                quarantine.display()
            );
        }
        if !file.ignored_columns.is_empty() {
            println!(
                "note: {} has columns the contract does not use, ignored: {}",
                file.file.display(),
                file.ignored_columns.join(", ")
            );
        }
    }
    println!(
        "batch {}: validated in {:.2} s, loaded in {:.2} s",
        report.batch_id, report.prepare_seconds, report.load_seconds
    );
}

pub async fn run(cli: &Cli, args: &IngestArgs) -> anyhow::Result<()> {
    let store = open_store(cli).await?;
    let options = IngestOptions {
        freq: args.freq,
        force: args.force,
        quarantine_dir: args.quarantine_dir.clone(),
        ..IngestOptions::default()
    };
    let progress = spinner(&format!("ingesting {}", args.data.display()), cli.quiet);
    let report = ingest_dir(&store, &args.data, &options)
        .await
        .with_context(|| format!("ingesting {}", args.data.display()));
    progress.finish_and_clear();
    let report = report?;
    if !cli.quiet {
        print_report(&report);
    }
    Ok(())
}
