//! One client connection: its state (idle or serving a request), the timeouts that close it
//! while idle, and HTTP/1.1 served over it by hyper.
//!
//! hyper's own header-read timer restarts after every response, so it would close a keep-alive
//! connection after the header timeout, not the idle one. The connection's task keeps both
//! itself instead: a new connection must send a whole request head within
//! `header_read_timeout`; after a response, the next request's first byte must come within
//! `idle_timeout` and its head within `header_read_timeout` of that byte. A request being
//! served is never cut by these (its body has its own deadline, see
//! [`super::request_body`]).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::error::{ApiError, ErrorCode};
use super::metrics::ConnectionMetrics;

/// How long a connection may wait at each stage before it is closed.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionTimeouts {
    pub header_read: Duration,
    pub idle: Duration,
    pub tls_handshake: Duration,
}

const IDLE: u8 = 0;
const BUSY: u8 = 1;
const CLOSING: u8 = 2;

/// What the listener and the connection's task share about one connection.
pub struct ConnState {
    pub(crate) id: u64,
    epoch: Instant,
    phase: AtomicU8,
    /// Milliseconds after `epoch` when the current wait began: accept, the end of the TLS
    /// handshake, or the last response.
    waiting_since_ms: AtomicU64,
    /// Milliseconds after `epoch` plus one when the next request's first byte arrived during
    /// this wait; 0 while none has.
    head_started_ms: AtomicU64,
    /// A request has been answered: waits from now on are keep-alive idle time.
    served: AtomicBool,
    wake: Notify,
}

fn millis_since(epoch: Instant) -> u64 {
    Instant::now().saturating_duration_since(epoch).as_millis() as u64
}

/// Why an idle connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleClose {
    HeaderTimeout,
    IdleTimeout,
}

impl ConnState {
    pub(crate) fn new(id: u64, epoch: Instant) -> ConnState {
        ConnState {
            id,
            epoch,
            phase: AtomicU8::new(IDLE),
            waiting_since_ms: AtomicU64::new(millis_since(epoch)),
            head_started_ms: AtomicU64::new(0),
            served: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.phase.load(Ordering::Acquire) == IDLE
    }

    fn is_closing(&self) -> bool {
        self.phase.load(Ordering::Acquire) == CLOSING
    }

    /// When this connection last started waiting (for eviction: the longest idle goes first).
    pub(crate) fn waiting_since_ms(&self) -> u64 {
        self.waiting_since_ms.load(Ordering::Relaxed)
    }

    /// Closes the connection if it is idle; false if it is serving a request.
    pub(crate) fn evict(&self) -> bool {
        let evicted = self
            .phase
            .compare_exchange(IDLE, CLOSING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if evicted {
            self.wake.notify_one();
        }
        evicted
    }

    fn restart_wait(&self) {
        self.waiting_since_ms
            .store(millis_since(self.epoch), Ordering::Relaxed);
    }

    /// A request's head has arrived; false if the connection is being closed.
    pub(crate) fn begin_request(&self) -> bool {
        self.phase
            .compare_exchange(IDLE, BUSY, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn end_request(&self) {
        self.restart_wait();
        self.head_started_ms.store(0, Ordering::Relaxed);
        self.served.store(true, Ordering::Relaxed);
        let _ = self
            .phase
            .compare_exchange(BUSY, IDLE, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The first byte of a request's head: from now the header timeout runs. The connection's
    /// task sees the new deadline at its next recheck (see [`recheck_period`]), not through a
    /// wake-up per request, which cost more than the request's own bookkeeping.
    fn saw_bytes(&self) {
        if self.phase.load(Ordering::Relaxed) == IDLE
            && self.head_started_ms.load(Ordering::Relaxed) == 0
        {
            let _ = self.head_started_ms.compare_exchange(
                0,
                millis_since(self.epoch) + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// When this connection is to be closed if nothing changes, and why; None while serving
    /// (or already closing).
    fn deadline(&self, timeouts: &ConnectionTimeouts) -> Option<(Instant, IdleClose)> {
        match self.phase.load(Ordering::Acquire) {
            BUSY | CLOSING => None,
            _ => {
                let at = |ms: u64, wait: Duration| self.epoch + Duration::from_millis(ms) + wait;
                let head = self.head_started_ms.load(Ordering::Relaxed);
                Some(if !self.served.load(Ordering::Relaxed) {
                    (
                        at(self.waiting_since_ms(), timeouts.header_read),
                        IdleClose::HeaderTimeout,
                    )
                } else if head > 0 {
                    (at(head - 1, timeouts.header_read), IdleClose::HeaderTimeout)
                } else {
                    (
                        at(self.waiting_since_ms(), timeouts.idle),
                        IdleClose::IdleTimeout,
                    )
                })
            }
        }
    }

    /// Closes the connection at a passed deadline if it is still idle.
    fn close_if_due(&self, timeouts: &ConnectionTimeouts) -> Option<IdleClose> {
        let (at, why) = self.deadline(timeouts)?;
        if at > Instant::now() {
            return None;
        }
        self.phase
            .compare_exchange(IDLE, CLOSING, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| why)
    }

    async fn closing(&self) {
        while !self.is_closing() {
            self.wake.notified().await;
        }
    }
}

/// The stream a connection reads through: notes the first byte of each request's head.
struct Tracked<S> {
    inner: S,
    state: Arc<ConnState>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.state.saw_bytes();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Marks the connection idle again when the request's response is ready (or the request was
/// dropped).
struct Serving {
    state: Arc<ConnState>,
    metrics: Arc<ConnectionMetrics>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.metrics.busy.fetch_sub(1, Ordering::Relaxed);
        self.state.end_request();
    }
}

pub(crate) fn overloaded_message() -> &'static str {
    "the server is at its connection limit with every connection busy; retry shortly"
}

/// The router as hyper's service for one connection.
#[derive(Clone)]
struct Service {
    router: Router,
    state: Arc<ConnState>,
    metrics: Arc<ConnectionMetrics>,
}

type ServiceFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl hyper::service::Service<hyper::Request<Incoming>> for Service {
    type Response = Response;
    type Error = Infallible;
    type Future = ServiceFuture;

    fn call(&self, request: hyper::Request<Incoming>) -> ServiceFuture {
        if !self.state.begin_request() {
            // Evicted between reading this head and now: the connection is closing.
            let mut error = ApiError::new(ErrorCode::Overloaded, overloaded_message());
            error.retry_after_seconds = Some(1);
            return Box::pin(std::future::ready(Ok(error.into_response())));
        }
        self.metrics.busy.fetch_add(1, Ordering::Relaxed);
        let serving = Serving {
            state: Arc::clone(&self.state),
            metrics: Arc::clone(&self.metrics),
        };
        let router = self.router.clone();
        Box::pin(async move {
            let response = router.oneshot(request.map(Body::new)).await;
            drop(serving);
            response
        })
    }
}

/// Everything a connection's task needs besides its stream.
#[derive(Clone)]
pub(crate) struct Shared {
    pub router: Router,
    pub timeouts: ConnectionTimeouts,
    pub tls: Option<TlsAcceptor>,
    pub metrics: Arc<ConnectionMetrics>,
    pub stop: watch::Receiver<bool>,
    /// Dropped when the task ends; the listener waits for every clone to go at shutdown.
    pub alive: mpsc::Sender<()>,
}

/// Serves one accepted connection until the client closes it, a timeout or an eviction closes
/// it, or the server stops (in-flight requests are finished first).
pub(crate) async fn serve(tcp: TcpStream, state: Arc<ConnState>, shared: Shared) {
    let Shared {
        router,
        timeouts,
        tls,
        metrics,
        mut stop,
        alive,
    } = shared;
    let _alive = alive;
    match tls {
        None => serve_http(tcp, state, router, &timeouts, metrics, &mut stop).await,
        Some(acceptor) => {
            let handshake = tokio::time::timeout(timeouts.tls_handshake, acceptor.accept(tcp));
            let tls = tokio::select! {
                done = handshake => match done {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(error)) => {
                        tracing::debug!("TLS handshake failed: {error}");
                        return;
                    }
                    Err(_) => {
                        metrics.closed(super::metrics::CloseReason::HandshakeTimeout);
                        return;
                    }
                },
                _ = state.closing() => return,
                _ = stop.changed() => return,
            };
            // The header timeout counts from the end of the handshake.
            state.restart_wait();
            serve_http(tls, state, router, &timeouts, metrics, &mut stop).await
        }
    }
}

async fn serve_http<S>(
    stream: S,
    state: Arc<ConnState>,
    router: Router,
    timeouts: &ConnectionTimeouts,
    metrics: Arc<ConnectionMetrics>,
    stop: &mut watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(Tracked {
        inner: stream,
        state: Arc::clone(&state),
    });
    let service = Service {
        router,
        state: Arc::clone(&state),
        metrics: Arc::clone(&metrics),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut stopping = *stop.borrow();
    if stopping {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        if state.is_closing() {
            // Evicted (the wake-up may have been taken by an earlier select).
            return;
        }
        // Requests change the deadline without waking this task: it rechecks at least every
        // `recheck_period`, so a deadline is kept to within that, at one timer per period
        // instead of two wake-ups per request.
        let recheck = Instant::now() + recheck_period(timeouts);
        let deadline = state
            .deadline(timeouts)
            .map_or(recheck, |(at, _)| at.min(recheck));
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!("connection ended: {error}");
                }
                return;
            }
            _ = state.wake.notified() => {
                if state.is_closing() {
                    return;
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                if let Some(why) = state.close_if_due(timeouts) {
                    metrics.closed(match why {
                        IdleClose::HeaderTimeout => super::metrics::CloseReason::HeaderTimeout,
                        IdleClose::IdleTimeout => super::metrics::CloseReason::IdleTimeout,
                    });
                    return;
                }
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// How often an idle or busy connection's task looks at its deadline: a tenth of the shorter
/// timeout, so a timeout fires at most 10% late.
fn recheck_period(timeouts: &ConnectionTimeouts) -> Duration {
    (timeouts.header_read.min(timeouts.idle) / 10).max(Duration::from_millis(1))
}
