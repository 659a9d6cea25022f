//! When a job fires: a pure function of (schedule, time zone, last fire, now), so tests
//! control time and the scheduler only sleeps until the instant this module names.
//!
//! Cron expressions are read as wall-clock time in the job's time zone. Around daylight
//! saving changes: a wall-clock time that does not exist that day (02:30 when clocks jump
//! from 02:00 to 03:00) fires at the same instant the old offset would have given it (03:30),
//! so a nightly job is never silently skipped; a wall-clock time that happens twice (01:30
//! when clocks fall back) fires once, at its first occurrence.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use super::MissedRuns;

/// A fire later than this after its scheduled instant counts as missed.
pub const ON_TIME_TOLERANCE_SECONDS: i64 = 60;
/// Bound on candidates examined per call (a per-second schedule over a long outage).
const MAX_SCAN: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    Manual,
    Schedule,
    CatchUp,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
            Trigger::CatchUp => "catch-up",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing is due; sleep until `until` (None: the schedule never fires again).
    Wait { until: Option<DateTime<Utc>> },
    /// Run now for the fire at `scheduled_for`.
    Run {
        scheduled_for: DateTime<Utc>,
        trigger: Trigger,
    },
    /// `missed` fires up to `scheduled_for` were missed and the job's policy skips them.
    Skip {
        scheduled_for: DateTime<Utc>,
        missed: usize,
    },
}

/// The instant a wall-clock time inside a daylight-saving gap maps to: read with the offset
/// in force just before the gap.
fn resolve_gap(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let before = tz
        .offset_from_utc_datetime(&(local - Duration::hours(24)))
        .fix();
    Utc.from_utc_datetime(&(local - Duration::seconds(i64::from(before.local_minus_utc()))))
}

/// The first fire strictly after `after`.
pub fn next_fire(schedule: &cron::Schedule, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local_after = after.with_timezone(&tz).naive_local();
    // The cron crate walks wall-clock candidates; feeding it naive local time as if it were
    // UTC keeps its walk free of offsets, and the mapping back to instants is ours.
    for candidate in schedule
        .after(&Utc.from_utc_datetime(&local_after))
        .take(MAX_SCAN)
    {
        let local = candidate.naive_utc();
        let instant = match tz.from_local_datetime(&local) {
            LocalResult::Single(instant) => instant.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            LocalResult::None => resolve_gap(tz, local),
        };
        if instant > after {
            return Some(instant);
        }
    }
    None
}

/// What to do at `now` given the last fire the job answered (run or skipped).
pub fn decide(
    schedule: &cron::Schedule,
    tz: Tz,
    last_fire: DateTime<Utc>,
    now: DateTime<Utc>,
    missed_runs: MissedRuns,
) -> Decision {
    let mut latest = None;
    let mut due = 0usize;
    let mut cursor = last_fire;
    while let Some(fire) = next_fire(schedule, tz, cursor) {
        if fire > now {
            break;
        }
        latest = Some(fire);
        due += 1;
        cursor = fire;
        if due >= MAX_SCAN {
            // A very frequent schedule after a long outage: count no further, jump close to now.
            cursor = cursor.max(now - Duration::days(1));
        }
    }
    match latest {
        None => Decision::Wait {
            until: next_fire(schedule, tz, last_fire.max(now)),
        },
        Some(fire) if now - fire <= Duration::seconds(ON_TIME_TOLERANCE_SECONDS) => Decision::Run {
            scheduled_for: fire,
            trigger: Trigger::Schedule,
        },
        Some(fire) => match missed_runs {
            MissedRuns::RunOnce => Decision::Run {
                scheduled_for: fire,
                trigger: Trigger::CatchUp,
            },
            MissedRuns::Skip => Decision::Skip {
                scheduled_for: fire,
                missed: due,
            },
        },
    }
}

/// The business date a fire runs for: the day before the fire, in the job's time zone (a
/// 02:30 nightly run processes yesterday).
pub fn as_of_for_fire(tz: Tz, fire: DateTime<Utc>) -> chrono::NaiveDate {
    fire.with_timezone(&tz).date_naive() - Duration::days(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn cron(expr: &str) -> cron::Schedule {
        cron::Schedule::from_str(expr).unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    const NEW_YORK: Tz = chrono_tz::America::New_York;

    #[test]
    fn fires_at_local_wall_clock_time_on_both_sides_of_a_dst_change() {
        let nightly = cron("0 30 2 * * *");
        // Before 2026-03-08 New York is UTC-5; after it, UTC-4.
        let first = next_fire(&nightly, NEW_YORK, utc("2026-03-06T12:00:00Z")).unwrap();
        assert_eq!(first, utc("2026-03-07T07:30:00Z"));
        // 02:30 does not exist on 2026-03-08: it fires at 03:30 EDT (07:30 UTC), not never.
        let gap_day = next_fire(&nightly, NEW_YORK, first).unwrap();
        assert_eq!(gap_day, utc("2026-03-08T07:30:00Z"));
        assert_eq!(
            gap_day.with_timezone(&NEW_YORK).format("%H:%M").to_string(),
            "03:30"
        );
        let after = next_fire(&nightly, NEW_YORK, gap_day).unwrap();
        assert_eq!(after, utc("2026-03-09T06:30:00Z"));
        assert_eq!(
            after.with_timezone(&NEW_YORK).format("%H:%M").to_string(),
            "02:30"
        );
    }

    #[test]
    fn a_wall_clock_time_that_happens_twice_fires_once() {
        let job = cron("0 30 1 * * *");
        // 2026-11-01: clocks fall back from 02:00 EDT to 01:00 EST; 01:30 happens twice.
        let fire = next_fire(&job, NEW_YORK, utc("2026-11-01T00:00:00Z")).unwrap();
        assert_eq!(fire, utc("2026-11-01T05:30:00Z"));
        let next = next_fire(&job, NEW_YORK, fire).unwrap();
        assert_eq!(next, utc("2026-11-02T06:30:00Z"));
        // decide() at the second 01:30 (06:30 UTC) sees nothing due.
        let decision = decide(
            &job,
            NEW_YORK,
            fire,
            utc("2026-11-01T06:30:10Z"),
            MissedRuns::RunOnce,
        );
        assert_eq!(
            decision,
            Decision::Wait {
                until: Some(utc("2026-11-02T06:30:00Z"))
            }
        );
    }

    #[test]
    fn an_on_time_fire_runs_on_schedule() {
        let nightly = cron("0 30 2 * * *");
        let last = utc("2026-06-01T06:30:00Z");
        let now = utc("2026-06-02T06:30:01Z");
        assert_eq!(
            decide(&nightly, NEW_YORK, last, now, MissedRuns::Skip),
            Decision::Run {
                scheduled_for: utc("2026-06-02T06:30:00Z"),
                trigger: Trigger::Schedule
            }
        );
        assert_eq!(
            decide(
                &nightly,
                NEW_YORK,
                last,
                utc("2026-06-02T06:29:59Z"),
                MissedRuns::Skip
            ),
            Decision::Wait {
                until: Some(utc("2026-06-02T06:30:00Z"))
            }
        );
    }

    #[test]
    fn missed_runs_catch_up_once_or_skip() {
        let nightly = cron("0 30 2 * * *");
        let last = utc("2026-06-01T06:30:00Z");
        // Down for three nights, back at 09:00 local on June 4th.
        let now = utc("2026-06-04T13:00:00Z");
        assert_eq!(
            decide(&nightly, NEW_YORK, last, now, MissedRuns::RunOnce),
            Decision::Run {
                scheduled_for: utc("2026-06-04T06:30:00Z"),
                trigger: Trigger::CatchUp
            }
        );
        assert_eq!(
            decide(&nightly, NEW_YORK, last, now, MissedRuns::Skip),
            Decision::Skip {
                scheduled_for: utc("2026-06-04T06:30:00Z"),
                missed: 3
            }
        );
        // After answering the catch-up, nothing more is due until the next night.
        assert_eq!(
            decide(
                &nightly,
                NEW_YORK,
                utc("2026-06-04T06:30:00Z"),
                now,
                MissedRuns::RunOnce
            ),
            Decision::Wait {
                until: Some(utc("2026-06-05T06:30:00Z"))
            }
        );
    }

    #[test]
    fn the_as_of_date_is_the_local_day_before_the_fire() {
        // 02:30 EDT on June 2nd is 06:30 UTC: the run is for June 1st.
        assert_eq!(
            as_of_for_fire(NEW_YORK, utc("2026-06-02T06:30:00Z")),
            chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
        );
    }
}
