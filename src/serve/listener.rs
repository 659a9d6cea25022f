//! A TCP listener that holds at most `max_connections` open connections: past the limit it
//! stops accepting (the kernel backlog queues new ones) until one closes. [`super::tls`]
//! wraps the same slots around TLS streams.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct LimitedListener {
    listener: TcpListener,
    slots: Arc<Semaphore>,
}

impl LimitedListener {
    pub fn new(listener: TcpListener, max_connections: usize) -> LimitedListener {
        assert!(max_connections >= 1);
        LimitedListener {
            listener,
            slots: Arc::new(Semaphore::new(max_connections)),
        }
    }
}

/// A connection that gives its slot back when dropped.
pub struct LimitedStream<S = TcpStream> {
    stream: S,
    _slot: OwnedSemaphorePermit,
}

impl<S> LimitedStream<S> {
    pub fn new(stream: S, slot: OwnedSemaphorePermit) -> LimitedStream<S> {
        LimitedStream {
            stream,
            _slot: slot,
        }
    }
}

/// Waits for a free connection slot, then accepts the next TCP connection (with
/// TCP_NODELAY: responses are small and latency matters more than packet count).
pub(crate) async fn accept_within(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> (TcpStream, OwnedSemaphorePermit, std::net::SocketAddr) {
    let slot = Arc::clone(slots)
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    loop {
        match listener.accept().await {
            Ok((stream, address)) => {
                let _ = stream.set_nodelay(true);
                return (stream, slot, address);
            }
            Err(error) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!("accept failed: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (LimitedStream, std::net::SocketAddr) {
        let (stream, slot, address) = accept_within(&self.listener, &self.slots).await;
        (LimitedStream::new(stream, slot), address)
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LimitedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LimitedStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
