//! Which published allocation run is in force: the one rule `allocation list`, `allocation
//! show latest`, `report allocation`, `report stockout-risk` and `GET /v1/allocations` share.
//!
//! A run plans one group of overlapping promotions (see `allocate::overlapping_groups`).
//! 1. A run is **superseded** once a run published after it covers any of its promotions
//!    (later = published later, then created later; the run id breaks an exact tie, so the
//!    answer never depends on the backend's row order).
//! 2. A run has **ended** when its window ends on or before the latest as-of date of any
//!    published run: that promotion is over by the data's own "today".
//! 3. Of the runs left, the one whose window starts first (then ends first, then by its first
//!    promotion id) is **in force**: it is the plan to carry out now. The others are
//!    **scheduled**, each the plan for its own later promotions, and take over when the earlier
//!    window ends. Runs from one nightly never overlap in time, so every (sku, warehouse) has
//!    exactly one target in force: the in-force run's.
//! 4. For one promotion, the plan is the latest published run covering it (rule 1's order).
//!
//! The rule itself ([`resolve`], [`latest_for_promotion`]) is pure; [`load_published`] reads
//! what it needs.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

use super::AllocationStoreError;
use crate::on_backend;
use crate::store::Store;

#[derive(Debug, Clone, PartialEq)]
pub struct PublishedRun {
    pub id: String,
    pub published_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub as_of: NaiveDate,
    /// Span of the run's promotion windows ahead of its as-of date; `None` on runs written
    /// before windows were stored.
    pub window_start: Option<NaiveDate>,
    pub window_end: Option<NaiveDate>,
    /// The promotions the run plans, sorted.
    pub promotions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "standing", rename_all = "snake_case")]
pub enum Standing {
    InForce,
    Scheduled,
    Superseded { by: String },
    Ended,
}

impl Standing {
    pub fn label(&self) -> String {
        match self {
            Standing::InForce => "in force".to_string(),
            Standing::Scheduled => "scheduled".to_string(),
            Standing::Superseded { by } => format!("superseded by {by}"),
            Standing::Ended => "ended".to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolution {
    /// The latest as-of date of any published run (rule 2's "today").
    pub reference_as_of: Option<NaiveDate>,
    /// The run in force, if any.
    pub in_force: Option<String>,
    /// Every published run's standing, by id.
    pub standings: BTreeMap<String, Standing>,
}

/// Newest first: published, then created, then id.
fn newer_first(a: &PublishedRun, b: &PublishedRun) -> Ordering {
    (b.published_at, b.created_at, &b.id).cmp(&(a.published_at, a.created_at, &a.id))
}

/// Soonest window first; runs without a stored window last.
fn soonest_first(a: &PublishedRun, b: &PublishedRun) -> Ordering {
    let key = |r: &PublishedRun| {
        (
            r.window_start.is_none(),
            r.window_start,
            r.window_end,
            r.promotions.first().cloned(),
            r.id.clone(),
        )
    };
    key(a).cmp(&key(b))
}

/// Applies rules 1–3 to every published run.
pub fn resolve(runs: &[PublishedRun]) -> Resolution {
    let mut order: Vec<&PublishedRun> = runs.iter().collect();
    order.sort_by(|a, b| newer_first(a, b));
    let reference_as_of = runs.iter().map(|r| r.as_of).max();
    let mut standings = BTreeMap::new();
    // The newest run seen so far for each promotion.
    let mut claimed: BTreeMap<&str, &str> = BTreeMap::new();
    let mut live: Vec<&PublishedRun> = Vec::new();
    for run in order {
        let by = run
            .promotions
            .iter()
            .find_map(|p| claimed.get(p.as_str()).copied());
        for promotion in &run.promotions {
            claimed.entry(promotion.as_str()).or_insert(run.id.as_str());
        }
        let standing = match by {
            Some(by) => Standing::Superseded { by: by.to_string() },
            None if matches!((run.window_end, reference_as_of), (Some(end), Some(today)) if end <= today) => {
                Standing::Ended
            }
            None => {
                live.push(run);
                continue;
            }
        };
        standings.insert(run.id.clone(), standing);
    }
    live.sort_by(|a, b| soonest_first(a, b));
    let in_force = live.first().map(|r| r.id.clone());
    for (rank, run) in live.into_iter().enumerate() {
        let standing = if rank == 0 {
            Standing::InForce
        } else {
            Standing::Scheduled
        };
        standings.insert(run.id.clone(), standing);
    }
    Resolution {
        reference_as_of,
        in_force,
        standings,
    }
}

/// Rule 4: the latest published run that plans `promotion`.
pub fn latest_for_promotion<'a>(
    runs: &'a [PublishedRun],
    promotion: &str,
) -> Option<&'a PublishedRun> {
    runs.iter()
        .filter(|r| r.promotions.iter().any(|p| p == promotion))
        .min_by(|a, b| newer_first(a, b))
}

/// Every published run with its promotions, optionally only those as of `as_of` or earlier
/// (a report looking back). Runs without promotion rows count as planning their `promotion`.
pub async fn load_published(
    store: &Store,
    as_of: Option<NaiveDate>,
) -> Result<Vec<PublishedRun>, AllocationStoreError> {
    let rows = on_backend!(store, pool => {
        sqlx::query(
            "SELECT r.id, r.published_at, r.created_at, r.as_of, r.window_start, r.window_end, \
             COALESCE(p.promotion, r.promotion) AS covered \
             FROM allocation_runs r LEFT JOIN allocation_run_promotions p ON p.run_id = r.id \
             WHERE r.status = 'published' AND r.published_at IS NOT NULL \
             AND (CAST($1 AS DATE) IS NULL OR r.as_of <= $1) \
             ORDER BY r.id, covered",
        )
        .bind(as_of)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| -> Result<(PublishedRun, String), sqlx::Error> {
            Ok((
                PublishedRun {
                    id: row.try_get("id")?,
                    published_at: row.try_get("published_at")?,
                    created_at: row.try_get("created_at")?,
                    as_of: row.try_get("as_of")?,
                    window_start: row.try_get("window_start")?,
                    window_end: row.try_get("window_end")?,
                    promotions: Vec::new(),
                },
                row.try_get("covered")?,
            ))
        })
        .collect::<Result<Vec<_>, _>>()?
    });
    let mut runs: Vec<PublishedRun> = Vec::new();
    for (run, promotion) in rows {
        match runs.last_mut() {
            Some(last) if last.id == run.id => last.promotions.push(promotion),
            _ => runs.push(PublishedRun {
                promotions: vec![promotion],
                ..run
            }),
        }
    }
    Ok(runs)
}

/// The run in force now (rules 1–3), from the store.
pub async fn run_in_force(
    store: &Store,
    as_of: Option<NaiveDate>,
) -> Result<Option<String>, AllocationStoreError> {
    Ok(resolve(&load_published(store, as_of).await?).in_force)
}

/// The latest published run for `promotion` (rule 4), from the store.
pub async fn run_for_promotion(
    store: &Store,
    promotion: &str,
    as_of: Option<NaiveDate>,
) -> Result<Option<String>, AllocationStoreError> {
    let runs = load_published(store, as_of).await?;
    Ok(latest_for_promotion(&runs, promotion).map(|r| r.id.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn at(day: u32) -> DateTime<Utc> {
        format!("2026-11-{day:02}T02:30:00Z").parse().unwrap()
    }

    fn run(id: &str, published: u32, window: (&str, &str), promotions: &[&str]) -> PublishedRun {
        PublishedRun {
            id: id.to_string(),
            published_at: at(published),
            created_at: at(published),
            as_of: date(&format!("2026-11-{:02}", published - 1)),
            window_start: Some(date(window.0)),
            window_end: Some(date(window.1)),
            promotions: promotions.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn one_nightly_puts_the_soonest_plan_in_force_whatever_the_ids() {
        // One publication: the same published_at for every run, ids in any order.
        for (a, b, c) in [("r-a", "r-b", "r-c"), ("r-z", "r-y", "r-x")] {
            let runs = vec![
                run(a, 2, ("2026-12-20", "2026-12-26"), &["P3"]),
                run(b, 2, ("2026-11-20", "2026-11-30"), &["P1", "P2"]),
                run(c, 2, ("2026-12-01", "2026-12-03"), &["P4"]),
            ];
            let resolution = resolve(&runs);
            assert_eq!(resolution.in_force.as_deref(), Some(b));
            assert_eq!(resolution.standings[a], Standing::Scheduled);
            assert_eq!(resolution.standings[c], Standing::Scheduled);
            let mut reversed = runs.clone();
            reversed.reverse();
            assert_eq!(
                resolve(&reversed),
                resolution,
                "input order does not matter"
            );
        }
    }

    #[test]
    fn a_later_run_for_any_shared_promotion_supersedes_and_ended_runs_drop_out() {
        let runs = vec![
            run("old-joint", 2, ("2026-11-20", "2026-11-30"), &["P1", "P2"]),
            run("old-done", 2, ("2026-11-03", "2026-11-05"), &["P0"]),
            run(
                "new-p2",
                9,
                ("2026-11-20", "2026-11-30"),
                &["P1", "P2", "P5"],
            ),
        ];
        let resolution = resolve(&runs);
        assert_eq!(
            resolution.standings["old-joint"],
            Standing::Superseded {
                by: "new-p2".to_string()
            }
        );
        assert_eq!(resolution.standings["old-done"], Standing::Ended);
        assert_eq!(resolution.reference_as_of, Some(date("2026-11-08")));
        assert_eq!(resolution.in_force.as_deref(), Some("new-p2"));
        assert_eq!(
            latest_for_promotion(&runs, "P1").map(|r| r.id.as_str()),
            Some("new-p2")
        );
        assert_eq!(
            latest_for_promotion(&runs, "P0").map(|r| r.id.as_str()),
            Some("old-done"),
            "a promotion's own plan stays readable after it ends"
        );
        assert_eq!(latest_for_promotion(&runs, "P9"), None);
    }

    #[test]
    fn an_exact_tie_is_broken_by_id_not_by_row_order() {
        let mut runs = vec![
            run("alloc-b", 2, ("2026-11-20", "2026-11-30"), &["P1"]),
            run("alloc-a", 2, ("2026-11-20", "2026-11-30"), &["P1"]),
        ];
        let first = resolve(&runs);
        runs.reverse();
        assert_eq!(resolve(&runs), first);
        assert_eq!(first.in_force.as_deref(), Some("alloc-b"));
    }

    #[test]
    fn runs_without_a_stored_window_never_end_and_come_last() {
        let mut legacy = run("legacy", 3, ("2026-11-01", "2026-11-02"), &["PL"]);
        legacy.window_start = None;
        legacy.window_end = None;
        let runs = vec![
            legacy,
            run("windowed", 2, ("2026-12-01", "2026-12-03"), &["P1"]),
        ];
        let resolution = resolve(&runs);
        assert_eq!(resolution.in_force.as_deref(), Some("windowed"));
        assert_eq!(resolution.standings["legacy"], Standing::Scheduled);
    }
}
