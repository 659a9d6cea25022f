use anyhow::Context;

use super::output::{spinner, table, thousands};
use super::Cli;
use stockcast::bench::{
    bench_allocate, bench_forecast, bench_ingest, bench_nightly, ForecastBenchConfig,
    IngestBenchConfig, NightlyBenchConfig,
};

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
    /// The whole nightly job (ingest → … → published allocation) on generated data, on SQLite
    /// and PostgreSQL, one run each; per-step seconds from the run's history.
    Nightly {
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
        /// PostgreSQL server to create a scratch database on ("none" to skip).
        #[arg(
            long,
            env = "STOCKCAST_BENCH_POSTGRES_URL",
            default_value = "postgres://postgres@127.0.0.1:5432/postgres"
        )]
        postgres_url: String,
    },
    /// The allocation solver on a generated instance with binding capacities (gap vs the LP bound).
    Allocate {
        #[arg(long, default_value_t = 20_000)]
        skus: usize,
        #[arg(long, default_value_t = 10)]
        warehouses: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Features + fit + forecast with quantiles, end to end from files, against the Python
    /// reference pipeline (mlforecast + LightGBM) on the same data, scored by score.py.
    Forecast {
        #[arg(long, default_value_t = 2000)]
        skus: usize,
        #[arg(long, default_value_t = 10)]
        warehouses: usize,
        #[arg(long, default_value_t = 1095)]
        days: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Days forecast after the origin (the origin is this many days before the data ends).
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
        BenchCommand::Nightly {
            skus,
            warehouses,
            days,
            seed,
            no_sqlite,
            postgres_url,
        } => {
            let work = tempfile::Builder::new()
                .prefix("stockcast-bench-nightly-")
                .tempdir()
                .context("creating a scratch folder")?;
            let config = NightlyBenchConfig {
                skus: *skus,
                warehouses: *warehouses,
                days: *days,
                seed: *seed,
                sqlite: !no_sqlite,
                postgres_admin_url: (postgres_url != "none").then(|| postgres_url.clone()),
                work_dir: work.path().to_path_buf(),
            };
            let progress = spinner("benchmarking the nightly job", cli.quiet);
            let result = bench_nightly(&config).await;
            progress.finish_and_clear();
            let result = result?;
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
                    ((backend.seconds * 100.0).round() / 100.0).into(),
                );
                for step in &backend.steps {
                    json.insert(
                        format!("{prefix}{}_seconds", step.step.replace('-', "_")),
                        ((step.seconds * 100.0).round() / 100.0).into(),
                    );
                }
                if result.backends.len() == 1 {
                    json.insert("backend".into(), backend.backend.into());
                }
                if !cli.quiet {
                    println!(
                        "{}: {} in {:.1} s{}",
                        backend.backend,
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
                        let count = |n: Option<i64>| {
                            n.map_or("–".to_string(), |n| thousands(n.max(0) as usize))
                        };
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
            }
            if !cli.quiet {
                println!(
                    "generated {} sales rows ({skus} SKUs × {warehouses} warehouses × {days} days) in {:.1} s (not timed)",
                    thousands(result.sales_rows),
                    result.generate_seconds
                );
            }
            println!("{}", serde_json::Value::Object(json));
            if let Some(failed) = result.backends.iter().find(|b| b.status != "succeeded") {
                anyhow::bail!("the nightly job {} on {}", failed.status, failed.backend);
            }
        }
        BenchCommand::Allocate {
            skus,
            warehouses,
            seed,
            runs,
        } => {
            let progress = spinner("benchmarking allocation", cli.quiet);
            let result = bench_allocate(*skus, *warehouses, *seed, *runs);
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
                    result.run_seconds.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>().join(" "),
                    result.objective,
                    result.bound,
                    result.gap * 100.0,
                    result.uncapacitated_seconds,
                );
            }
            let json = serde_json::json!({
                "bench": "allocate",
                "solve_seconds": (result.solve_seconds * 1000.0).round() / 1000.0,
                "gap": result.gap,
                "objective": result.objective,
                "bound": result.bound,
                "skus": result.skus,
                "warehouses": result.warehouses,
            });
            println!("{json}");
        }
        BenchCommand::Forecast {
            skus,
            warehouses,
            days,
            seed,
            horizon,
            runs,
            baseline_python,
            baselines_dir,
        } => {
            let work = tempfile::Builder::new()
                .prefix("stockcast-bench-")
                .tempdir()
                .context("creating a scratch folder")?;
            let python = match baseline_python.as_str() {
                "none" => None,
                path => {
                    let expanded = match path.strip_prefix("~/") {
                        Some(rest) => {
                            std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default())
                                .join(rest)
                        }
                        None => std::path::PathBuf::from(path),
                    };
                    if expanded.exists() {
                        Some(expanded)
                    } else {
                        eprintln!("note: {} not found; run ../shared/baselines/setup.sh for the comparison", expanded.display());
                        None
                    }
                }
            };
            let config = ForecastBenchConfig {
                skus: *skus,
                warehouses: *warehouses,
                days: *days,
                seed: *seed,
                horizon: *horizon,
                runs: *runs,
                python,
                baselines_dir: Some(baselines_dir.clone()),
                work_dir: work.path().to_path_buf(),
            };
            let progress = spinner("benchmarking forecast", cli.quiet);
            let result = bench_forecast(&config);
            progress.finish_and_clear();
            let result = result?;
            if !cli.quiet {
                println!(
                    "{skus} SKUs × {warehouses} warehouses × {days} days, origin {}, horizon {horizon} days",
                    result.as_of
                );
                println!(
                    "stockcast: median {:.2} s over {} runs ({}), peak {:.0} MB, {} forecast rows for {} series",
                    result.seconds,
                    result.run_seconds.len(),
                    result.run_seconds.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>().join(" "),
                    result.peak_rss_mb,
                    thousands(result.rows),
                    thousands(result.series)
                );
                if let (Some(baseline), Some(speedup)) = (result.baseline_seconds, result.speedup) {
                    println!("mlforecast + LightGBM: {baseline:.2} s → stockcast is {speedup:.1}× faster");
                }
                for line in &result.scores {
                    println!("{line}");
                }
            }
            let json = serde_json::json!({
                "bench": "forecast",
                "seconds": (result.seconds * 1000.0).round() / 1000.0,
                "peak_rss_mb": result.peak_rss_mb.round(),
                "rows": result.rows,
                "series": result.series,
                "baseline_seconds": result.baseline_seconds.map(|s| (s * 1000.0).round() / 1000.0),
                "speedup": result.speedup.map(|s| (s * 100.0).round() / 100.0),
            });
            println!("{json}");
        }
    }
    Ok(())
}
