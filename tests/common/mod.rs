//! Shared test helpers: a fresh database per test (an SQLite file in a temp dir, or a scratch
//! PostgreSQL database), and the CLI binary.
#![allow(dead_code)]

use std::path::Path;

use assert_cmd::Command;
use stockcast::store::scratch::ScratchDatabase;
use stockcast::store::{Store, StoreOptions};

/// The CLI binary. `STOCKCAST_TEST_BIN` overrides it: in a target directory shared by several
/// worktrees, `debug/stockcast` is whichever worktree linked last, while
/// `debug/deps/stockcast-<hash>` is this worktree's own.
pub fn stockcast(database_url: &str) -> Command {
    let mut command = match std::env::var_os("STOCKCAST_TEST_BIN") {
        Some(path) => Command::new(path),
        None => Command::cargo_bin("stockcast").expect("binary built"),
    };
    command.env("STOCKCAST_DATABASE_URL", database_url);
    command.env_remove("STOCKCAST_LOG");
    command
}

pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("test.db").display())
}

/// The PostgreSQL server for tests, from STOCKCAST_TEST_POSTGRES_URL. Without it the test is
/// skipped with a note, unless STOCKCAST_REQUIRE_POSTGRES is set (CI), where that is a failure.
pub fn postgres_admin_url(test: &str) -> Option<String> {
    match std::env::var("STOCKCAST_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var_os("STOCKCAST_REQUIRE_POSTGRES").is_some() {
                panic!("{test}: STOCKCAST_REQUIRE_POSTGRES is set but STOCKCAST_TEST_POSTGRES_URL is not");
            }
            eprintln!(
                "note: {test} skipped: set STOCKCAST_TEST_POSTGRES_URL to run PostgreSQL tests"
            );
            None
        }
    }
}

pub async fn scratch_postgres(admin_url: &str) -> ScratchDatabase {
    ScratchDatabase::create(admin_url, "stockcast_test")
        .await
        .expect("PostgreSQL reachable for a scratch database")
}

/// Runs `body(url, dir)` on a scratch PostgreSQL database and a scratch folder, then drops the
/// database; returns at once when no PostgreSQL server is configured (see
/// [`postgres_admin_url`]).
pub async fn on_scratch_postgres<F, Fut>(test: &str, body: F)
where
    F: FnOnce(String, std::path::PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(admin) = postgres_admin_url(test) else {
        return;
    };
    let scratch = scratch_postgres(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    body(scratch.url.clone(), dir.path().to_path_buf()).await;
    scratch.drop_database().await.unwrap();
}

pub async fn open(url: &str) -> Store {
    Store::open(url, &StoreOptions::default())
        .await
        .expect("store opens")
}

pub fn generate(dir: &Path, skus: usize, warehouses: usize, days: usize, seed: u64) {
    generate_data(dir, (skus, warehouses, days, seed), false);
}

/// [`generate`] with latent popularity that polls lead (`stockcast generate --latent-popularity`).
pub fn generate_with_latent_popularity(
    dir: &Path,
    skus: usize,
    warehouses: usize,
    days: usize,
    seed: u64,
) {
    generate_data(dir, (skus, warehouses, days, seed), true);
}

fn generate_data(
    dir: &Path,
    (skus, warehouses, days, seed): (usize, usize, usize, u64),
    latent_popularity: bool,
) {
    let config = stockcast::generate::GenerateConfig {
        skus,
        warehouses,
        days,
        seed,
        format: stockcast::generate::OutputFormat::Csv,
        end_date: stockcast::jobs::default_sample_end_date(),
        truth_days: 28,
        latent_popularity,
    };
    stockcast::generate::generate(&config, dir).expect("generator runs");
}

pub async fn count(store: &Store, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    stockcast::on_backend!(store, pool => {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await.expect("count query")
    })
}

pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), contents).unwrap();
}

/// Runs `ingest --data dir`, which must be refused with exit 2 and one line; returns it.
pub fn ingest_refused(url: &str, dir: &Path) -> String {
    let assert = stockcast(url)
        .args(["ingest", "--data"])
        .arg(dir)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    stderr
}

/// (line, reason) of every row in `<stem>.rejected.csv`.
pub fn rejected(dir: &Path, stem: &str) -> Vec<(i64, String)> {
    let mut reader = csv::Reader::from_path(dir.join(format!("{stem}.rejected.csv"))).unwrap();
    let headers = reader.headers().unwrap().clone();
    let line = headers.iter().position(|h| h == "line").unwrap();
    let reason = headers.iter().position(|h| h == "reason").unwrap();
    reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            (record[line].parse().unwrap(), record[reason].to_string())
        })
        .collect()
}

/// One module per case, each with an SQLite and a PostgreSQL test (`cargo test postgres`
/// runs the latter); each case is `async fn(url: &str, data_dir: &Path)`.
#[allow(unused_macros)]
macro_rules! ingest_on_both_backends {
    ($($name:ident => $body:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread")]
                async fn sqlite() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$body(&super::common::sqlite_url(dir.path()), &dir.path().join("data"))
                        .await;
                }

                #[tokio::test(flavor = "multi_thread")]
                async fn postgres() {
                    super::common::on_scratch_postgres(
                        concat!(stringify!($name), "::postgres"),
                        |url, dir| async move { super::$body(&url, &dir.join("data")).await },
                    )
                    .await;
                }
            }
        )*
    };
}

/// A date written as `YYYY-MM-DD`.
pub fn day(text: &str) -> chrono::NaiveDate {
    text.parse().expect("a YYYY-MM-DD date")
}

/// An instant written in RFC 3339.
pub fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 instant")
        .with_timezone(&chrono::Utc)
}

/// A clock stopped at one instant, so a job's "yesterday" is the test's choice.
pub struct FixedClock(pub chrono::DateTime<chrono::Utc>);

impl stockcast::jobs::Clock for FixedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
    }

    fn sleep(
        &self,
        _duration: std::time::Duration,
    ) -> impl std::future::Future<Output = ()> + Send {
        tokio::task::yield_now()
    }
}
