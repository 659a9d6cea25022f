//! The database's own floor for the writes a hold makes, measured in the same invocation as
//! the core so the core is judged against what this machine's database can do, not against a
//! fixed figure. A floor batch is what one core batch of holds writes (the stock row, one
//! reservation row per hold, and one ledger event for the batch's holds on the row), into a
//! database the migrations created (on SQLite without an index on the idempotency key),
//! with every row generated inside the database by one statement per table: no per-hold
//! parameters, no request handling, no acknowledgements. On SQLite it runs on the same kind of
//! dedicated writer connection with the same WAL checkpoints beside it as the core's worker,
//! so the two differ only by stockcast's code; on PostgreSQL it commits asynchronously from
//! one connection, the stock row locked first, as the core's batches do.
//!
//! `bench/floor/run.sh` is the wider study (layouts without the idempotency index, leaner
//! rows, several PostgreSQL clients); this is its "schema as migrated" line, run through the
//! database stockcast links.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::BenchError;
use crate::reservation_store::worker::checkpoint_beside_the_writer;
use crate::reservation_store::ReserverConfig;
use crate::reserve::idempotency::request_hash;
use crate::reserve::{LineRequest, ReserveRequest, ReservedLine};
use crate::store::{Store, StoreError, StoreTx};

/// Most holds per floor batch (the core's default `max_batch`).
pub const MAX_FLOOR_BATCH: usize = 1024;

/// What one floor batch writes, the same for every batch but its counters.
struct Shape {
    sku: String,
    warehouse: String,
    request_hash: String,
    lines: String,
    ttl_seconds: i64,
}

const SQLITE_STOCK: &str = "UPDATE inventory SET reserved = reserved + $1, \
     ledger_seq = ledger_seq + 1, ledger_on_hand = on_hand \
     WHERE sku = $2 AND warehouse = $3 RETURNING on_hand, reserved - $1, ledger_seq - 1";

// `?NNN` numbered parameters: each is used more than once.
const SQLITE_RESERVATIONS: &str = "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL \
     SELECT n + 1 FROM g WHERE n < ?1) \
     INSERT INTO reservations (id, idempotency_key, request_hash, who, status, created_at, \
     expires_at, finished_at, lines) \
     SELECT printf('res_%012x%020x', ?2, ?3 + n), printf('f-%d-%d', n - 1, ?4), ?5, 'bench', \
     'held', ?6, ?7, NULL, ?8 FROM g";

// One event for the batch's holds on the row, as the core writes them (same caller).
const SQLITE_EVENT: &str = "INSERT INTO inventory_events (sku, warehouse, seq, at, kind, \
     on_hand_before, on_hand_after, reserved_before, reserved_after, reservation_id, who, \
     reason) VALUES (?2, ?3, ?4 + 1, ?5, 'reserve', ?6, ?6, ?7, ?7 + ?1, NULL, 'bench', '')";

const POSTGRES_BATCH: &str = "WITH row AS (UPDATE inventory SET reserved = reserved + $1, \
     ledger_seq = ledger_seq + 1, ledger_on_hand = on_hand WHERE sku = $2 AND warehouse = $3 \
     RETURNING ledger_seq AS seq, reserved - $1 AS r0, on_hand), \
     holds AS (SELECT g, 'res_' || lpad(to_hex($4::bigint), 12, '0') \
     || lpad(to_hex($5::bigint + g), 20, '0') AS id FROM generate_series(1, $1::bigint) g), \
     ins AS (INSERT INTO reservations (id, idempotency_key, request_hash, who, status, \
     created_at, expires_at, finished_at, lines) \
     SELECT id, 'f-' || (g - 1) || '-' || $6::bigint, $7, 'bench', 'held', $8, $9, NULL, $10 \
     FROM holds) \
     INSERT INTO inventory_events (sku, warehouse, seq, at, kind, on_hand_before, \
     on_hand_after, reserved_before, reserved_after, reservation_id, who, reason) \
     SELECT $2, $3, seq, $8, 'reserve', on_hand, on_hand, r0, r0 + $1, NULL, 'bench', '' \
     FROM row";

/// Holds per second the database alone sustains on `store` (migrated, with a stock row for
/// (`sku`, `warehouse`) holding enough units), in batches of `batch` holds for `duration`
/// (at least one batch).
/// The idempotency keys follow the bench's per-client shape, one client per hold of a batch.
pub async fn floor_per_second(
    store: &Store,
    sku: &str,
    warehouse: &str,
    batch: usize,
    duration: Duration,
) -> Result<f64, BenchError> {
    if batch == 0 || batch > MAX_FLOOR_BATCH {
        return Err(BenchError::Invalid(format!(
            "a floor batch is 1 to {MAX_FLOOR_BATCH} holds, not {batch}"
        )));
    }
    let request = ReserveRequest {
        idempotency_key: String::new(),
        ttl_seconds: 3600,
        lines: vec![LineRequest {
            sku: sku.to_string(),
            warehouse: warehouse.to_string(),
            qty: 1,
        }],
    };
    let shape = Shape {
        sku: sku.to_string(),
        warehouse: warehouse.to_string(),
        request_hash: request_hash(&request),
        lines: serde_json::to_string(&[ReservedLine {
            sku: sku.to_string(),
            warehouse: warehouse.to_string(),
            qty: 1,
            committed: 0,
        }])
        .expect("lines serialise"),
        ttl_seconds: request.ttl_seconds,
    };
    let config = ReserverConfig::default();
    let writer = store.dedicated_writer();
    let restart_wanted = Arc::new(AtomicBool::new(false));
    let checkpointer = tokio::spawn(checkpoint_beside_the_writer(
        store.clone(),
        config.checkpoint_interval,
        config.wal_restart_frames,
        Arc::clone(&restart_wanted),
    ));
    let result = run_batches(&writer, &shape, batch, duration, &restart_wanted).await;
    checkpointer.abort();
    // On PostgreSQL the writer is the shared pool, which the caller still uses.
    if matches!(writer, Store::Sqlite(_)) {
        writer.close().await;
    }
    result
}

async fn run_batches(
    writer: &Store,
    shape: &Shape,
    batch: usize,
    duration: Duration,
    restart_wanted: &AtomicBool,
) -> Result<f64, BenchError> {
    let started = Instant::now();
    let mut batches: i64 = 0;
    // At least one batch, so a zero duration still writes (and a test can check) one.
    loop {
        let now = Utc::now();
        let id_counter = batches * batch as i64;
        let mut tx = writer.begin_write_deferred().await?;
        write_batch(&mut tx, shape, batch as i64, batches, id_counter, now).await?;
        tx.commit().await?;
        batches += 1;
        if restart_wanted.swap(false, Ordering::Relaxed) {
            writer.checkpoint_restart().await?;
        }
        if started.elapsed() >= duration {
            break;
        }
    }
    Ok((batches * batch as i64) as f64 / started.elapsed().as_secs_f64())
}

async fn write_batch(
    tx: &mut StoreTx,
    shape: &Shape,
    batch: i64,
    batch_number: i64,
    id_counter: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let millis = now.timestamp_millis();
    let expires = now + chrono::Duration::seconds(shape.ttl_seconds);
    match tx {
        StoreTx::Sqlite(conn) => {
            let (on_hand, reserved_before, seq_before): (i64, i64, i64) =
                sqlx::query_as(SQLITE_STOCK)
                    .bind(batch)
                    .bind(&shape.sku)
                    .bind(&shape.warehouse)
                    .fetch_one(&mut **conn)
                    .await?;
            sqlx::query(SQLITE_RESERVATIONS)
                .bind(batch)
                .bind(millis)
                .bind(id_counter)
                .bind(batch_number)
                .bind(&shape.request_hash)
                .bind(now)
                .bind(expires)
                .bind(&shape.lines)
                .execute(&mut **conn)
                .await?;
            sqlx::query(SQLITE_EVENT)
                .bind(batch)
                .bind(&shape.sku)
                .bind(&shape.warehouse)
                .bind(seq_before)
                .bind(now)
                .bind(on_hand)
                .bind(reserved_before)
                .execute(&mut **conn)
                .await?;
        }
        StoreTx::Postgres(conn) => {
            sqlx::query(POSTGRES_BATCH)
                .bind(batch)
                .bind(&shape.sku)
                .bind(&shape.warehouse)
                .bind(millis)
                .bind(id_counter)
                .bind(batch_number)
                .bind(&shape.request_hash)
                .bind(now)
                .bind(expires)
                .bind(&shape.lines)
                .execute(&mut **conn)
                .await?;
        }
    }
    Ok(())
}
