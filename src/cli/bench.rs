use anyhow::Context;

use super::output::{spinner, table, thousands};
use super::Cli;
use stockcast::bench::{bench_ingest, IngestBenchConfig};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Rows/s parsed+validated and loaded into SQLite and PostgreSQL for a generated sales file.
    Ingest {
        #[arg(long, default_value_t = 5000)]
        skus: usize,
        #[arg(long, default_value_t = 20)]
        warehouses: usize,
        #[arg(long, default_value_t = 1095)]
        days: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Runs per measurement; medians are reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// PostgreSQL server to create scratch databases on ("none" to skip).
        #[arg(
            long,
            env = "STOCKCAST_BENCH_POSTGRES_URL",
            default_value = "postgres://postgres@127.0.0.1:5432/postgres"
        )]
        postgres_url: String,
    },
}

pub async fn run(cli: &Cli, args: &BenchArgs) -> anyhow::Result<()> {
    match &args.command {
        BenchCommand::Ingest {
            skus,
            warehouses,
            days,
            seed,
            runs,
            postgres_url,
        } => {
            let work = tempfile::Builder::new()
                .prefix("stockcast-bench-")
                .tempdir()
                .context("creating a scratch folder")?;
            let config = IngestBenchConfig {
                skus: *skus,
                warehouses: *warehouses,
                days: *days,
                seed: *seed,
                runs: *runs,
                postgres_admin_url: (postgres_url != "none").then(|| postgres_url.clone()),
                work_dir: work.path().to_path_buf(),
            };
            let progress = spinner("benchmarking ingest", cli.quiet);
            let result = bench_ingest(&config).await;
            progress.finish_and_clear();
            let result = result?;
            if !cli.quiet {
                let mut out = table(&["stage", "median s", "rows/s", "runs (s)"]);
                let runs_text = |seconds: &[f64]| {
                    seconds
                        .iter()
                        .map(|s| format!("{s:.2}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                out.add_row(vec![
                    "parse + validate".to_string(),
                    format!("{:.2}", stockcast::bench::median(&result.parse_seconds)),
                    thousands(result.parse_rows_per_second as usize),
                    runs_text(&result.parse_seconds),
                ]);
                out.add_row(vec![
                    "load SQLite".to_string(),
                    format!("{:.2}", stockcast::bench::median(&result.sqlite_seconds)),
                    thousands(result.sqlite_rows_per_second as usize),
                    runs_text(&result.sqlite_seconds),
                ]);
                if let Some(rate) = result.postgres_rows_per_second {
                    out.add_row(vec![
                        "load PostgreSQL".to_string(),
                        format!("{:.2}", stockcast::bench::median(&result.postgres_seconds)),
                        thousands(rate as usize),
                        runs_text(&result.postgres_seconds),
                    ]);
                }
                println!("sales file: {} rows, {:.1} MB ({skus} SKUs × {warehouses} warehouses × {days} days)", thousands(result.rows), result.sales_file_bytes as f64 / 1e6);
                println!("{out}");
            }
            let json = serde_json::json!({
                "bench": "ingest",
                "rows": result.rows,
                "parse_rows_per_second": result.parse_rows_per_second.round(),
                "sqlite_rows_per_second": result.sqlite_rows_per_second.round(),
                "postgres_rows_per_second": result.postgres_rows_per_second.map(f64::round),
            });
            println!("{json}");
        }
    }
    Ok(())
}
