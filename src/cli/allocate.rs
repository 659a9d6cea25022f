use std::path::PathBuf;

use chrono::NaiveDate;

use super::output::{spinner, table, thousands};
use super::{open_store, Cli};
use stockcast::allocate::Policy;
use stockcast::allocation::inputs::{Economics, ForecastRows};
use stockcast::allocation::promotion::{allocate_promotion, AllocationOutcome};
use stockcast::allocation::runs::policy_name;

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
    #[arg(long, default_value_t = 0.4)]
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
    } = outcome?;
    if cli.quiet {
        return Ok(());
    }
    let placed: u64 = solution.targets.iter().map(|t| t.target_units).sum();
    let moved: u64 = solution.transfers.iter().map(|t| t.units).sum();
    println!(
        "allocation {} for {} ({}), policy {}: {} units placed over {} SKUs × {} warehouses, {} units to move; gap {:.3}%",
        header.id,
        args.promotion,
        args.as_of,
        policy_name(policy),
        thousands(placed as usize),
        problem.skus.len(),
        problem.warehouses.len(),
        thousands(moved as usize),
        solution.gap * 100.0
    );
    let mut per_warehouse = vec![(0u64, 0.0f64, 0.0f64); problem.warehouses.len()];
    for (target, cell) in solution.targets.iter().zip(&problem.cells) {
        let entry = &mut per_warehouse[target.warehouse_index];
        entry.0 += target.target_units;
        entry.1 += target.expected_sales;
        entry.2 += cell.mean.unwrap_or(0.0);
    }
    let mut out = table(&[
        "warehouse",
        "target units",
        "expected sales",
        "expected fill rate",
    ]);
    for (index, (units, sales, demand)) in per_warehouse.iter().enumerate() {
        out.add_row(vec![
            problem.warehouses[index].warehouse.clone(),
            thousands(*units as usize),
            format!("{sales:.0}"),
            if *demand > 0.0 {
                format!("{:.1}%", 100.0 * sales / demand)
            } else {
                "–".to_string()
            },
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
