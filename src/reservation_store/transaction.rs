//! One batch, one transaction: lock and load what the batch touches, apply every request with
//! the pure rules in [`crate::reserve::batch`], write the changes, commit. With several
//! service processes on one PostgreSQL database, rows are locked in a fixed order
//! (reservations by id, then stock rows by (sku, warehouse)) so batches queue instead of
//! deadlocking; a batch that still loses a race (deadlock, serialisation failure, an
//! idempotency key inserted by another process) is retried from scratch.
//!
//! The bulk writes are the one place with SQL per backend: `UNNEST` of array parameters on
//! PostgreSQL (one statement shape for any batch size) and multi-row `VALUES` on SQLite.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{AssertSqlSafe, PgConnection, SqliteConnection};

use super::keys::{window_id_floor, KeySource};
use super::rows::{
    chunk_sizes, lines_json, reservation_from, sqlite_groups, ReservationRecord,
    RESERVATION_COLUMNS,
};
use super::ReservationStoreError;
use crate::reserve::idempotency::{default_idempotency_window, window_start};
use crate::reserve::{
    apply, expire_loaded, footprint, reconcile_imports, BatchState, Event, Operation, Outcome,
    Refusal, Request, Reservation, Status, StockKey, StockRow,
};
use crate::store::{Store, StoreError, StoreTx};

const MAX_ATTEMPTS: usize = 8;
/// Ids and keys per `IN (…)` list on SQLite.
const SQLITE_IN_CHUNK: usize = 256;
/// Rows per multi-row INSERT on SQLite (a power of two; 12 columns × 256 < 32766 parameters).
/// The inserts are plain (ABORT), not `INSERT OR ROLLBACK`: a refused row must leave the
/// transaction open for sqlx to roll back. `OR ROLLBACK` ends it inside SQLite while sqlx
/// still counts it open, and every later `BEGIN` on that connection, the worker's only one,
/// then fails.
const SQLITE_INSERT_CHUNK: usize = 256;

/// When a batch's commit is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// As durable as the commit leaves it when it returns: on disk on PostgreSQL; on SQLite
    /// written to the WAL file, which survives a crash of the process but not a power cut.
    OnCommit,
    /// Only once [`Store::wait_durable`], called after the commit, returns: the caller must
    /// not acknowledge anything before that (see [`Store::begin_write_deferred`]).
    Deferred,
}

#[derive(Debug)]
pub struct BatchResult {
    pub outcomes: Vec<Result<Outcome, Refusal>>,
    pub expired: usize,
}

/// Applies `requests` in order in one transaction at `now`, first expiring up to
/// `sweep_limit` due holds. Every request gets its own outcome; a storage error fails the
/// whole batch and writes nothing.
///
/// Idempotency keys are looked up in the database, within the default retention window on
/// SQLite (see [`super::keys`]).
pub async fn apply_batch(
    store: &Store,
    requests: &[Request],
    now: DateTime<Utc>,
    sweep_limit: usize,
    durability: Durability,
) -> Result<BatchResult, ReservationStoreError> {
    let mut keys = KeySource::Database {
        window: default_idempotency_window(),
    };
    apply_batch_with(store, requests, now, sweep_limit, durability, &mut keys).await
}

/// [`apply_batch`] with idempotency keys looked up through `keys` (the worker's cache).
pub async fn apply_batch_with(
    store: &Store,
    requests: &[Request],
    now: DateTime<Utc>,
    sweep_limit: usize,
    durability: Durability,
    keys: &mut KeySource,
) -> Result<BatchResult, ReservationStoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = try_batch(store, requests, now, sweep_limit, durability, keys).await;
        if result.is_err() {
            if let KeySource::Memory(cache) = keys {
                cache.distrust_data_version();
            }
        }
        match result {
            Ok(result) => return Ok(result),
            Err(error) if is_retryable(&error) => {
                if attempt >= MAX_ATTEMPTS {
                    return Err(ReservationStoreError::Contention {
                        attempts: attempt,
                        last: error.to_string(),
                    });
                }
                let jitter = rand::random::<u64>() % 5;
                tokio::time::sleep(Duration::from_millis((1 << attempt.min(6)) + jitter)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Lost races that a fresh attempt resolves: PostgreSQL deadlocks, serialisation failures and
/// unique violations (another process inserted the same idempotency key first; the retry
/// finds it and replays it); SQLite busy/locked.
fn is_retryable(error: &ReservationStoreError) -> bool {
    let ReservationStoreError::Store(StoreError::Query(sqlx::Error::Database(database))) = error
    else {
        return false;
    };
    matches!(
        database.code().as_deref(),
        Some("40P01" | "40001" | "23505" | "5" | "6" | "517" | "261")
    )
}

/// `res_` + milliseconds since the epoch (12 hex digits) + 80 random bits: unguessable, and
/// ordered by creation so the id index takes appends instead of random inserts (a random id
/// dirties one index page per hold and makes every batch's commit write that many pages).
pub fn new_reservation_id() -> String {
    let millis = Utc::now().timestamp_millis().max(0) as u64 & 0xffff_ffff_ffff;
    let random = rand::random::<u128>() & ((1u128 << 80) - 1);
    format!("res_{millis:012x}{random:020x}")
}

async fn try_batch(
    store: &Store,
    requests: &[Request],
    now: DateTime<Utc>,
    sweep_limit: usize,
    durability: Durability,
    key_source: &mut KeySource,
) -> Result<BatchResult, ReservationStoreError> {
    let footprint = footprint(requests);
    let adjusted: BTreeSet<StockKey> = requests
        .iter()
        .filter_map(|request| match &request.operation {
            Operation::Adjust(adjustments) => Some(adjustments.iter().map(|a| a.key())),
            _ => None,
        })
        .flatten()
        .collect();
    let ids: Vec<String> = footprint.reservation_ids.iter().cloned().collect();
    let keys: Vec<String> = footprint.idempotency_keys.iter().cloned().collect();
    let mut tx = match durability {
        Durability::OnCommit => store.begin_write().await?,
        Durability::Deferred => store.begin_write_deferred().await?,
    };
    let mut state = BatchState::default();
    match &mut tx {
        StoreTx::Sqlite(conn) => {
            let conn: &mut SqliteConnection = conn;
            let by_id = sqlite::reservations_by(conn, "id", &ids).await?;
            let due = sqlite::due(conn, now, sweep_limit).await?;
            let by_key = match key_source {
                KeySource::Database { window } => {
                    let cutoff = window_start(now, *window);
                    sqlite::reservations_by_keys(conn, &keys, cutoff, *window).await?
                }
                KeySource::Memory(cache) => {
                    cache.catch_up(conn, now).await?;
                    let known: Vec<String> = keys
                        .iter()
                        .filter_map(|key| cache.lookup(key, now))
                        .map(str::to_string)
                        .collect();
                    sqlite::reservations_by(conn, "id", &known).await?
                }
            };
            add_loaded(&mut state, by_id, due, by_key)?;
            let wanted = rows_wanted(&state, &footprint.rows);
            (state.rows, state.ledger_on_hand) = sqlite::stock_rows(conn, &wanted).await?;
            for key in adjusted.iter().filter(|key| !state.rows.contains_key(*key)) {
                if portable_sqlite::creatable(conn, key).await? {
                    state.creatable.insert(key.clone());
                }
            }
        }
        StoreTx::Postgres(conn) => {
            let conn: &mut PgConnection = conn;
            let by_id = postgres::lock_reservations(conn, &ids).await?;
            let (due, by_key) = postgres::due_and_by_keys(conn, now, sweep_limit, &keys).await?;
            add_loaded(&mut state, by_id, due, by_key)?;
            let wanted = rows_wanted(&state, &footprint.rows);
            (state.rows, state.ledger_on_hand) = postgres::lock_stock_rows(conn, &wanted).await?;
            for key in adjusted.iter().filter(|key| !state.rows.contains_key(*key)) {
                if portable_postgres::creatable(conn, key).await? {
                    state.creatable.insert(key.clone());
                }
            }
        }
    }

    reconcile_imports(&mut state, now);
    let expired = expire_loaded(&mut state, now);
    let mut new_id = new_reservation_id;
    let outcomes = requests
        .iter()
        .map(|request| apply(&mut state, request, now, &mut new_id))
        .collect();

    let changes = &state.changes;
    let changed_rows: Vec<(StockKey, StockRow, bool)> = changes
        .changed_rows
        .iter()
        .map(|key| {
            (
                key.clone(),
                state.rows[key],
                changes.created_rows.contains(key),
            )
        })
        .collect();
    let inserted: Vec<&Reservation> = changes
        .inserted
        .iter()
        .map(|id| &state.reservations[id])
        .collect();
    let updated: Vec<&Reservation> = changes
        .updated
        .iter()
        .map(|id| &state.reservations[id])
        .collect();
    let sales: Vec<(&StockKey, NaiveDate, i64)> = changes
        .sales
        .iter()
        .map(|((key, date), units)| (key, *date, *units))
        .collect();
    let mut last_rowid = None;
    match &mut tx {
        StoreTx::Sqlite(conn) => {
            let conn: &mut SqliteConnection = conn;
            portable_sqlite::write_rows(conn, &changed_rows).await?;
            last_rowid = sqlite::insert_reservations(conn, &inserted).await?;
            sqlite::update_reservations(conn, &updated).await?;
            sqlite::insert_events(conn, &changes.events).await?;
            portable_sqlite::write_sales(conn, &sales).await?;
        }
        StoreTx::Postgres(conn) => {
            let conn: &mut PgConnection = conn;
            let (created, existing): (Vec<_>, Vec<_>) = changed_rows
                .into_iter()
                .partition(|(_, _, created)| *created);
            portable_postgres::write_rows(conn, &created).await?;
            postgres::write_holds(conn, &existing, &inserted, &changes.events).await?;
            postgres::update_reservations(conn, &updated).await?;
            portable_postgres::write_sales(conn, &sales).await?;
        }
    }
    tx.commit().await?;
    if let KeySource::Memory(cache) = key_source {
        cache.committed(
            inserted
                .iter()
                .map(|r| (r.idempotency_key.as_str(), r.id.as_str(), r.created_at)),
            last_rowid,
        );
    }
    Ok(BatchResult { outcomes, expired })
}

type StockRecord = (String, String, i64, i64, i64, Option<i64>);
type LoadedRows = (
    std::collections::BTreeMap<StockKey, StockRow>,
    std::collections::HashMap<StockKey, i64>,
);

fn add_stock_record(rows: &mut LoadedRows, record: StockRecord) {
    let (sku, warehouse, on_hand, reserved, ledger_seq, ledger_on_hand) = record;
    let key = StockKey { sku, warehouse };
    if let Some(ledger_on_hand) = ledger_on_hand {
        rows.1.insert(key.clone(), ledger_on_hand);
    }
    rows.0.insert(
        key,
        StockRow {
            on_hand,
            reserved,
            ledger_seq,
        },
    );
}

/// Adds what a batch loaded: the reservations it names, then due holds, then reservations
/// found by idempotency key (replayed only, never changed), each once.
fn add_loaded(
    state: &mut BatchState,
    by_id: Vec<ReservationRecord>,
    due: Vec<ReservationRecord>,
    by_key: Vec<ReservationRecord>,
) -> Result<(), ReservationStoreError> {
    for record in by_id {
        state.add_reservation(reservation_from(record)?);
    }
    for record in due {
        let reservation = reservation_from(record)?;
        if !state.reservations.contains_key(&reservation.id) {
            state.add_reservation(reservation);
        }
    }
    for record in by_key {
        let reservation = reservation_from(record)?;
        if !state.reservations.contains_key(&reservation.id) {
            state.replay_only.insert(reservation.id.clone());
            state.add_reservation(reservation);
        }
    }
    Ok(())
}

/// The requested rows plus every row a loaded reservation holds units on.
fn rows_wanted(state: &BatchState, requested: &BTreeSet<StockKey>) -> Vec<StockKey> {
    let mut rows = requested.clone();
    for reservation in state.reservations.values() {
        rows.extend(reservation.lines.iter().map(|line| line.key()));
    }
    rows.into_iter().collect()
}

/// Statements written once in SQL both backends accept (few per batch, `$N` parameters),
/// compiled once per connection type.
macro_rules! define_portable {
    ($name_rows:ident, $name_sales:ident, $name_creatable:ident, $conn:ty) => {
        pub async fn $name_rows(
            conn: &mut $conn,
            rows: &[(StockKey, StockRow, bool)],
        ) -> Result<(), ReservationStoreError> {
            for (key, row, created) in rows {
                let sql = if *created {
                    "INSERT INTO inventory (on_hand, reserved, ledger_seq, sku, warehouse, \
                     ledger_on_hand) VALUES ($1, $2, $3, $4, $5, $1)"
                } else {
                    "UPDATE inventory SET on_hand = $1, reserved = $2, ledger_seq = $3, \
                     ledger_on_hand = $1 WHERE sku = $4 AND warehouse = $5"
                };
                sqlx::query(sql)
                    .bind(row.on_hand)
                    .bind(row.reserved)
                    .bind(row.ledger_seq)
                    .bind(&key.sku)
                    .bind(&key.warehouse)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(())
        }

        pub async fn $name_sales(
            conn: &mut $conn,
            sales: &[(&StockKey, NaiveDate, i64)],
        ) -> Result<(), ReservationStoreError> {
            for (key, date, units) in sales {
                sqlx::query(
                    "INSERT INTO sales (sku, warehouse, date, source, units) \
                     VALUES ($1, $2, $3, 'live', $4) \
                     ON CONFLICT (sku, warehouse, date, source) \
                     DO UPDATE SET units = sales.units + excluded.units",
                )
                .bind(&key.sku)
                .bind(&key.warehouse)
                .bind(*date)
                .bind(*units as f64)
                .execute(&mut *conn)
                .await?;
            }
            Ok(())
        }

        pub async fn $name_creatable(
            conn: &mut $conn,
            key: &StockKey,
        ) -> Result<bool, ReservationStoreError> {
            let found: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM products WHERE sku = $1) \
                 + (SELECT COUNT(*) FROM warehouses WHERE warehouse = $2)",
            )
            .bind(&key.sku)
            .bind(&key.warehouse)
            .fetch_one(&mut *conn)
            .await?;
            Ok(found == 2)
        }
    };
}

mod portable_sqlite {
    use super::*;
    define_portable!(write_rows, write_sales, creatable, SqliteConnection);
}

mod portable_postgres {
    use super::*;
    define_portable!(write_rows, write_sales, creatable, PgConnection);
}

mod sqlite {
    use super::*;

    pub async fn update_reservations(
        conn: &mut SqliteConnection,
        reservations: &[&Reservation],
    ) -> Result<(), ReservationStoreError> {
        for reservation in reservations {
            sqlx::query(
                "UPDATE reservations SET status = $1, expires_at = $2, finished_at = $3, \
                 lines = $4 WHERE id = $5",
            )
            .bind(reservation.status.as_str())
            .bind(reservation.expires_at)
            .bind(reservation.finished_at)
            .bind(lines_json(&reservation.lines))
            .bind(&reservation.id)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// Reservations whose `column` (id or idempotency_key) is in `values`. SQLite needs no
    /// row locks: the batch runs in a `BEGIN IMMEDIATE` transaction, the only writer. The
    /// values go in as one JSON array, so every batch uses the same prepared statement
    /// whatever its size.
    pub async fn reservations_by(
        conn: &mut SqliteConnection,
        column: &'static str,
        values: &[String],
    ) -> Result<Vec<ReservationRecord>, ReservationStoreError> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {RESERVATION_COLUMNS} FROM reservations \
             WHERE {column} IN (SELECT value FROM json_each($1))"
        );
        let values = serde_json::to_string(values).expect("strings serialise");
        Ok(sqlx::query_as::<_, ReservationRecord>(AssertSqlSafe(sql))
            .bind(values)
            .fetch_all(&mut *conn)
            .await?)
    }

    /// The newest reservation made since `cutoff` for each of `keys`, without an index on
    /// the key: a scan of the window's rows, found by their ids (see [`super::keys`]).
    pub async fn reservations_by_keys(
        conn: &mut SqliteConnection,
        keys: &[String],
        cutoff: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<Vec<ReservationRecord>, ReservationStoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {RESERVATION_COLUMNS} FROM reservations \
             WHERE id >= $1 AND created_at >= $2 \
             AND idempotency_key IN (SELECT value FROM json_each($3)) ORDER BY id"
        );
        let keys = serde_json::to_string(keys).expect("strings serialise");
        Ok(sqlx::query_as::<_, ReservationRecord>(AssertSqlSafe(sql))
            .bind(window_id_floor(Utc::now(), window))
            .bind(cutoff)
            .bind(keys)
            .fetch_all(&mut *conn)
            .await?)
    }

    pub async fn due(
        conn: &mut SqliteConnection,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ReservationRecord>, ReservationStoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {RESERVATION_COLUMNS} FROM reservations \
             WHERE status = 'held' AND expires_at <= ? ORDER BY expires_at LIMIT ?"
        );
        Ok(sqlx::query_as::<_, ReservationRecord>(AssertSqlSafe(sql))
            .bind(now)
            .bind(limit as i64)
            .fetch_all(&mut *conn)
            .await?)
    }

    pub async fn stock_rows(
        conn: &mut SqliteConnection,
        keys: &[StockKey],
    ) -> Result<LoadedRows, ReservationStoreError> {
        let mut rows = LoadedRows::default();
        for chunk in keys.chunks(SQLITE_IN_CHUNK) {
            let sql = format!(
                "SELECT sku, warehouse, on_hand, reserved, ledger_seq, ledger_on_hand FROM inventory \
                 WHERE (sku, warehouse) IN (VALUES {})",
                sqlite_groups(chunk.len(), 2)
            );
            let mut query = sqlx::query_as::<_, StockRecord>(AssertSqlSafe(sql));
            for key in chunk {
                query = query.bind(&key.sku).bind(&key.warehouse);
            }
            for record in query.fetch_all(&mut *conn).await? {
                add_stock_record(&mut rows, record);
            }
        }
        Ok(rows)
    }

    /// Returns the rowid of the last row inserted, if any (for the key cache).
    pub async fn insert_reservations(
        conn: &mut SqliteConnection,
        reservations: &[&Reservation],
    ) -> Result<Option<i64>, ReservationStoreError> {
        let mut last_rowid = None;
        let mut start = 0;
        // A batch's new reservations are all holds made at the batch's time: those three
        // columns are bound once per statement instead of once per row (a third fewer
        // parameters to bind, and one timestamp to encode instead of one per hold).
        let fresh_holds = reservations
            .first()
            .map(|first| first.created_at)
            .filter(|at| {
                reservations.iter().all(|r| {
                    r.status == Status::Held && r.created_at == *at && r.finished_at.is_none()
                })
            });
        for size in chunk_sizes(reservations.len(), SQLITE_INSERT_CHUNK) {
            let rows = &reservations[start..start + size];
            let mut query = match fresh_holds {
                Some(created_at) => sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO reservations (created_at, status, finished_at, id, \
                     idempotency_key, request_hash, who, expires_at, lines) \
                     SELECT ?, 'held', NULL, column1, column2, column3, column4, column5, \
                     column6 FROM (VALUES {})",
                    sqlite_groups(size, 6)
                )))
                .bind(created_at),
                None => sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO reservations (id, idempotency_key, request_hash, who, \
                     expires_at, lines, status, created_at, finished_at) VALUES {}",
                    sqlite_groups(size, 9)
                ))),
            };
            for reservation in rows {
                query = bind_reservation(query, reservation);
                if fresh_holds.is_none() {
                    query = query
                        .bind(reservation.status.as_str())
                        .bind(reservation.created_at)
                        .bind(reservation.finished_at);
                }
            }
            last_rowid = Some(query.execute(&mut *conn).await?.last_insert_rowid());
            start += size;
        }
        Ok(last_rowid)
    }

    /// Binds the columns every reservation insert writes per row, in the order both insert
    /// statements list them.
    fn bind_reservation<'q>(query: SqliteQuery<'q>, reservation: &Reservation) -> SqliteQuery<'q> {
        query
            .bind(&reservation.id)
            .bind(&reservation.idempotency_key)
            .bind(&reservation.request_hash)
            .bind(&reservation.who)
            .bind(reservation.expires_at)
            .bind(lines_json(&reservation.lines))
    }

    type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

    pub async fn insert_events(
        conn: &mut SqliteConnection,
        events: &[Event],
    ) -> Result<(), ReservationStoreError> {
        let mut start = 0;
        for size in chunk_sizes(events.len(), SQLITE_INSERT_CHUNK) {
            let sql = format!(
                "INSERT INTO inventory_events (sku, warehouse, seq, at, kind, \
                 on_hand_before, on_hand_after, reserved_before, reserved_after, reservation_id, \
                 who, reason) VALUES {}",
                sqlite_groups(size, 12)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for event in &events[start..start + size] {
                query = query
                    .bind(&event.key.sku)
                    .bind(&event.key.warehouse)
                    .bind(event.seq)
                    .bind(event.at)
                    .bind(event.kind.as_str())
                    .bind(event.on_hand_before)
                    .bind(event.on_hand_after)
                    .bind(event.reserved_before)
                    .bind(event.reserved_after)
                    .bind(&event.reservation_id)
                    .bind(&event.who)
                    .bind(&event.reason);
            }
            query.execute(&mut *conn).await?;
            start += size;
        }
        Ok(())
    }
}

mod postgres {
    use super::*;

    /// Locks the requested reservations in id order (every process uses the same order).
    pub async fn lock_reservations(
        conn: &mut PgConnection,
        ids: &[String],
    ) -> Result<Vec<ReservationRecord>, ReservationStoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = ANY($1) \
             ORDER BY id FOR UPDATE"
        );
        Ok(sqlx::query_as::<_, ReservationRecord>(AssertSqlSafe(sql))
            .bind(ids)
            .fetch_all(&mut *conn)
            .await?)
    }

    /// Due holds not already being handled by another process's batch (locked), and the
    /// reservations of the batch's idempotency keys (read only, to answer retries), in one
    /// round trip.
    pub async fn due_and_by_keys(
        conn: &mut PgConnection,
        now: DateTime<Utc>,
        limit: usize,
        keys: &[String],
    ) -> Result<(Vec<ReservationRecord>, Vec<ReservationRecord>), ReservationStoreError> {
        type Tagged = (
            bool,
            String,
            String,
            String,
            String,
            String,
            DateTime<Utc>,
            DateTime<Utc>,
            Option<DateTime<Utc>>,
            String,
        );
        let sql = format!(
            "WITH due AS (SELECT {RESERVATION_COLUMNS} FROM reservations \
             WHERE status = 'held' AND expires_at <= $1 ORDER BY expires_at LIMIT $2 \
             FOR UPDATE SKIP LOCKED), \
             keyed AS (SELECT {RESERVATION_COLUMNS} FROM reservations \
             WHERE idempotency_key = ANY($3)) \
             SELECT true, * FROM due UNION ALL SELECT false, * FROM keyed"
        );
        let found: Vec<Tagged> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(now)
            .bind(limit as i64)
            .bind(keys)
            .fetch_all(&mut *conn)
            .await?;
        let mut due = Vec::new();
        let mut by_key = Vec::new();
        for (is_due, id, key, hash, who, status, created, expires, finished, lines) in found {
            let record = (
                id, key, hash, who, status, created, expires, finished, lines,
            );
            if is_due {
                due.push(record);
            } else {
                by_key.push(record);
            }
        }
        Ok((due, by_key))
    }

    pub async fn lock_stock_rows(
        conn: &mut PgConnection,
        keys: &[StockKey],
    ) -> Result<LoadedRows, ReservationStoreError> {
        let mut rows = LoadedRows::default();
        if keys.is_empty() {
            return Ok(rows);
        }
        let skus: Vec<&str> = keys.iter().map(|key| key.sku.as_str()).collect();
        let warehouses: Vec<&str> = keys.iter().map(|key| key.warehouse.as_str()).collect();
        let found: Vec<StockRecord> = sqlx::query_as(
            "SELECT sku, warehouse, on_hand, reserved, ledger_seq, ledger_on_hand FROM inventory \
             WHERE (sku, warehouse) IN (SELECT * FROM UNNEST($1::text[], $2::text[])) \
             ORDER BY sku, warehouse FOR UPDATE",
        )
        .bind(&skus)
        .bind(&warehouses)
        .fetch_all(&mut *conn)
        .await?;
        for record in found {
            add_stock_record(&mut rows, record);
        }
        Ok(rows)
    }

    /// A batch's changed stock rows, new reservations and ledger events in one statement
    /// (data-modifying CTEs over `UNNEST`ed arrays): one round trip where a statement per
    /// table, and per stock row, took several, each a turn of the server and of this process
    /// on a busy machine. The rows were locked when loaded, so the order they are written in
    /// here does not matter; a unique violation (another process took an idempotency key) still
    /// fails the statement and the batch is retried.
    pub async fn write_holds(
        conn: &mut PgConnection,
        rows: &[(StockKey, StockRow, bool)],
        reservations: &[&Reservation],
        events: &[Event],
    ) -> Result<(), ReservationStoreError> {
        if rows.is_empty() && reservations.is_empty() && events.is_empty() {
            return Ok(());
        }
        debug_assert!(rows.iter().all(|(_, _, created)| !created));
        let row_skus: Vec<&str> = rows.iter().map(|(key, _, _)| key.sku.as_str()).collect();
        let row_warehouses: Vec<&str> = rows
            .iter()
            .map(|(key, _, _)| key.warehouse.as_str())
            .collect();
        let row_on_hand: Vec<i64> = rows.iter().map(|(_, row, _)| row.on_hand).collect();
        let row_reserved: Vec<i64> = rows.iter().map(|(_, row, _)| row.reserved).collect();
        let row_seq: Vec<i64> = rows.iter().map(|(_, row, _)| row.ledger_seq).collect();

        let ids: Vec<&str> = reservations.iter().map(|r| r.id.as_str()).collect();
        let keys: Vec<&str> = reservations
            .iter()
            .map(|r| r.idempotency_key.as_str())
            .collect();
        let hashes: Vec<&str> = reservations
            .iter()
            .map(|r| r.request_hash.as_str())
            .collect();
        let who: Vec<&str> = reservations.iter().map(|r| r.who.as_str()).collect();
        let status: Vec<&str> = reservations.iter().map(|r| r.status.as_str()).collect();
        let created: Vec<DateTime<Utc>> = reservations.iter().map(|r| r.created_at).collect();
        let expires: Vec<DateTime<Utc>> = reservations.iter().map(|r| r.expires_at).collect();
        let finished: Vec<Option<DateTime<Utc>>> =
            reservations.iter().map(|r| r.finished_at).collect();
        let lines: Vec<String> = reservations.iter().map(|r| lines_json(&r.lines)).collect();

        let text = |f: fn(&Event) -> &str| -> Vec<&str> { events.iter().map(f).collect() };
        let number = |f: fn(&Event) -> i64| -> Vec<i64> { events.iter().map(f).collect() };
        let reservation_ids: Vec<Option<&str>> =
            events.iter().map(|e| e.reservation_id.as_deref()).collect();
        let at: Vec<DateTime<Utc>> = events.iter().map(|e| e.at).collect();
        sqlx::query(
            "WITH stock AS (UPDATE inventory AS i SET on_hand = u.on_hand, \
             reserved = u.reserved, ledger_seq = u.ledger_seq, ledger_on_hand = u.on_hand \
             FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) \
             AS u(sku, warehouse, on_hand, reserved, ledger_seq) \
             WHERE i.sku = u.sku AND i.warehouse = u.warehouse), \
             held AS (INSERT INTO reservations (id, idempotency_key, request_hash, who, status, \
             created_at, expires_at, finished_at, lines) SELECT * FROM UNNEST($6::text[], \
             $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[], \
             $12::timestamptz[], $13::timestamptz[], $14::text[])), \
             ledger AS (INSERT INTO inventory_events (sku, warehouse, seq, at, kind, \
             on_hand_before, on_hand_after, reserved_before, reserved_after, reservation_id, \
             who, reason) SELECT * FROM UNNEST($15::text[], $16::text[], $17::bigint[], \
             $18::timestamptz[], $19::text[], $20::bigint[], $21::bigint[], $22::bigint[], \
             $23::bigint[], $24::text[], $25::text[], $26::text[])) \
             SELECT 1",
        )
        .bind(&row_skus)
        .bind(&row_warehouses)
        .bind(&row_on_hand)
        .bind(&row_reserved)
        .bind(&row_seq)
        .bind(&ids)
        .bind(&keys)
        .bind(&hashes)
        .bind(&who)
        .bind(&status)
        .bind(&created)
        .bind(&expires)
        .bind(&finished)
        .bind(&lines)
        .bind(text(|e| &e.key.sku))
        .bind(text(|e| &e.key.warehouse))
        .bind(number(|e| e.seq))
        .bind(at)
        .bind(text(|e| e.kind.as_str()))
        .bind(number(|e| e.on_hand_before))
        .bind(number(|e| e.on_hand_after))
        .bind(number(|e| e.reserved_before))
        .bind(number(|e| e.reserved_after))
        .bind(reservation_ids)
        .bind(text(|e| &e.who))
        .bind(text(|e| &e.reason))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    pub async fn update_reservations(
        conn: &mut PgConnection,
        reservations: &[&Reservation],
    ) -> Result<(), ReservationStoreError> {
        if reservations.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = reservations.iter().map(|r| r.id.as_str()).collect();
        let status: Vec<&str> = reservations.iter().map(|r| r.status.as_str()).collect();
        let expires: Vec<DateTime<Utc>> = reservations.iter().map(|r| r.expires_at).collect();
        let finished: Vec<Option<DateTime<Utc>>> =
            reservations.iter().map(|r| r.finished_at).collect();
        let lines: Vec<String> = reservations.iter().map(|r| lines_json(&r.lines)).collect();
        sqlx::query(
            "UPDATE reservations AS r SET status = u.status, expires_at = u.expires_at, \
             finished_at = u.finished_at, lines = u.lines \
             FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[]) \
             AS u(id, status, expires_at, finished_at, lines) WHERE r.id = u.id",
        )
        .bind(&ids)
        .bind(&status)
        .bind(&expires)
        .bind(&finished)
        .bind(&lines)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
