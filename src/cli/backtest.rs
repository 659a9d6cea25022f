use super::forecast::{resolve_as_of, InputArgs};
use super::output::{spinner, table};
use super::{open_store, Cli};
use chrono::NaiveDate;
use stockcast::contract::Frequency;
use stockcast::forecast::backtest::{ablation, backtest, BacktestReport, MAX_BACKTEST_ORIGINS};
use stockcast::forecast::build_panel::build_panel;
use stockcast::forecast::engine::ForecastSettings;

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Last date of history to use (default: last sales date).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Periods forecast from each origin.
    #[arg(long)]
    pub horizon: usize,
    /// Number of rolling origins, one horizon apart, going back from --as-of.
    #[arg(long, default_value_t = 3)]
    pub origins: usize,
    /// Also print WAPE without the poll signals and without the promotion features.
    #[arg(long)]
    pub ablation: bool,
    /// Print the report as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

fn cell(value: Option<f64>, percent: bool) -> String {
    match value {
        Some(v) if percent => format!("{:.2}%", v * 100.0),
        Some(v) => format!("{v:.3}"),
        None => "–".to_string(),
    }
}

pub async fn run(cli: &Cli, args: &BacktestArgs) -> anyhow::Result<()> {
    if args.origins == 0 || args.origins > MAX_BACKTEST_ORIGINS {
        return Err(super::BadInput(format!(
            "--origins must be between 1 and {MAX_BACKTEST_ORIGINS}"
        ))
        .into());
    }
    let store = open_store(cli).await?;
    let dataset = args.input.load(&store, cli.quiet).await?;
    let as_of = resolve_as_of(&store, &args.input, &dataset, args.as_of).await?;
    let panel = build_panel(&dataset, args.input.freq, as_of, args.horizon)?;
    let settings = ForecastSettings::new(args.input.freq, args.horizon);
    let progress = spinner(&format!("backtesting {} origins", args.origins), cli.quiet);
    let mut report = backtest(&panel, &settings, args.origins);
    if args.ablation {
        report.ablation = ablation(&panel, &settings, args.origins);
    }
    progress.finish_and_clear();
    if report.origins.is_empty() {
        return Err(super::BadInput(format!(
            "--as-of {as_of} leaves no room for a {}-period backtest origin",
            args.horizon
        ))
        .into());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_scores(&report, args.input.freq);
    print_weekly(&report);
    print_choices(&report);
    print_ablation(&report);
    Ok(())
}

/// The scores per scope and method at SKU × warehouse × period.
fn print_scores(report: &BacktestReport, freq: Frequency) {
    println!(
        "origins: {} · horizon {} {}(s) · metrics at SKU × warehouse × period",
        report
            .origins
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        report.horizon,
        freq.as_str()
    );
    let mut out = table(&[
        "scope",
        "method",
        "WAPE",
        "MASE",
        "bias",
        "pinball p50",
        "below p10",
        "below p50",
        "below p90",
        "p10–p90 coverage",
    ]);
    for row in &report.rows {
        out.add_row(vec![
            row.scope.clone(),
            row.method.to_string(),
            cell(row.wape, true),
            cell(row.mase, false),
            cell(row.bias, true),
            cell(row.pinball_p50, false),
            cell(row.below_p10, true),
            cell(row.below_p50, true),
            cell(row.below_p90, true),
            cell(row.coverage_p10_p90, true),
        ]);
    }
    println!("{out}");
}

fn print_weekly(report: &BacktestReport) {
    let mut weekly = table(&[
        "method",
        "weekly WAPE",
        "promotion weeks",
        "other weeks",
        "promotion weeks scored",
    ]);
    for row in &report.weekly {
        weekly.add_row(vec![
            row.method.to_string(),
            cell(row.all_weeks, true),
            cell(row.promotion_weeks, true),
            cell(row.other_weeks, true),
            row.promotion_week_count.to_string(),
        ]);
    }
    println!("weekly totals per SKU × warehouse:\n{weekly}");
}

/// The model chosen per category at each origin, beside the candidates' held-out scores.
fn print_choices(report: &BacktestReport) {
    let mut choices = table(&[
        "origin",
        "category",
        "forecasts with",
        "held-out WAPE (bias) of the candidates",
    ]);
    for row in &report.choices {
        choices.add_row(vec![
            row.origin.to_string(),
            row.category.clone(),
            if row.pooled {
                format!("{} (chosen on all categories)", row.chosen)
            } else {
                row.chosen.clone()
            },
            row.holdout
                .iter()
                .map(|score| {
                    format!(
                        "{} {} ({})",
                        score.candidate,
                        cell(score.wape, true),
                        cell(score.bias, true)
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    println!("chosen model per category, with the baselines beside it:\n{choices}");
}

fn print_ablation(report: &BacktestReport) {
    if !report.ablation.is_empty() {
        let mut out = table(&[
            "features",
            "WAPE",
            "WAPE on promotion periods",
            "weekly WAPE",
            "WAPE on promotion weeks",
        ]);
        for row in &report.ablation {
            out.add_row(vec![
                row.features.clone(),
                cell(row.wape, true),
                cell(row.promo_wape, true),
                cell(row.weekly_wape, true),
                cell(row.promotion_week_wape, true),
            ]);
        }
        println!("ablation (same origins):\n{out}");
    }
}
