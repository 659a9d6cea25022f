//! Which promotions are planned together: those whose windows overlap, directly or through a
//! chain of overlaps. Promotions running at the same time draw on the same stock and the same
//! warehouse space, so planning them one at a time would hand the same units to each of them.

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionWindow {
    pub promotion: String,
    pub start: NaiveDate,
    /// Last day of the promotion (inclusive).
    pub end: NaiveDate,
}

impl PromotionWindow {
    /// The part of the window still ahead of `as_of`: from the day after it.
    pub fn ahead_of(&self, as_of: NaiveDate) -> PromotionWindow {
        PromotionWindow {
            promotion: self.promotion.clone(),
            start: self.start.max(as_of + Duration::days(1)),
            end: self.end,
        }
    }
}

/// Groups of promotions to plan together, as of `as_of`: promotions that have ended by
/// `as_of` are left out; the rest are joined when the parts of their windows still ahead
/// overlap (sharing at least one day). Groups come soonest first, and the promotions of a
/// group by (start, id), so the same input always gives the same groups.
pub fn overlapping_groups(
    windows: &[PromotionWindow],
    as_of: NaiveDate,
) -> Vec<Vec<PromotionWindow>> {
    let mut ahead: Vec<PromotionWindow> = windows
        .iter()
        .filter(|w| w.end > as_of)
        .map(|w| w.ahead_of(as_of))
        .collect();
    ahead.sort_by(|a, b| (a.start, a.end, &a.promotion).cmp(&(b.start, b.end, &b.promotion)));
    ahead.dedup_by(|a, b| a.promotion == b.promotion);
    let mut groups: Vec<Vec<PromotionWindow>> = Vec::new();
    let mut group_end: Option<NaiveDate> = None;
    for window in ahead {
        match (groups.last_mut(), group_end) {
            (Some(group), Some(end)) if window.start <= end => {
                group_end = Some(end.max(window.end));
                group.push(window);
            }
            _ => {
                group_end = Some(window.end);
                groups.push(vec![window]);
            }
        }
    }
    groups
}

/// The group that holds `promotion`, if it has not ended by `as_of`.
pub fn group_of(
    windows: &[PromotionWindow],
    promotion: &str,
    as_of: NaiveDate,
) -> Option<Vec<PromotionWindow>> {
    overlapping_groups(windows, as_of)
        .into_iter()
        .find(|group| group.iter().any(|w| w.promotion == promotion))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn window(id: &str, start: &str, end: &str) -> PromotionWindow {
        PromotionWindow {
            promotion: id.to_string(),
            start: date(start),
            end: date(end),
        }
    }

    fn ids(groups: &[Vec<PromotionWindow>]) -> Vec<Vec<&str>> {
        groups
            .iter()
            .map(|g| g.iter().map(|w| w.promotion.as_str()).collect())
            .collect()
    }

    #[test]
    fn overlapping_windows_form_one_group_and_chains_join() {
        let windows = [
            window("P3", "2026-12-20", "2026-12-26"),
            window("P2", "2026-11-27", "2026-11-30"),
            window("P1", "2026-11-20", "2026-11-28"),
            window("P4", "2026-11-30", "2026-12-02"),
        ];
        let groups = overlapping_groups(&windows, date("2026-10-31"));
        assert_eq!(ids(&groups), vec![vec!["P1", "P2", "P4"], vec!["P3"]]);
    }

    #[test]
    fn touching_but_not_overlapping_windows_stay_apart() {
        let windows = [
            window("A", "2026-11-01", "2026-11-05"),
            window("B", "2026-11-06", "2026-11-09"),
        ];
        let groups = overlapping_groups(&windows, date("2026-10-31"));
        assert_eq!(ids(&groups), vec![vec!["A"], vec!["B"]]);
    }

    #[test]
    fn only_the_part_ahead_counts_and_ended_promotions_drop_out() {
        // A started before the as-of date and B starts after it; both are still running on
        // 11-04, so they overlap. C ended on the as-of date.
        let windows = [
            window("A", "2026-10-20", "2026-11-04"),
            window("B", "2026-11-04", "2026-11-10"),
            window("C", "2026-10-25", "2026-11-01"),
        ];
        let groups = overlapping_groups(&windows, date("2026-11-01"));
        assert_eq!(ids(&groups), vec![vec!["A", "B"]]);
        assert_eq!(
            groups[0][0].start,
            date("2026-11-02"),
            "clipped to as-of + 1"
        );
        assert_eq!(
            group_of(&windows, "B", date("2026-11-01")).map(|g| g.len()),
            Some(2)
        );
        assert_eq!(group_of(&windows, "C", date("2026-11-01")), None);
    }

    #[test]
    fn the_order_of_the_input_does_not_change_the_groups() {
        let mut windows = vec![
            window("X", "2026-11-10", "2026-11-12"),
            window("W", "2026-11-10", "2026-11-12"),
            window("Y", "2026-11-11", "2026-11-20"),
        ];
        let first = overlapping_groups(&windows, date("2026-11-01"));
        windows.reverse();
        assert_eq!(overlapping_groups(&windows, date("2026-11-01")), first);
        assert_eq!(ids(&first), vec![vec!["W", "X", "Y"]]);
    }
}
