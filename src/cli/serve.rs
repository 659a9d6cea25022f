use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::{BadInput, Cli};
use stockcast::clock::SystemClock;
use stockcast::reservation_store::ReserverConfig;
use stockcast::reserve::Limits;
use stockcast::serve::{serve, AppState, ServeConfig};
use stockcast::store::{Store, StoreOptions};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Open connections at most. At the limit a new connection closes the longest-idle one
    /// (no request in progress); if every connection is busy it gets a 503.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// A new connection must send a whole request head within this; after a response, the
    /// next head must be complete within this of its first byte.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    pub header_read_timeout_ms: u64,
    /// A request's whole body must arrive within this of its head (408 beyond).
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    pub request_body_timeout_ms: u64,
    /// A keep-alive connection with no new request for this long is closed.
    #[arg(long, default_value_t = 60_000, value_name = "MS")]
    pub idle_timeout_ms: u64,
    /// A TLS client must finish its handshake within this.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    pub tls_handshake_timeout_ms: u64,
    /// Request body size limit in bytes (413 beyond).
    #[arg(long, default_value_t = 65_536)]
    pub max_body_bytes: usize,
    #[arg(long, default_value_t = 100)]
    pub max_lines: usize,
    #[arg(long, default_value_t = 3600)]
    pub max_ttl_seconds: i64,
    /// Sustained requests per second per API key (429 with Retry-After beyond).
    #[arg(long, default_value_t = 1000.0)]
    pub rate_limit_per_second: f64,
    #[arg(long, default_value_t = 2000.0)]
    pub rate_limit_burst: f64,
    /// Requests per group-commit batch at most.
    #[arg(long, default_value_t = 1024)]
    pub max_batch: usize,
    /// How long a batch waits for more requests (0: take what queued during the last commit).
    #[arg(long, default_value_t = 0)]
    pub linger_ms: u64,
    /// Requests waiting for a batch at most (callers wait beyond).
    #[arg(long, default_value_t = 16_384)]
    pub queue_capacity: usize,
    /// An idempotency key replays its reservation for at least this long (SQLite keeps the
    /// window's keys in memory; PostgreSQL keeps every key unique for good).
    #[arg(long, default_value_t = 24, value_name = "HOURS")]
    pub idempotency_window_hours: u64,
    /// Database connections in the pool.
    #[arg(long, default_value_t = 16)]
    pub pool_size: u32,
    /// Serve HTTPS: PEM certificate chain (leaf first). Needs --tls-key.
    #[arg(long, requires = "tls_key", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
}

/// A year: keys kept longer only grow the SQLite worker's memory.
const MAX_IDEMPOTENCY_WINDOW_HOURS: u64 = 24 * 366;

/// Timeouts longer than an hour only hold connections open: refused as a likely typo.
const MAX_TIMEOUT_MS: u64 = 3_600_000;

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler");
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

pub async fn run(cli: &Cli, args: &ServeArgs) -> anyhow::Result<()> {
    if !(1..=MAX_IDEMPOTENCY_WINDOW_HOURS).contains(&args.idempotency_window_hours) {
        return Err(BadInput(format!(
            "--idempotency-window-hours must be between 1 and {MAX_IDEMPOTENCY_WINDOW_HOURS}"
        ))
        .into());
    }
    if args.max_connections == 0 || args.max_batch == 0 || args.queue_capacity == 0 {
        return Err(BadInput(
            "--max-connections, --max-batch and --queue-capacity must be at least 1".into(),
        )
        .into());
    }
    if !(args.rate_limit_per_second > 0.0 && args.rate_limit_burst >= 1.0) {
        return Err(BadInput(
            "--rate-limit-per-second must be > 0 and --rate-limit-burst ≥ 1".into(),
        )
        .into());
    }
    let timeout = |flag: &str, ms: u64| {
        if (1..=MAX_TIMEOUT_MS).contains(&ms) {
            Ok(Duration::from_millis(ms))
        } else {
            Err(BadInput(format!(
                "--{flag} must be between 1 and {MAX_TIMEOUT_MS} ms, got {ms}"
            )))
        }
    };
    let header_read_timeout = timeout("header-read-timeout-ms", args.header_read_timeout_ms)?;
    let request_body_timeout = timeout("request-body-timeout-ms", args.request_body_timeout_ms)?;
    let idle_timeout = timeout("idle-timeout-ms", args.idle_timeout_ms)?;
    let tls_handshake_timeout = timeout("tls-handshake-timeout-ms", args.tls_handshake_timeout_ms)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            stockcast::serve::tls::server_config(cert, key)
                .map_err(|error| BadInput(format!("TLS: {error}")))?,
        ),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let options = StoreOptions {
        max_connections: args.pool_size.max(2),
        ..StoreOptions::default()
    };
    let store = Store::open(&cli.database_url, &options)
        .await
        .with_context(|| format!("opening {}", stockcast::store::redact(&cli.database_url)))?;
    let config = ServeConfig {
        limits: Limits {
            max_lines: args.max_lines,
            max_ttl_seconds: args.max_ttl_seconds,
            ..Limits::default()
        },
        body_limit_bytes: args.max_body_bytes,
        max_connections: args.max_connections,
        header_read_timeout,
        request_body_timeout,
        idle_timeout,
        tls_handshake_timeout,
        rate_limit_per_second: args.rate_limit_per_second,
        rate_limit_burst: args.rate_limit_burst,
        core: ReserverConfig {
            max_batch: args.max_batch,
            linger: Duration::from_millis(args.linger_ms),
            queue_capacity: args.queue_capacity,
            idempotency_window: Duration::from_secs(args.idempotency_window_hours * 3600),
            ..ReserverConfig::default()
        },
        tls,
        ..ServeConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|error| BadInput(format!("cannot listen on {}: {error}", args.listen)))?;
    let address = listener.local_addr()?;
    let state = AppState::start(store.clone(), Arc::new(SystemClock), config);
    // Tests and scripts read this line to find the port.
    println!("listening on {scheme}://{address}");
    serve(listener, state, shutdown_signal()).await?;
    store.close().await;
    if !cli.quiet {
        eprintln!("stopped: in-flight requests finished");
    }
    Ok(())
}
