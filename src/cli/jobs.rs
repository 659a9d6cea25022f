use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;

use super::output::{spinner, table, thousands};
use super::{open_store, BadInput, Cli};
use stockcast::jobs::{load_jobs_dir, run_job, JobError};

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
        /// Business date the run is for; defaults to today.
        #[arg(long)]
        as_of: Option<NaiveDate>,
    },
}

pub async fn run(cli: &Cli, args: &JobsArgs) -> anyhow::Result<()> {
    let jobs = load_jobs_dir(&args.jobs_dir)?;
    match &args.command {
        JobsCommand::List => {
            let mut out = table(&["job", "schedule", "steps", "file"]);
            for job in &jobs {
                out.add_row(vec![
                    job.name.clone(),
                    job.schedule.clone(),
                    job.steps
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" → "),
                    job.source.display().to_string(),
                ]);
            }
            println!("{out}");
        }
        JobsCommand::Run { name, as_of } => {
            let job =
                jobs.iter()
                    .find(|job| &job.name == name)
                    .ok_or_else(|| JobError::UnknownJob {
                        name: name.clone(),
                        dir: args.jobs_dir.clone(),
                        known: jobs
                            .iter()
                            .map(|j| j.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?;
            if let Some(as_of) = as_of {
                if *as_of > chrono::Utc::now().date_naive() + chrono::Duration::days(1) {
                    return Err(BadInput(format!("--as-of {as_of} is in the future")).into());
                }
            }
            let store = open_store(cli).await?;
            let progress = spinner(&format!("running job {name}"), cli.quiet);
            let base_dir = std::env::current_dir().context("reading the working directory")?;
            let report = run_job(&store, job, &base_dir).await;
            progress.finish_and_clear();
            let report = report.with_context(|| format!("job {name}"))?;
            if cli.quiet {
                return Ok(());
            }
            println!(
                "job {} on {}",
                report.job,
                stockcast::store::redact(&cli.database_url)
            );
            if let Some(sample) = &report.generated_sample {
                println!("generated sample data: {sample}");
            }
            if let Some(ingest) = &report.ingest {
                super::ingest::print_report(ingest);
            }
            if let Some(summary) = &report.summary {
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
            let steps: Vec<String> = report
                .steps
                .iter()
                .map(|step| format!("{} {:.2} s", step.step, step.seconds))
                .collect();
            println!("done: {}", steps.join(", "));
        }
    }
    Ok(())
}
