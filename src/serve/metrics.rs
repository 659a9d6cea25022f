//! Prometheus text metrics: HTTP requests by route, method and status with latency histograms,
//! reservation outcomes, and the group-commit worker's batches and expirations.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use crate::reservation_store::worker::BATCH_SIZE_BOUNDS;
use crate::reservation_store::CoreMetrics;

const LATENCY_BOUNDS_SECONDS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BOUNDS_SECONDS.len()],
    count: u64,
    sum_seconds: f64,
}

#[derive(Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, String, u16), Histogram>>,
    outcomes: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    pub connections: Arc<ConnectionMetrics>,
}

/// Why the server closed a connection the client had not closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    HeaderTimeout,
    IdleTimeout,
    HandshakeTimeout,
    /// Closed while idle to make room for a new connection at the limit.
    Evicted,
}

impl CloseReason {
    const ALL: [CloseReason; 4] = [
        CloseReason::HeaderTimeout,
        CloseReason::IdleTimeout,
        CloseReason::HandshakeTimeout,
        CloseReason::Evicted,
    ];

    fn label(self) -> &'static str {
        match self {
            CloseReason::HeaderTimeout => "header_timeout",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::HandshakeTimeout => "handshake_timeout",
            CloseReason::Evicted => "evicted",
        }
    }
}

/// Connection counters, shared with the listener and every connection's task.
#[derive(Debug, Default)]
pub struct ConnectionMetrics {
    pub open: AtomicU64,
    /// Connections serving a request now (the rest are idle and may be evicted).
    pub busy: AtomicU64,
    /// Connections answered 503 (or, over TLS, closed) at the limit with every slot busy.
    pub refused: AtomicU64,
    closed: [AtomicU64; 4],
}

impl ConnectionMetrics {
    pub fn closed(&self, reason: CloseReason) {
        let index = CloseReason::ALL
            .iter()
            .position(|r| *r == reason)
            .expect("every reason is listed");
        self.closed[index].fetch_add(1, Ordering::Relaxed);
    }

    pub fn closed_count(&self, reason: CloseReason) -> u64 {
        let index = CloseReason::ALL
            .iter()
            .position(|r| *r == reason)
            .expect("every reason is listed");
        self.closed[index].load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String) {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        metric_header(
            out,
            "stockcast_connections_open",
            "gauge",
            "Client connections open now.",
        );
        let _ = writeln!(out, "stockcast_connections_open {}", load(&self.open));
        metric_header(
            out,
            "stockcast_connections_busy",
            "gauge",
            "Client connections serving a request now.",
        );
        let _ = writeln!(out, "stockcast_connections_busy {}", load(&self.busy));
        metric_header(
            out,
            "stockcast_connections_refused_total",
            "counter",
            "Connections refused (503) at the limit with every connection busy.",
        );
        let _ = writeln!(
            out,
            "stockcast_connections_refused_total {}",
            load(&self.refused)
        );
        metric_header(
            out,
            "stockcast_connections_closed_total",
            "counter",
            "Connections the server closed, by reason.",
        );
        for reason in CloseReason::ALL {
            let _ = writeln!(
                out,
                "stockcast_connections_closed_total{{reason=\"{}\"}} {}",
                reason.label(),
                self.closed_count(reason)
            );
        }
    }
}

/// The `# HELP` and `# TYPE` lines that open a metric in the Prometheus text format.
fn metric_header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

impl HttpMetrics {
    fn observe(&self, route: String, method: String, status: u16, seconds: f64) {
        let mut requests = self.requests.lock().expect("metrics lock");
        let histogram = requests.entry((route, method, status)).or_default();
        histogram.count += 1;
        histogram.sum_seconds += seconds;
        if let Some(bucket) = LATENCY_BOUNDS_SECONDS
            .iter()
            .position(|bound| seconds <= *bound)
        {
            histogram.buckets[bucket] += 1;
        }
    }

    /// Counts one reservation request by operation (reserve, commit, …) and outcome.
    pub fn outcome(&self, operation: &'static str, outcome: &'static str) {
        *self
            .outcomes
            .lock()
            .expect("metrics lock")
            .entry((operation, outcome))
            .or_insert(0) += 1;
    }

    pub fn render(&self, core: &CoreMetrics) -> String {
        let mut out = String::new();
        metric_header(
            &mut out,
            "stockcast_http_requests_total",
            "counter",
            "HTTP requests by route, method and status.",
        );
        let requests = self.requests.lock().expect("metrics lock");
        for ((route, method, status), histogram) in requests.iter() {
            let _ = writeln!(
                out,
                "stockcast_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {}",
                histogram.count
            );
        }
        metric_header(
            &mut out,
            "stockcast_http_request_duration_seconds",
            "histogram",
            "Request latency.",
        );
        for ((route, method, status), histogram) in requests.iter() {
            let labels = format!("route=\"{route}\",method=\"{method}\",status=\"{status}\"");
            let mut cumulative = 0;
            for (bound, count) in LATENCY_BOUNDS_SECONDS.iter().zip(histogram.buckets) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "stockcast_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "stockcast_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "stockcast_http_request_duration_seconds_sum{{{labels}}} {}",
                histogram.sum_seconds
            );
            let _ = writeln!(
                out,
                "stockcast_http_request_duration_seconds_count{{{labels}}} {}",
                histogram.count
            );
        }
        drop(requests);
        metric_header(
            &mut out,
            "stockcast_reservation_requests_total",
            "counter",
            "Reservation core requests by operation and outcome.",
        );
        for ((operation, outcome), count) in self.outcomes.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "stockcast_reservation_requests_total{{operation=\"{operation}\",outcome=\"{outcome}\"}} {count}"
            );
        }
        metric_header(
            &mut out,
            "stockcast_batch_size",
            "histogram",
            "Requests per group-commit batch.",
        );
        let mut cumulative = 0;
        for (index, bound) in BATCH_SIZE_BOUNDS.iter().enumerate() {
            cumulative += core.batch_size_buckets[index].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "stockcast_batch_size_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let batches = core.batches.load(Ordering::Relaxed);
        let _ = writeln!(out, "stockcast_batch_size_bucket{{le=\"+Inf\"}} {batches}");
        let _ = writeln!(
            out,
            "stockcast_batch_size_sum {}",
            core.batched_requests.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "stockcast_batch_size_count {batches}");
        let counters: [(&str, &str, &AtomicU64); 4] = [
            (
                "stockcast_failed_batches_total",
                "Group-commit batches that failed as a whole (their callers got a storage error).",
                &core.failed_batches,
            ),
            (
                "stockcast_wal_flushes_total",
                "PostgreSQL WAL flushes waited for before answering committed batches.",
                &core.wal_flushes,
            ),
            (
                "stockcast_failed_wal_flushes_total",
                "WAL flushes that failed (the callers of the batches waiting on them got a storage error).",
                &core.failed_wal_flushes,
            ),
            (
                "stockcast_expired_holds_total",
                "Holds expired by the sweeper and by batches.",
                &core.expired,
            ),
        ];
        for (name, help, value) in counters {
            metric_header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        self.connections.render(&mut out);
        out
    }
}

/// Middleware: times every request and records it under its route template.
pub async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let method = request.method().to_string();
    let response = next.run(request).await;
    state.http_metrics.observe(
        route,
        method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
