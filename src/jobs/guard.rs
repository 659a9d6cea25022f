//! The publish guard's rule (**pure**: data in, verdict out; [`super::publish_guard`] loads
//! the data). Before a run's forecast and allocations are published, each category's horizon
//! total is compared with
//!
//! - the recent run-rate: the category's sales over the last `run_rate_days` up to the as-of,
//!   scaled to the horizon by last year's ratio of (the same horizon a year earlier) to (the
//!   same recent window a year earlier) where history reaches back that far, otherwise by the
//!   number of days;
//! - the run in force: its units over the dates both runs forecast.
//!
//! A ratio above `max_ratio` or below `1 / max_ratio`, or any NaN or negative value, holds
//! the run. Figures where both sides are below `min_base_units` are too small to judge and
//! are only reported.

use serde::Deserialize;

/// `[guard]` in a job file.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct GuardSettings {
    /// Off: publish whatever the run made (the pre-guard behaviour).
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// A category's horizon total may be at most this many times, and at least one over this,
    /// its reference (run-rate or run in force).
    #[serde(default = "default_max_ratio")]
    pub max_ratio: f64,
    /// Days of recent sales the run-rate is taken over.
    #[serde(default = "default_run_rate_days")]
    pub run_rate_days: i64,
    /// Totals below this (on both sides of a comparison) are too small to judge.
    #[serde(default = "default_min_base_units")]
    pub min_base_units: f64,
}

fn default_enabled() -> bool {
    true
}

fn default_max_ratio() -> f64 {
    3.0
}

fn default_run_rate_days() -> i64 {
    28
}

fn default_min_base_units() -> f64 {
    20.0
}

impl Default for GuardSettings {
    fn default() -> Self {
        GuardSettings {
            enabled: default_enabled(),
            max_ratio: default_max_ratio(),
            run_rate_days: default_run_rate_days(),
            min_base_units: default_min_base_units(),
        }
    }
}

impl GuardSettings {
    /// Why these settings cannot be used, for the job file's error.
    pub fn problem(&self) -> Option<String> {
        if !(self.max_ratio.is_finite() && self.max_ratio > 1.0 && self.max_ratio <= 1000.0) {
            return Some("guard.max_ratio must be above 1 and at most 1000".to_string());
        }
        if !(1..=366).contains(&self.run_rate_days) {
            return Some("guard.run_rate_days must be between 1 and 366".to_string());
        }
        if !(self.min_base_units.is_finite() && self.min_base_units >= 0.0) {
            return Some("guard.min_base_units must be a number of units, 0 or more".to_string());
        }
        None
    }
}

/// One category's figures, as loaded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CategoryFigures {
    pub category: String,
    /// Sum of the candidate's mean over its horizon.
    pub forecast_units: f64,
    /// Sum of p10 + p50 + p90 over the horizon: NaN anywhere makes it NaN.
    pub quantile_sum_units: f64,
    /// The smallest mean and the smallest p10 of any row.
    pub min_value_units: f64,
    /// Sales in force over the last `run_rate_days` up to the as-of.
    pub recent_units: f64,
    /// The same window a year (364 days) earlier, and the horizon a year earlier; `None`
    /// when history does not reach back that far.
    pub last_year: Option<(f64, f64)>,
    /// (candidate, run in force) units over the dates both forecast; `None` without a run in
    /// force or without common dates.
    pub in_force_overlap_units: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GuardInput {
    /// Days from the day after the as-of to the last forecast date.
    pub horizon_days: i64,
    pub run_rate_days: i64,
    pub categories: Vec<CategoryFigures>,
    /// Expected sales of each staged allocation run (NaN or negative holds the run).
    pub allocation_expected_units: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// NaN, infinite or negative figures.
    Values,
    RunRate,
    InForce,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Finding {
    /// The category, or the allocation run for a values check on an allocation.
    pub scope: String,
    pub check: Check,
    pub candidate_units: f64,
    pub reference_units: Option<f64>,
    pub ratio: Option<f64>,
    /// Whether the run may be published as far as this finding goes.
    pub within: bool,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Verdict {
    pub findings: Vec<Finding>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.findings.iter().all(|finding| finding.within)
    }

    /// One line: the findings out of bounds (the first three, then how many more).
    pub fn reason(&self) -> String {
        let out: Vec<&Finding> = self.findings.iter().filter(|f| !f.within).collect();
        let mut parts: Vec<String> = out
            .iter()
            .take(3)
            .map(|f| format!("{}: {}", f.scope, f.note))
            .collect();
        if out.len() > 3 {
            parts.push(format!("and {} more", out.len() - 3));
        }
        parts.join("; ")
    }
}

fn ratio_finding(
    scope: &str,
    check: Check,
    candidate: f64,
    reference: f64,
    what: &str,
    settings: &GuardSettings,
) -> Finding {
    let small = candidate.max(reference) < settings.min_base_units;
    let ratio = if reference > 0.0 {
        Some(candidate / reference)
    } else {
        None
    };
    let within =
        small || ratio.is_some_and(|r| r <= settings.max_ratio && r >= 1.0 / settings.max_ratio);
    let note = match (small, ratio) {
        (true, _) => format!(
            "{candidate:.0} units vs {reference:.0} {what}: below {:.0} units, not judged",
            settings.min_base_units
        ),
        (false, Some(r)) => format!(
            "{candidate:.0} units is ×{r:.2} {what} ({reference:.0}; bound ×{:.2}–×{:.2})",
            1.0 / settings.max_ratio,
            settings.max_ratio
        ),
        (false, None) => format!("{candidate:.0} units where {what} is 0"),
    };
    Finding {
        scope: scope.to_string(),
        check,
        candidate_units: candidate,
        reference_units: Some(reference),
        ratio,
        within,
        note,
    }
}

/// The run-rate scaled to the horizon, and how it was scaled.
fn expected_from_run_rate(
    figures: &CategoryFigures,
    input: &GuardInput,
    settings: &GuardSettings,
) -> (f64, String) {
    let by_days = figures.recent_units * input.horizon_days as f64 / input.run_rate_days as f64;
    match figures.last_year {
        Some((recent, horizon))
            if recent >= settings.min_base_units && horizon.is_finite() && horizon >= 0.0 =>
        {
            (
                figures.recent_units * horizon / recent,
                format!("the run-rate × last year's ratio {:.2}", horizon / recent),
            )
        }
        _ => (by_days, "the run-rate (no last-year ratio)".to_string()),
    }
}

/// The guard's verdict on one run.
pub fn judge(input: &GuardInput, settings: &GuardSettings) -> Verdict {
    let mut findings = Vec::new();
    for figures in &input.categories {
        let scope = figures.category.as_str();
        let bad_values = !figures.forecast_units.is_finite()
            || !figures.quantile_sum_units.is_finite()
            || !figures.min_value_units.is_finite()
            || figures.min_value_units < 0.0;
        if bad_values {
            findings.push(Finding {
                scope: scope.to_string(),
                check: Check::Values,
                candidate_units: figures.forecast_units,
                reference_units: None,
                ratio: None,
                within: false,
                note: format!(
                    "a NaN or negative forecast value (total {}, smallest {})",
                    figures.forecast_units, figures.min_value_units
                ),
            });
            continue;
        }
        let (expected, how) = expected_from_run_rate(figures, input, settings);
        findings.push(ratio_finding(
            scope,
            Check::RunRate,
            figures.forecast_units,
            expected,
            &how,
            settings,
        ));
        if let Some((candidate, in_force)) = figures.in_force_overlap_units {
            findings.push(ratio_finding(
                scope,
                Check::InForce,
                candidate,
                in_force,
                "the run in force over the same dates",
                settings,
            ));
        }
    }
    for (run, expected) in &input.allocation_expected_units {
        if !expected.is_finite() || *expected < 0.0 {
            findings.push(Finding {
                scope: run.clone(),
                check: Check::Values,
                candidate_units: *expected,
                reference_units: None,
                ratio: None,
                within: false,
                note: format!("allocation expected sales are {expected}"),
            });
        }
    }
    Verdict { findings }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(forecast: f64, recent: f64) -> CategoryFigures {
        CategoryFigures {
            category: "sofas".to_string(),
            forecast_units: forecast,
            quantile_sum_units: forecast * 3.0,
            min_value_units: 0.0,
            recent_units: recent,
            last_year: None,
            in_force_overlap_units: None,
        }
    }

    fn input(categories: Vec<CategoryFigures>) -> GuardInput {
        GuardInput {
            horizon_days: 56,
            run_rate_days: 28,
            categories,
            allocation_expected_units: Vec::new(),
        }
    }

    #[test]
    fn a_forecast_near_the_run_rate_passes_and_one_ten_times_it_is_held() {
        let settings = GuardSettings::default();
        // 100 units in 28 days → 200 expected over 56 days.
        let verdict = judge(&input(vec![figures(250.0, 100.0)]), &settings);
        assert!(verdict.passed(), "{verdict:?}");
        let verdict = judge(&input(vec![figures(2000.0, 100.0)]), &settings);
        assert!(!verdict.passed());
        assert!(verdict.reason().contains("sofas"), "{}", verdict.reason());
        assert!(verdict.reason().contains("×10.00"), "{}", verdict.reason());
        // And a collapse below a third of it.
        assert!(!judge(&input(vec![figures(50.0, 100.0)]), &settings).passed());
    }

    #[test]
    fn last_years_seasonal_ratio_scales_the_run_rate() {
        let settings = GuardSettings::default();
        // Last year the horizon sold 5× the recent window (a holiday season): 500 expected.
        let mut season = figures(450.0, 100.0);
        season.last_year = Some((100.0, 500.0));
        assert!(judge(&input(vec![season.clone()]), &settings).passed());
        // 700 is ×1.4 the seasonal expectation; without last year it is ×3.5 the run-rate
        // by days (200), out of bounds.
        season.forecast_units = 700.0;
        season.quantile_sum_units = 2100.0;
        assert!(judge(&input(vec![season.clone()]), &settings).passed());
        season.last_year = None;
        assert!(!judge(&input(vec![season]), &settings).passed());
    }

    #[test]
    fn the_run_in_force_bounds_the_candidate_over_common_dates() {
        let settings = GuardSettings::default();
        let mut jump = figures(200.0, 100.0);
        jump.in_force_overlap_units = Some((190.0, 20.5));
        let verdict = judge(&input(vec![jump]), &settings);
        assert!(!verdict.passed());
        let held: Vec<&Finding> = verdict.findings.iter().filter(|f| !f.within).collect();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].check, Check::InForce);
    }

    #[test]
    fn nan_or_negative_values_hold_the_run_whatever_the_ratios() {
        let settings = GuardSettings::default();
        let mut nan = figures(200.0, 100.0);
        nan.quantile_sum_units = f64::NAN;
        assert!(!judge(&input(vec![nan]), &settings).passed());
        let mut negative = figures(200.0, 100.0);
        negative.min_value_units = -0.5;
        let verdict = judge(&input(vec![negative]), &settings);
        assert!(!verdict.passed());
        assert_eq!(verdict.findings[0].check, Check::Values);
        let mut allocation = input(vec![figures(200.0, 100.0)]);
        allocation
            .allocation_expected_units
            .push(("alloc-1".to_string(), f64::NAN));
        assert!(!judge(&allocation, &settings).passed());
    }

    #[test]
    fn small_bases_are_reported_but_not_judged() {
        let settings = GuardSettings::default();
        // 12 units against 1 expected is ×24, but both are below 20 units.
        let verdict = judge(&input(vec![figures(12.0, 0.5)]), &settings);
        assert!(verdict.passed(), "{verdict:?}");
        assert!(verdict.findings[0].note.contains("not judged"));
        // A category forecast from nothing is held once it is big enough to matter.
        assert!(!judge(&input(vec![figures(500.0, 0.0)]), &settings).passed());
    }

    #[test]
    fn the_bound_is_configurable_and_checked() {
        let loose = GuardSettings {
            max_ratio: 20.0,
            ..GuardSettings::default()
        };
        assert!(judge(&input(vec![figures(2000.0, 100.0)]), &loose).passed());
        assert!(loose.problem().is_none());
        let bad = GuardSettings {
            max_ratio: 0.5,
            ..GuardSettings::default()
        };
        assert!(bad.problem().unwrap().contains("max_ratio"));
    }
}
