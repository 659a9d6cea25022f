//! Named events on the period grid: which window of which event a period falls in, and the
//! period a year earlier that lines up with it. A moving event (Thanksgiving, Easter,
//! Christmas on another weekday, Christmas week in weekly data) lines up with its own last
//! occurrence, not with the same calendar date. Pure.

use super::panel::{season_periods, Panel};
use crate::contract::Frequency;

/// Offsets of a target from an event, grouped into bins: in days (daily data, two weeks
/// before to three days after) or in weeks (two weeks before to one after).
const DAY_BINS: [(i64, i64); 8] = [
    (-14, -8),
    (-7, -4),
    (-3, -3),
    (-2, -2),
    (-1, -1),
    (0, 0),
    (1, 1),
    (2, 3),
];
const WEEK_BINS: [(i64, i64); 4] = [(-2, -2), (-1, -1), (0, 0), (1, 1)];

pub fn bins(freq: Frequency) -> &'static [(i64, i64)] {
    match freq {
        Frequency::Day => &DAY_BINS,
        Frequency::Week => &WEEK_BINS,
    }
}

/// Labels of the bins, for feature names: `d-14..-8`, `d0`, `w-1`.
pub fn bin_labels(freq: Frequency) -> Vec<String> {
    let unit = match freq {
        Frequency::Day => 'd',
        Frequency::Week => 'w',
    };
    bins(freq)
        .iter()
        .map(|(low, high)| {
            if low == high {
                format!("{unit}{low:+}")
            } else {
                format!("{unit}{low:+}..{high:+}")
            }
        })
        .collect()
}

/// An event occurrence a year earlier only counts when it lies this far back.
const MIN_DAYS_BETWEEN_YEARS: i32 = 300;
const MAX_DAYS_BETWEEN_YEARS: i32 = 430;

/// Per period of the grid: the event windows it falls in, and the period of last year that
/// lines up with it.
pub struct EventCalendar {
    /// `[period]`: (event index, bin index) pairs.
    windows: Vec<Vec<(u16, u8)>>,
    /// `[period]`: the aligned period a season earlier (negative before the grid).
    aligned: Vec<i64>,
}

impl EventCalendar {
    pub fn new(panel: &Panel) -> EventCalendar {
        let freq = panel.freq;
        let bins = bins(freq);
        let season = season_periods(freq) as i64;
        let mut windows: Vec<Vec<(u16, u8)>> = vec![Vec::new(); panel.total_len];
        // (distance, event, offset, event day) of the nearest event per period.
        let mut nearest: Vec<Option<(i64, usize, i64, i32)>> = vec![None; panel.total_len];
        let (low, high) = (bins[0].0, bins[bins.len() - 1].1);
        for occurrence in &panel.events {
            let event_period = panel.period_of_day(occurrence.day);
            for offset in low..=high {
                // Daily bins count days, weekly bins weeks, from the event's own period.
                let period = event_period + offset;
                if period < 0 || period >= panel.total_len as i64 {
                    continue;
                }
                let period = period as usize;
                if let Some(bin) = bins.iter().position(|(l, h)| offset >= *l && offset <= *h) {
                    let entry = (occurrence.event as u16, bin as u8);
                    if !windows[period].contains(&entry) {
                        windows[period].push(entry);
                    }
                }
                let distance = offset.abs();
                if nearest[period].is_none_or(|(d, ..)| distance < d) {
                    nearest[period] = Some((distance, occurrence.event, offset, occurrence.day));
                }
            }
        }
        let aligned = (0..panel.total_len)
            .map(|period| {
                let plain = period as i64 - season;
                let Some((_, event, offset, day)) = nearest[period] else {
                    return plain;
                };
                let earlier = panel.events.iter().rev().find(|other| {
                    other.event == event
                        && day - other.day >= MIN_DAYS_BETWEEN_YEARS
                        && day - other.day <= MAX_DAYS_BETWEEN_YEARS
                });
                match earlier {
                    Some(other) => panel.period_of_day(other.day) + offset,
                    None => plain,
                }
            })
            .collect();
        EventCalendar { windows, aligned }
    }

    /// The (event, bin) windows `period` falls in.
    pub fn windows(&self, period: usize) -> &[(u16, u8)] {
        &self.windows[period]
    }

    /// The period a season earlier that lines up with `period` (by event when it is near
    /// one, else exactly one season back).
    pub fn aligned_last_year(&self, period: usize) -> i64 {
        self.aligned[period]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::panel::EventDay;
    use chrono::NaiveDate;

    fn panel(freq: Frequency, start: &str, periods: usize, events: &[(&str, usize)]) -> Panel {
        let start: NaiveDate = start.parse().unwrap();
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let day = |d: &str| (d.parse::<NaiveDate>().unwrap() - epoch).num_days() as i32;
        Panel {
            freq,
            start,
            history_len: periods,
            total_len: periods,
            skus: vec![],
            sku_category: vec![],
            categories: vec![],
            warehouses: vec![],
            units: vec![],
            cell_units: vec![],
            censored: vec![],
            cell_censored: vec![],
            active_from: vec![],
            cell_active_from: vec![],
            discount: vec![],
            promo_period: vec![],
            promo_length: vec![],
            promo_words: vec![],
            cell_promotions: vec![],
            promo_vocabulary: vec![],
            poll_sku: vec![],
            poll_category: vec![],
            events: events
                .iter()
                .map(|(date, event)| EventDay {
                    day: day(date),
                    event: *event,
                })
                .collect(),
            event_names: vec!["Thanksgiving".into(), "Christmas".into()],
        }
    }

    #[test]
    fn thanksgiving_lines_up_with_last_years_thanksgiving_not_the_date() {
        // 2024-11-28 and 2025-11-27 are both the fourth Thursday.
        let panel = panel(
            Frequency::Day,
            "2024-01-01",
            800,
            &[("2024-11-28", 0), ("2025-11-27", 0)],
        );
        let calendar = EventCalendar::new(&panel);
        let period = |d: &str| (d.parse::<NaiveDate>().unwrap() - panel.start).num_days() as usize;
        // The day before Thanksgiving 2025 lines up with the day before Thanksgiving 2024.
        assert_eq!(
            calendar.aligned_last_year(period("2025-11-26")),
            period("2024-11-27") as i64
        );
        // Far from any event: exactly 364 days back.
        assert_eq!(
            calendar.aligned_last_year(period("2025-06-10")),
            period("2025-06-10") as i64 - 364
        );
        assert!(calendar.windows(period("2025-11-27")).contains(&(0, 5)));
    }

    #[test]
    fn christmas_week_lines_up_in_weekly_data() {
        // Weeks starting on Fridays; Christmas 2010 is a Saturday, 2011 a Sunday.
        let panel = panel(
            Frequency::Week,
            "2010-02-05",
            110,
            &[("2010-12-25", 1), ("2011-12-25", 1)],
        );
        let calendar = EventCalendar::new(&panel);
        let week =
            |d: &str| ((d.parse::<NaiveDate>().unwrap() - panel.start).num_days() / 7) as usize;
        let christmas_2011 = week("2011-12-25");
        assert_eq!(
            calendar.aligned_last_year(christmas_2011),
            week("2010-12-25") as i64
        );
        assert!(calendar.windows(christmas_2011).contains(&(1, 2)));
        assert!(calendar.windows(christmas_2011 - 1).contains(&(1, 1)));
    }
}
