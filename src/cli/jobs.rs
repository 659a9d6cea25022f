use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDate;

use super::output::{spinner, table, thousands};
use super::{open_store, BadInput, Cli};
use stockcast::jobs::history::{find_run, list_runs, run_outputs, run_steps, RunRow, StepRow};
use stockcast::jobs::holds::{approve, find_hold};
use stockcast::jobs::shards::run_worker;
use stockcast::jobs::{
    find_job, load_jobs_dir, run_job, JobRunReport, RunOptions, StagedAllocation, StepReport,
};
use stockcast::report::DatasetSummary;

#[derive(Debug, clap::Args)]
pub struct JobsArgs {
    /// Folder of job definitions.
    #[arg(long, global = true, default_value = "jobs")]
    pub jobs_dir: PathBuf,
    #[command(subcommand)]
    pub command: JobsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum JobsCommand {
    /// Validate every job file and list the jobs with their schedules.
    List,
    /// Run one job now (what cron calls: `stockcast jobs run nightly`).
    Run {
        /// Job name (the file name without .toml).
        name: String,
        /// Business date the run is for; default: yesterday in the job's time zone, moved
        /// back to the last date ingested sales cover when the data ends earlier.
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Publish even if the publish guard would hold the run (its findings are noted).
        #[arg(long)]
        force: bool,
    },
    /// Publish a run the publish guard held, on purpose (see `jobs show RUN` for why it was held).
    Approve {
        /// Run id (see `jobs history`: status `held`).
        run: String,
    },
    /// Past runs, newest first.
    History {
        /// Only this job.
        name: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One run: its steps, rows, durations and outputs.
    Show {
        /// Run id (see `jobs history`).
        run: String,
    },
    /// Work forecast shards from the PostgreSQL queue (the scale path of `forecast.shards`).
    Worker {
        /// Exit once the queue has been empty this long (default: run until SIGTERM).
        #[arg(long)]
        idle_exit_seconds: Option<u64>,
        /// Folder of model artifacts (as in the job files).
        #[arg(long, default_value = "models")]
        models_dir: PathBuf,
    },
}

fn cell<T: ToString>(value: Option<T>) -> String {
    value.map_or("–".to_string(), |v| v.to_string())
}

fn seconds(value: Option<f64>) -> String {
    value.map_or("–".to_string(), |s| format!("{s:.2}"))
}

pub async fn run(cli: &Cli, args: &JobsArgs) -> anyhow::Result<()> {
    match &args.command {
        JobsCommand::List => list(&args.jobs_dir),
        JobsCommand::Run { name, as_of, force } => {
            run_now(cli, &args.jobs_dir, name, *as_of, *force).await
        }
        JobsCommand::Approve { run } => approve_run(cli, run).await,
        JobsCommand::History { name, limit } => {
            let store = open_store(cli).await?;
            let runs = list_runs(&store, name.as_deref(), *limit).await?;
            print_history(&runs);
            Ok(())
        }
        JobsCommand::Show { run } => show(cli, run).await,
        JobsCommand::Worker {
            idle_exit_seconds,
            models_dir,
        } => worker(cli, *idle_exit_seconds, models_dir).await,
    }
}

fn list(jobs_dir: &std::path::Path) -> anyhow::Result<()> {
    let jobs = load_jobs_dir(jobs_dir)?;
    let mut out = table(&[
        "job",
        "schedule",
        "time zone",
        "missed runs",
        "steps",
        "file",
    ]);
    for job in &jobs {
        out.add_row(vec![
            job.name.clone(),
            job.schedule.clone(),
            job.time_zone.name().to_string(),
            job.missed_runs.as_str().to_string(),
            job.steps
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" → "),
            job.source.display().to_string(),
        ]);
    }
    println!("{out}");
    Ok(())
}

async fn run_now(
    cli: &Cli,
    jobs_dir: &std::path::Path,
    name: &str,
    as_of: Option<NaiveDate>,
    force: bool,
) -> anyhow::Result<()> {
    let jobs = load_jobs_dir(jobs_dir)?;
    let job = find_job(&jobs, name, jobs_dir)?;
    if let Some(as_of) = as_of {
        if as_of > chrono::Utc::now().date_naive() + chrono::Duration::days(1) {
            return Err(BadInput(format!("--as-of {as_of} is in the future")).into());
        }
    }
    let store = open_store(cli).await?;
    let progress = spinner(&format!("running job {name}"), cli.quiet);
    let base_dir = std::env::current_dir().context("reading the working directory")?;
    let options = RunOptions {
        force_publish: force,
        ..RunOptions::manual(base_dir, as_of)
    };
    let report = run_job(&store, job, &options).await;
    progress.finish_and_clear();
    let report = report.with_context(|| format!("job {name}"))?;
    if !cli.quiet {
        println!(
            "job {} run {} for {} on {}",
            report.job,
            report.run_id,
            report.as_of,
            stockcast::store::redact(&cli.database_url)
        );
        print_report(&report);
    }
    report.into_result()?;
    Ok(())
}

async fn approve_run(cli: &Cli, run: &str) -> anyhow::Result<()> {
    let store = open_store(cli).await?;
    let who = format!(
        "{}@{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".to_string()),
        stockcast::jobs::lock::host_name()
    );
    let published = approve(&store, run, &who, chrono::Utc::now()).await?;
    if !cli.quiet {
        println!(
                    "approved {run}: published {} forecast run(s) and {} allocation run(s); replaced {} earlier output(s)",
                    published.forecast_runs,
                    published.allocation_runs,
                    published.replaced.total()
                );
    }
    Ok(())
}

async fn show(cli: &Cli, run: &str) -> anyhow::Result<()> {
    let store = open_store(cli).await?;
    let row = find_run(&store, run).await?;
    println!(
        "run {} of {} for {} ({}), {}: {} → {} ({} s) on {}",
        row.id,
        row.job,
        row.as_of,
        row.trigger,
        row.status,
        row.started_at.to_rfc3339(),
        cell(row.finished_at.map(|t| t.to_rfc3339())),
        seconds(row.seconds()),
        row.host
    );
    if let Some(fire) = row.scheduled_for {
        println!("scheduled for {}", fire.to_rfc3339());
    }
    if let Some(error) = &row.error {
        println!("error: {error}");
    }
    if let Some(hold) = find_hold(&store, run).await? {
        println!(
            "publish guard: {} at {}{}: {}",
            hold.status,
            hold.held_at.to_rfc3339(),
            match (&hold.resolved_at, &hold.resolved_by) {
                (Some(at), Some(by)) => format!(" (resolved {} by {by})", at.to_rfc3339()),
                _ => String::new(),
            },
            hold.reason
        );
    }
    let steps = run_steps(&store, run).await?;
    let outputs = run_outputs(&store, run).await?;
    print_steps_and_outputs(&steps, &outputs);
    Ok(())
}

fn print_steps_and_outputs(steps: &[StepRow], outputs: &[(String, String)]) {
    let mut out = table(&[
        "#", "step", "status", "attempts", "seconds", "rows in", "rows out", "detail",
    ]);
    for step in steps {
        out.add_row(vec![
            (step.position + 1).to_string(),
            step.step.clone(),
            step.status.clone(),
            step.attempts.to_string(),
            seconds(step.seconds()),
            cell(step.rows_in.map(|n| thousands(n.max(0) as usize))),
            cell(step.rows_out.map(|n| thousands(n.max(0) as usize))),
            step.error
                .clone()
                .or_else(|| step.detail.clone())
                .unwrap_or_default(),
        ]);
    }
    println!("{out}");
    if !outputs.is_empty() {
        let mut out = table(&["output", "id"]);
        for (kind, id) in outputs {
            out.add_row(vec![kind.clone(), id.clone()]);
        }
        println!("{out}");
    }
}

async fn worker(
    cli: &Cli,
    idle_exit_seconds: Option<u64>,
    models_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let store = open_store(cli).await?;
    if !store.supports_skip_locked() {
        return Err(BadInput(
            "jobs worker needs PostgreSQL (--database-url postgres://…)".to_string(),
        )
        .into());
    }
    let (stop_sender, stop) = tokio::sync::watch::channel(false);
    super::scheduler::stop_on_signals(stop_sender)?;
    let worker = format!(
        "{}:{}",
        stockcast::jobs::lock::host_name(),
        std::process::id()
    );
    let done = run_worker(
        &store,
        &worker,
        models_dir,
        idle_exit_seconds.map(Duration::from_secs),
        stop,
    )
    .await?;
    if !cli.quiet {
        println!("worker {worker}: {} shard(s) done", done.len());
        for shard in &done {
            println!(
                "  {} / {}: {} rows in {:.1} s",
                shard.job_run_id,
                shard.category,
                thousands(shard.rows),
                shard.seconds
            );
        }
    }
    Ok(())
}

pub fn print_history(runs: &[RunRow]) {
    let mut out = table(&[
        "run",
        "job",
        "as of",
        "trigger",
        "status",
        "started",
        "seconds",
        "forecast run",
        "allocation run",
        "error",
    ]);
    for run in runs {
        out.add_row(vec![
            run.id.clone(),
            run.job.clone(),
            run.as_of.to_string(),
            run.trigger.clone(),
            run.status.clone(),
            run.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            seconds(run.seconds()),
            cell(run.forecast_run_id.clone()),
            cell(run.allocation_run_id.clone()),
            cell(run.error.clone()),
        ]);
    }
    println!("{out}");
}

pub fn print_report(report: &JobRunReport) {
    if report.abandoned_runs > 0 {
        println!(
            "recovered the job's lock from {} abandoned run(s)",
            report.abandoned_runs
        );
    }
    if report.discarded.total() > 0 {
        println!(
            "discarded unpublished outputs of earlier runs: {} forecast run(s), {} allocation run(s), {} model(s)",
            report.discarded.forecast_runs, report.discarded.allocation_runs, report.discarded.models
        );
    }
    if let Some(sample) = &report.generated_sample {
        println!("generated sample data: {sample}");
    }
    if let Some(ingest) = &report.ingest {
        super::ingest::print_report(ingest);
    }
    if let Some(summary) = &report.summary {
        print_dataset_summary(summary);
    }
    if !report.allocations.is_empty() {
        print_allocations(&report.allocations);
    }
    print_steps(&report.steps);
    for note in &report.notes {
        println!("note: {note}");
    }
    if let Some(path) = &report.report_path {
        println!("report: {}", path.display());
    }
    println!(
        "{}: {} in {:.1} s",
        report.job,
        report.status.as_str(),
        report.seconds
    );
    let steps: Vec<String> = report
        .steps
        .iter()
        .map(|step| format!("{} {:.2} s", step.step, step.seconds))
        .collect();
    println!("done: {}", steps.join(", "));
}

/// What the store holds after the run.
fn print_dataset_summary(summary: &DatasetSummary) {
    let mut out = table(&["store holds", "value"]);
    for count in &summary.tables {
        out.add_row(vec![
            format!("{} rows", count.table),
            thousands(count.rows.max(0) as usize),
        ]);
    }
    let span = match (summary.sales_first_date, summary.sales_last_date) {
        (Some(first), Some(last)) => format!("{first} … {last}"),
        _ => "none".to_string(),
    };
    out.add_row(vec!["sales history".to_string(), span]);
    out.add_row(vec![
        "sku × warehouse series".to_string(),
        thousands(summary.series.max(0) as usize),
    ]);
    out.add_row(vec![
        "units sold".to_string(),
        format!("{:.0}", summary.units_total),
    ]);
    out.add_row(vec![
        "promotions ending after history".to_string(),
        summary.promotions_after_history.to_string(),
    ]);
    println!("{out}");
}

/// The allocation runs the job staged.
fn print_allocations(allocations: &[StagedAllocation]) {
    let mut out = table(&[
        "allocation run",
        "promotion",
        "SKUs",
        "warehouses",
        "units placed",
        "units to move",
    ]);
    for allocation in allocations {
        out.add_row(vec![
            allocation.run_id.clone(),
            allocation.promotion.clone(),
            thousands(allocation.skus),
            thousands(allocation.warehouses),
            thousands(allocation.units_placed as usize),
            thousands(allocation.units_moved as usize),
        ]);
    }
    println!("{out}");
}

fn print_steps(steps: &[StepReport]) {
    let mut out = table(&[
        "step", "status", "attempts", "seconds", "rows in", "rows out", "detail",
    ]);
    for step in steps {
        out.add_row(vec![
            step.step.to_string(),
            step.status.as_str().to_string(),
            step.attempts.to_string(),
            format!("{:.2}", step.seconds),
            cell(step.rows_in.map(|n| thousands(n.max(0) as usize))),
            cell(step.rows_out.map(|n| thousands(n.max(0) as usize))),
            step.error.clone().unwrap_or_else(|| step.detail.clone()),
        ]);
    }
    println!("{out}");
}
