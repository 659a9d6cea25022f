use super::output::{table, thousands};
use super::{open_store, Cli};
use stockcast::allocation::in_force::{load_published, resolve, Standing};
use stockcast::allocation::runs::{
    diff_runs, figures_line, find_run, latest_for_promotion, latest_published, list_runs,
    run_targets, RunSummary,
};
use stockcast::store::Store;

#[derive(Debug, clap::Args)]
pub struct AllocationArgs {
    #[command(subcommand)]
    pub command: AllocationCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AllocationCommand {
    /// Every allocation run, newest first, with its standing (in force, scheduled,
    /// superseded, ended).
    List {
        /// Only runs that plan this promotion.
        #[arg(long)]
        promotion: Option<String>,
    },
    /// One run's summary and targets ("latest" for the one in force, or with --promotion the
    /// latest published plan for that promotion).
    Show {
        run: String,
        #[arg(long)]
        promotion: Option<String>,
    },
    /// Targets that differ between two runs (warns when they plan different promotions).
    Diff { run_a: String, run_b: String },
}

pub async fn run(cli: &Cli, args: &AllocationArgs) -> anyhow::Result<()> {
    let store = open_store(cli).await?;
    match &args.command {
        AllocationCommand::List { promotion } => list(&store, promotion.as_deref()).await,
        AllocationCommand::Show { run, promotion } => {
            let summary = find_shown_run(&store, run, promotion.as_deref()).await?;
            print_summary(&store, &summary).await?;
            print_targets(&store, &summary).await
        }
        AllocationCommand::Diff { run_a, run_b } => diff(&store, run_a, run_b).await,
    }
}

async fn list(store: &Store, promotion: Option<&str>) -> anyhow::Result<()> {
    let resolution = resolve(&load_published(store, None).await?);
    let mut out = table(&[
        "run",
        "promotions",
        "window",
        "as of",
        "policy",
        "status",
        "objective",
        "gap",
        "created",
    ]);
    for run in list_runs(store).await? {
        if promotion.is_some_and(|p| !run.promotions.iter().any(|q| q == p)) {
            continue;
        }
        let status = match resolution.standings.get(&run.id) {
            Some(standing) => format!("{} ({})", run.status, standing.label()),
            None => run.status.clone(),
        };
        let window = match (run.window_start, run.window_end) {
            (Some(start), Some(end)) => format!("{start} … {end}"),
            _ => "–".to_string(),
        };
        out.add_row(vec![
            run.id,
            run.promotions.join(", "),
            window,
            run.as_of.to_string(),
            run.policy,
            status,
            format!("{:.0}", run.objective),
            format!("{:.3}%", run.gap * 100.0),
            run.created_at.format("%Y-%m-%d %H:%M").to_string(),
        ]);
    }
    println!("{out}");
    if let Some(id) = &resolution.in_force {
        println!("in force: {id}");
    }
    Ok(())
}

/// The run `allocation show` names: an id, or "latest" (the run in force, or with a promotion the
/// latest published plan for it).
async fn find_shown_run(
    store: &Store,
    run: &str,
    promotion: Option<&str>,
) -> anyhow::Result<RunSummary> {
    Ok(match (run, promotion) {
        ("latest", None) => latest_published(store)
            .await?
            .ok_or_else(|| super::BadInput("no allocation in force".to_string()))?,
        ("latest", Some(promotion)) => {
            latest_for_promotion(store, promotion)
                .await?
                .ok_or_else(|| {
                    super::BadInput(format!("no published allocation for promotion {promotion}"))
                })?
        }
        (id, _) => find_run(store, id).await?,
    })
}

async fn print_summary(store: &Store, summary: &RunSummary) -> anyhow::Result<()> {
    let standing = if summary.status == "published" {
        resolve(&load_published(store, None).await?)
            .standings
            .get(&summary.id)
            .map(Standing::label)
    } else {
        None
    };
    println!(
        "{} · promotions {} · as of {} · {} · {}{} · objective {:.0}, bound {:.0}, gap {:.3}%",
        summary.id,
        summary.promotions.join(", "),
        summary.as_of,
        summary.policy,
        summary.status,
        standing.map_or(String::new(), |s| format!(" ({s})")),
        summary.objective,
        summary.bound,
        summary.gap * 100.0
    );
    println!("{}", figures_line(summary));
    Ok(())
}

async fn print_targets(store: &Store, summary: &RunSummary) -> anyhow::Result<()> {
    let targets = run_targets(store, &summary.id).await?;
    let mut out = table(&[
        "sku",
        "warehouse",
        "current",
        "target",
        "change",
        "expected sales",
        "fill rate",
    ]);
    // A change is what the plan's transfers and inbound placements carry out; a
    // target below current stock that nobody needs moves nothing.
    let changed: Vec<_> = targets.iter().filter(|row| row.change_units != 0).collect();
    for row in changed.iter().take(50) {
        out.add_row(vec![
            row.sku.clone(),
            row.warehouse.clone(),
            row.current_units.to_string(),
            row.target_units.to_string(),
            format!("{:+}", row.change_units),
            format!("{:.1}", row.expected_sales),
            format!("{:.1}%", row.fill_rate * 100.0),
        ]);
    }
    println!(
        "{} targets, {} changed by a transfer or inbound stock (first 50):\n{out}",
        thousands(targets.len()),
        changed.len()
    );
    for message in summary.messages.lines().take(20) {
        println!("note: {message}");
    }
    Ok(())
}

async fn diff(store: &Store, run_a: &str, run_b: &str) -> anyhow::Result<()> {
    let diff = diff_runs(store, run_a, run_b).await?;
    if let Some(warning) = diff.mismatch() {
        println!("warning: {warning}");
    } else {
        println!("both runs plan {}", diff.a.promotions.join(", "));
    }
    let mut out = table(&["sku", "warehouse", run_a, run_b, "change"]);
    for ((sku, warehouse), (a, b)) in diff.differences.iter().take(200) {
        out.add_row(vec![
            sku.clone(),
            warehouse.clone(),
            a.to_string(),
            b.to_string(),
            format!("{:+}", b - a),
        ]);
    }
    println!("{} target(s) differ:\n{out}", diff.differences.len());
    Ok(())
}
