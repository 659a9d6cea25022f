//! Reads that need no batch: a reservation, stock rows, the ledger check, and the sweeper entry
//! point the scheduled jobs call.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::rows::{reservation_from, ReservationRecord, RESERVATION_COLUMNS};
use super::transaction::{apply_batch, Durability};
use super::ReservationStoreError;
use crate::on_backend;
use crate::reserve::replay::{check_reservations, check_row, Mismatch, ReservationTotals};
use crate::reserve::{Event, EventKind, Reservation, Status, StockKey, StockRow, StockView};
use crate::store::Store;

/// Expires up to `limit` holds that are due at `now`, in one transaction, and returns how many
/// it expired. Safe to run from any number of processes at once (they skip each other's rows on
/// PostgreSQL; SQLite runs one writer at a time). The hourly job calls this; the HTTP service
/// also expires due holds in every batch and once a second when idle.
pub async fn expire_due(
    store: &Store,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<usize, ReservationStoreError> {
    Ok(apply_batch(store, &[], now, limit, Durability::OnCommit)
        .await?
        .expired)
}

pub async fn get_reservation(
    store: &Store,
    id: &str,
) -> Result<Option<Reservation>, ReservationStoreError> {
    let sql = format!("SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = $1");
    let record: Option<ReservationRecord> = on_backend!(store, pool => {
        sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
    });
    record.map(reservation_from).transpose()
}

async fn held_due(
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Vec<Reservation>, ReservationStoreError> {
    let sql = format!(
        "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE status = 'held' AND expires_at <= $1"
    );
    let records: Vec<ReservationRecord> = on_backend!(store, pool => {
        sqlx::query_as(AssertSqlSafe(sql)).bind(now).fetch_all(pool).await?
    });
    records.into_iter().map(reservation_from).collect()
}

/// Stock rows for `skus` (all SKUs when empty), optionally in one warehouse, as seen at `now`:
/// units of holds that are due but not yet swept are already available again.
pub async fn stock(
    store: &Store,
    skus: &[String],
    warehouse: Option<&str>,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<StockView>, ReservationStoreError> {
    let mut rows: Vec<(String, String, i64, i64)> = Vec::new();
    let select = "SELECT sku, warehouse, on_hand, reserved FROM inventory";
    if skus.is_empty() {
        let sql = format!(
            "{select} WHERE (CAST($1 AS TEXT) IS NULL OR warehouse = $1) ORDER BY sku, warehouse LIMIT $2"
        );
        rows = on_backend!(store, pool => {
            sqlx::query_as(AssertSqlSafe(sql)).bind(warehouse).bind(limit as i64).fetch_all(pool).await?
        });
    } else {
        let sql = format!(
            "{select} WHERE sku = $1 AND (CAST($2 AS TEXT) IS NULL OR warehouse = $2) ORDER BY warehouse LIMIT $3"
        );
        for sku in skus {
            let found: Vec<(String, String, i64, i64)> = on_backend!(store, pool => {
                sqlx::query_as(AssertSqlSafe(sql.clone())).bind(sku).bind(warehouse).bind(limit as i64).fetch_all(pool).await?
            });
            rows.extend(found);
        }
    }
    let mut due_units: BTreeMap<StockKey, i64> = BTreeMap::new();
    for reservation in held_due(store, now).await? {
        for line in &reservation.lines {
            *due_units.entry(line.key()).or_insert(0) += line.qty;
        }
    }
    Ok(rows
        .into_iter()
        .map(|(sku, warehouse, on_hand, reserved)| {
            let key = StockKey { sku, warehouse };
            let reserved = reserved - due_units.get(&key).copied().unwrap_or(0);
            StockView::new(
                &key,
                &StockRow {
                    on_hand,
                    reserved: reserved.max(0),
                    ledger_seq: 0,
                },
            )
        })
        .collect())
}

/// The result of checking stored stock rows against the ledger and the live holds.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerCheck {
    pub rows_checked: usize,
    pub events: usize,
    pub mismatches: Vec<Mismatch>,
    /// Rows where `reserved` differs from the units of held reservations on them.
    pub reserved_mismatches: Vec<Mismatch>,
    pub held_reservations: usize,
    pub committed_units: i64,
}

impl LedgerCheck {
    pub fn is_clean(&self) -> bool {
        self.mismatches.is_empty() && self.reserved_mismatches.is_empty()
    }
}

fn event_kind(text: &str) -> Option<EventKind> {
    use EventKind::*;
    [
        Reserve,
        Commit,
        Release,
        Expire,
        Receipt,
        Count,
        Damage,
        TransferIn,
        TransferOut,
    ]
    .into_iter()
    .find(|kind| kind.as_str() == text)
}

type EventRecord = (
    String,
    String,
    i64,
    DateTime<Utc>,
    String,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
    String,
    String,
);

/// Replays every row's ledger and compares it with the row; checks that `reserved` equals the
/// units of held reservations, and that the reserve and commit events add up to the units
/// every reservation held and sold (several holds of a batch may share one event). Reads
/// everything: for tests, the stress and crash checks and `stockcast reserve verify`-style
/// audits, not for the hot path.
pub async fn check_ledger(store: &Store) -> Result<LedgerCheck, ReservationStoreError> {
    let rows: Vec<(String, String, i64, i64, i64, Option<i64>)> = on_backend!(store, pool => {
        sqlx::query_as("SELECT sku, warehouse, on_hand, reserved, ledger_seq, ledger_on_hand FROM inventory ORDER BY sku, warehouse")
            .fetch_all(pool).await?
    });
    let records: Vec<EventRecord> = on_backend!(store, pool => {
        sqlx::query_as(
            "SELECT sku, warehouse, seq, at, kind, on_hand_before, on_hand_after, reserved_before, \
             reserved_after, reservation_id, who, reason FROM inventory_events ORDER BY sku, warehouse, seq",
        )
        .fetch_all(pool).await?
    });
    let event_count = records.len();
    let mut events: BTreeMap<StockKey, Vec<Event>> = BTreeMap::new();
    let mut committed_units = 0;
    for (sku, warehouse, seq, at, kind, ohb, oha, rb, ra, reservation_id, who, reason) in records {
        let kind = event_kind(&kind).ok_or_else(|| ReservationStoreError::Corrupt {
            id: format!("event {sku}@{warehouse}#{seq}"),
            message: format!("kind {kind}"),
        })?;
        if kind == EventKind::Commit {
            committed_units += ohb - oha;
        }
        let key = StockKey { sku, warehouse };
        events.entry(key.clone()).or_default().push(Event {
            key,
            seq,
            at,
            kind,
            on_hand_before: ohb,
            on_hand_after: oha,
            reserved_before: rb,
            reserved_after: ra,
            reservation_id,
            who,
            reason,
        });
    }
    let all_sql = format!("SELECT {RESERVATION_COLUMNS} FROM reservations");
    let all: Vec<ReservationRecord> = on_backend!(store, pool => {
        sqlx::query_as(AssertSqlSafe(all_sql)).fetch_all(pool).await?
    });
    let mut held_count = 0;
    let mut held_units: BTreeMap<StockKey, i64> = BTreeMap::new();
    let mut totals: BTreeMap<StockKey, ReservationTotals> = BTreeMap::new();
    for record in all {
        let reservation = reservation_from(record)?;
        let held = reservation.status == Status::Held;
        held_count += usize::from(held);
        for line in &reservation.lines {
            if held {
                *held_units.entry(line.key()).or_insert(0) += line.qty;
            }
            let total = totals.entry(line.key()).or_default();
            total.held_ever += line.qty;
            if reservation.status == Status::Committed {
                total.sold += line.committed;
            }
        }
    }
    let mut mismatches = Vec::new();
    let mut reserved_mismatches = Vec::new();
    let mut seen = BTreeSet::new();
    for (sku, warehouse, on_hand, reserved, ledger_seq, ledger_on_hand) in &rows {
        let key = StockKey::new(sku, warehouse);
        // An ingest since the row's last event moved on_hand outside the ledger; the next
        // batch on the row records it. Until then the ledger reproduces the pre-import value.
        let stored = StockRow {
            on_hand: ledger_on_hand.unwrap_or(*on_hand),
            reserved: *reserved,
            ledger_seq: *ledger_seq,
        };
        let row_events = events.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        mismatches.extend(check_row(&key, &stored, row_events));
        let row_totals = totals.get(&key).copied().unwrap_or_default();
        mismatches.extend(check_reservations(&key, row_events, row_totals));
        let live = held_units.get(&key).copied().unwrap_or(0);
        if live != *reserved {
            reserved_mismatches.push(Mismatch {
                sku: sku.clone(),
                warehouse: warehouse.clone(),
                problem: format!("reserved {reserved} but held reservations hold {live}"),
            });
        }
        seen.insert(key);
    }
    for key in events.keys().filter(|key| !seen.contains(*key)) {
        mismatches.push(Mismatch {
            sku: key.sku.clone(),
            warehouse: key.warehouse.clone(),
            problem: "ledger events for a row that does not exist".to_string(),
        });
    }
    Ok(LedgerCheck {
        rows_checked: rows.len(),
        events: event_count,
        mismatches,
        reserved_mismatches,
        held_reservations: held_count,
        committed_units,
    })
}
