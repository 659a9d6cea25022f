//! Where a batch finds the reservations its idempotency keys already made.
//!
//! PostgreSQL keeps a unique index on the key: several service processes may share one
//! database, and only the database sees all of their inserts. A key stays taken there for
//! good, so a retry replays however late it comes.
//!
//! SQLite has no index on the key (`migrations/sqlite/0010_reservation_keys_in_memory.sql`):
//! its random inserts were the largest cost of a hold. Every SQLite write transaction is the
//! only writer while it runs (`BEGIN IMMEDIATE`), so the group-commit worker keeps the keys of
//! the retention window in memory ([`KeyCache`]): loaded from the reservation rows by its first
//! batch (so a retry after a crash or a restart still replays), then, inside each batch's write
//! transaction and before any key is looked up, caught up on the rows other connections
//! inserted since (by rowid, which SQLite hands out in increasing order; reservations are
//! never deleted). A second process or instance on the same file therefore stays correct, at
//! the price of reading the other's new rows. Callers without a cache (tests, one-off
//! batches) scan the window's rows instead ([`KeySource::Database`]).

use chrono::{DateTime, Duration, Utc};
use sqlx::SqliteConnection;

use super::ReservationStoreError;
use crate::reserve::idempotency::{window_start, IdempotencyWindow};

/// How a batch looks its idempotency keys up.
#[derive(Debug)]
pub enum KeySource {
    /// Read the reservation rows of the keys (PostgreSQL: by the unique index; SQLite: by a
    /// scan of the reservations made within `window`).
    Database { window: Duration },
    /// SQLite: the worker's in-memory window; PostgreSQL ignores it and reads the database.
    Memory(KeyCache),
}

impl KeySource {
    pub fn window(&self) -> Duration {
        match self {
            KeySource::Database { window } => *window,
            KeySource::Memory(cache) => cache.window.window(),
        }
    }
}

/// The SQLite worker's idempotency keys: the window's keys and how far into the reservation
/// rows (by rowid) it has read.
#[derive(Debug)]
pub struct KeyCache {
    window: IdempotencyWindow,
    /// The highest reservation rowid read or inserted; None until the first batch loads.
    seen_rowid: Option<i64>,
    /// The writer connection's `PRAGMA data_version` when last read: it changes only when
    /// another connection commits, so while it stands still there is nothing to catch up on.
    data_version: Option<i64>,
}

type KeyRecord = (i64, String, String, DateTime<Utc>);

impl KeyCache {
    pub fn new(window: Duration) -> KeyCache {
        KeyCache {
            window: IdempotencyWindow::new(window),
            seen_rowid: None,
            data_version: None,
        }
    }

    /// Keys remembered (for metrics and tests).
    pub fn len(&self) -> usize {
        self.window.len()
    }

    pub fn is_empty(&self) -> bool {
        self.window.is_empty()
    }

    pub fn lookup(&self, key: &str, now: DateTime<Utc>) -> Option<&str> {
        self.window.lookup(key, now)
    }

    /// Reads what this cache has not seen of the reservation rows. Call it inside the batch's
    /// write transaction, before looking keys up, so no other writer can insert in between.
    pub async fn catch_up(
        &mut self,
        conn: &mut SqliteConnection,
        now: DateTime<Utc>,
    ) -> Result<(), ReservationStoreError> {
        let version: i64 = sqlx::query_scalar("PRAGMA data_version")
            .fetch_one(&mut *conn)
            .await?;
        let records: Vec<KeyRecord> = match self.seen_rowid {
            None => {
                // The first batch: the window's rows, found by their ids, which begin with
                // their creation time (see `new_reservation_id`).
                let max: i64 =
                    sqlx::query_scalar("SELECT COALESCE(MAX(rowid), 0) FROM reservations")
                        .fetch_one(&mut *conn)
                        .await?;
                self.seen_rowid = Some(max);
                sqlx::query_as(
                    "SELECT rowid, id, idempotency_key, created_at FROM reservations \
                     WHERE id >= $1 ORDER BY rowid",
                )
                .bind(window_id_floor(Utc::now(), self.window.window()))
                .fetch_all(&mut *conn)
                .await?
            }
            Some(seen) if self.data_version != Some(version) => {
                sqlx::query_as(
                    "SELECT rowid, id, idempotency_key, created_at FROM reservations \
                     WHERE rowid > $1 ORDER BY rowid",
                )
                .bind(seen)
                .fetch_all(&mut *conn)
                .await?
            }
            Some(_) => Vec::new(),
        };
        for (rowid, id, key, created_at) in records {
            self.window.remember(&key, &id, created_at);
            self.seen_rowid = self.seen_rowid.max(Some(rowid));
        }
        self.data_version = Some(version);
        self.window.forget_before(now);
        Ok(())
    }

    /// After a batch committed: its own new reservations, up to `last_rowid`.
    pub fn committed<'a>(
        &mut self,
        inserted: impl Iterator<Item = (&'a str, &'a str, DateTime<Utc>)>,
        last_rowid: Option<i64>,
    ) {
        for (key, id, created_at) in inserted {
            self.window.remember(key, id, created_at);
        }
        self.seen_rowid = self.seen_rowid.max(last_rowid);
    }

    /// After a failed batch: the connection may have been replaced, and a new connection's
    /// data_version says nothing about the old one's, so the next batch catches up by rowid.
    pub fn distrust_data_version(&mut self) {
        self.data_version = None;
    }
}

/// The smallest reservation id created within `window` before `system_now`: ids begin with
/// their creation time in milliseconds (system time, whatever clock the core runs on), so
/// the window's rows are one range of the primary key.
pub fn window_id_floor(system_now: DateTime<Utc>, window: Duration) -> String {
    let millis = window_start(system_now, window).timestamp_millis().max(0) as u64;
    let millis = millis & 0xffff_ffff_ffff;
    format!("res_{millis:012x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reservation_store::new_reservation_id;

    #[test]
    fn ids_made_now_sort_after_the_window_floor() {
        let floor = window_id_floor(Utc::now(), Duration::hours(24));
        let id = new_reservation_id();
        assert!(id > floor, "{id} after {floor}");
        let later_floor = window_id_floor(Utc::now() + Duration::hours(25), Duration::hours(24));
        assert!(id < later_floor, "{id} before {later_floor}");
    }
}
