//! Where the two backends differ in kind, not in spelling: SQL fragments with no portable
//! form, and the PostgreSQL-only features (session advisory locks, `FOR UPDATE SKIP LOCKED`
//! work queues). Code outside the store asks for these here instead of matching on the
//! backend itself.

use sqlx::{Connection, PgConnection, PgPool};

use super::{Backend, Store, StoreError, StoreTx};

impl Backend {
    /// An aggregate joining a group's `text` values with `separator` (a plain literal with no
    /// quote in it), in no particular order: `group_concat` on SQLite, `string_agg` on
    /// PostgreSQL.
    pub fn string_agg(self, text: &str, separator: &str) -> String {
        debug_assert!(!separator.contains('\''), "a separator without quotes");
        match self {
            Backend::Sqlite => format!("group_concat({text}, '{separator}')"),
            Backend::Postgres => format!("string_agg({text}, '{separator}')"),
        }
    }

    /// The day `days` before the date expression `date`. SQLite stores dates as text and
    /// shifts them with `date()`; PostgreSQL subtracts an integer from a `DATE`.
    pub fn date_minus_days(self, date: &str, days: i64) -> String {
        match self {
            Backend::Sqlite => format!("date({date}, '-{days} days')"),
            Backend::Postgres => format!("{date} - {days}"),
        }
    }
}

/// The outcome of [`Store::try_advisory_lock`].
pub enum AdvisoryAttempt {
    Taken(AdvisoryLock),
    /// Another session holds the key.
    HeldElsewhere,
    /// The backend has no advisory locks (SQLite): the caller excludes by other means.
    Unsupported,
}

/// A PostgreSQL session-level advisory lock, held by a connection of its own (detached from
/// the pool): the server drops the lock when that connection dies, so a crashed holder never
/// blocks the next one.
pub struct AdvisoryLock {
    key: i64,
    connection: Box<PgConnection>,
}

impl AdvisoryLock {
    /// Whether the connection holding the lock is still alive (and so the lock held).
    pub async fn is_held(&mut self) -> bool {
        self.connection.ping().await.is_ok()
    }

    /// Unlocks and closes the connection; errors are ignored, since closing the connection
    /// drops the lock anyway.
    pub async fn release(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(self.key)
            .execute(&mut *self.connection)
            .await;
        let _ = (*self.connection).close().await;
    }
}

impl Store {
    /// Whether competing workers can claim rows without waiting on each other
    /// (`FOR UPDATE SKIP LOCKED`): PostgreSQL only.
    pub fn supports_skip_locked(&self) -> bool {
        self.postgres_pool().is_some()
    }

    /// The PostgreSQL pool, for SQL that only PostgreSQL runs (the forecast shard queue);
    /// `None` on SQLite.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match self {
            Store::Postgres(pool) => Some(pool),
            Store::Sqlite(_) => None,
        }
    }

    /// Tries to take the session-level advisory lock `key` on a connection of its own,
    /// without waiting.
    pub async fn try_advisory_lock(&self, key: i64) -> Result<AdvisoryAttempt, StoreError> {
        let Store::Postgres(pool) = self else {
            return Ok(AdvisoryAttempt::Unsupported);
        };
        let mut connection = pool.acquire().await?.detach();
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut connection)
            .await?;
        if !taken {
            let _ = connection.close().await;
            return Ok(AdvisoryAttempt::HeldElsewhere);
        }
        Ok(AdvisoryAttempt::Taken(AdvisoryLock {
            key,
            connection: Box::new(connection),
        }))
    }
}

impl StoreTx {
    /// The PostgreSQL transaction, for SQL that only PostgreSQL runs; `None` on SQLite.
    pub fn postgres(&mut self) -> Option<&mut sqlx::Transaction<'static, sqlx::Postgres>> {
        match self {
            StoreTx::Postgres(tx) => Some(tx),
            StoreTx::Sqlite(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_per_backend() {
        assert_eq!(Backend::Sqlite.string_agg("x", ","), "group_concat(x, ',')");
        assert_eq!(Backend::Postgres.string_agg("x", ","), "string_agg(x, ',')");
        assert_eq!(
            Backend::Sqlite.date_minus_days("f.date", 364),
            "date(f.date, '-364 days')"
        );
        assert_eq!(
            Backend::Postgres.date_minus_days("f.date", 364),
            "f.date - 364"
        );
    }
}
