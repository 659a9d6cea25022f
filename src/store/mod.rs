//! The database edge: one schema (`migrations/`) on an embedded SQLite file by default or on
//! PostgreSQL. Every query is written once in SQL both backends accept (`$1` parameters,
//! `ON CONFLICT`, `RETURNING`) and dispatched to the concrete pool with [`on_backend!`];
//! where the backends differ in kind, `dialect` says how, so callers never match on the
//! backend.

mod bulk;
mod dialect;
mod error;
pub mod sales_source;
pub mod scratch;
mod status;

use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use sqlx::migrate::Migrator;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use bulk::{Cell, FrameRows, OnConflict};
pub use dialect::{AdvisoryAttempt, AdvisoryLock};
pub use error::StoreError;
pub use status::{AppliedMigration, StoreStatus, TableCount};

/// Where a fresh user's data lives: a file in the working directory, created on first use.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://stockcast.db";

/// The schema both backends share, in SQL both accept.
static SHARED_MIGRATIONS: Migrator = sqlx::migrate!("./migrations");
/// Where the dialects must differ, one directory per backend (listed in ARCHITECTURE.md);
/// their versions interleave with the shared ones.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

static SQLITE_MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| with_shared(&SQLITE_MIGRATIONS));
static POSTGRES_MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| with_shared(&POSTGRES_MIGRATIONS));

fn with_shared(backend_only: &Migrator) -> Migrator {
    Migrator::with_migrations(
        SHARED_MIGRATIONS
            .iter()
            .chain(backend_only.iter())
            .cloned()
            .collect(),
    )
}

/// Every migration of one backend, in version order.
pub(crate) fn migrator(backend: Backend) -> &'static Migrator {
    match backend {
        Backend::Sqlite => &SQLITE_MIGRATOR,
        Backend::Postgres => &POSTGRES_MIGRATOR,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

const SQLITE_CACHE_KIB: u64 = 16 * 1024;
const SQLITE_MMAP_BYTES: u64 = 256 << 20;
const SQLITE_WAL_CHECKPOINT_PAGES: u64 = 16_384;
const SQLITE_WAL_SIZE_LIMIT_BYTES: u64 = 64 << 20;

/// Connection limits; every one is bounded so a stuck database fails loudly instead of hanging.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    pub sqlite_busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(30),
            sqlite_busy_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same expression against whichever pool or transaction a [`Store`]/[`StoreTx`] holds.
/// The body is compiled once per backend, so the SQL it contains must be portable.
#[macro_export]
macro_rules! on_backend {
    ($value:expr, $conn:ident => $body:expr) => {
        match $value {
            $crate::store::Store::Sqlite($conn) => $body,
            $crate::store::Store::Postgres($conn) => $body,
        }
    };
}

/// Same as [`on_backend!`] for an open write transaction.
#[macro_export]
macro_rules! on_tx {
    ($value:expr, $conn:ident => $body:expr) => {
        match $value {
            $crate::store::StoreTx::Sqlite($conn) => $body,
            $crate::store::StoreTx::Postgres($conn) => $body,
        }
    };
}

/// An open write transaction. SQLite ones are begun `IMMEDIATE` so two writers queue on the
/// busy timeout instead of failing late with SQLITE_BUSY on their first write.
pub enum StoreTx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl StoreTx {
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            StoreTx::Sqlite(tx) => tx.commit().await?,
            StoreTx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self {
            StoreTx::Sqlite(_) => Backend::Sqlite,
            StoreTx::Postgres(_) => Backend::Postgres,
        }
    }
}

impl Store {
    /// A handle for one long-lived writer (the reservation worker). On SQLite it is its own
    /// one-connection pool: SQLite drops a connection's page cache whenever another
    /// connection wrote, so a writer that took a different pooled connection each batch would
    /// start every batch cold. Its connection is not pinged before each batch (a round trip per
    /// batch): a broken one fails that batch and is replaced for the next. PostgreSQL keeps
    /// its cache in the server, and the pool is shared: a dedicated PostgreSQL connection was
    /// measured to fall into a generic plan (sequential scans) picked while the tables were
    /// empty.
    pub fn dedicated_writer(&self) -> Store {
        match self {
            Store::Sqlite(pool) => Store::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .test_before_acquire(false)
                    .acquire_timeout(pool.options().get_acquire_timeout())
                    // The writer never checkpoints on commit (a checkpoint copies the whole
                    // WAL back and stalls the commit that triggered it); whoever owns the
                    // writer runs [`Store::checkpoint_passive`] beside it instead.
                    .connect_lazy_with(
                        (*pool.connect_options())
                            .clone()
                            .pragma("wal_autocheckpoint", "0"),
                    ),
            ),
            Store::Postgres(pool) => Store::Postgres(pool.clone()),
        }
    }

    /// Copies committed WAL pages back into an SQLite database without blocking writers
    /// (PASSIVE) and returns how many frames the WAL holds. No-op (0) on PostgreSQL.
    pub async fn checkpoint_passive(&self) -> Result<i64, StoreError> {
        self.checkpoint("PRAGMA wal_checkpoint(PASSIVE)").await
    }

    /// Copies the whole WAL back, waiting (within the busy timeout) for a checkpoint already
    /// running, so that the next write starts the WAL over (RESTART). Call it from a writer
    /// between transactions. No-op on PostgreSQL.
    pub async fn checkpoint_restart(&self) -> Result<i64, StoreError> {
        self.checkpoint("PRAGMA wal_checkpoint(RESTART)").await
    }

    async fn checkpoint(&self, pragma: &'static str) -> Result<i64, StoreError> {
        match self {
            Store::Sqlite(pool) => {
                let (_busy, log_frames, _copied): (i64, i64, i64) =
                    sqlx::query_as(pragma).fetch_one(pool).await?;
                Ok(log_frames)
            }
            Store::Postgres(_) => Ok(0),
        }
    }

    /// Opens (and for SQLite, creates) the database. Does not migrate; see [`Store::migrate`].
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        assert!(options.max_connections >= 1, "a pool needs a connection");
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let connect = PgConnectOptions::from_str(url)
                .map_err(|source| StoreError::BadUrl {
                    url: redact(url),
                    message: source.to_string(),
                })?
                .application_name("stockcast");
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await
                .map_err(|error| StoreError::Connect {
                    url: redact(url),
                    error,
                })?;
            Ok(Store::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)
                .map_err(|source| StoreError::BadUrl {
                    url: url.to_string(),
                    message: source.to_string(),
                })?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(options.sqlite_busy_timeout)
                // Write-heavy work (bulk loads, reservation batches) dirties many pages per
                // commit: a 16 MiB page cache and memory-mapped reads avoid re-reading them,
                // and a 64 MiB WAL before each checkpoint lets a hot page be copied back once
                // instead of once per commit.
                .pragma("cache_size", format!("-{}", SQLITE_CACHE_KIB))
                .pragma("mmap_size", SQLITE_MMAP_BYTES.to_string())
                .pragma(
                    "wal_autocheckpoint",
                    SQLITE_WAL_CHECKPOINT_PAGES.to_string(),
                )
                // Statement journals (multi-row INSERTs inside a transaction) stay in memory.
                .pragma("temp_store", "MEMORY")
                // When a WAL starts over, its file is cut back to this size.
                .pragma(
                    "journal_size_limit",
                    SQLITE_WAL_SIZE_LIMIT_BYTES.to_string(),
                );
            let pool = SqlitePoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await
                .map_err(|error| StoreError::Connect {
                    url: url.to_string(),
                    error,
                })?;
            Ok(Store::Sqlite(pool))
        } else {
            Err(StoreError::BadUrl {
                url: redact(url),
                message: "expected sqlite://PATH or postgres://USER@HOST/DB".to_string(),
            })
        }
    }

    /// Connects and applies pending migrations: the one call every command makes.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let store = Store::connect(url, options).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies every pending migration; returns how many were applied.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let before = self.applied_migrations().await?.len();
        let migrator = migrator(self.backend());
        on_backend!(self, pool => migrator.run(pool).await)?;
        let after = self.applied_migrations().await?.len();
        Ok(after.saturating_sub(before))
    }

    pub async fn begin_write(&self) -> Result<StoreTx, StoreError> {
        Ok(match self {
            Store::Sqlite(pool) => StoreTx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Store::Postgres(pool) => StoreTx::Postgres(pool.begin().await?),
        })
    }

    /// A write transaction whose commit returns before it is durable, so the next one can
    /// start while the disk catches up. Nothing it wrote may be acknowledged until
    /// [`Store::wait_durable`], called after this commit returned, has returned. PostgreSQL:
    /// the commit does not wait for its WAL flush (`synchronous_commit` off for this
    /// transaction only), so its row locks are released a disk flush earlier. SQLite: the same
    /// as [`Store::begin_write`]; in WAL mode with `synchronous = NORMAL` no commit waits for
    /// the disk.
    pub async fn begin_write_deferred(&self) -> Result<StoreTx, StoreError> {
        Ok(match self {
            Store::Sqlite(_) => self.begin_write().await?,
            Store::Postgres(pool) => StoreTx::Postgres(
                pool.begin_with("BEGIN; SET LOCAL synchronous_commit TO OFF")
                    .await?,
            ),
        })
    }

    /// Returns once every transaction committed before this call is as durable as the
    /// backend makes a commit, so one call covers any number of earlier
    /// [`Store::begin_write_deferred`] commits. PostgreSQL: on disk. It writes its WAL in
    /// order, so committing a transaction of its own synchronously (it needs a transaction id
    /// to write a commit record, hence `txid_current()`) flushes every earlier commit too. The
    /// statement is its own implicit transaction: one round trip, where BEGIN, SELECT and
    /// COMMIT took three.
    /// SQLite: at once; a returned commit is in the WAL file, which survives a crash of the
    /// process, and a power cut may lose the last commits (`synchronous = NORMAL`). Syncing
    /// the WAL file here was tried: 20.8k instead of 21.8k holds/s on one hot SKU, and right
    /// after a 10 s load the first answers waited about half a second for the sync.
    pub async fn wait_durable(&self) -> Result<(), StoreError> {
        match self {
            Store::Postgres(pool) => {
                sqlx::query("SELECT txid_current()").execute(pool).await?;
            }
            // Not synced here: see the doc comment.
            Store::Sqlite(_) => {}
        }
        Ok(())
    }

    pub async fn close(&self) {
        on_backend!(self, pool => pool.close().await)
    }
}

/// Hides a password in a PostgreSQL URL before it reaches a message or a log.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _password)) => {
                    format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
                }
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/stock"),
            "postgres://app:***@db:5432/stock"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
        assert_eq!(redact("sqlite://stockcast.db"), "sqlite://stockcast.db");
    }
}
