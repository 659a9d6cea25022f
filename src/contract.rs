//! The data contract: which input tables exist, their columns, types, keys and load order.
//!
//! Everything that reads or writes input files (ingest, the generator, the docs in README)
//! agrees with the definitions here; the database schema in `migrations/` mirrors them.

use std::fmt;

/// The value type a contract column must parse to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Free text; surrounding whitespace is trimmed.
    Text,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// An RFC 3339 timestamp, e.g. `2025-03-02T14:05:00Z`.
    Timestamp,
    /// A real number (may be fractional).
    Number,
    /// A whole number.
    Integer,
    /// `true`/`false` (also `1`/`0`, `yes`/`no`).
    Bool,
}

impl ColumnKind {
    pub fn describe(self) -> &'static str {
        match self {
            ColumnKind::Text => "text",
            ColumnKind::Date => "a date (YYYY-MM-DD)",
            ColumnKind::Timestamp => "an RFC 3339 timestamp",
            ColumnKind::Number => "a number",
            ColumnKind::Integer => "a whole number",
            ColumnKind::Bool => "true or false",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: ColumnKind,
    pub required: bool,
}

const fn req(name: &'static str, kind: ColumnKind) -> Column {
    Column {
        name,
        kind,
        required: true,
    }
}

const fn opt(name: &'static str, kind: ColumnKind) -> Column {
    Column {
        name,
        kind,
        required: false,
    }
}

use ColumnKind::{Bool, Date, Integer, Number, Text, Timestamp};

/// The input tables, in the order they must be loaded (dimensions before facts that reference them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Warehouses,
    Products,
    Promotions,
    Inventory,
    StockLevels,
    Sales,
    PollResponses,
    Events,
}

impl Table {
    pub const LOAD_ORDER: [Table; 8] = [
        Table::Warehouses,
        Table::Products,
        Table::Promotions,
        Table::Inventory,
        Table::StockLevels,
        Table::Sales,
        Table::PollResponses,
        Table::Events,
    ];

    /// The file stem and database table name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Warehouses => "warehouses",
            Table::Products => "products",
            Table::Promotions => "promotions",
            Table::Inventory => "inventory",
            Table::StockLevels => "stock_levels",
            Table::Sales => "sales",
            Table::PollResponses => "poll_responses",
            Table::Events => "events",
        }
    }

    pub fn columns(self) -> &'static [Column] {
        match self {
            Table::Warehouses => {
                const COLUMNS: &[Column] = &[
                    req("warehouse", Text),
                    req("region", Text),
                    opt("capacity_units", Number),
                    opt("capacity_m3", Number),
                ];
                COLUMNS
            }
            Table::Products => {
                const COLUMNS: &[Column] = &[
                    req("sku", Text),
                    req("category", Text),
                    opt("unit_volume_m3", Number),
                    opt("case_pack", Integer),
                    opt("unit_price", Number),
                ];
                COLUMNS
            }
            Table::Promotions => {
                const COLUMNS: &[Column] = &[
                    req("promo_id", Text),
                    req("name", Text),
                    req("start_date", Date),
                    req("end_date", Date),
                    req("discount_pct", Number),
                    opt("sku", Text),
                    opt("category", Text),
                    opt("warehouse", Text),
                ];
                COLUMNS
            }
            Table::Inventory => {
                const COLUMNS: &[Column] = &[
                    req("sku", Text),
                    req("warehouse", Text),
                    req("on_hand", Integer),
                    opt("inbound", Integer),
                    opt("min_presentation", Integer),
                ];
                COLUMNS
            }
            Table::StockLevels => {
                const COLUMNS: &[Column] = &[
                    req("date", Date),
                    req("sku", Text),
                    req("warehouse", Text),
                    req("on_hand", Integer),
                ];
                COLUMNS
            }
            Table::Sales => {
                const COLUMNS: &[Column] = &[
                    req("date", Date),
                    req("sku", Text),
                    req("warehouse", Text),
                    req("units", Number),
                    opt("price", Number),
                    opt("promo_id", Text),
                ];
                COLUMNS
            }
            // `sku` and `category` are each optional, but a row needs one of them.
            Table::PollResponses => {
                const COLUMNS: &[Column] = &[
                    req("responded_at", Timestamp),
                    opt("sku", Text),
                    opt("category", Text),
                    req("interest", Integer),
                    opt("intends_to_buy", Bool),
                ];
                COLUMNS
            }
            Table::Events => {
                const COLUMNS: &[Column] = &[req("date", Date), req("event", Text)];
                COLUMNS
            }
        }
    }

    /// The natural key: rows with equal keys are duplicates (summed for sales, rejected elsewhere).
    /// Poll responses have no natural key; ingest derives one from the row content.
    pub fn key(self) -> &'static [&'static str] {
        match self {
            Table::Warehouses => &["warehouse"],
            Table::Products => &["sku"],
            Table::Promotions => &["promo_id"],
            Table::Inventory => &["sku", "warehouse"],
            Table::StockLevels => &["sku", "warehouse", "date"],
            Table::Sales => &["sku", "warehouse", "date"],
            Table::PollResponses => &[],
            Table::Events => &["date", "event"],
        }
    }

    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().iter().find(|c| c.name == name)
    }

    /// Matches `sales.csv`, `sales_2025.parquet`, `sales-week48.csv`; never a quarantine file.
    pub fn from_file_name(file_name: &str) -> Option<(Table, FileFormat)> {
        if file_name.ends_with(".rejected.csv") {
            return None;
        }
        let (stem, extension) = file_name.rsplit_once('.')?;
        let format = FileFormat::from_extension(extension)?;
        Table::LOAD_ORDER.into_iter().find_map(|table| {
            let name = table.name();
            let matches = stem == name
                || stem
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('_') || rest.starts_with('-'));
            matches.then_some((table, format))
        })
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Parquet,
}

impl FileFormat {
    pub fn from_extension(extension: &str) -> Option<FileFormat> {
        match extension.to_ascii_lowercase().as_str() {
            "csv" => Some(FileFormat::Csv),
            "parquet" | "pq" => Some(FileFormat::Parquet),
            _ => None,
        }
    }
}

/// The period of the sales history.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Frequency {
    #[default]
    Day,
    Week,
}

impl Frequency {
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Day => "day",
            Frequency::Week => "week",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_map_to_tables() {
        assert_eq!(
            Table::from_file_name("sales.csv"),
            Some((Table::Sales, FileFormat::Csv))
        );
        assert_eq!(
            Table::from_file_name("sales_2025.parquet"),
            Some((Table::Sales, FileFormat::Parquet))
        );
        assert_eq!(Table::from_file_name("sales.rejected.csv"), None);
        assert_eq!(Table::from_file_name("salesman.csv"), None);
        assert_eq!(Table::from_file_name("notes.txt"), None);
        assert_eq!(
            Table::from_file_name("stock_levels.csv"),
            Some((Table::StockLevels, FileFormat::Csv))
        );
    }

    #[test]
    fn every_key_column_is_required() {
        for table in Table::LOAD_ORDER {
            for key in table.key() {
                let column = table.column(key).expect("key column exists");
                assert!(column.required, "{table}.{key} is a key but optional");
            }
        }
    }
}
