//! `stockcast bench reserve`: reservations per second on a few hot SKUs through the core API
//! (group commit), against the database's own floor for the same writes ([`super::floor`]) and
//! the naive one-transaction-per-request baseline in the same run, with latency percentiles and
//! an oversell check at the end of every run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::floor::{floor_per_second, MAX_FLOOR_BATCH};
use super::{median, BenchError};
use crate::clock::SystemClock;
use crate::reservation_store::naive::naive_reserve;
use crate::reservation_store::{check_ledger, CoreError, Reserver, ReserverConfig};
use crate::reserve::{LineRequest, Operation, Refusal, Request, ReserveRequest};
use crate::store::scratch::ScratchDatabase;
use crate::store::{Store, StoreOptions};
use crate::{on_backend, on_tx};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchBackend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct ReserveBenchConfig {
    pub backend: BenchBackend,
    pub skus: usize,
    pub clients: usize,
    pub duration: Duration,
    pub runs: usize,
    /// Units on hand per SKU at the start (large: the throughput phase should not sell out).
    pub stock: i64,
    pub max_batch: usize,
    pub postgres_admin_url: String,
    pub work_dir: PathBuf,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ReserveBenchResult {
    pub reservations_per_second: f64,
    pub naive_per_second: f64,
    pub ratio: f64,
    /// The database alone making the same writes in batches of `floor_batch` holds (median).
    pub floor_per_second: f64,
    /// `reservations_per_second / floor_per_second`.
    pub floor_share: f64,
    pub floor_batch: usize,
    pub floor_run_rates: Vec<f64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub naive_p50_ms: f64,
    pub naive_p99_ms: f64,
    pub oversold: i64,
    pub run_rates: Vec<f64>,
    pub naive_run_rates: Vec<f64>,
    pub mean_batch: f64,
    /// The sell-out check: `clients` racing for `sellout_stock` units of one SKU.
    pub sellout_stock: i64,
    pub sellout_held: i64,
}

const WAREHOUSE: &str = "W1";
const SELLOUT_SKU: &str = "SELLOUT";
const SELLOUT_STOCK: i64 = 1000;

fn sku_name(index: usize) -> String {
    format!("HOT-{index:04}")
}

struct Database {
    store: Store,
    scratch: Option<ScratchDatabase>,
}

async fn fresh_database(
    config: &ReserveBenchConfig,
    label: &str,
    pool: u32,
) -> Result<Database, BenchError> {
    let options = StoreOptions {
        max_connections: pool,
        ..StoreOptions::default()
    };
    let (url, scratch) = match config.backend {
        BenchBackend::Sqlite => {
            let path = config.work_dir.join(format!("{label}.db"));
            let _ = std::fs::remove_file(&path);
            (format!("sqlite://{}", path.display()), None)
        }
        BenchBackend::Postgres => {
            let scratch =
                ScratchDatabase::create(&config.postgres_admin_url, "stockcast_bench").await?;
            (scratch.url.clone(), Some(scratch))
        }
    };
    let store = Store::open(&url, &options).await?;
    let mut tx = store.begin_write().await?;
    let mut skus: Vec<(String, i64)> = (0..config.skus)
        .map(|index| (sku_name(index), config.stock))
        .collect();
    skus.push((SELLOUT_SKU.to_string(), SELLOUT_STOCK));
    on_tx!(&mut tx, conn => {
        sqlx::query("INSERT INTO warehouses (warehouse, region) VALUES ($1, 'bench')")
            .bind(WAREHOUSE).execute(&mut **conn).await.map_err(crate::store::StoreError::from)?;
        for (sku, stock) in &skus {
            sqlx::query("INSERT INTO products (sku, category) VALUES ($1, 'sofas')")
                .bind(sku).execute(&mut **conn).await.map_err(crate::store::StoreError::from)?;
            sqlx::query("INSERT INTO inventory (sku, warehouse, on_hand) VALUES ($1, $2, $3)")
                .bind(sku).bind(WAREHOUSE).bind(stock).execute(&mut **conn).await.map_err(crate::store::StoreError::from)?;
        }
    });
    tx.commit().await?;
    Ok(Database { store, scratch })
}

impl Database {
    async fn finish(self) -> Result<(), BenchError> {
        self.store.close().await;
        if let Some(scratch) = self.scratch {
            scratch.drop_database().await?;
        }
        Ok(())
    }
}

fn reserve_request(run: &str, client: usize, seq: u64, sku: String) -> ReserveRequest {
    ReserveRequest {
        idempotency_key: format!("{run}-{client}-{seq}"),
        ttl_seconds: 3600,
        lines: vec![LineRequest {
            sku,
            warehouse: WAREHOUSE.to_string(),
            qty: 1,
        }],
    }
}

/// Per-client results: successful reservations and their latencies in microseconds.
type ClientResult = Result<(u64, Vec<u32>), String>;

fn percentile(sorted_micros: &[u32], fraction: f64) -> f64 {
    if sorted_micros.is_empty() {
        return 0.0;
    }
    let index =
        ((sorted_micros.len() as f64 * fraction).ceil() as usize).clamp(1, sorted_micros.len()) - 1;
    f64::from(sorted_micros[index]) / 1000.0
}

struct Phase {
    per_second: f64,
    total: u64,
    latencies: Vec<u32>,
}

/// Runs `clients` tasks calling `reserve` until the deadline.
async fn drive<F, Fut>(clients: usize, duration: Duration, reserve: F) -> Result<Phase, BenchError>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<bool, String>> + Send,
{
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let reserve = reserve.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            let mut latencies = Vec::new();
            let mut seq = 0u64;
            while Instant::now() < deadline {
                seq += 1;
                let sent = Instant::now();
                if reserve(client, seq).await? {
                    ok += 1;
                    latencies.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                }
            }
            ClientResult::Ok((ok, latencies))
        }));
    }
    let mut total = 0;
    let mut latencies = Vec::new();
    for task in tasks {
        let (ok, client_latencies) = task
            .await
            .map_err(|error| BenchError::Invalid(format!("client task failed: {error}")))?
            .map_err(BenchError::Invalid)?;
        total += ok;
        latencies.extend(client_latencies);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    Ok(Phase {
        total,
        per_second: total as f64 / elapsed,
        latencies,
    })
}

/// Units held beyond what was on hand, over every row (must be zero), plus any row whose
/// `reserved` or ledger disagrees with the holds.
async fn oversold(store: &Store) -> Result<i64, BenchError> {
    let check = check_ledger(store)
        .await
        .map_err(|error| BenchError::Invalid(error.to_string()))?;
    let negative: i64 = on_backend!(store, pool => {
        sqlx::query_scalar("SELECT CAST(COALESCE(SUM(reserved - on_hand), 0) AS BIGINT) FROM inventory WHERE reserved > on_hand")
            .fetch_one(pool).await.map_err(crate::store::StoreError::from)?
    });
    Ok(negative + (check.mismatches.len() + check.reserved_mismatches.len()) as i64)
}

/// One hold through the core: Ok(true) held, Ok(false) refused for lack of stock, Err for
/// anything else (a failed run).
async fn submit_hold(reserver: &Reserver, request: ReserveRequest) -> Result<bool, String> {
    match reserver
        .submit(Request {
            who: "bench".into(),
            operation: Operation::Reserve(request),
        })
        .await
    {
        Ok(_) => Ok(true),
        Err(CoreError::Refused(Refusal::InsufficientStock(_))) => Ok(false),
        Err(error) => Err(error.to_string()),
    }
}

async fn core_run(
    config: &ReserveBenchConfig,
    run: usize,
) -> Result<(Phase, f64, i64, i64), BenchError> {
    let database = fresh_database(config, &format!("core-{run}"), 4).await?;
    let reserver = Reserver::start(
        database.store.clone(),
        Arc::new(SystemClock),
        ReserverConfig {
            max_batch: config.max_batch,
            ..ReserverConfig::default()
        },
    );
    let skus = config.skus;
    let label = format!("c{run}");
    let client_reserver = reserver.clone();
    let phase = drive(config.clients, config.duration, move |client, seq| {
        let reserver = client_reserver.clone();
        let request = reserve_request(
            &label,
            client,
            seq,
            sku_name((client + seq as usize) % skus),
        );
        async move { submit_hold(&reserver, request).await }
    })
    .await?;
    let batches = reserver
        .metrics
        .batches
        .load(std::sync::atomic::Ordering::Relaxed)
        .max(1);
    let batched = reserver
        .metrics
        .batched_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    // The sell-out race: every client asks for one unit until none is left.
    let sellout_reserver = reserver.clone();
    let sold = drive(
        config.clients,
        Duration::from_millis(500),
        move |client, seq| {
            let reserver = sellout_reserver.clone();
            let request = reserve_request("sellout", client, seq, SELLOUT_SKU.to_string());
            async move { submit_hold(&reserver, request).await }
        },
    )
    .await?;
    let sellout_held = sold.total as i64;
    reserver.shutdown().await;
    let sellout_reserved: i64 = on_backend!(&database.store, pool => {
        sqlx::query_scalar("SELECT reserved FROM inventory WHERE sku = $1")
            .bind(SELLOUT_SKU).fetch_one(pool).await.map_err(crate::store::StoreError::from)?
    });
    // Acknowledged holds beyond the stock, and any acknowledged hold missing from the row.
    let over = oversold(&database.store).await?
        + (sellout_held - SELLOUT_STOCK).max(0)
        + (sellout_held - sellout_reserved).abs();
    database.finish().await?;
    Ok((phase, batched as f64 / batches as f64, over, sellout_held))
}

/// The floor on a database of its own, prepared exactly as the core's: one stock row, batches
/// of one hold per client (a core batch holds at most one request per waiting client).
async fn floor_run(
    config: &ReserveBenchConfig,
    run: usize,
    batch: usize,
) -> Result<f64, BenchError> {
    let database = fresh_database(config, &format!("floor-{run}"), 4).await?;
    let rate = floor_per_second(
        &database.store,
        &sku_name(0),
        WAREHOUSE,
        batch,
        config.duration,
    )
    .await;
    database.finish().await?;
    rate
}

async fn naive_run(config: &ReserveBenchConfig, run: usize) -> Result<(Phase, i64), BenchError> {
    let pool = match config.backend {
        BenchBackend::Sqlite => 8,
        BenchBackend::Postgres => 32,
    };
    let database = fresh_database(config, &format!("naive-{run}"), pool).await?;
    let store = database.store.clone();
    let skus = config.skus;
    let label = format!("n{run}");
    let phase = drive(config.clients, config.duration, move |client, seq| {
        let store = store.clone();
        let request = reserve_request(
            &label,
            client,
            seq,
            sku_name((client + seq as usize) % skus),
        );
        async move {
            naive_reserve(&store, &request, "bench", Utc::now())
                .await
                .map_err(|error| error.to_string())
        }
    })
    .await?;
    let over = oversold(&database.store).await?;
    database.finish().await?;
    Ok((phase, over))
}

pub async fn bench_reserve(config: &ReserveBenchConfig) -> Result<ReserveBenchResult, BenchError> {
    if config.skus == 0 || config.clients == 0 || config.runs == 0 || config.stock < 1 {
        return Err(BenchError::Invalid(
            "--skus, --clients, --runs and --stock must be at least 1".into(),
        ));
    }
    if config.clients > 10_000 || config.skus > 10_000 || config.duration > Duration::from_secs(600)
    {
        return Err(BenchError::Invalid(
            "at most 10000 clients, 10000 SKUs and 600 s per run".into(),
        ));
    }
    let mut rates = Vec::new();
    let mut naive_rates = Vec::new();
    let mut latencies = Vec::new();
    let mut naive_latencies = Vec::new();
    let mut batch_sizes = Vec::new();
    let mut floor_rates = Vec::new();
    let mut over = 0;
    let mut sellout_held = 0;
    let floor_batch = config.clients.min(config.max_batch).min(MAX_FLOOR_BATCH);
    for run in 0..config.runs {
        floor_rates.push(floor_run(config, run, floor_batch).await?);
        let (phase, mean_batch, run_over, held) = core_run(config, run).await?;
        rates.push(phase.per_second);
        batch_sizes.push(mean_batch);
        latencies.push(phase.latencies);
        over += run_over;
        sellout_held = held;
        let (naive, naive_over) = naive_run(config, run).await?;
        naive_rates.push(naive.per_second);
        naive_latencies.push(naive.latencies);
        over += naive_over;
    }
    let per_second = median(&rates);
    let naive_per_second = median(&naive_rates);
    let floor = median(&floor_rates);
    let pick = |runs: &[Vec<u32>], rates: &[f64], median_rate: f64, fraction: f64| {
        // Latencies of the median run.
        let index = rates
            .iter()
            .position(|rate| *rate == median_rate)
            .unwrap_or(0);
        percentile(&runs[index], fraction)
    };
    Ok(ReserveBenchResult {
        reservations_per_second: per_second,
        naive_per_second,
        ratio: if naive_per_second > 0.0 {
            per_second / naive_per_second
        } else {
            0.0
        },
        floor_per_second: floor,
        floor_share: if floor > 0.0 { per_second / floor } else { 0.0 },
        floor_batch,
        floor_run_rates: floor_rates,
        p50_ms: pick(&latencies, &rates, per_second, 0.50),
        p99_ms: pick(&latencies, &rates, per_second, 0.99),
        naive_p50_ms: pick(&naive_latencies, &naive_rates, naive_per_second, 0.50),
        naive_p99_ms: pick(&naive_latencies, &naive_rates, naive_per_second, 0.99),
        oversold: over,
        run_rates: rates,
        naive_run_rates: naive_rates,
        mean_batch: median(&batch_sizes),
        sellout_stock: SELLOUT_STOCK,
        sellout_held,
    })
}
