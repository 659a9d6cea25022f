//! Command-line wiring: one file per command, each a thin layer over the library.

mod allocate;
mod allocation;
mod backtest;
mod bench;
mod db;
mod forecast;
mod generate;
mod ingest;
mod jobs;
mod keys;
mod models;
mod output;
mod report;
mod scheduler;
mod serve;

use clap::{Parser, Subcommand};

use stockcast::store::{Store, StoreOptions, DEFAULT_DATABASE_URL};

#[derive(Debug, Parser)]
#[command(
    name = "stockcast",
    version,
    about = "Demand forecasts, stock allocation and live reservations for seasonal promotions",
    long_about = "stockcast turns past promotion sales, the promotion calendar and customer poll \
feedback into per-warehouse stock plans, and holds stock during checkout without overselling.\n\n\
Data lives in an embedded SQLite file (stockcast.db) unless --database-url points at PostgreSQL."
)]
pub struct Cli {
    /// Database to use: sqlite://PATH (created on first use) or postgres://USER@HOST/DB.
    #[arg(long, global = true, env = "STOCKCAST_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,

    /// Print only errors (no progress, no tables).
    #[arg(long, short, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a realistic synthetic furniture-and-decor dataset in the input contract.
    Generate(generate::GenerateArgs),
    /// Validate a folder of input files and load the good rows; quarantine the bad ones.
    Ingest(ingest::IngestArgs),
    /// Database schema: apply migrations, show status.
    Db(db::DbArgs),
    /// Fit per-category models and write quantile forecasts per SKU × warehouse.
    Forecast(forecast::ForecastArgs),
    /// Rolling-origin backtest against seasonal naive (WAPE, MASE, bias, pinball, coverage).
    Backtest(backtest::BacktestArgs),
    /// The model registry: fitted models and their artifacts under models/.
    Models(models::ModelsArgs),
    /// Solve per-warehouse stock targets for a promotion and publish them atomically.
    Allocate(allocate::AllocateArgs),
    /// Published allocation runs: list, show, diff.
    Allocation(allocation::AllocationArgs),
    /// Run and list the pipeline jobs defined in jobs/*.toml; run history; shard workers.
    Jobs(jobs::JobsArgs),
    /// Merchandiser reports: forecast, promo-lift, stockout-risk, allocation, accuracy,
    /// poll-signals, jobs (table, CSV, JSON or a self-contained HTML page).
    Report(report::ReportArgs),
    /// Fire the jobs in jobs/*.toml on their schedules until SIGTERM.
    Scheduler(scheduler::SchedulerArgs),
    /// Benchmarks on generated data (medians over several runs, one JSON line at the end).
    Bench(bench::BenchArgs),
    /// Serve the live reservation API over HTTP (stock holds with a TTL, never overselling).
    Serve(serve::ServeArgs),
    /// API keys for `serve`: create (prints the secret once), list, revoke.
    Keys(keys::KeysArgs),
}

/// An error the user can fix by changing the command or its input: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

fn is_bad_input(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<BadInput>().is_some()
            || cause
                .downcast_ref::<stockcast::ingest::IngestError>()
                .is_some_and(|e| e.is_bad_input())
            || cause
                .downcast_ref::<stockcast::jobs::JobError>()
                .is_some_and(|e| e.is_bad_input())
            || cause
                .downcast_ref::<stockcast::generate::GenerateError>()
                .is_some_and(|e| matches!(e, stockcast::generate::GenerateError::Invalid(_)))
            || cause
                .downcast_ref::<stockcast::forecast::ForecastError>()
                .is_some_and(|e| e.is_bad_input())
            || cause
                .downcast_ref::<stockcast::allocation::AllocationStoreError>()
                .is_some_and(|e| e.is_bad_input())
            || cause
                .downcast_ref::<stockcast::report::ReportError>()
                .is_some_and(|e| e.is_bad_input())
            || cause
                .downcast_ref::<stockcast::keys::KeyError>()
                .is_some_and(|e| e.is_bad_input())
            || cause
                .downcast_ref::<stockcast::store::StoreError>()
                .is_some_and(|e| matches!(e, stockcast::store::StoreError::BadUrl { .. }))
    })
}

pub async fn open_store(cli: &Cli) -> anyhow::Result<Store> {
    use anyhow::Context;
    Store::open(&cli.database_url, &StoreOptions::default())
        .await
        .with_context(|| format!("opening {}", stockcast::store::redact(&cli.database_url)))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Generate(args) => generate::run(&cli, args),
        Command::Ingest(args) => ingest::run(&cli, args).await,
        Command::Db(args) => db::run(&cli, args).await,
        Command::Forecast(args) => forecast::run(&cli, args).await,
        Command::Backtest(args) => backtest::run(&cli, args).await,
        Command::Models(args) => models::run(&cli, args).await,
        Command::Allocate(args) => allocate::run(&cli, args).await,
        Command::Allocation(args) => allocation::run(&cli, args).await,
        Command::Jobs(args) => jobs::run(&cli, args).await,
        Command::Report(args) => report::run(&cli, args).await,
        Command::Scheduler(args) => scheduler::run(&cli, args).await,
        Command::Bench(args) => bench::run(&cli, args).await,
        Command::Serve(args) => serve::run(&cli, args).await,
        Command::Keys(args) => keys::run(&cli, args).await,
    }
}

/// One line on stderr for a panic, instead of the default message and backtrace note; a
/// closed stdout (`stockcast … | head`) ends the command quietly.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_string());
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error: {message}{location}");
    }));
}

pub fn main() -> i32 {
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { 2 } else { 0 };
        }
    };
    output::init_tracing(cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return 1;
        }
    };
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(run(cli))));
    match outcome {
        // The hook has printed the one line.
        Err(_) => 1,
        Ok(Ok(())) => 0,
        Ok(Err(error)) => {
            eprintln!("error: {}", one_line(&error));
            if is_bad_input(&error) {
                2
            } else {
                1
            }
        }
    }
}

/// The error and its causes on one line, as `{:#}` prints them, but a cause whose text the
/// line already holds is left out: a library error that quotes its source in its own message
/// and also returns it as `source()` would otherwise be printed twice or three times.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[derive(Debug, thiserror::Error)]
    #[error("database error: {0}")]
    struct Quoting(#[source] std::io::Error);

    #[test]
    fn a_cause_already_quoted_is_printed_once() {
        let io = std::io::Error::other("disk full");
        let error = anyhow::Error::new(Quoting(io)).context("ingesting data/");
        assert_eq!(
            one_line(&error),
            "ingesting data/: database error: disk full"
        );
        let plain = anyhow::anyhow!("disk full").context("saving");
        assert_eq!(one_line(&plain), "saving: disk full");
    }
}
