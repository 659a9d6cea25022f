//! The tests' HTTP client: reqwest (already built for polars), one connection per request.
//! Every request says `Connection: close` and nothing is pooled, so a finished request never
//! keeps a connection slot of the server under test: the connection-limit tests count them.

pub use reqwest::{Client, Response};

fn builder() -> reqwest::ClientBuilder {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::CONNECTION,
        reqwest::header::HeaderValue::from_static("close"),
    );
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .default_headers(headers)
}

/// A client for http:// URLs.
pub fn client() -> Client {
    builder()
        .tls_built_in_root_certs(false)
        .build()
        .expect("HTTP client")
}

/// A client for https:// URLs whose server certificate chains to the PEM CA at `ca_path`
/// (the test certificate names `localhost` and 127.0.0.1).
pub fn client_trusting(ca_path: &std::path::Path) -> Client {
    let pem = std::fs::read(ca_path).expect("CA file");
    let ca = reqwest::Certificate::from_pem(&pem).expect("CA certificate");
    builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .build()
        .expect("HTTPS client")
}
