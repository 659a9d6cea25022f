//! What each step does. [`PipelineSteps`] calls the same library functions as the
//! `ingest`, `forecast`, `allocate` and `backtest` commands; the [`RunContext`] carries what
//! one step hands the next (the as-of date, the staged forecast, the staged allocations) and
//! the run's clock. A step fails with a [`StepError`] whose kind tells the runner whether
//! another attempt could succeed.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use polars::prelude::*;

use super::context::{RunContext, StagedAllocation, StepOutcome};
use super::outputs::{publish, Publication};
use super::reservation_hook::run_reservation_step;
use super::step_error::StepError;
use super::{guard, holds, publish_guard, shards};
use super::{PolicySetting, Step};
use crate::allocate::Policy;
use crate::allocate::{overlapping_groups, PromotionWindow};
use crate::allocation::inputs::promotion_windows;
use crate::allocation::inputs::{Economics, ForecastRows};
use crate::allocation::promotion::allocate_group;
use crate::allocation::runs::{figures_line, find_run};
use crate::allocation::AllocationStoreError;
use crate::contract::Table;
use crate::forecast::backtest::backtest;
use crate::forecast::build_panel::build_panel;
use crate::forecast::dataset::Dataset;
use crate::forecast::engine::ForecastSettings;
use crate::forecast::output::RunState;
use crate::forecast::pipeline::{self, ForecastRequest};
use crate::forecast::registry::summarise;
use crate::generate::{generate, GenerateConfig, OutputFormat};
use crate::ingest::{ingest_dir, IngestOptions};
use crate::on_backend;
use crate::report::dataset_summary;
use crate::store::Store;

/// Bound on rows one reservation step may touch per run.
pub const RESERVATION_STEP_LIMIT: usize = 100_000;
/// Bound on the forecast horizon a job may stretch to cover a promotion.
pub const MAX_JOB_HORIZON_DAYS: i64 = 366;

/// Runs one step. The runner owns timeouts, retries and history; an implementation only does
/// the work. Tests substitute implementations that fail, hang or count.
pub trait StepExecutor: Send + Sync {
    fn execute(
        &self,
        context: &mut RunContext<'_>,
        step: Step,
    ) -> impl Future<Output = Result<StepOutcome, StepError>> + Send;
}

/// The real steps.
#[derive(Debug, Clone, Copy, Default)]
pub struct PipelineSteps;

impl StepExecutor for PipelineSteps {
    async fn execute(
        &self,
        context: &mut RunContext<'_>,
        step: Step,
    ) -> Result<StepOutcome, StepError> {
        match step {
            Step::Ingest => ingest_step(context).await,
            Step::RefreshPollSignals => poll_signals_step(context).await,
            Step::Forecast => forecast_step(context).await,
            Step::Allocate => allocate_step(context).await,
            Step::ExpireHolds => reservation_step(context, step).await,
            Step::Publish => publish_step(context).await,
            Step::Report => report_step(context).await,
            Step::Backtest => backtest_step(context).await,
            Step::Summary => summary_step(context).await,
        }
    }
}

fn folder_has_inputs(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|entry| Table::from_file_name(&entry.file_name().to_string_lossy()).is_some())
    })
}

async fn ingest_step(context: &mut RunContext<'_>) -> Result<StepOutcome, StepError> {
    let data_dir = context.path(&context.job.data_dir);
    if !folder_has_inputs(&data_dir) {
        if let Some(sample) = context.job.sample.clone() {
            let config = GenerateConfig {
                skus: sample.skus,
                warehouses: sample.warehouses,
                days: sample.days,
                seed: sample.seed,
                format: OutputFormat::Csv,
                end_date: sample.end_date,
                truth_days: 56,
                latent_popularity: false,
            };
            let dir = data_dir.clone();
            let generated = tokio::task::spawn_blocking(move || generate(&config, &dir))
                .await
                .map_err(|e| StepError::from(e).doing("generating sample data"))?
                .map_err(|e| StepError::from(e).doing("generating sample data"))?;
            context.generated_sample = Some(format!(
                "{} ({} SKUs × {} warehouses × {} days, seed {}, {} files in {:.1} s)",
                data_dir.display(),
                sample.skus,
                sample.warehouses,
                sample.days,
                sample.seed,
                generated.files.len(),
                generated.seconds
            ));
        }
    }
    let options = IngestOptions {
        freq: context.job.freq,
        ..IngestOptions::default()
    };
    let report = ingest_dir(&context.store, &data_dir, &options).await?;
    let read: usize = report.files.iter().map(|f| f.rows_read).sum();
    let loaded = report
        .files
        .iter()
        .filter(|f| f.status == crate::ingest::FileStatus::Loaded)
        .count();
    let outcome = StepOutcome {
        rows_in: Some(read as i64),
        rows_out: Some(report.rows_accepted() as i64),
        detail: format!(
            "{} file(s) loaded, {} unchanged, {} row(s) rejected",
            loaded,
            report.files.len() - loaded,
            report.rows_rejected()
        ),
        skipped: false,
    };
    context.ingest = Some(report);
    Ok(outcome)
}

async fn poll_signals_step(context: &mut RunContext<'_>) -> Result<StepOutcome, StepError> {
    let as_of = context.resolve_as_of().await?;
    let cutoff: DateTime<Utc> = (as_of + chrono::Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let mut tx = context.store.begin_write().await?;
    let (considered, written) = crate::on_tx!(&mut tx, conn => {
        sqlx::query("DELETE FROM poll_signals WHERE as_of = $1")
            .bind(as_of)
            .execute(&mut **conn)
            .await?;
        let considered: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM poll_responses WHERE sku IS NOT NULL AND responded_at < $1",
        )
        .bind(cutoff)
        .fetch_one(&mut **conn)
        .await?;
        let written = sqlx::query(
            "INSERT INTO poll_signals (sku, as_of, responses, mean_interest, intends_to_buy, last_response_at) \
             SELECT sku, $1, COUNT(*), AVG(CAST(interest AS DOUBLE PRECISION)), \
                    SUM(CASE WHEN intends_to_buy THEN 1 ELSE 0 END), MAX(responded_at) \
             FROM poll_responses WHERE sku IS NOT NULL AND responded_at < $2 GROUP BY sku",
        )
        .bind(as_of)
        .bind(cutoff)
        .execute(&mut **conn)
        .await?
        .rows_affected();
        (considered, written)
    });
    tx.commit().await?;
    Ok(StepOutcome {
        rows_in: Some(considered),
        rows_out: Some(written as i64),
        detail: format!("poll signals for {written} SKU(s) as of {as_of}"),
        skipped: false,
    })
}

/// Promotions the allocate step will solve: not ended by `as_of`, starting within the
/// look-ahead window, soonest first, at most `max_promotions`.
async fn upcoming_promotions(
    store: &Store,
    as_of: NaiveDate,
    lookahead_days: i64,
    max_promotions: usize,
) -> Result<Vec<(String, NaiveDate)>, StepError> {
    let until = as_of + chrono::Duration::days(lookahead_days);
    let rows: Vec<(String, NaiveDate)> = on_backend!(store, pool => {
        sqlx::query_as(
            "SELECT promo_id, end_date FROM promotions WHERE end_date > $1 AND start_date <= $2 \
             ORDER BY start_date, promo_id LIMIT $3",
        )
        .bind(as_of)
        .bind(until)
        .bind(max_promotions as i64)
        .fetch_all(pool)
        .await?
    });
    Ok(rows)
}

/// The horizon that covers the configured days and every promotion the allocate step will
/// solve, bounded by [`MAX_JOB_HORIZON_DAYS`].
async fn job_horizon(context: &RunContext<'_>, as_of: NaiveDate) -> Result<usize, StepError> {
    let mut horizon = context.job.forecast.horizon_days as i64;
    if context.job.steps.contains(&Step::Allocate) {
        let allocate = &context.job.allocate;
        for (_, end) in upcoming_promotions(
            &context.store,
            as_of,
            allocate.lookahead_days,
            allocate.max_promotions,
        )
        .await?
        {
            horizon = horizon.max((end - as_of).num_days());
        }
    }
    Ok(horizon.clamp(1, MAX_JOB_HORIZON_DAYS) as usize)
}

fn allocation_input(frame: &DataFrame) -> Result<ForecastRows, StepError> {
    let frame = frame.select(["date", "sku", "warehouse", "mean", "p10", "p90"])?;
    Ok(ForecastRows { frame })
}

async fn forecast_step(context: &mut RunContext<'_>) -> Result<StepOutcome, StepError> {
    let as_of = context.resolve_as_of().await?;
    let horizon = job_horizon(context, as_of).await?;
    if context.job.forecast.shards && context.store.supports_skip_locked() {
        return shards::sharded_forecast_step(context, as_of, horizon).await;
    }
    if context.job.forecast.shards {
        context
            .notes
            .push("forecast.shards needs PostgreSQL; forecasting in one piece".to_string());
    }
    let dataset = Dataset::from_store(&context.store).await?;
    let rows_in = dataset.sales.height() as i64;
    let request = ForecastRequest {
        freq: context.job.freq,
        as_of,
        horizon,
        quantiles: vec![0.1, 0.5, 0.9],
        models_dir: context.path(&context.job.models_dir),
        model: None,
    };
    let compute_request = request.clone();
    // On a blocking thread so the step's timeout can fire while the fit runs.
    let mut computed =
        tokio::task::spawn_blocking(move || pipeline::compute(&dataset, &compute_request))
            .await
            .map_err(|e| StepError::from(e).doing("forecast worker"))??;
    let state = if context.stages_outputs() {
        RunState::Staged
    } else {
        RunState::Complete
    };
    // Record the model id before it is written so a failure after it still lets the next
    // run find and discard it.
    context.model_id = computed.new_artifact.as_ref().map(|a| a.id.clone());
    if let Some(model_id) = context.model_id.clone() {
        context.record_output("model", &model_id).await?;
    }
    let stored = pipeline::store(&context.store, &mut computed, &request, None, state).await?;
    // Which model each category chose goes to the notes, not the (one-line) step detail.
    context.notes.push(format!(
        "model {}: {}",
        stored.model_id,
        summarise(&computed.forecaster)
    ));
    let run_id = stored
        .run_id
        .ok_or_else(|| StepError::internal("the forecast has no p10/p50/p90 columns"))?;
    context.record_output("forecast", &run_id).await?;
    context.forecast_rows = Some(Arc::new(allocation_input(&computed.frame)?));
    context.forecast_run_id = Some(run_id.clone());
    Ok(StepOutcome {
        rows_in: Some(rows_in),
        rows_out: Some(stored.rows as i64),
        detail: format!(
            "model {}, forecast run {run_id}{}: {horizon} days × {} SKUs × {} warehouses",
            stored.model_id,
            if state == RunState::Staged {
                " (staged)"
            } else {
                ""
            },
            computed.panel.sku_count(),
            computed.panel.warehouse_count()
        ),
        skipped: false,
    })
}

async fn allocate_step(context: &mut RunContext<'_>) -> Result<StepOutcome, StepError> {
    let as_of = context.resolve_as_of().await?;
    let settings = context.job.allocate.clone();
    let promotions = upcoming_promotions(
        &context.store,
        as_of,
        settings.lookahead_days,
        settings.max_promotions,
    )
    .await?;
    if promotions.is_empty() {
        return Ok(StepOutcome {
            rows_in: Some(0),
            rows_out: Some(0),
            detail: format!(
                "no promotion starts within {} days of {as_of}",
                settings.lookahead_days
            ),
            skipped: false,
        });
    }
    let forecast = match &context.forecast_rows {
        Some(rows) => rows.clone(),
        None => Arc::new(ForecastRows::latest_from_store(&context.store, as_of).await?),
    };
    let policy = match settings.policy {
        PolicySetting::Margin => Policy::Margin,
        PolicySetting::FairShare => Policy::FairShare,
    };
    let economics = Economics {
        flagships: settings.flagship.clone(),
        ..Economics::default()
    };
    let publish_now = !context.stages_outputs();
    let mut rows_out = 0i64;
    let mut skipped_promotions = Vec::new();
    // Overlapping promotions share stock and capacity: one plan (one run) per group.
    let upcoming: Vec<&str> = promotions.iter().map(|(id, _)| id.as_str()).collect();
    let mut allocated_promotions = 0usize;
    let windows: Vec<PromotionWindow> = promotion_windows(&context.store)
        .await?
        .into_iter()
        .filter(|w| upcoming.contains(&w.promotion.as_str()))
        .collect();
    for group in overlapping_groups(&windows, as_of) {
        let label = group
            .iter()
            .map(|w| w.promotion.as_str())
            .collect::<Vec<_>>()
            .join("+");
        let outcome = allocate_group(
            &context.store,
            &group,
            as_of,
            &forecast,
            policy,
            &economics,
            publish_now,
        )
        .await;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            // One group whose data cannot be allocated must not hold back the others.
            Err(
                error @ (AllocationStoreError::BadInput(_)
                | AllocationStoreError::UnknownPromotion(_)
                | AllocationStoreError::Problem(_)),
            ) => {
                skipped_promotions.push(format!("{label}: {error}"));
                continue;
            }
            Err(error) => return Err(StepError::from(error).doing(format!("promotions {label}"))),
        };
        context
            .record_output("allocation", &outcome.header.id)
            .await?;
        rows_out += outcome.solution.targets.len() as i64;
        allocated_promotions += outcome.header.promotions.len();
        context.allocations.push(StagedAllocation {
            run_id: outcome.header.id.clone(),
            promotion: outcome.header.promotion.clone(),
            units_placed: outcome.solution.figures.units_placed,
            units_moved: outcome.solution.figures.units_to_move,
            skus: outcome.problem.skus.len(),
            warehouses: outcome.problem.warehouses.len(),
        });
    }
    context.notes.extend(skipped_promotions.iter().cloned());
    Ok(StepOutcome {
        rows_in: Some(forecast.frame.height() as i64),
        rows_out: Some(rows_out),
        detail: format!(
            "{} promotion(s) allocated in {} plan(s){}{}",
            allocated_promotions,
            context.allocations.len(),
            if publish_now { "" } else { " (staged)" },
            if skipped_promotions.is_empty() {
                String::new()
            } else {
                format!(", {} left out (see notes)", skipped_promotions.len())
            }
        ),
        skipped: false,
    })
}

async fn reservation_step(
    context: &mut RunContext<'_>,
    step: Step,
) -> Result<StepOutcome, StepError> {
    run_reservation_step(step, &context.store, context.now(), RESERVATION_STEP_LIMIT).await
}

async fn publish_step(context: &mut RunContext<'_>) -> Result<StepOutcome, StepError> {
    let as_of = context.resolve_as_of().await?;
    let allocation_runs: Vec<String> = context
        .allocations
        .iter()
        .map(|a| a.run_id.clone())
        .collect();
    if let Some(held) = guard_before_publish(context, as_of, &allocation_runs).await? {
        return Ok(held);
    }
    let published = publish(
        &context.store,
        &Publication {
            job: &context.job.name,
            run_id: &context.run_id,
            as_of,
            forecast_run: context.forecast_run_id.as_deref(),
            allocation_runs: &allocation_runs,
            published_at: context.now(),
            approval: None,
        },
    )
    .await?;
    let outcome = StepOutcome {
        rows_in: Some((allocation_runs.len() + usize::from(context.forecast_run_id.is_some())) as i64),
        rows_out: Some((published.forecast_runs + published.allocation_runs) as i64),
        detail: format!(
            "published {} forecast run(s) and {} allocation run(s); replaced {} earlier output(s) for {as_of}",
            published.forecast_runs,
            published.allocation_runs,
            published.replaced.total()
        ),
        skipped: false,
    };
    context.published = Some(published);
    Ok(outcome)
}

/// Runs the publish guard on the staged forecast and allocations. `Some(outcome)`: the run is
/// held (recorded, nothing published); `None`: publish. `--force` publishes anyway and keeps
/// the findings in the notes.
async fn guard_before_publish(
    context: &mut RunContext<'_>,
    as_of: NaiveDate,
    allocation_runs: &[String],
) -> Result<Option<StepOutcome>, StepError> {
    let settings = context.job.guard.clone();
    let Some(forecast_run) = context.forecast_run_id.clone() else {
        return Ok(None);
    };
    if !settings.enabled {
        return Ok(None);
    }
    let input =
        publish_guard::load(&context.store, &forecast_run, allocation_runs, &settings).await?;
    let verdict = guard::judge(&input, &settings);
    if verdict.passed() {
        return Ok(None);
    }
    let reason = verdict.reason();
    if context.force_publish {
        context
            .notes
            .push(format!("publish guard overridden by --force: {reason}"));
        return Ok(None);
    }
    holds::record_hold(
        &context.store,
        &holds::NewHold {
            run_id: &context.run_id,
            job: &context.job.name,
            as_of,
            held_at: context.now(),
            verdict: &verdict,
        },
    )
    .await?;
    context.notes.push(format!(
        "held by the publish guard, nothing published: {reason}; `stockcast jobs approve {}` publishes it",
        context.run_id
    ));
    context.held = Some(reason.clone());
    Ok(Some(StepOutcome {
        rows_in: Some((allocation_runs.len() + 1) as i64),
        rows_out: Some(0),
        detail: format!("held by the publish guard: {reason}"),
        skipped: true,
    }))
}

async fn report_step(context: &mut RunContext<'_>) -> Result<StepOutcome, StepError> {
    let as_of = context.resolve_as_of().await?;
    let summary = dataset_summary(&context.store).await?;
    let signals: Vec<(String, i64, f64)> = on_backend!(&context.store, pool => {
        sqlx::query_as(
            "SELECT sku, responses, mean_interest FROM poll_signals WHERE as_of = $1 \
             ORDER BY mean_interest DESC, responses DESC, sku LIMIT 5",
        )
        .bind(as_of)
        .fetch_all(pool)
        .await?
    });
    let mut lines = vec![
        format!("# {} run {} for {as_of}", context.job.name, context.run_id),
        String::new(),
        format!(
            "history: {} … {}, {} SKU × warehouse series, {} promotions after history",
            summary
                .sales_first_date
                .map_or("–".to_string(), |d| d.to_string()),
            summary
                .sales_last_date
                .map_or("–".to_string(), |d| d.to_string()),
            summary.series,
            summary.promotions_after_history
        ),
    ];
    if let Some(model) = &context.model_id {
        lines.push(format!("model: {model}"));
    }
    if let Some(forecast) = &context.forecast_run_id {
        lines.push(format!("forecast run: {forecast}"));
    }
    for allocation in &context.allocations {
        // The figures as stored with the run, so this line matches `report allocation`.
        let run = find_run(&context.store, &allocation.run_id).await?;
        lines.push(format!(
            "{} over {} SKUs × {} warehouses",
            figures_line(&run),
            allocation.skus,
            allocation.warehouses
        ));
    }
    if let Some(published) = &context.published {
        lines.push(format!(
            "published: {} forecast run(s), {} allocation run(s)",
            published.forecast_runs, published.allocation_runs
        ));
    }
    if !signals.is_empty() {
        lines.push("highest poll interest:".to_string());
        for (sku, responses, interest) in &signals {
            lines.push(format!(
                "  {sku}: {interest:.2} over {responses} response(s)"
            ));
        }
    }
    for note in &context.notes {
        lines.push(format!("note: {note}"));
    }
    let dir = context.path(&context.job.reports_dir);
    let path = dir.join(format!("{}-{as_of}.txt", context.job.name));
    write_atomically(&path, &(lines.join("\n") + "\n"))?;
    context
        .record_output("report", &path.display().to_string())
        .await?;
    context.report_path = Some(path.clone());
    context.summary = Some(summary);
    Ok(StepOutcome {
        rows_in: None,
        rows_out: Some(lines.len() as i64),
        detail: format!("wrote {}", path.display()),
        skipped: false,
    })
}

fn write_atomically(path: &Path, text: &str) -> Result<(), StepError> {
    let at = |path: &Path| {
        let path = path.display().to_string();
        move |error: std::io::Error| StepError::from(error).doing(path)
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(at(dir))?;
    }
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).map_err(at(&partial))?;
    std::fs::rename(&partial, path).map_err(at(path))
}

async fn backtest_step(context: &mut RunContext<'_>) -> Result<StepOutcome, StepError> {
    let as_of = context.resolve_as_of().await?;
    let settings_toml = context.job.backtest.clone();
    let freq = context.job.freq;
    let dataset = Dataset::from_store(&context.store).await?;
    let rows_in = dataset.sales.height() as i64;
    let report = tokio::task::spawn_blocking(move || {
        let panel = build_panel(&dataset, freq, as_of, settings_toml.horizon_days)?;
        let settings = ForecastSettings::new(freq, settings_toml.horizon_days);
        Ok::<_, crate::forecast::ForecastError>(backtest(&panel, &settings, settings_toml.origins))
    })
    .await
    .map_err(|e| StepError::from(e).doing("backtest worker"))??;
    if report.origins.is_empty() {
        return Err(StepError::input(format!(
            "as-of {as_of} leaves no room for a {}-day backtest origin",
            report.horizon
        )));
    }
    let wape = |method: &str| {
        report
            .row("overall", method)
            .and_then(|row| row.wape)
            .map_or("–".to_string(), |w| format!("{:.1}%", w * 100.0))
    };
    let detail = format!(
        "{} origin(s), overall WAPE {} (seasonal naive {})",
        report.origins.len(),
        wape("stockcast"),
        wape("seasonal_naive")
    );
    let path = context
        .path(&context.job.reports_dir)
        .join(format!("{}-{as_of}-backtest.json", context.job.name));
    let json = serde_json::to_string_pretty(&report)?;
    write_atomically(&path, &json)?;
    context
        .record_output("report", &path.display().to_string())
        .await?;
    context.report_path = Some(path);
    Ok(StepOutcome {
        rows_in: Some(rows_in),
        rows_out: Some(report.rows.len() as i64),
        detail,
        skipped: false,
    })
}

async fn summary_step(context: &mut RunContext<'_>) -> Result<StepOutcome, StepError> {
    let summary = dataset_summary(&context.store).await?;
    let rows: i64 = summary.tables.iter().map(|t| t.rows.max(0)).sum();
    context.summary = Some(summary);
    Ok(StepOutcome {
        rows_in: Some(rows),
        rows_out: None,
        detail: "store summary".to_string(),
        skipped: false,
    })
}
