use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use super::{open_store, Cli};
use stockcast::jobs::scheduler::{FireOutcome, Scheduler};
use stockcast::jobs::steps::PipelineSteps;
use stockcast::jobs::{load_jobs_dir, SystemClock};

#[derive(Debug, clap::Args)]
pub struct SchedulerArgs {
    /// Folder of job definitions (every file is validated before the scheduler starts).
    #[arg(long, default_value = "jobs")]
    pub jobs_dir: PathBuf,
    /// On SIGTERM/SIGINT, how long the current step may run on before it is abandoned.
    #[arg(long, default_value_t = 30)]
    pub grace_seconds: u64,
}

/// Turns SIGTERM and SIGINT into `true` on `stop`.
pub fn stop_on_signals(stop: watch::Sender<bool>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing a SIGINT handler")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        eprintln!("stop requested: finishing or abandoning the current step, then exiting");
        let _ = stop.send(true);
    });
    Ok(())
}

pub async fn run(cli: &Cli, args: &SchedulerArgs) -> anyhow::Result<()> {
    let jobs = load_jobs_dir(&args.jobs_dir)?;
    if jobs.is_empty() {
        return Err(super::BadInput(format!(
            "{}: no job files (*.toml) to schedule",
            args.jobs_dir.display()
        ))
        .into());
    }
    let store = open_store(cli).await?;
    let (stop_sender, stop) = watch::channel(false);
    stop_on_signals(stop_sender)?;
    let base_dir = std::env::current_dir().context("reading the working directory")?;
    if !cli.quiet {
        for job in &jobs {
            println!(
                "scheduling {} at '{}' ({}), missed runs: {}",
                job.name,
                job.schedule,
                job.time_zone.name(),
                job.missed_runs.as_str()
            );
        }
    }
    let quiet = cli.quiet;
    let scheduler = Scheduler::new(
        store,
        jobs,
        base_dir,
        Duration::from_secs(args.grace_seconds),
        &PipelineSteps,
        &SystemClock,
    )
    .await?;
    let fired = scheduler
        .run(stop, |outcome| {
            if quiet {
                return;
            }
            match outcome {
                FireOutcome::Ran(report) => println!(
                    "{} run {} ({}) for {}: {} in {:.1} s{}",
                    report.job,
                    report.run_id,
                    report.trigger.as_str(),
                    report.as_of,
                    report.status.as_str(),
                    report.seconds,
                    report
                        .error
                        .as_ref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ),
                FireOutcome::NotStarted { job, reason } => println!("{job}: not started: {reason}"),
                FireOutcome::Skipped {
                    job,
                    scheduled_for,
                    missed,
                } => println!(
                    "{job}: skipped {missed} missed run(s) up to {}",
                    scheduled_for.to_rfc3339()
                ),
                FireOutcome::Error { job, error } => println!("{job}: error: {error}"),
            }
        })
        .await?;
    if !quiet {
        println!("scheduler stopped after {fired} fire(s)");
    }
    Ok(())
}
