//! Helpers for the reservation tests: a seeded database per test (SQLite file or scratch
//! PostgreSQL database), and the HTTP app spawned on 127.0.0.1:0 with a clock the test moves.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use stockcast::clock::{ManualClock, SharedClock};
use stockcast::keys::{create_key, Role};
use stockcast::serve::{serve, AppState, ServeConfig};
use stockcast::store::scratch::ScratchDatabase;
use stockcast::store::{Store, StoreOptions};
use tempfile::TempDir;

pub mod http;

pub const WAREHOUSE: &str = "W1";

/// Two tests running `scenario(store)`: one on a fresh SQLite file, one on a scratch
/// PostgreSQL database (skipped without STOCKCAST_TEST_POSTGRES_URL). Each test keeps its
/// own name, so `cargo test postgres` still selects the PostgreSQL half.
#[macro_export]
macro_rules! on_both_backends {
    ($scenario:ident, $sqlite_test:ident, $postgres_test:ident) => {
        #[tokio::test]
        async fn $sqlite_test() {
            let db = Db::sqlite().await;
            $scenario(db.store.clone()).await;
            db.finish().await;
        }

        #[tokio::test]
        async fn $postgres_test() {
            let Some(db) = Db::postgres(stringify!($postgres_test)).await else {
                return;
            };
            $scenario(db.store.clone()).await;
            db.finish().await;
        }
    };
}

pub struct Db {
    pub store: Store,
    pub url: String,
    _dir: Option<TempDir>,
    scratch: Option<ScratchDatabase>,
}

impl Db {
    pub async fn sqlite() -> Db {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        Db::open(url, Some(dir), None).await
    }

    /// A scratch PostgreSQL database, or None (test skipped) without STOCKCAST_TEST_POSTGRES_URL.
    pub async fn postgres(test: &str) -> Option<Db> {
        let admin = postgres_admin_url(test)?;
        let scratch = ScratchDatabase::create(&admin, "stockcast_test")
            .await
            .expect("PostgreSQL reachable for a scratch database");
        let url = scratch.url.clone();
        Some(Db::open(url, None, Some(scratch)).await)
    }

    async fn open(url: String, dir: Option<TempDir>, scratch: Option<ScratchDatabase>) -> Db {
        let store = Store::open(&url, &StoreOptions::default())
            .await
            .expect("store opens");
        Db {
            store,
            url,
            _dir: dir,
            scratch,
        }
    }

    /// Another pool on the same database: a second service instance.
    pub async fn second_store(&self) -> Store {
        Store::open(&self.url, &StoreOptions::default())
            .await
            .expect("store opens")
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some(scratch) = self.scratch {
            scratch
                .drop_database()
                .await
                .expect("scratch database dropped");
        }
    }
}

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

/// Inserts warehouse W1, the products and their inventory rows.
pub async fn seed(store: &Store, stock: &[(&str, i64)]) {
    stockcast::on_backend!(store, pool => {
        sqlx::query("INSERT INTO warehouses (warehouse, region) VALUES ($1, 'north') ON CONFLICT (warehouse) DO NOTHING")
            .bind(WAREHOUSE).execute(pool).await.expect("warehouse");
        for (sku, on_hand) in stock {
            sqlx::query("INSERT INTO products (sku, category) VALUES ($1, 'sofas')")
                .bind(sku).execute(pool).await.expect("product");
            sqlx::query("INSERT INTO inventory (sku, warehouse, on_hand) VALUES ($1, $2, $3)")
                .bind(sku).bind(WAREHOUSE).bind(on_hand).execute(pool).await.expect("inventory");
        }
    });
}

pub async fn row(store: &Store, sku: &str) -> (i64, i64) {
    stockcast::on_backend!(store, pool => {
        sqlx::query_as("SELECT on_hand, reserved FROM inventory WHERE sku = $1 AND warehouse = $2")
            .bind(sku).bind(WAREHOUSE).fetch_one(pool).await.expect("inventory row")
    })
}

pub async fn live_sales(store: &Store, sku: &str) -> f64 {
    stockcast::on_backend!(store, pool => {
        sqlx::query_scalar("SELECT COALESCE(SUM(units), 0) FROM sales WHERE sku = $1 AND source = 'live'")
            .bind(sku).fetch_one(pool).await.expect("sales")
    })
}

pub fn start_time() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap()
}

pub struct TestApp {
    pub base: String,
    pub client: http::Client,
    pub clock: Arc<ManualClock>,
    pub keys: HashMap<Role, String>,
    pub state: Arc<AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn key(&self, role: Role) -> &str {
        &self.keys[&role]
    }

    pub async fn post(&self, role: Role, path: &str, body: serde_json::Value) -> http::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(self.key(role))
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get(&self, role: Role, path: &str) -> http::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(self.key(role))
            .send()
            .await
            .expect("request sent")
    }

    /// Stops accepting, waits for in-flight requests and the batch queue to finish.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        drop(self.state);
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }
}

/// A file of the test certificate authority and the localhost certificate it signed.
pub fn tls_fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// Spawns the app on 127.0.0.1:0 (HTTPS when `config.tls` is set) against `store`, with one key per role.
pub async fn spawn_app(store: Store, config: ServeConfig) -> TestApp {
    let clock = Arc::new(ManualClock::new(start_time()));
    let mut keys = HashMap::new();
    for role in [Role::Admin, Role::Service, Role::Merchandiser, Role::Poller] {
        let (_, secret) = create_key(&store, role, "test", start_time())
            .await
            .expect("key created");
        keys.insert(role, secret);
    }
    let shared: SharedClock = clock.clone();
    let tls = config.tls.is_some();
    let state = AppState::start(store, shared, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (scheme, client) = match tls {
        true => ("https", http::client_trusting(&tls_fixture("ca.pem"))),
        false => ("http", http::client()),
    };
    let base = format!("{scheme}://{}", listener.local_addr().expect("address"));
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, Arc::clone(&state), async move {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        client,
        clock,
        keys,
        state,
        shutdown: Some(shutdown),
        server: Some(server),
    }
}
