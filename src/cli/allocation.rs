use super::output::{table, thousands};
use super::{open_store, Cli};
use stockcast::allocation::runs::{diff_runs, find_run, latest_published, list_runs, run_targets};

#[derive(Debug, clap::Args)]
pub struct AllocationArgs {
    #[command(subcommand)]
    pub command: AllocationCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AllocationCommand {
    /// Every allocation run, newest first; the one in force is marked.
    List,
    /// One run's summary and targets ("latest" for the one in force).
    Show { run: String },
    /// Targets that differ between two runs.
    Diff { run_a: String, run_b: String },
}

pub async fn run(cli: &Cli, args: &AllocationArgs) -> anyhow::Result<()> {
    let store = open_store(cli).await?;
    match &args.command {
        AllocationCommand::List => {
            let current = latest_published(&store).await?.map(|run| run.id);
            let mut out = table(&[
                "run",
                "promotion",
                "as of",
                "policy",
                "status",
                "objective",
                "gap",
                "created",
            ]);
            for run in list_runs(&store).await? {
                let status = if current.as_deref() == Some(run.id.as_str()) {
                    "published (in force)".to_string()
                } else {
                    run.status.clone()
                };
                out.add_row(vec![
                    run.id,
                    run.promotion,
                    run.as_of.to_string(),
                    run.policy,
                    status,
                    format!("{:.0}", run.objective),
                    format!("{:.3}%", run.gap * 100.0),
                    run.created_at.format("%Y-%m-%d %H:%M").to_string(),
                ]);
            }
            println!("{out}");
        }
        AllocationCommand::Show { run } => {
            let summary = if run == "latest" {
                latest_published(&store)
                    .await?
                    .ok_or_else(|| super::BadInput("no published allocation yet".to_string()))?
            } else {
                find_run(&store, run).await?
            };
            println!(
                "{} · promotion {} · as of {} · {} · {} · objective {:.0}, bound {:.0}, gap {:.3}%",
                summary.id,
                summary.promotion,
                summary.as_of,
                summary.policy,
                summary.status,
                summary.objective,
                summary.bound,
                summary.gap * 100.0
            );
            let targets = run_targets(&store, &summary.id).await?;
            let mut out = table(&[
                "sku",
                "warehouse",
                "current",
                "target",
                "change",
                "expected sales",
                "fill rate",
            ]);
            for row in targets
                .iter()
                .filter(|row| row.target_units != row.current_units)
                .take(50)
            {
                out.add_row(vec![
                    row.sku.clone(),
                    row.warehouse.clone(),
                    row.current_units.to_string(),
                    row.target_units.to_string(),
                    format!("{:+}", row.target_units - row.current_units),
                    format!("{:.1}", row.expected_sales),
                    format!("{:.1}%", row.fill_rate * 100.0),
                ]);
            }
            println!(
                "{} targets, {} changed (first 50 changes):\n{out}",
                thousands(targets.len()),
                targets
                    .iter()
                    .filter(|r| r.target_units != r.current_units)
                    .count()
            );
            for message in summary.messages.lines().take(20) {
                println!("note: {message}");
            }
        }
        AllocationCommand::Diff { run_a, run_b } => {
            let differences = diff_runs(&store, run_a, run_b).await?;
            let mut out = table(&["sku", "warehouse", run_a.as_str(), run_b.as_str(), "change"]);
            for ((sku, warehouse), (a, b)) in differences.iter().take(200) {
                out.add_row(vec![
                    sku.clone(),
                    warehouse.clone(),
                    a.to_string(),
                    b.to_string(),
                    format!("{:+}", b - a),
                ]);
            }
            println!("{} target(s) differ:\n{out}", differences.len());
        }
    }
    Ok(())
}
