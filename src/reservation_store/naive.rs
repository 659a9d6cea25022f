//! The baseline the benchmark measures group commit against: one transaction per request with
//! a conditional UPDATE, the textbook way to not oversell. It writes the same reservation row
//! and ledger event as the batched path, so the comparison is like for like.

use chrono::{DateTime, Duration, Utc};

use super::rows::{lines_json, RESERVATION_COLUMNS};
use super::transaction::new_reservation_id;
use super::ReservationStoreError;
use crate::on_tx;
use crate::reserve::idempotency::request_hash;
use crate::reserve::{ReserveRequest, ReservedLine, Status};
use crate::store::Store;

/// Reserves a single-line request; `Ok(false)` when there is not enough stock.
pub async fn naive_reserve(
    store: &Store,
    request: &ReserveRequest,
    who: &str,
    now: DateTime<Utc>,
) -> Result<bool, ReservationStoreError> {
    assert_eq!(
        request.lines.len(),
        1,
        "the naive baseline reserves one line"
    );
    let line = &request.lines[0];
    let mut tx = store.begin_write().await?;
    let updated: Option<(i64, i64, i64)> = on_tx!(&mut tx, conn => {
        sqlx::query_as(
            "UPDATE inventory SET reserved = reserved + $1, ledger_seq = ledger_seq + 1, \
             ledger_on_hand = on_hand \
             WHERE sku = $2 AND warehouse = $3 AND on_hand - reserved >= $1 \
             RETURNING on_hand, reserved, ledger_seq",
        )
        .bind(line.qty)
        .bind(&line.sku)
        .bind(&line.warehouse)
        .fetch_optional(&mut **conn)
        .await?
    });
    let Some((on_hand, reserved, seq)) = updated else {
        return Ok(false);
    };
    let id = new_reservation_id();
    let lines = lines_json(&[ReservedLine {
        sku: line.sku.clone(),
        warehouse: line.warehouse.clone(),
        qty: line.qty,
        committed: 0,
    }]);
    let insert = format!(
        "INSERT INTO reservations ({RESERVATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8)"
    );
    on_tx!(&mut tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(insert))
            .bind(&id)
            .bind(&request.idempotency_key)
            .bind(request_hash(request))
            .bind(who)
            .bind(Status::Held.as_str())
            .bind(now)
            .bind(now + Duration::seconds(request.ttl_seconds))
            .bind(&lines)
            .execute(&mut **conn)
            .await?;
        sqlx::query(
            "INSERT INTO inventory_events (sku, warehouse, seq, at, kind, on_hand_before, \
             on_hand_after, reserved_before, reserved_after, reservation_id, who, reason) \
             VALUES ($1, $2, $3, $4, 'reserve', $5, $5, $6, $7, $8, $9, '')",
        )
        .bind(&line.sku)
        .bind(&line.warehouse)
        .bind(seq)
        .bind(now)
        .bind(on_hand)
        .bind(reserved - line.qty)
        .bind(reserved)
        .bind(&id)
        .bind(who)
        .execute(&mut **conn)
        .await?;
    });
    tx.commit().await?;
    Ok(true)
}
