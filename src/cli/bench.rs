use anyhow::Context;

use super::output::{spinner, table, thousands};
use super::Cli;
use stockcast::bench::{
    bench_allocate, bench_forecast, bench_ingest, bench_nightly, bench_real_forecast,
    bench_reserve, BenchBackend, ForecastBenchConfig, ForecastBenchResult, IngestBenchConfig,
    IngestBenchResult, NightlyBenchConfig, NightlyBenchResult, RealForecastBenchConfig,
    RealForecastBenchResult, ReportsBenchResult, ReserveBenchConfig, ReserveBenchResult,
};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Rows/s parsed+validated and loaded into SQLite and PostgreSQL for a generated sales file.
    Ingest(IngestBench),
    /// Reservations/s on hot SKUs through the core API (group commit) as a share of the
    /// database's own floor for the same writes (measured in the same run), vs one transaction
    /// per request, p50/p99 latency, and an oversell check.
    Reserve(ReserveBench),
    /// The whole nightly job (ingest → … → published allocation) on generated data, on SQLite
    /// and PostgreSQL, one run each; per-step seconds from the run's history.
    Nightly(NightlyBench),
    /// The allocation solver on a generated instance with binding capacities (gap vs the LP bound).
    Allocate(AllocateBench),
    /// Every report kind on a prepared 2000-SKU × 10-warehouse database (built on first use:
    /// generate → ingest → two forecast runs → allocate), medians over runs.
    Reports(ReportsBench),
    /// Features + fit + forecast with quantiles, end to end from files, against the Python
    /// reference pipeline (mlforecast + LightGBM) on the same data. On generated data (the
    /// default) scored by score.py; with --data, on one origin of a real dataset beside the
    /// built-in baselines, all scored on the same actuals.
    Forecast(ForecastBench),
}

/// The PostgreSQL server a bench creates its scratch databases on.
#[derive(Debug, clap::Args)]
pub struct PostgresServer {
    /// PostgreSQL server to create scratch databases on ("none" to skip).
    #[arg(
        long = "postgres-url",
        env = "STOCKCAST_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    url: String,
}

#[derive(Debug, clap::Args)]
pub struct IngestBench {
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
    #[command(flatten)]
    postgres: PostgresServer,
}

#[derive(Debug, clap::Args)]
pub struct ReserveBench {
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: BenchBackend,
    #[arg(long, default_value_t = 1)]
    skus: usize,
    #[arg(long, default_value_t = 256)]
    clients: usize,
    /// Seconds per run and per phase (floor, core, then naive), e.g. 10s.
    #[arg(long, default_value = "10s", value_parser = parse_seconds)]
    duration: std::time::Duration,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Units on hand per SKU at the start.
    #[arg(long, default_value_t = 100_000_000)]
    stock: i64,
    #[arg(long, default_value_t = 1024)]
    max_batch: usize,
    #[command(flatten)]
    postgres: PostgresServer,
}

#[derive(Debug, clap::Args)]
pub struct NightlyBench {
    #[arg(long, default_value_t = 5000)]
    skus: usize,
    #[arg(long, default_value_t = 20)]
    warehouses: usize,
    #[arg(long, default_value_t = 1095)]
    days: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Skip the SQLite run.
    #[arg(long)]
    no_sqlite: bool,
    #[command(flatten)]
    postgres: PostgresServer,
}

#[derive(Debug, clap::Args)]
pub struct AllocateBench {
    #[arg(long, default_value_t = 20_000)]
    skus: usize,
    #[arg(long, default_value_t = 10)]
    warehouses: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

#[derive(Debug, clap::Args)]
pub struct ReportsBench {
    #[arg(long, default_value_t = 2000)]
    skus: usize,
    #[arg(long, default_value_t = 10)]
    warehouses: usize,
    #[arg(long, default_value_t = 1095)]
    days: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[arg(long, default_value_t = 56)]
    horizon: usize,
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Folder for the prepared dataset and database (reused when prepared with the same
    /// parameters).
    #[arg(long, default_value = "target/bench-reports")]
    dir: std::path::PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ForecastBench {
    /// A folder in the data contract to benchmark on instead of generated data.
    #[arg(long, requires = "as_of")]
    data: Option<std::path::PathBuf>,
    /// Last date of history (with --data); the horizon after it is scored.
    #[arg(long)]
    as_of: Option<chrono::NaiveDate>,
    /// Period of the data (with --data).
    #[arg(long, value_enum, default_value_t = stockcast::contract::Frequency::Day)]
    freq: stockcast::contract::Frequency,
    #[arg(long, default_value_t = 2000)]
    skus: usize,
    #[arg(long, default_value_t = 10)]
    warehouses: usize,
    #[arg(long, default_value_t = 1095)]
    days: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Periods forecast after the origin (generated data: the origin is this many days
    /// before the data ends).
    #[arg(long, default_value_t = 56)]
    horizon: usize,
    /// Runs of stockcast; the median is reported (the Python baseline runs once).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Python with the reference pipeline's packages ("none" to skip the comparison).
    #[arg(long, default_value = "~/.cache/stockcast-baseline-venv/bin/python")]
    baseline_python: String,
    /// Folder with mlforecast_baseline.py and score.py.
    #[arg(long, default_value = "../shared/baselines")]
    baselines_dir: std::path::PathBuf,
}

fn print_real_forecast(
    cli: &Cli,
    config: &RealForecastBenchConfig,
    result: &RealForecastBenchResult,
) {
    let percent =
        |value: Option<f64>| value.map_or("–".to_string(), |v| format!("{:.1}%", v * 100.0));
    let signed =
        |value: Option<f64>| value.map_or("–".to_string(), |v| format!("{:+.1}%", v * 100.0));
    let plain = |value: Option<f64>| value.map_or("–".to_string(), |v| format!("{v:.3}"));
    if !cli.quiet {
        println!(
            "{} · as of {} · {} {}(s) · {} series, {} cells scored ({} gap cells left out), {:.0} units",
            config.data.display(),
            config.as_of,
            config.horizon,
            config.freq.as_str(),
            thousands(result.series_scored),
            thousands(result.cells_scored),
            thousands(result.gap_cells),
            result.actual_units
        );
        let mut out = table(&[
            "forecaster",
            "seconds",
            "WAPE",
            "weekly WAPE",
            "window WAPE",
            "window RMSE",
            "RMSSE mean / median",
            "bias",
            "WAPE promo / other",
            "p10–p90 coverage (window)",
        ]);
        for row in &result.rows {
            let s = &row.scores;
            out.add_row(vec![
                row.name.clone(),
                row.seconds.map_or("–".to_string(), |v| format!("{v:.1}")),
                percent(s.wape),
                percent(s.weekly_wape),
                percent(s.window_wape),
                plain(s.window_rmse),
                format!("{} / {}", plain(s.rmsse_mean), plain(s.rmsse_median)),
                signed(s.bias),
                format!("{} / {}", percent(s.promotion_wape), percent(s.other_wape)),
                match s.coverage_p10_p90 {
                    Some(_) => format!(
                        "{} ({})",
                        percent(s.coverage_p10_p90),
                        percent(s.window_coverage_p10_p90)
                    ),
                    None => "–".to_string(),
                },
            ]);
        }
        println!("{out}");
        if let Some(stockcast) = result
            .rows
            .first()
            .filter(|row| row.scores.coverage_p10_p90.is_some())
        {
            let s = &stockcast.scores;
            println!(
                "{} p10–p90 misses: {} below p10, {} above p90; coverage of promoted periods {}, of others {}",
                stockcast.name,
                percent(s.below_p10),
                percent(s.above_p90),
                percent(s.promotion_coverage_p10_p90),
                percent(s.other_coverage_p10_p90)
            );
        }
        println!(
            "chosen per category: {}",
            result
                .choices
                .iter()
                .map(|c| format!(
                    "{} = {}{}",
                    c.category,
                    c.chosen,
                    if c.pooled { " (on all categories)" } else { "" }
                ))
                .collect::<Vec<_>>()
                .join("; ")
        );
        if let Some(reason) = &result.reference_error {
            println!("note: no mlforecast row: {reason}");
        }
        if result.incoherent_quantiles > 0 {
            println!(
                "warning: {} forecast rows have incoherent quantiles",
                result.incoherent_quantiles
            );
        }
    }
    let json = serde_json::json!({
        "bench": "forecast",
        "data": config.data.display().to_string(),
        "as_of": config.as_of,
        "horizon": config.horizon,
        "freq": config.freq.as_str(),
        "series_scored": result.series_scored,
        "cells_scored": result.cells_scored,
        "gap_cells": result.gap_cells,
        "incoherent_quantiles": result.incoherent_quantiles,
        "forecasters": result.rows,
        "choices": result.choices,
        "reference_error": result.reference_error,
    });
    println!("{json}");
}

fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    let number = text.strip_suffix('s').unwrap_or(text);
    match number.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 600.0 => {
            Ok(std::time::Duration::from_secs_f64(seconds))
        }
        _ => Err(format!(
            "expected seconds between 0 and 600 like 10s, got {text:?}"
        )),
    }
}

pub async fn run(cli: &Cli, args: &BenchArgs) -> anyhow::Result<()> {
    match &args.command {
        BenchCommand::Reports(bench) => reports(cli, bench).await,
        BenchCommand::Reserve(bench) => reserve(cli, bench).await,
        BenchCommand::Ingest(bench) => ingest(cli, bench).await,
        BenchCommand::Nightly(bench) => nightly(cli, bench).await,
        BenchCommand::Allocate(bench) => allocate(cli, bench),
        BenchCommand::Forecast(bench) => forecast(cli, bench),
    }
}

/// A scratch folder for one benchmark, removed when dropped.
fn scratch_dir(prefix: &str) -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .context("creating a scratch folder")
}

/// `--postgres-url none` skips PostgreSQL.
fn postgres_admin_url(postgres_url: &str) -> Option<String> {
    (postgres_url != "none").then(|| postgres_url.to_string())
}

/// Seconds rounded to `digits` decimals, as the JSON lines print them.
fn rounded(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// Space-separated figures, one per run.
fn joined<T>(values: &[T], show: impl Fn(&T) -> String) -> String {
    values.iter().map(show).collect::<Vec<_>>().join(" ")
}

async fn reports(cli: &Cli, bench: &ReportsBench) -> anyhow::Result<()> {
    let config = stockcast::bench::PrepareConfig {
        exe: std::env::current_exe().context("locating the stockcast binary")?,
        dir: std::path::absolute(&bench.dir).context("resolving --dir")?,
        skus: bench.skus,
        warehouses: bench.warehouses,
        days: bench.days,
        seed: bench.seed,
        end_date: stockcast::jobs::default_sample_end_date(),
        horizon: bench.horizon,
    };
    let progress = spinner("preparing the benchmark database", cli.quiet);
    let url = stockcast::bench::prepare_dataset(&config).await;
    progress.finish_and_clear();
    let url = url?;
    let store = stockcast::store::Store::open(&url, &Default::default()).await?;
    let progress = spinner("timing reports", cli.quiet);
    let result = stockcast::bench::bench_reports(&store, bench.runs).await;
    progress.finish_and_clear();
    let result = result?;
    if !cli.quiet {
        print_reports(&result);
    }
    println!("{}", reports_json(&result));
    Ok(())
}

fn print_reports(result: &ReportsBenchResult) {
    let mut out = table(&["report", "median s", "runs (s)", "outcome"]);
    for report in &result.reports {
        out.add_row(vec![
            report.report.to_string(),
            format!("{:.3}", report.median_seconds),
            joined(&report.seconds, |s| format!("{s:.3}")),
            report.outcome.clone(),
        ]);
    }
    println!("{out}");
    println!(
        "baseline: reading the latest forecast run whole ({} rows) took {:.3} s",
        thousands(result.forecast_rows as usize),
        result.baseline_full_run_read_seconds
    );
}

fn reports_json(result: &ReportsBenchResult) -> serde_json::Value {
    let ratio = result.slowest_median_seconds / result.baseline_full_run_read_seconds.max(1e-9);
    let mut line = serde_json::json!({
        "bench": "reports",
        "forecast_rows": result.forecast_rows,
        "slowest_median_seconds": rounded(result.slowest_median_seconds, 3),
        "baseline_full_run_read_seconds": rounded(result.baseline_full_run_read_seconds, 3),
        "slowest_vs_baseline": rounded(ratio, 2),
    });
    for report in &result.reports {
        line[format!("{}_seconds", report.report.replace('-', "_"))] =
            serde_json::json!(rounded(report.median_seconds, 3));
    }
    line
}

async fn reserve(cli: &Cli, bench: &ReserveBench) -> anyhow::Result<()> {
    let work = scratch_dir("stockcast-bench-")?;
    let config = ReserveBenchConfig {
        backend: bench.backend,
        skus: bench.skus,
        clients: bench.clients,
        duration: bench.duration,
        runs: bench.runs,
        stock: bench.stock,
        max_batch: bench.max_batch,
        postgres_admin_url: bench.postgres.url.clone(),
        work_dir: work.path().to_path_buf(),
    };
    let progress = spinner("benchmarking reservations", cli.quiet);
    let result = bench_reserve(&config).await;
    progress.finish_and_clear();
    let result = result?;
    if !cli.quiet {
        print_reserve(bench, &result);
    }
    let json = serde_json::json!({
        "bench": "reserve",
        "backend": format!("{:?}", bench.backend).to_lowercase(),
        "reservations_per_second": result.reservations_per_second.round(),
        "naive_per_second": result.naive_per_second.round(),
        "ratio": rounded(result.ratio, 1),
        "floor_per_second": result.floor_per_second.round(),
        "floor_share": rounded(result.floor_share, 3),
        "p50_ms": rounded(result.p50_ms, 2),
        "p99_ms": rounded(result.p99_ms, 2),
        "oversold": result.oversold,
    });
    println!("{json}");
    if result.oversold != 0 {
        anyhow::bail!(
            "oversold {} units: the invariant is broken",
            result.oversold
        );
    }
    Ok(())
}

fn print_reserve(bench: &ReserveBench, result: &ReserveBenchResult) {
    let rates = |rates: &[f64]| joined(rates, |r| thousands(*r as usize));
    println!(
        "{} hot SKU(s), {} clients, {:.0} s per phase, {} run(s), {:?}",
        bench.skus,
        bench.clients,
        bench.duration.as_secs_f64(),
        bench.runs,
        bench.backend
    );
    println!(
        "group commit: median {} reservations/s (runs: {}), p50 {:.2} ms, p99 {:.2} ms, mean batch {:.0}",
        thousands(result.reservations_per_second as usize),
        rates(&result.run_rates),
        result.p50_ms,
        result.p99_ms,
        result.mean_batch
    );
    println!(
        "database floor (same writes, no stockcast code, batches of {}): median {} holds/s (runs: {})",
        result.floor_batch,
        thousands(result.floor_per_second as usize),
        rates(&result.floor_run_rates),
    );
    println!(
        "naive (one transaction per request): median {} reservations/s (runs: {}), p50 {:.2} ms, p99 {:.2} ms",
        thousands(result.naive_per_second as usize),
        rates(&result.naive_run_rates),
        result.naive_p50_ms,
        result.naive_p99_ms
    );
    println!(
        "{:.0}% of the floor, {:.1}× naive; sell-out race: {} of {} units held; oversold {}",
        result.floor_share * 100.0,
        result.ratio,
        result.sellout_held,
        result.sellout_stock,
        result.oversold
    );
}

async fn ingest(cli: &Cli, bench: &IngestBench) -> anyhow::Result<()> {
    let work = scratch_dir("stockcast-bench-")?;
    let config = IngestBenchConfig {
        skus: bench.skus,
        warehouses: bench.warehouses,
        days: bench.days,
        seed: bench.seed,
        runs: bench.runs,
        postgres_admin_url: postgres_admin_url(&bench.postgres.url),
        work_dir: work.path().to_path_buf(),
    };
    let progress = spinner("benchmarking ingest", cli.quiet);
    let result = bench_ingest(&config).await;
    progress.finish_and_clear();
    let result = result?;
    if !cli.quiet {
        print_ingest(bench, &result);
    }
    let json = serde_json::json!({
        "bench": "ingest",
        "rows": result.rows,
        "parse_rows_per_second": result.parse_rows_per_second.round(),
        "sqlite_rows_per_second": result.sqlite_rows_per_second.round(),
        "postgres_rows_per_second": result.postgres_rows_per_second.map(f64::round),
    });
    println!("{json}");
    Ok(())
}

fn print_ingest(bench: &IngestBench, result: &IngestBenchResult) {
    let mut out = table(&["stage", "median s", "rows/s", "runs (s)"]);
    let mut stage = |name: &str, seconds: &[f64], rate: f64| {
        out.add_row(vec![
            name.to_string(),
            format!("{:.2}", stockcast::bench::median(seconds)),
            thousands(rate as usize),
            joined(seconds, |s| format!("{s:.2}")),
        ]);
    };
    stage(
        "parse + validate",
        &result.parse_seconds,
        result.parse_rows_per_second,
    );
    stage(
        "load SQLite",
        &result.sqlite_seconds,
        result.sqlite_rows_per_second,
    );
    if let Some(rate) = result.postgres_rows_per_second {
        stage("load PostgreSQL", &result.postgres_seconds, rate);
    }
    println!(
        "sales file: {} rows, {:.1} MB ({} SKUs × {} warehouses × {} days)",
        thousands(result.rows),
        result.sales_file_bytes as f64 / 1e6,
        bench.skus,
        bench.warehouses,
        bench.days
    );
    println!("{out}");
}

async fn nightly(cli: &Cli, bench: &NightlyBench) -> anyhow::Result<()> {
    let work = scratch_dir("stockcast-bench-nightly-")?;
    let config = NightlyBenchConfig {
        skus: bench.skus,
        warehouses: bench.warehouses,
        days: bench.days,
        seed: bench.seed,
        sqlite: !bench.no_sqlite,
        postgres_admin_url: postgres_admin_url(&bench.postgres.url),
        work_dir: work.path().to_path_buf(),
    };
    let progress = spinner("benchmarking the nightly job", cli.quiet);
    let result = bench_nightly(&config).await;
    progress.finish_and_clear();
    let result = result?;
    if !cli.quiet {
        print_nightly(bench, &result);
    }
    println!("{}", nightly_json(&result));
    if let Some(failed) = result.backends.iter().find(|b| b.status != "succeeded") {
        anyhow::bail!("the nightly job {} on {}", failed.status, failed.backend);
    }
    Ok(())
}

fn nightly_json(result: &NightlyBenchResult) -> serde_json::Value {
    let mut json = serde_json::Map::new();
    json.insert("bench".into(), "nightly".into());
    json.insert("sales_rows".into(), result.sales_rows.into());
    for backend in &result.backends {
        // SQLite's figures are unprefixed (`seconds`, `<step>_seconds`); PostgreSQL's
        // carry a `postgres_` prefix when both ran.
        let prefix = if backend.backend == "sqlite" || result.backends.len() == 1 {
            String::new()
        } else {
            format!("{}_", backend.backend)
        };
        json.insert(
            format!("{prefix}seconds"),
            rounded(backend.seconds, 2).into(),
        );
        json.insert(
            format!("{prefix}backfill_seconds"),
            rounded(backend.backfill_seconds, 2).into(),
        );
        for step in &backend.steps {
            json.insert(
                format!("{prefix}{}_seconds", step.step.replace('-', "_")),
                rounded(step.seconds, 2).into(),
            );
        }
        if result.backends.len() == 1 {
            json.insert("backend".into(), backend.backend.into());
        }
    }
    serde_json::Value::Object(json)
}

fn print_nightly(bench: &NightlyBench, result: &NightlyBenchResult) {
    for backend in &result.backends {
        println!(
            "{}: history loaded first in {:.1} s (earlier nights, not timed below); \
             the night {} in {:.1} s{}",
            backend.backend,
            backend.backfill_seconds,
            backend.status,
            backend.seconds,
            backend
                .error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
        let mut out = table(&["step", "seconds", "rows in", "rows out", "detail"]);
        for step in &backend.steps {
            let count =
                |n: Option<i64>| n.map_or("–".to_string(), |n| thousands(n.max(0) as usize));
            out.add_row(vec![
                step.step.clone(),
                format!("{:.2}", step.seconds),
                count(step.rows_in),
                count(step.rows_out),
                step.detail.clone(),
            ]);
        }
        println!("{out}");
    }
    println!(
        "generated {} sales rows ({} SKUs × {} warehouses × {} days) in {:.1} s (not timed); \
         tonight's file holds the {} rows of {}",
        thousands(result.sales_rows),
        bench.skus,
        bench.warehouses,
        bench.days,
        result.generate_seconds,
        thousands(result.night_sales_rows),
        result.night
    );
}

fn allocate(cli: &Cli, bench: &AllocateBench) -> anyhow::Result<()> {
    let progress = spinner("benchmarking allocation", cli.quiet);
    let result = bench_allocate(bench.skus, bench.warehouses, bench.seed, bench.runs);
    progress.finish_and_clear();
    let result = result?;
    if !cli.quiet {
        println!(
            "{} SKUs × {} warehouses ({} cells), capacities binding: median {:.3} s over {} runs ({}); \
             objective {:.1}, LP bound {:.1}, gap {:.4}%; without capacities {:.3} s",
            thousands(result.skus),
            result.warehouses,
            thousands(result.cells),
            result.solve_seconds,
            result.run_seconds.len(),
            joined(&result.run_seconds, |s| format!("{s:.3}")),
            result.objective,
            result.bound,
            result.gap * 100.0,
            result.uncapacitated_seconds,
        );
    }
    let json = serde_json::json!({
        "bench": "allocate",
        "solve_seconds": rounded(result.solve_seconds, 3),
        "gap": result.gap,
        "objective": result.objective,
        "bound": result.bound,
        "skus": result.skus,
        "warehouses": result.warehouses,
    });
    println!("{json}");
    Ok(())
}

/// The reference pipeline's Python (`~/` expanded), or None (with a note) when it is not
/// installed or `none` was asked for.
fn baseline_python(path: &str) -> Option<std::path::PathBuf> {
    if path == "none" {
        return None;
    }
    let expanded = match path.strip_prefix("~/") {
        Some(rest) => {
            std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(rest)
        }
        None => std::path::PathBuf::from(path),
    };
    if expanded.exists() {
        Some(expanded)
    } else {
        eprintln!(
            "note: {} not found; run ../shared/baselines/setup.sh for the comparison",
            expanded.display()
        );
        None
    }
}

fn forecast(cli: &Cli, bench: &ForecastBench) -> anyhow::Result<()> {
    let work = scratch_dir("stockcast-bench-")?;
    let python = baseline_python(&bench.baseline_python);
    if let (Some(data), Some(as_of)) = (&bench.data, bench.as_of) {
        let config = RealForecastBenchConfig {
            data: data.clone(),
            freq: bench.freq,
            as_of,
            horizon: bench.horizon,
            python,
            baselines_dir: Some(bench.baselines_dir.clone()),
            work_dir: work.path().to_path_buf(),
        };
        let progress = spinner("benchmarking forecast", cli.quiet);
        let result = bench_real_forecast(&config);
        progress.finish_and_clear();
        print_real_forecast(cli, &config, &result?);
        return Ok(());
    }
    let config = ForecastBenchConfig {
        skus: bench.skus,
        warehouses: bench.warehouses,
        days: bench.days,
        seed: bench.seed,
        horizon: bench.horizon,
        runs: bench.runs,
        python,
        baselines_dir: Some(bench.baselines_dir.clone()),
        work_dir: work.path().to_path_buf(),
    };
    let progress = spinner("benchmarking forecast", cli.quiet);
    let result = bench_forecast(&config);
    progress.finish_and_clear();
    let result = result?;
    if !cli.quiet {
        print_forecast(bench, &result);
    }
    println!("{}", forecast_json(&result));
    Ok(())
}

fn print_forecast(bench: &ForecastBench, result: &ForecastBenchResult) {
    println!(
        "{} SKUs × {} warehouses × {} days, origin {}, horizon {} days",
        bench.skus, bench.warehouses, bench.days, result.as_of, bench.horizon
    );
    println!(
        "stockcast: median {:.2} s over {} runs ({}), peak {:.0} MB, {} forecast rows for {} series",
        result.seconds,
        result.run_seconds.len(),
        joined(&result.run_seconds, |s| format!("{s:.2}")),
        result.peak_rss_mb,
        thousands(result.rows),
        thousands(result.series)
    );
    println!(
        "  phases (median s): {}",
        result
            .phase_seconds
            .iter()
            .map(|(name, seconds)| format!("{name} {seconds:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let weeks = &result.promotion_weeks;
    let show = |value: Option<f64>| value.map_or("–".to_string(), |v| format!("{v:.4}"));
    println!(
        "promotion weeks ({} SKU × warehouse weeks): weekly WAPE stockcast {}, seasonal naive {}, truth {} → {} better than seasonal naive",
        thousands(weeks.promotion_weeks),
        show(weeks.stockcast),
        show(weeks.seasonal_naive),
        show(weeks.truth),
        weeks.gain_over_naive.map_or("–".to_string(), |g| format!("{:.1}%", g * 100.0)),
    );
    if let (Some(baseline), Some(speedup)) = (result.baseline_seconds, result.speedup) {
        println!("mlforecast + LightGBM: {baseline:.2} s → stockcast is {speedup:.1}× faster");
    }
    for line in &result.scores {
        println!("{line}");
    }
}

fn forecast_json(result: &ForecastBenchResult) -> serde_json::Value {
    let phase_seconds = result
        .phase_seconds
        .iter()
        .map(|(name, seconds)| (name.clone(), serde_json::json!(rounded(*seconds, 3))))
        .collect::<serde_json::Map<String, serde_json::Value>>();
    serde_json::json!({
        "bench": "forecast",
        "seconds": rounded(result.seconds, 3),
        "peak_rss_mb": result.peak_rss_mb.round(),
        "rows": result.rows,
        "series": result.series,
        "baseline_seconds": result.baseline_seconds.map(|s| rounded(s, 3)),
        "speedup": result.speedup.map(|s| rounded(s, 2)),
        "phase_seconds": phase_seconds,
        "promotion_week_wape": result.promotion_weeks.stockcast,
        "promotion_week_wape_seasonal_naive": result.promotion_weeks.seasonal_naive,
        "promotion_week_gain_over_naive": result.promotion_weeks.gain_over_naive,
    })
}
