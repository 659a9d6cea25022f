//! The render-neutral shape every report produces: titled sections of typed cells and charts.
//! Renderers (terminal table, CSV, HTML) read only this, so a report's core decides *what* is
//! shown once and each format decides *how*.

use chrono::NaiveDate;

/// One cell. The variant carries the unit, so every format prints it consistently.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Date(NaiveDate),
    /// A whole count (rows, runs, transfers).
    Count(i64),
    /// Stock or demand in units (may be fractional: forecasts are).
    Units(f64),
    /// Money in the catalogue's currency.
    Money(f64),
    /// A share, stored as a fraction (0.25 = 25%).
    Share(f64),
    /// A relative change, stored as a fraction (+0.25 = +25%).
    Change(f64),
    /// A multiplier (1.4 = ×1.40).
    Multiplier(f64),
    Seconds(f64),
    /// Shown as "–": a figure that does not exist (no history, nothing to compare with).
    Missing,
    /// A growth or lift whose base is below `small_base::MIN_BASE_UNITS`.
    SmallBase,
}

impl Value {
    pub fn text(value: impl Into<String>) -> Value {
        Value::Text(value.into())
    }

    pub fn opt_units(value: Option<f64>) -> Value {
        value.map_or(Value::Missing, Value::Units)
    }

    pub fn opt_share(value: Option<f64>) -> Value {
        value.map_or(Value::Missing, Value::Share)
    }

    pub fn opt_change(value: Option<f64>) -> Value {
        value.map_or(Value::Missing, Value::Change)
    }

    pub fn opt_multiplier(value: Option<f64>) -> Value {
        value.map_or(Value::Missing, Value::Multiplier)
    }

    pub fn is_numeric(&self) -> bool {
        !matches!(
            self,
            Value::Text(_) | Value::Date(_) | Value::Missing | Value::SmallBase
        )
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    /// Machine name (CSV header): snake_case with the unit last.
    pub key: &'static str,
    /// Terminal and HTML header.
    pub label: &'static str,
}

pub const fn column(key: &'static str, label: &'static str) -> Column {
    Column { key, label }
}

#[derive(Debug, Clone)]
pub struct Section {
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
    /// Rows left out by `--top`, so the reader knows the table is a cut.
    pub rows_left_out: usize,
}

impl Section {
    pub fn new(title: impl Into<String>, columns: Vec<Column>) -> Section {
        Section {
            title: title.into(),
            columns,
            rows: Vec::new(),
            rows_left_out: 0,
        }
    }

    pub fn push(&mut self, row: Vec<Value>) {
        debug_assert_eq!(row.len(), self.columns.len(), "{}: row width", self.title);
        self.rows.push(row);
    }
}

/// A series of points for a fan chart: x is a date, y a quantity.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FanSeries {
    pub label: String,
    /// Observed history (date, units).
    pub history: Vec<(NaiveDate, f64)>,
    /// Last year's same window, shifted forward 364 days onto this year's dates.
    pub last_year: Vec<(NaiveDate, f64)>,
    /// Forecast (date, p10, mean, p90).
    pub forecast: Vec<(NaiveDate, f64, f64, f64)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub enum Chart {
    /// Forecast fan charts with history, one panel per series.
    Fan {
        title: String,
        series: Vec<FanSeries>,
    },
    /// Grouped bars: one group per label, one bar per series.
    Bars {
        title: String,
        unit: String,
        labels: Vec<String>,
        series: Vec<(String, Vec<f64>)>,
        /// Draw a reference line at this value (1.0 for multipliers).
        reference: Option<f64>,
    },
    /// A heat map: rows × columns, darker is larger.
    Heat {
        title: String,
        unit: String,
        rows: Vec<String>,
        columns: Vec<String>,
        values: Vec<Vec<f64>>,
    },
}

/// What a report shows, in any format.
#[derive(Debug, Clone)]
pub struct ReportView {
    pub title: String,
    /// One-line facts about the scope (run, window, filters).
    pub context: Vec<String>,
    pub sections: Vec<Section>,
    pub charts: Vec<Chart>,
    /// Assumptions and caveats, printed under the tables.
    pub notes: Vec<String>,
}

impl ReportView {
    pub fn new(title: impl Into<String>) -> ReportView {
        ReportView {
            title: title.into(),
            context: Vec::new(),
            sections: Vec::new(),
            charts: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// Keeps the first `top` rows (0 = all) and records how many were cut.
pub fn cut<T>(rows: &mut Vec<T>, top: usize) -> usize {
    if top == 0 || rows.len() <= top {
        return 0;
    }
    let left_out = rows.len() - top;
    rows.truncate(top);
    left_out
}
