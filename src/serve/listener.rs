//! The accept loop and the connection limit. At most `max_connections` connections are open;
//! when one more arrives, the connection idle the longest (one that has not sent a whole
//! request head, or is waiting between keep-alive requests, or is still in its TLS handshake)
//! is closed to make room, so silent or slow clients cannot crowd out working ones. Only when
//! every connection is serving a request is the newcomer refused: over plain HTTP with a JSON
//! 503 `overloaded` and `Retry-After: 1` once its request is read, over TLS by closing it.
//! Nothing waits in the kernel's accept queue for a slot.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;

use super::connection::{self, overloaded_message, ConnState, ConnectionTimeouts, Shared};
use super::error::{error_body, ErrorCode};
use super::metrics::{CloseReason, ConnectionMetrics};

/// Refusals being written at once; past this a refused connection is just closed.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;
/// How long a refusal may take to read the request, write its 503 and see the client close.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// The open connections, by id.
pub(crate) struct Slots {
    max: usize,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<ConnState>>>,
    metrics: Arc<ConnectionMetrics>,
}

/// A connection's place; dropping it frees the place.
pub(crate) struct Slot {
    slots: Arc<Slots>,
    pub state: Arc<ConnState>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().expect("connection slots");
        // An evicted connection's place was already handed to the newcomer.
        if open.remove(&self.state.id).is_some() {
            self.slots.metrics.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Slots {
    pub(crate) fn new(max: usize, metrics: Arc<ConnectionMetrics>) -> Arc<Slots> {
        assert!(max >= 1);
        Arc::new(Slots {
            max,
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    /// A place for a new connection, evicting the longest-idle one at the limit; None when
    /// every open connection is serving a request.
    pub(crate) fn admit(self: &Arc<Slots>) -> Option<Slot> {
        let mut open = self.open.lock().expect("connection slots");
        while open.len() >= self.max {
            let victim = open
                .values()
                .filter(|state| state.is_idle())
                // Ties (the same millisecond) go to the one accepted first.
                .min_by_key(|state| (state.waiting_since_ms(), state.id))
                .map(Arc::clone)?;
            // It may have started a request since the scan; then look again.
            if victim.evict() {
                open.remove(&victim.id);
                self.metrics.open.fetch_sub(1, Ordering::Relaxed);
                self.metrics.closed(CloseReason::Evicted);
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState::new(id, self.epoch));
        open.insert(id, Arc::clone(&state));
        self.metrics.open.fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            slots: Arc::clone(self),
            state,
        })
    }
}

fn overloaded_response() -> Vec<u8> {
    let body = error_body(ErrorCode::Overloaded, overloaded_message()).to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// How much of a refused request is read before the 503 is written: its head up to
/// `REFUSAL_HEAD_BYTES`, then its body (by `content-length`) up to `REFUSAL_BODY_BYTES`.
const REFUSAL_HEAD_BYTES: usize = 16 * 1024;
const REFUSAL_BODY_BYTES: usize = 64 * 1024;

/// Reads a refused connection's request (its head, then a bounded body) so the 503 answers
/// a request the client has sent: an HTTP client library that reads an answer before it has
/// written its request takes it for an unexpected message and reports a connection error.
async fn read_refused_request(tcp: &mut TcpStream) -> io::Result<()> {
    let mut received = Vec::with_capacity(1024);
    let mut buffer = [0u8; 4096];
    let (head_end, length) = loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&received) {
            Ok(httparse::Status::Complete(end)) => {
                let length = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| {
                        std::str::from_utf8(h.value)
                            .ok()?
                            .trim()
                            .parse::<usize>()
                            .ok()
                    })
                    .unwrap_or(0)
                    .min(REFUSAL_BODY_BYTES);
                break (end, length);
            }
            // A head that does not parse gets its 503 as it stands.
            Err(_) => return Ok(()),
            Ok(httparse::Status::Partial) => {}
        }
        if received.len() >= REFUSAL_HEAD_BYTES {
            return Ok(());
        }
        let n = tcp.read(&mut buffer).await?;
        if n == 0 {
            return Ok(());
        }
        received.extend_from_slice(&buffer[..n]);
    };
    let mut remaining = length.saturating_sub(received.len() - head_end);
    while remaining > 0 {
        let n = tcp.read(&mut buffer[..remaining.min(4096)]).await?;
        if n == 0 {
            return Ok(());
        }
        remaining -= n;
    }
    Ok(())
}

/// Answers a connection that found every slot busy, without holding a slot: reads its
/// request (bounded), writes the 503 with `connection: close`, and closes.
fn refuse(mut tcp: TcpStream, plain_http: bool, writers: &Arc<Semaphore>) {
    if !plain_http {
        // A 503 would need a TLS handshake first: the work the limit is there to bound.
        return;
    }
    let Ok(permit) = Arc::clone(writers).try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(REFUSAL_LINGER, async {
            read_refused_request(&mut tcp).await?;
            tcp.write_all(&overloaded_response()).await?;
            tcp.shutdown().await?;
            // Closing with unread bytes would reset the connection, and the client could
            // lose the answer: read until the client closes (or the linger ends).
            let mut sink = [0u8; 4096];
            while tcp.read(&mut sink).await? > 0 {}
            Ok::<(), io::Error>(())
        })
        .await;
    });
}

/// Accepts connections until `shutdown`, then stops accepting, lets every connection finish
/// its in-flight request, and returns once all have closed.
pub(crate) async fn run(
    listener: TcpListener,
    max_connections: usize,
    router: axum::Router,
    timeouts: ConnectionTimeouts,
    tls: Option<tokio_rustls::TlsAcceptor>,
    metrics: Arc<ConnectionMetrics>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    let shared = Shared {
        router,
        timeouts,
        tls,
        metrics,
        stop: stopped,
        alive,
    };
    let slots = Slots::new(max_connections, Arc::clone(&shared.metrics));
    let refusal_writers = Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT));
    let plain_http = shared.tls.is_none();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let tcp = match accepted {
            Ok((tcp, _address)) => tcp,
            Err(error) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!("accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Responses are small and latency matters more than packet count.
        let _ = tcp.set_nodelay(true);
        match slots.admit() {
            Some(slot) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let state = Arc::clone(&slot.state);
                    connection::serve(tcp, state, shared).await;
                    drop(slot);
                });
            }
            None => {
                shared.metrics.refused.fetch_add(1, Ordering::Relaxed);
                refuse(tcp, plain_http, &refusal_writers);
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    drop(shared);
    let _ = all_closed.recv().await;
    Ok(())
}

/// Timeouts of a connection, for [`run`]'s callers.
pub(crate) fn timeouts(config: &super::ServeConfig) -> ConnectionTimeouts {
    ConnectionTimeouts {
        header_read: config.header_read_timeout,
        idle: config.idle_timeout,
        tls_handshake: config.tls_handshake_timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_longest_idle_connection_makes_room_and_busy_ones_never_do() {
        let metrics = Arc::new(ConnectionMetrics::default());
        let slots = Slots::new(2, Arc::clone(&metrics));
        let first = slots.admit().unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = slots.admit().unwrap();
        let third = slots.admit().expect("an idle connection makes room");
        assert!(!first.state.is_idle(), "the oldest idle one was evicted");
        assert!(second.state.is_idle() && third.state.is_idle());
        assert_eq!(metrics.closed_count(CloseReason::Evicted), 1);
        assert_eq!(metrics.open.load(Ordering::Relaxed), 2);
        drop(first);
        assert_eq!(
            metrics.open.load(Ordering::Relaxed),
            2,
            "an evicted slot is not freed twice"
        );
        // Both remaining busy: no room, no eviction.
        assert!(second.state.begin_request());
        assert!(third.state.begin_request());
        assert!(slots.admit().is_none());
        drop(third);
        assert!(
            slots.admit().is_some(),
            "a closed connection frees its place"
        );
    }
}
