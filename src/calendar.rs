//! Built-in US retail event calendar.
//!
//! The calendar is pure (no I/O, no clock): [`us_retail_events`] lists every
//! event falling in an inclusive date range, sorted by date (ties broken by
//! event name so the output is fully deterministic).
//!
//! Events covered (names as written in the `event` column):
//!
//! | event              | rule                                   |
//! |--------------------|----------------------------------------|
//! | `New Year's Day`   | January 1                              |
//! | `Presidents' Day`  | third Monday of February               |
//! | `Memorial Day`     | last Monday of May                     |
//! | `Independence Day` | July 4                                 |
//! | `Labor Day`        | first Monday of September              |
//! | `Black Friday`     | day after the fourth Thursday of Nov.  |
//! | `Cyber Monday`     | Monday after Black Friday              |
//! | `Boxing Day`       | December 26                            |

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// Days back to "the same day last year": 52 weeks, so a Friday lines up with a Friday (and
/// most holidays with themselves). Every comparison with last year counts back this far.
pub const LAST_YEAR_DAYS: i64 = 364;

/// Event name for January 1.
pub const NEW_YEAR: &str = "New Year's Day";
/// Event name for the third Monday of February.
pub const PRESIDENTS_DAY: &str = "Presidents' Day";
/// Event name for the last Monday of May.
pub const MEMORIAL_DAY: &str = "Memorial Day";
/// Event name for July 4.
pub const INDEPENDENCE_DAY: &str = "Independence Day";
/// Event name for the first Monday of September.
pub const LABOR_DAY: &str = "Labor Day";
/// Event name for the day after Thanksgiving.
pub const BLACK_FRIDAY: &str = "Black Friday";
/// Event name for the Monday after Black Friday.
pub const CYBER_MONDAY: &str = "Cyber Monday";
/// Event name for December 26.
pub const BOXING_DAY: &str = "Boxing Day";

/// One dated retail event.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RetailEvent {
    pub date: NaiveDate,
    pub event: String,
}

/// The `n`-th (1-based) given weekday of a month.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

/// The last given weekday of a month.
fn last_weekday(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    let first_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let last = first_next.pred_opt()?;
    let back = (7 + last.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
    last.checked_sub_signed(Duration::days(i64::from(back)))
}

/// Presidents' Day: third Monday of February.
pub fn presidents_day(year: i32) -> Option<NaiveDate> {
    nth_weekday(year, 2, Weekday::Mon, 3)
}

/// Memorial Day: last Monday of May.
pub fn memorial_day(year: i32) -> Option<NaiveDate> {
    last_weekday(year, 5, Weekday::Mon)
}

/// Independence Day: July 4.
pub fn independence_day(year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, 7, 4)
}

/// Labor Day: first Monday of September.
pub fn labor_day(year: i32) -> Option<NaiveDate> {
    nth_weekday(year, 9, Weekday::Mon, 1)
}

/// Thanksgiving: fourth Thursday of November.
pub fn thanksgiving(year: i32) -> Option<NaiveDate> {
    nth_weekday(year, 11, Weekday::Thu, 4)
}

/// Black Friday: the day after Thanksgiving.
pub fn black_friday(year: i32) -> Option<NaiveDate> {
    thanksgiving(year)?.succ_opt()
}

/// Cyber Monday: the Monday after Black Friday.
pub fn cyber_monday(year: i32) -> Option<NaiveDate> {
    black_friday(year)?.checked_add_signed(Duration::days(3))
}

/// Boxing Day: December 26.
pub fn boxing_day(year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, 12, 26)
}

/// New Year's Day: January 1.
pub fn new_year(year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, 1, 1)
}

/// A date rule: the event's date in a given year.
type DateRule = fn(i32) -> Option<NaiveDate>;

/// All events of one calendar year, in date order.
pub fn events_in_year(year: i32) -> Vec<RetailEvent> {
    let rules: [(DateRule, &str); 8] = [
        (new_year, NEW_YEAR),
        (presidents_day, PRESIDENTS_DAY),
        (memorial_day, MEMORIAL_DAY),
        (independence_day, INDEPENDENCE_DAY),
        (labor_day, LABOR_DAY),
        (black_friday, BLACK_FRIDAY),
        (cyber_monday, CYBER_MONDAY),
        (boxing_day, BOXING_DAY),
    ];
    let mut out: Vec<RetailEvent> = rules
        .iter()
        .filter_map(|(rule, name)| {
            rule(year).map(|date| RetailEvent {
                date,
                event: (*name).to_string(),
            })
        })
        .collect();
    out.sort();
    out
}

/// Every US retail event with `from <= date <= to`, sorted by date.
///
/// Returns an empty vector when `from > to`.
pub fn us_retail_events(from: NaiveDate, to: NaiveDate) -> Vec<RetailEvent> {
    if from > to {
        return Vec::new();
    }
    let mut out: Vec<RetailEvent> = (from.year()..=to.year())
        .flat_map(events_in_year)
        .filter(|e| e.date >= from && e.date <= to)
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn find(events: &[RetailEvent], name: &str) -> Vec<NaiveDate> {
        events
            .iter()
            .filter(|e| e.event == name)
            .map(|e| e.date)
            .collect()
    }

    #[test]
    fn known_dates() {
        assert_eq!(black_friday(2025), Some(d(2025, 11, 28)));
        assert_eq!(cyber_monday(2025), Some(d(2025, 12, 1)));
        assert_eq!(black_friday(2024), Some(d(2024, 11, 29)));
        assert_eq!(black_friday(2023), Some(d(2023, 11, 24)));
        assert_eq!(memorial_day(2026), Some(d(2026, 5, 25)));
        assert_eq!(memorial_day(2025), Some(d(2025, 5, 26)));
        assert_eq!(memorial_day(2021), Some(d(2021, 5, 31)));
        assert_eq!(presidents_day(2025), Some(d(2025, 2, 17)));
        assert_eq!(presidents_day(2026), Some(d(2026, 2, 16)));
        assert_eq!(labor_day(2025), Some(d(2025, 9, 1)));
        assert_eq!(labor_day(2026), Some(d(2026, 9, 7)));
        assert_eq!(thanksgiving(2026), Some(d(2026, 11, 26)));
    }

    #[test]
    fn range_is_sorted_inclusive_and_complete() {
        let ev = us_retail_events(d(2024, 1, 1), d(2025, 12, 31));
        assert_eq!(ev.len(), 16);
        assert!(ev.windows(2).all(|w| w[0].date <= w[1].date));
        assert_eq!(ev.first().unwrap().date, d(2024, 1, 1));
        assert_eq!(ev.first().unwrap().event, NEW_YEAR);
        assert_eq!(ev.last().unwrap().date, d(2025, 12, 26));
        assert_eq!(ev.last().unwrap().event, BOXING_DAY);
        assert_eq!(
            find(&ev, BLACK_FRIDAY),
            vec![d(2024, 11, 29), d(2025, 11, 28)]
        );
        assert_eq!(
            find(&ev, CYBER_MONDAY),
            vec![d(2024, 12, 2), d(2025, 12, 1)]
        );
        assert_eq!(
            find(&ev, INDEPENDENCE_DAY),
            vec![d(2024, 7, 4), d(2025, 7, 4)]
        );
    }

    #[test]
    fn range_edges() {
        assert!(us_retail_events(d(2025, 3, 1), d(2025, 5, 1)).is_empty());
        assert!(us_retail_events(d(2025, 12, 31), d(2025, 1, 1)).is_empty());
        let one = us_retail_events(d(2025, 12, 26), d(2025, 12, 26));
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].event, BOXING_DAY);
        let around_new_year = us_retail_events(d(2025, 12, 20), d(2026, 1, 5));
        let names: Vec<&str> = around_new_year.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(names, vec![BOXING_DAY, NEW_YEAR]);
    }

    #[test]
    fn cyber_monday_is_monday_after_black_friday() {
        for year in 2000..2040 {
            let bf = black_friday(year).unwrap();
            let cm = cyber_monday(year).unwrap();
            assert_eq!(bf.weekday(), Weekday::Fri);
            assert_eq!(cm.weekday(), Weekday::Mon);
            assert_eq!((cm - bf).num_days(), 3);
            assert!((23..=29).contains(&bf.day()));
            let md = memorial_day(year).unwrap();
            assert_eq!(md.weekday(), Weekday::Mon);
            assert!(md.day() >= 25);
        }
    }
}
