//! `report reconciliation`: live sales (units the reservation core committed) beside the
//! ingested sales for the same day, SKU and warehouse, and which of the two counts under the
//! sales-source rule (`store::sales_source`): a live row is provisional until an ingested
//! file covers its day, then the file's figure counts and the live row is kept only for this
//! comparison. A covered day whose file holds fewer units than the core committed is flagged:
//! the export probably misses web orders.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::query::{Bind, Sql};
use super::view::{column, cut, ReportView, Section, Value};
use super::{Filters, ReportError, MAX_ROWS};
use crate::report_fetch;
use crate::store::Store;

/// Units below which a file's figure is not flagged as short of the live one (fractional
/// exports round).
const SHORT_TOLERANCE_UNITS: f64 = 1e-6;

/// One live row and what the ingested files say about the same cell and day.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LiveRow {
    pub date: NaiveDate,
    pub sku: String,
    pub warehouse: String,
    pub live_units: f64,
    /// The ingested row for the same cell and day; `None` when no file has a row for it.
    pub ingested_units: Option<f64>,
    /// Whether an ingested file covers the day (then the file counts, even without a row).
    pub covered: bool,
}

#[derive(Debug, Clone)]
pub struct ReconciliationInput {
    pub ingested_through: Option<NaiveDate>,
    pub rows: Vec<LiveRow>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Standing {
    /// No ingested file covers the day yet: the live units count.
    Provisional,
    /// A file covers the day and holds at least the live units: the file counts.
    Superseded,
    /// A file covers the day but holds fewer units than the core committed: the file still
    /// counts (it is authoritative), and the difference is worth a look.
    FileBelowLive,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Provisional => "provisional",
            Standing::Superseded => "superseded",
            Standing::FileBelowLive => "file below live",
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CellLine {
    pub date: NaiveDate,
    pub sku: String,
    pub warehouse: String,
    pub live_units: f64,
    pub ingested_units: Option<f64>,
    /// What readers count for this cell and day: the live units while provisional, the
    /// file's afterwards (0 when the file has no row).
    pub counted_units: f64,
    pub standing: Standing,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DayLine {
    pub date: NaiveDate,
    pub covered: bool,
    pub cells: usize,
    pub live_units: f64,
    /// Ingested units of the cells that have live rows that day.
    pub ingested_units: f64,
    pub counted_units: f64,
    pub cells_below_live: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReconciliationReport {
    pub ingested_through: Option<NaiveDate>,
    pub days: Vec<DayLine>,
    pub cells: Vec<CellLine>,
    pub cells_left_out: usize,
    /// Live units counted until a file covers their day.
    pub provisional_units: f64,
    /// Live units kept for reconciliation only (their day is covered by a file).
    pub superseded_live_units: f64,
    pub cells_below_live: usize,
}

pub async fn load(store: &Store, filters: &Filters) -> Result<ReconciliationInput, ReportError> {
    let ingested_through = crate::store::sales_source::ingested_through(store).await?;
    // The one reader of `sales` by source besides ingest and the core: it shows both sides.
    let mut sql = Sql::new(
        "SELECT l.date, l.sku, l.warehouse, l.units, \
         (SELECT i.units FROM sales i WHERE i.sku = l.sku AND i.warehouse = l.warehouse \
          AND i.date = l.date AND i.source = 'import'), \
         CAST(CASE WHEN EXISTS (SELECT 1 FROM sales_coverage c \
                                WHERE l.date >= c.first_date AND l.date <= c.last_date) \
              THEN 1 ELSE 0 END AS BIGINT) \
         FROM sales l WHERE l.source = 'live'",
    );
    filters.restrict(&mut sql, "l");
    if let Some(as_of) = filters.as_of {
        sql.clause(" AND l.date <= ?", vec![Bind::Date(as_of)]);
    }
    sql.push(" ORDER BY l.date DESC, l.sku, l.warehouse LIMIT ");
    let limit = sql.param(Bind::Int(MAX_ROWS as i64));
    sql.push(&limit);
    type Row = (NaiveDate, String, String, f64, Option<f64>, i64);
    let rows = report_fetch!(store, sql, Row)
        .into_iter()
        .map(
            |(date, sku, warehouse, live_units, ingested_units, covered)| LiveRow {
                date,
                sku,
                warehouse,
                live_units,
                ingested_units,
                covered: covered != 0,
            },
        )
        .collect();
    Ok(ReconciliationInput {
        ingested_through,
        rows,
    })
}

/// How one live row stands under the sales-source rule, and the units readers count for it.
pub fn standing(row: &LiveRow) -> (Standing, f64) {
    if !row.covered {
        return (Standing::Provisional, row.live_units);
    }
    let ingested = row.ingested_units.unwrap_or(0.0);
    if ingested + SHORT_TOLERANCE_UNITS < row.live_units {
        (Standing::FileBelowLive, ingested)
    } else {
        (Standing::Superseded, ingested)
    }
}

pub fn build(
    input: &ReconciliationInput,
    filters: &Filters,
) -> Result<ReconciliationReport, ReportError> {
    if input.rows.is_empty() {
        return Err(ReportError::Empty(format!(
            "no live sales recorded{}; the reservation core writes them when a hold is committed",
            filters.describe_suffix()
        )));
    }
    let mut days: BTreeMap<NaiveDate, DayLine> = BTreeMap::new();
    let mut cells = Vec::with_capacity(input.rows.len());
    let (mut provisional_units, mut superseded_live_units, mut cells_below_live) = (0.0, 0.0, 0);
    for row in &input.rows {
        let (standing, counted_units) = standing(row);
        let day = days.entry(row.date).or_insert_with(|| DayLine {
            date: row.date,
            covered: row.covered,
            cells: 0,
            live_units: 0.0,
            ingested_units: 0.0,
            counted_units: 0.0,
            cells_below_live: 0,
        });
        day.cells += 1;
        day.live_units += row.live_units;
        day.ingested_units += row.ingested_units.unwrap_or(0.0);
        day.counted_units += counted_units;
        match standing {
            Standing::Provisional => provisional_units += row.live_units,
            Standing::Superseded => superseded_live_units += row.live_units,
            Standing::FileBelowLive => {
                superseded_live_units += row.live_units;
                cells_below_live += 1;
                day.cells_below_live += 1;
            }
        }
        cells.push(CellLine {
            date: row.date,
            sku: row.sku.clone(),
            warehouse: row.warehouse.clone(),
            live_units: row.live_units,
            ingested_units: row.ingested_units,
            counted_units,
            standing,
        });
    }
    // Flagged cells first, then newest first (the order they were loaded in).
    cells.sort_by_key(|cell| cell.standing != Standing::FileBelowLive);
    let cells_left_out = cut(&mut cells, filters.rows());
    Ok(ReconciliationReport {
        ingested_through: input.ingested_through,
        days: days.into_values().rev().collect(),
        cells,
        cells_left_out,
        provisional_units,
        superseded_live_units,
        cells_below_live,
    })
}

impl ReconciliationReport {
    pub fn view(&self) -> ReportView {
        let mut view = ReportView::new("Live vs ingested sales");
        view.context.push(match self.ingested_through {
            Some(date) => format!("ingested sales files cover up to {date} (the nightly's as-of)"),
            None => "no sales file ingested yet: every live sale is provisional".to_string(),
        });
        view.context.push(format!(
            "{} live unit(s) provisional, {} superseded by ingested files, {} cell-day(s) where the file holds fewer units than the core committed",
            super::format::units(self.provisional_units),
            super::format::units(self.superseded_live_units),
            self.cells_below_live
        ));
        // Per cell first: the CSV form is the first section.
        let mut section = Section::new(
            "Per day, SKU and warehouse (flagged first)",
            vec![
                column("date", "date"),
                column("sku", "SKU"),
                column("warehouse", "warehouse"),
                column("live_units", "live units"),
                column("ingested_units", "ingested units"),
                column("counted_units", "counted units"),
                column("standing", "standing"),
            ],
        );
        for cell in &self.cells {
            section.push(vec![
                Value::Date(cell.date),
                Value::text(&cell.sku),
                Value::text(&cell.warehouse),
                Value::Units(cell.live_units),
                Value::opt_units(cell.ingested_units),
                Value::Units(cell.counted_units),
                Value::text(cell.standing.as_str()),
            ]);
        }
        section.rows_left_out = self.cells_left_out;
        view.sections.push(section);
        let mut section = Section::new(
            "Per day (newest first)",
            vec![
                column("date", "date"),
                column("covered", "file covers day"),
                column("cells", "cells"),
                column("live_units", "live units"),
                column("ingested_units", "ingested units"),
                column("counted_units", "counted units"),
                column("cells_below_live", "file below live"),
            ],
        );
        for day in &self.days {
            section.push(vec![
                Value::Date(day.date),
                Value::text(if day.covered { "yes" } else { "no" }),
                Value::Count(day.cells as i64),
                Value::Units(day.live_units),
                if day.covered {
                    Value::Units(day.ingested_units)
                } else {
                    Value::Missing
                },
                Value::Units(day.counted_units),
                Value::Count(day.cells_below_live as i64),
            ]);
        }
        view.sections.push(section);
        view.notes.push(
            "Ingested sales are authoritative for every day their files cover; live units count \
             only until a file covers their day, and are never added on top of it."
                .to_string(),
        );
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: u32, sku: &str, live: f64, ingested: Option<f64>, covered: bool) -> LiveRow {
        LiveRow {
            date: NaiveDate::from_ymd_opt(2026, 11, day).unwrap(),
            sku: sku.to_string(),
            warehouse: "W1".to_string(),
            live_units: live,
            ingested_units: ingested,
            covered,
        }
    }

    #[test]
    fn live_units_count_until_a_file_covers_the_day_and_never_on_top_of_it() {
        assert_eq!(
            standing(&row(2, "S1", 3.0, None, false)),
            (Standing::Provisional, 3.0)
        );
        assert_eq!(
            standing(&row(1, "S1", 3.0, Some(5.0), true)),
            (Standing::Superseded, 5.0)
        );
        // A covered day without a row for the cell: the file says nothing sold there.
        assert_eq!(
            standing(&row(1, "S2", 2.0, None, true)),
            (Standing::FileBelowLive, 0.0)
        );
    }

    #[test]
    fn days_sum_what_is_counted_and_flagged_cells_come_first() {
        let input = ReconciliationInput {
            ingested_through: NaiveDate::from_ymd_opt(2026, 11, 1),
            rows: vec![
                row(2, "S1", 4.0, None, false),
                row(1, "S1", 3.0, Some(5.0), true),
                row(1, "S2", 2.0, None, true),
            ],
        };
        let report = build(&input, &Filters::default()).unwrap();
        assert_eq!(report.provisional_units, 4.0);
        assert_eq!(report.superseded_live_units, 5.0);
        assert_eq!(report.cells_below_live, 1);
        assert_eq!(report.days.len(), 2);
        assert_eq!(
            report.days[0].date,
            NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()
        );
        assert_eq!(report.days[0].counted_units, 4.0);
        assert_eq!(report.days[1].counted_units, 5.0);
        assert_eq!(report.days[1].live_units, 5.0);
        assert_eq!(report.cells[0].standing, Standing::FileBelowLive);
        let empty = ReconciliationInput {
            ingested_through: None,
            rows: Vec::new(),
        };
        assert!(matches!(
            build(&empty, &Filters::default()),
            Err(ReportError::Empty(_))
        ));
    }
}
