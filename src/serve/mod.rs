//! The HTTP service (`stockcast serve`): axum routes over the reservation core, one file per
//! route group. Every `/v1` route needs a bearer API key whose role allows it; keys are
//! rate-limited; bodies, lines, TTLs, pages and connections are bounded.
//!
//! - [`reservations`], [`stock`], [`allocations`], [`poll_responses`]: the `/v1` routes.
//! - [`health`]: `/healthz`, `/readyz`, `/metrics`, `/v1/openapi.json` ([`openapi`]).
//! - [`caller`]: bearer-key authentication and per-key rate limiting ([`rate_limit`]).
//! - [`error`]: JSON errors; [`metrics`]: Prometheus counters.
//! - [`listener`]: the accept loop and the connection limit (idle connections make room);
//!   [`connection`]: one connection's header, idle and handshake timeouts;
//!   [`request_body`]: the request-body deadline; [`tls`]: optional TLS (rustls) from PEM
//!   files.

pub mod allocations;
pub mod caller;
pub mod connection;
pub mod error;
pub mod health;
pub mod listener;
pub mod metrics;
pub mod openapi;
pub mod poll_responses;
pub mod rate_limit;
pub mod request_body;
pub mod reservations;
pub mod stock;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;

use crate::clock::SharedClock;
use crate::reservation_store::{Reserver, ReserverConfig};
use crate::reserve::Limits;
use crate::store::Store;
use caller::KeyCache;
use error::{ApiError, ErrorCode};
use metrics::HttpMetrics;
use rate_limit::RateLimiter;

pub(crate) use request_body::body;

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub limits: Limits,
    pub body_limit_bytes: usize,
    /// Open connections at most; at the limit the longest-idle one makes room, and when all
    /// are serving a request a new one is refused (503).
    pub max_connections: usize,
    /// A new connection must send a whole request head within this (after a response: within
    /// this of the next request's first byte).
    pub header_read_timeout: Duration,
    /// A request's whole body must arrive within this of its head (408 beyond).
    pub request_body_timeout: Duration,
    /// A keep-alive connection with no request for this long is closed.
    pub idle_timeout: Duration,
    pub rate_limit_per_second: f64,
    pub rate_limit_burst: f64,
    /// How long a key lookup is cached (a revoked key keeps working this long at most).
    pub key_cache: Duration,
    /// Rows per page for stock and allocation reads.
    pub max_page: usize,
    pub max_poll_records: usize,
    pub core: ReserverConfig,
    /// Serve HTTPS with this configuration instead of plain HTTP.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// A TLS client that has not finished its handshake by then is dropped.
    pub tls_handshake_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            limits: Limits::default(),
            body_limit_bytes: 64 * 1024,
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            // Bodies are at most 64 KiB by default: 10 s still allows a 6.5 KB/s link.
            request_body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            rate_limit_per_second: 1000.0,
            rate_limit_burst: 2000.0,
            key_cache: Duration::from_secs(5),
            max_page: 1000,
            max_poll_records: 1000,
            core: ReserverConfig::default(),
            tls: None,
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

pub struct AppState {
    pub store: Store,
    pub clock: SharedClock,
    pub config: ServeConfig,
    pub reserver: Reserver,
    pub keys: KeyCache,
    pub rate_limiter: RateLimiter,
    pub http_metrics: HttpMetrics,
}

impl AppState {
    /// Starts the reservation core's worker; must run inside a tokio runtime.
    pub fn start(store: Store, clock: SharedClock, config: ServeConfig) -> Arc<AppState> {
        let reserver = Reserver::start(store.clone(), Arc::clone(&clock), config.core.clone());
        Arc::new(AppState {
            keys: KeyCache::new(config.key_cache),
            rate_limiter: RateLimiter::new(config.rate_limit_per_second, config.rate_limit_burst),
            http_metrics: HttpMetrics::default(),
            store,
            clock,
            config,
            reserver,
        })
    }
}

async fn fallback() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} does not take {method}", uri.path()),
    )
}

/// What the OpenAPI document needs of a route's schemas: each (name, schema) its request and
/// response bodies refer to, nested ones included.
pub type RouteSchemas = Vec<(
    String,
    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
)>;

/// One route of the service: its path, its method, its handler, and its OpenAPI operation and
/// body schemas. Path, method and operation all come from the `#[utoipa::path]` on the handler,
/// so the router and the document cannot disagree.
pub struct Route {
    pub path: String,
    pub method: Method,
    pub operation: utoipa::openapi::path::Operation,
    pub schemas: RouteSchemas,
    handler: MethodRouter<Arc<AppState>>,
}

/// The route `handler` serves, as documented by `doc` (the `__path_<handler>` struct that
/// `#[utoipa::path]` generates beside it).
fn route<P, H, T>(_doc: P, handler: H) -> Route
where
    P: utoipa::Path + utoipa::__dev::SchemaReferences,
    H: Handler<T, Arc<AppState>>,
    T: 'static,
{
    use utoipa::openapi::path::HttpMethod;
    let method = match P::methods().as_slice() {
        [HttpMethod::Get] => Method::GET,
        [HttpMethod::Post] => Method::POST,
        [HttpMethod::Put] => Method::PUT,
        [HttpMethod::Delete] => Method::DELETE,
        [HttpMethod::Patch] => Method::PATCH,
        _ => panic!(
            "{}: a route takes exactly one of GET, POST, PUT, DELETE, PATCH",
            P::path()
        ),
    };
    let filter = MethodFilter::try_from(method.clone()).expect("a method axum routes");
    let mut schemas = Vec::new();
    P::schemas(&mut schemas);
    Route {
        path: P::path(),
        method,
        operation: P::operation(),
        schemas,
        handler: axum::routing::on(filter, handler),
    }
}

/// Every route, once: the router and the OpenAPI document (`openapi::document`) are both built
/// from this list, and a test (`openapi::tests`) holds them to each other, both ways.
pub fn routes() -> Vec<Route> {
    vec![
        route(reservations::__path_create, reservations::create),
        route(reservations::__path_show, reservations::show),
        route(reservations::__path_commit, reservations::commit),
        route(reservations::__path_release, reservations::release),
        route(reservations::__path_extend, reservations::extend),
        route(stock::__path_list, stock::list),
        route(stock::__path_adjust, stock::adjust),
        route(allocations::__path_list, allocations::list),
        route(poll_responses::__path_post, poll_responses::post),
        route(health::__path_openapi, health::openapi),
        route(health::__path_healthz, health::healthz),
        route(health::__path_readyz, health::readyz),
        route(health::__path_metrics, health::metrics),
    ]
}

pub fn router(state: Arc<AppState>) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |router, route| {
            router.route(&route.path, route.handler)
        })
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            request_body::deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(state.config.body_limit_bytes))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then stops accepting, finishes in-flight requests and
/// drains the reservation queue.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(Arc::clone(&state));
    let tls = state
        .config
        .tls
        .clone()
        .map(tokio_rustls::TlsAcceptor::from);
    listener::run(
        listener,
        state.config.max_connections,
        app,
        listener::timeouts(&state.config),
        tls,
        Arc::clone(&state.http_metrics.connections),
        shutdown,
    )
    .await?;
    let reserver = state.reserver.clone();
    drop(state);
    reserver.shutdown().await;
    Ok(())
}
