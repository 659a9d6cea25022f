//! Loading rows that arrive as JSON records (the survey tool's poll-response webhook) through
//! the same validation as contract files: each record becomes a text row, [`validate`] accepts
//! or rejects it with a reason, and accepted rows are upserted on the table's key.

use polars::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{conflict_key, validate, IngestError};
use crate::contract::{Frequency, Table};
use crate::store::{FrameRows, OnConflict, Store};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRecord {
    /// Position of the record in the request (0-based).
    pub index: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordsReport {
    pub received: usize,
    pub loaded: usize,
    pub rejected: Vec<RejectedRecord>,
}

fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        other => Some(other.to_string()),
    }
}

/// Validates `records` as rows of `table` and loads the accepted ones in one transaction.
pub async fn load_records(
    store: &Store,
    table: Table,
    records: &[Map<String, Value>],
) -> Result<RecordsReport, IngestError> {
    let columns: Vec<Column> = table
        .columns()
        .iter()
        .map(|column| {
            let values: Vec<Option<String>> = records
                .iter()
                .map(|record| record.get(column.name).and_then(as_text))
                .collect();
            Series::new(column.name.into(), values).into()
        })
        .collect();
    let raw = DataFrame::new(records.len(), columns)?;
    let known = store.known_keys().await?;
    let freq = match store.dataset_setting("freq").await?.as_deref() {
        Some("week") => Frequency::Week,
        _ => Frequency::Day,
    };
    let validated = validate(table, &raw, 0, &known, freq)?;
    let lines = validated
        .rejected
        .column("line")?
        .as_materialized_series()
        .i64()?
        .clone();
    let reasons = validated
        .rejected
        .column("reason")?
        .as_materialized_series()
        .str()?
        .clone();
    let rejected = lines
        .iter()
        .zip(reasons.iter())
        .map(|(line, reason)| RejectedRecord {
            index: line.unwrap_or(0) as usize,
            reason: reason.unwrap_or("").to_string(),
        })
        .collect();
    let loaded = validated.accepted.height();
    if loaded > 0 {
        let mut tx = store.begin_write().await?;
        let rows = FrameRows::new(&validated.accepted)?;
        tx.upsert_rows(table.name(), &rows, conflict_key(table), OnConflict::Update)
            .await?;
        tx.commit().await?;
    }
    Ok(RecordsReport {
        received: records.len(),
        loaded,
        rejected,
    })
}
