use std::path::PathBuf;

use chrono::NaiveDate;

use super::output::{spinner, table, thousands};
use super::{open_store, Cli};
use stockcast::allocate::{Policy, ProblemError};
use stockcast::allocation::inputs::{Economics, ForecastRows};
use stockcast::allocation::promotion::{allocate_promotion, AllocationOutcome};
use stockcast::allocation::runs::{figures_line, find_run, policy_name, warehouse_figures};
use stockcast::allocation::AllocationStoreError;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PolicyArg {
    /// Maximise expected margin minus holding and transfer costs.
    Margin,
    /// When a SKU is short, equal days of supply in every warehouse.
    FairShare,
}

#[derive(Debug, clap::Args)]
pub struct AllocateArgs {
    /// Business date: stock as of today, demand from the day after.
    #[arg(long)]
    pub as_of: NaiveDate,
    /// Promotion to allocate for (promo_id); its window and scope come from `promotions`.
    /// Promotions whose windows overlap it are planned with it, in the same run.
    #[arg(long)]
    pub promotion: String,
    /// Forecast file (date, sku, warehouse, mean, p10, p90); default: the latest complete
    /// forecast run in the database.
    #[arg(long, conflicts_with = "from_db")]
    pub forecast: Option<PathBuf>,
    /// Use the latest complete forecast run in the database (the default).
    #[arg(long)]
    pub from_db: bool,
    #[arg(long, value_enum, default_value_t = PolicyArg::Margin)]
    pub policy: PolicyArg,
    /// Share of the promotional price kept as margin.
    #[arg(long, default_value_t = stockcast::allocate::DEFAULT_MARGIN_RATE)]
    pub margin_rate: f64,
    /// Holding cost through the window as a share of the regular price.
    #[arg(long, default_value_t = 0.01)]
    pub holding_rate: f64,
    /// Warehouses served first when stock is short (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub flagship: Vec<String>,
}

pub async fn run(cli: &Cli, args: &AllocateArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.margin_rate) || !(0.0..=1.0).contains(&args.holding_rate) {
        return Err(super::BadInput(
            "--margin-rate and --holding-rate must be between 0 and 1".to_string(),
        )
        .into());
    }
    let store = open_store(cli).await?;
    let forecast = match &args.forecast {
        Some(path) => ForecastRows::from_file(path)?,
        None => ForecastRows::latest_from_store(&store, args.as_of).await?,
    };
    let policy = match args.policy {
        PolicyArg::Margin => Policy::Margin,
        PolicyArg::FairShare => Policy::FairShare,
    };
    let economics = Economics {
        margin_rate: args.margin_rate,
        holding_rate: args.holding_rate,
        flagships: args.flagship.clone(),
        ..Economics::default()
    };
    let progress = spinner("solving", cli.quiet);
    let outcome = allocate_promotion(
        &store,
        &args.promotion,
        args.as_of,
        &forecast,
        policy,
        &economics,
        true,
    )
    .await;
    progress.finish_and_clear();
    let AllocationOutcome {
        header,
        problem,
        solution,
    } = outcome.map_err(with_flag_names)?;
    if cli.quiet {
        return Ok(());
    }
    // Everything printed comes from the run as stored, the same figures `report allocation`
    // and the nightly summary read.
    let stored = find_run(&store, &header.id).await?;
    println!(
        "{}; policy {}, {} SKUs × {} warehouses, gap {:.3}%",
        figures_line(&stored),
        policy_name(policy),
        problem.skus.len(),
        problem.warehouses.len(),
        solution.gap * 100.0
    );
    if stored.promotions.len() > 1 {
        println!(
            "note: {} overlap in time and were planned together in one run (shared stock and capacity)",
            stored.promotions.join(", ")
        );
    }
    let mut out = table(&[
        "warehouse",
        "target units",
        "change units",
        "expected sales",
        "expected fill rate",
    ]);
    for row in warehouse_figures(&store, &header.id).await? {
        out.add_row(vec![
            row.warehouse.clone(),
            thousands(row.target_units.max(0) as usize),
            format!("{:+}", row.change_units),
            format!("{:.0}", row.expected_sales_units),
            row.fill_rate
                .map_or("–".to_string(), |rate| format!("{:.1}%", 100.0 * rate)),
        ]);
    }
    println!("{out}");
    for message in solution.messages.iter().take(10) {
        println!("note: {message}");
    }
    if solution.messages.len() > 10 {
        println!(
            "note: … and {} more (see `stockcast allocation show {}`)",
            solution.messages.len() - 10,
            header.id
        );
    }
    println!("published");
    Ok(())
}

/// The library speaks of promotions and as-of dates; here the user typed them as flags.
fn with_flag_names(error: AllocationStoreError) -> anyhow::Error {
    match error {
        AllocationStoreError::UnknownPromotion(promotion) => {
            super::BadInput(format!("--promotion {promotion}: no such promotion")).into()
        }
        AllocationStoreError::Problem(ProblemError::PromotionEnded {
            promotion,
            end,
            as_of,
        }) => super::BadInput(format!(
            "--promotion {promotion} ended on {end} (before --as-of {as_of})"
        ))
        .into(),
        other => other.into(),
    }
}
