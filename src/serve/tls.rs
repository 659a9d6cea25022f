//! Optional TLS (rustls, ring provider) from a PEM certificate chain and a PEM private key.
//! Handshakes run in their own tasks, bounded by the connection slots and a timeout, so a
//! slow or silent client never holds up accepting the others.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::listener::{accept_within, LimitedStream};

/// Handshaken connections waiting for the server to take them.
const READY_QUEUE: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{path}: no PEM certificate found")]
    NoCertificate { path: PathBuf },
    #[error("{cert} / {key}: {source}")]
    Rejected {
        cert: PathBuf,
        key: PathBuf,
        source: tokio_rustls::rustls::Error,
    },
}

/// The server configuration for a certificate chain and its key (HTTP/1.1 over ALPN).
pub fn server_config(cert_path: &Path, key_path: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let file_error = |path: &Path, message: String| TlsError::File {
        path: path.to_path_buf(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(cert_path)
        .map_err(|error| file_error(cert_path, error.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| file_error(cert_path, error.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_path.to_path_buf(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|error| file_error(key_path, format!("no usable PEM private key ({error})")))?;
    let rejected = |source| TlsError::Rejected {
        cert: cert_path.to_path_buf(),
        key: key_path.to_path_buf(),
        source,
    };
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(rejected)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(rejected)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

type Ready = (LimitedStream<TlsStream<TcpStream>>, SocketAddr);

/// Accepts TCP connections within `max_connections` slots and hands over those whose TLS
/// handshake finished within `handshake_timeout`.
pub struct TlsListener {
    ready: mpsc::Receiver<Ready>,
    local_address: SocketAddr,
    acceptor_task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn start(
        listener: TcpListener,
        max_connections: usize,
        config: Arc<ServerConfig>,
        handshake_timeout: Duration,
    ) -> io::Result<TlsListener> {
        assert!(max_connections >= 1);
        let local_address = listener.local_addr()?;
        let (sender, ready) = mpsc::channel(READY_QUEUE);
        let slots = Arc::new(Semaphore::new(max_connections));
        let acceptor = TlsAcceptor::from(config);
        let acceptor_task = tokio::spawn(async move {
            loop {
                let (tcp, slot, address) = accept_within(&listener, &slots).await;
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = sender.send((LimitedStream::new(tls, slot), address)).await;
                        }
                        Ok(Err(error)) => tracing::debug!("TLS handshake from {address}: {error}"),
                        Err(_) => tracing::debug!("TLS handshake from {address} timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            ready,
            local_address,
            acceptor_task,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = LimitedStream<TlsStream<TcpStream>>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> Ready {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The acceptor task only ends when this listener drops it.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_address)
    }
}
