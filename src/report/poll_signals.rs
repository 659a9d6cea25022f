//! `report poll-signals`: customer poll answers per category over the last `POLL_DAYS` days
//! (mean interest 1–5, share intending to buy, answer volume) against the days before, next
//! to how the latest forecast run changed from the previous one over the days both cover.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::lookup::{forecast_runs, RunRef};
use super::query::{Bind, Sql};
use super::view::{column, Chart, ReportView, Section, Value};
use super::{Filters, ReportError};
use crate::report_fetch;
use crate::store::Store;

/// Length of the recent window and of the one it is compared with.
pub const POLL_DAYS: i64 = 28;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PollCounts {
    pub answers: i64,
    pub interest_sum: f64,
    pub intends: i64,
    pub intent_answers: i64,
}

impl PollCounts {
    pub fn mean_interest(&self) -> Option<f64> {
        (self.answers > 0).then(|| self.interest_sum / self.answers as f64)
    }

    pub fn intent_share(&self) -> Option<f64> {
        (self.intent_answers > 0).then(|| self.intends as f64 / self.intent_answers as f64)
    }
}

#[derive(Debug, Clone)]
pub struct PollInput {
    pub window_end: NaiveDate,
    /// (recent, previous) per category.
    pub polls: BTreeMap<String, (PollCounts, PollCounts)>,
    pub runs: Option<(RunRef, RunRef)>,
    pub overlap: Option<(NaiveDate, NaiveDate)>,
    /// Forecast units per category over the overlap: (latest, previous).
    pub forecast: HashMap<String, (f64, f64)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CategorySignal {
    pub category: String,
    pub answers: i64,
    pub mean_interest: Option<f64>,
    pub interest_change: Option<f64>,
    pub intent_share: Option<f64>,
    pub intent_change: Option<f64>,
    pub answers_change: Option<f64>,
    pub forecast_units: Option<f64>,
    pub forecast_change: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PollReport {
    pub window_from: NaiveDate,
    pub window_to: NaiveDate,
    pub latest_run: Option<String>,
    pub previous_run: Option<String>,
    pub forecast_overlap: Option<(NaiveDate, NaiveDate)>,
    pub categories: Vec<CategorySignal>,
}

fn start_of(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

pub async fn load(store: &Store, filters: &Filters) -> Result<PollInput, ReportError> {
    let window_end = match filters.as_of {
        Some(date) => date,
        None => {
            let sql = Sql::new("SELECT MAX(responded_at) FROM poll_responses");
            match report_fetch!(store, sql, (Option<DateTime<Utc>>,))
                .into_iter()
                .next()
            {
                Some((Some(at),)) => at.date_naive(),
                _ => return Err(ReportError::Empty("no poll responses loaded".to_string())),
            }
        }
    };
    let recent_from = window_end - Duration::days(POLL_DAYS - 1);
    let previous_from = recent_from - Duration::days(POLL_DAYS);
    let mut sql = Sql::new(
        "SELECT COALESCE(r.category, p.category) AS cat, \
         CAST(CASE WHEN r.responded_at >= ",
    );
    let recent = sql.param(Bind::Time(start_of(recent_from)));
    sql.push(&recent);
    sql.push(
        " THEN 1 ELSE 0 END AS BIGINT) AS recent, COUNT(*), CAST(SUM(r.interest) AS DOUBLE PRECISION), \
         SUM(CASE WHEN r.intends_to_buy THEN 1 ELSE 0 END), COUNT(r.intends_to_buy) \
         FROM poll_responses r LEFT JOIN products p ON p.sku = r.sku WHERE ",
    );
    sql.clause(
        "r.responded_at >= ? AND r.responded_at < ?",
        vec![
            Bind::Time(start_of(previous_from)),
            Bind::Time(start_of(window_end + Duration::days(1))),
        ],
    );
    if let Some(sku) = &filters.sku {
        sql.clause(" AND r.sku = ?", vec![Bind::Text(sku.clone())]);
    }
    if let Some(category) = &filters.category {
        sql.clause(
            " AND COALESCE(r.category, p.category) = ?",
            vec![Bind::Text(category.clone())],
        );
    }
    sql.push(" GROUP BY COALESCE(r.category, p.category), 2");
    let mut polls: BTreeMap<String, (PollCounts, PollCounts)> = BTreeMap::new();
    for (category, recent, answers, interest_sum, intends, intent_answers) in
        report_fetch!(store, sql, (Option<String>, i64, i64, f64, i64, i64))
    {
        let Some(category) = category else { continue };
        let counts = PollCounts {
            answers,
            interest_sum,
            intends,
            intent_answers,
        };
        let entry = polls.entry(category).or_default();
        if recent == 1 {
            entry.0 = counts;
        } else {
            entry.1 = counts;
        }
    }

    let runs = forecast_runs(store, filters.as_of, 2).await?;
    let mut forecast = HashMap::new();
    let (runs, overlap) = match runs.as_slice() {
        [latest, previous] => {
            let from = latest.first_date().max(previous.first_date());
            let to = latest.last_date().min(previous.last_date());
            if from <= to {
                for (index, run) in [latest, previous].into_iter().enumerate() {
                    let mut sql = Sql::new(
                        "SELECT p.category, SUM(w.units) FROM (SELECT f.sku, SUM(f.mean) AS units \
                         FROM forecasts f WHERE ",
                    );
                    sql.clause(
                        "f.run_id = ? AND f.date >= ? AND f.date <= ?",
                        vec![Bind::Text(run.id.clone()), Bind::Date(from), Bind::Date(to)],
                    );
                    filters.restrict(&mut sql, "f");
                    sql.push(
                        " GROUP BY f.sku) w JOIN products p ON p.sku = w.sku GROUP BY p.category",
                    );
                    for (category, units) in report_fetch!(store, sql, (String, f64)) {
                        let entry: &mut (f64, f64) = forecast.entry(category).or_default();
                        if index == 0 {
                            entry.0 = units;
                        } else {
                            entry.1 = units;
                        }
                    }
                }
                (Some((latest.clone(), previous.clone())), Some((from, to)))
            } else {
                (Some((latest.clone(), previous.clone())), None)
            }
        }
        _ => (None, None),
    };
    Ok(PollInput {
        window_end,
        polls,
        runs,
        overlap,
        forecast,
    })
}

pub fn build(input: &PollInput, filters: &Filters) -> Result<PollReport, ReportError> {
    let window_from = input.window_end - Duration::days(POLL_DAYS - 1);
    let categories: Vec<CategorySignal> = input
        .polls
        .iter()
        .filter(|(_, (recent, _))| recent.answers > 0)
        .map(|(category, (recent, previous))| {
            let difference = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a - b);
            let forecast = input.forecast.get(category);
            CategorySignal {
                category: category.clone(),
                answers: recent.answers,
                mean_interest: recent.mean_interest(),
                interest_change: difference(recent.mean_interest(), previous.mean_interest()),
                intent_share: recent.intent_share(),
                intent_change: difference(recent.intent_share(), previous.intent_share()),
                answers_change: (previous.answers > 0)
                    .then(|| recent.answers as f64 / previous.answers as f64 - 1.0),
                forecast_units: forecast.map(|f| f.0),
                forecast_change: forecast
                    .and_then(|(now, before)| (*before > 0.0).then(|| now / before - 1.0)),
            }
        })
        .collect();
    if categories.is_empty() {
        return Err(ReportError::Empty(format!(
            "no poll answers in {window_from} … {}{}",
            input.window_end,
            filters.describe_suffix()
        )));
    }
    Ok(PollReport {
        window_from,
        window_to: input.window_end,
        latest_run: input.runs.as_ref().map(|(a, _)| a.id.clone()),
        previous_run: input.runs.as_ref().map(|(_, b)| b.id.clone()),
        forecast_overlap: input.overlap,
        categories,
    })
}

impl PollReport {
    pub fn view(&self) -> ReportView {
        let mut view = ReportView::new("Poll signals by category");
        view.context.push(format!(
            "Answers {} … {} against the {} days before",
            self.window_from, self.window_to, POLL_DAYS
        ));
        match (&self.latest_run, &self.previous_run, &self.forecast_overlap) {
            (Some(latest), Some(previous), Some((from, to))) => view.context.push(format!(
                "Forecast change: run {latest} vs run {previous} over {from} … {to}"
            )),
            _ => view.notes.push(
                "Forecast change needs two complete forecast runs covering common days."
                    .to_string(),
            ),
        }
        let mut section = Section::new(
            "Interest and intent (last 28 days) beside the forecast",
            vec![
                column("category", "category"),
                column("answers", "answers"),
                column("mean_interest", "interest 1–5"),
                column("interest_change", "interest Δ, points"),
                column("intent_share", "intent"),
                column("intent_change", "intent Δ, points"),
                column("forecast_units", "forecast, units"),
                column("forecast_change", "forecast vs prev."),
            ],
        );
        for row in &self.categories {
            section.push(vec![
                Value::text(&row.category),
                Value::Count(row.answers),
                row.mean_interest
                    .map_or(Value::Missing, |v| Value::Text(format!("{v:.2}"))),
                row.interest_change
                    .map_or(Value::Missing, |v| Value::Text(format!("{v:+.2}"))),
                Value::opt_share(row.intent_share),
                row.intent_change.map_or(Value::Missing, |v| {
                    Value::Text(format!("{:+.1}", v * 100.0))
                }),
                Value::opt_units(row.forecast_units),
                Value::opt_change(row.forecast_change),
            ]);
        }
        view.sections.push(section);
        view.charts.push(Chart::Bars {
            title: "Mean interest (1–5): the 28 days before and the last 28 days".to_string(),
            unit: "interest".to_string(),
            labels: self.categories.iter().map(|c| c.category.clone()).collect(),
            series: vec![
                (
                    "before".to_string(),
                    self.categories
                        .iter()
                        .map(|c| {
                            c.mean_interest
                                .zip(c.interest_change)
                                .map_or(0.0, |(m, d)| m - d)
                        })
                        .collect(),
                ),
                (
                    "last 28 days".to_string(),
                    self.categories
                        .iter()
                        .map(|c| c.mean_interest.unwrap_or(0.0))
                        .collect(),
                ),
            ],
            reference: None,
        });
        view.notes.push(
            "Poll answers are not per warehouse: --warehouse does not narrow them.".to_string(),
        );
        view
    }
}
