//! A tiny HTTP/1.1 client for the tests (one connection per request, optionally over TLS), so
//! the tests need no HTTP client crate (and no change to the dependency graph everyone builds).

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Default)]
pub struct Client {
    tls: Option<tokio_rustls::TlsConnector>,
}

impl Client {
    pub fn new() -> Client {
        Client::default()
    }

    /// A client for https:// URLs whose server certificate chains to the PEM CA at `ca_path`.
    pub fn trusting(ca_path: &std::path::Path) -> Client {
        use rustls_pki_types::pem::PemObject;
        use tokio_rustls::rustls;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca_path).expect("CA file") {
            roots
                .add(cert.expect("CA certificate"))
                .expect("CA accepted");
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Client {
            tls: Some(tokio_rustls::TlsConnector::from(std::sync::Arc::new(
                config,
            ))),
        }
    }

    pub fn get(&self, url: impl Into<String>) -> RequestBuilder {
        RequestBuilder::new(self, "GET", url.into())
    }

    pub fn post(&self, url: impl Into<String>) -> RequestBuilder {
        RequestBuilder::new(self, "POST", url.into())
    }
}

pub struct RequestBuilder {
    tls: Option<tokio_rustls::TlsConnector>,
    method: &'static str,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RequestBuilder {
    fn new(client: &Client, method: &'static str, url: String) -> RequestBuilder {
        RequestBuilder {
            tls: client.tls.clone(),
            method,
            url,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> RequestBuilder {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn bearer_auth(self, secret: &str) -> RequestBuilder {
        self.header("authorization", &format!("Bearer {secret}"))
    }

    pub fn json(mut self, value: &Value) -> RequestBuilder {
        self.body = serde_json::to_vec(value).expect("JSON");
        self.header("content-type", "application/json")
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> RequestBuilder {
        self.body = body.into();
        self
    }

    pub async fn send(self) -> Result<Response, String> {
        let (rest, tls) = match (self.url.strip_prefix("https://"), &self.tls) {
            (Some(rest), Some(tls)) => (rest, Some(tls)),
            (Some(_), None) => return Err("https:// needs Client::trusting".into()),
            (None, _) => (
                self.url
                    .strip_prefix("http://")
                    .ok_or("http:// or https:// URLs only")?,
                None,
            ),
        };
        let (host, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        let tcp = tokio::net::TcpStream::connect(host)
            .await
            .map_err(|e| e.to_string())?;
        match tls {
            None => self.exchange(tcp, host, path).await,
            Some(tls) => {
                let name = rustls_pki_types::ServerName::try_from("localhost")
                    .expect("server name")
                    .to_owned();
                let stream = tls.connect(name, tcp).await.map_err(|e| e.to_string())?;
                self.exchange(stream, host, path).await
            }
        }
    }

    async fn exchange<S>(&self, mut stream: S, host: &str, path: &str) -> Result<Response, String>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let mut head = format!(
            "{} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\ncontent-length: {}\r\n",
            self.method,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(&self.body);
        stream
            .write_all(&request)
            .await
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .map_err(|e| e.to_string())?;
        Response::parse(&raw)
    }
}

pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Response {
    fn parse(raw: &[u8]) -> Result<Response, String> {
        let split = raw
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .ok_or("connection closed before a response")?;
        let head = std::str::from_utf8(&raw[..split]).map_err(|e| e.to_string())?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().ok_or("no status line")?;
        let code: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or("bad status line")?;
        let mut headers = HeaderMap::new();
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                headers.append(
                    HeaderName::from_bytes(name.trim().as_bytes()).map_err(|e| e.to_string())?,
                    HeaderValue::from_str(value.trim()).map_err(|e| e.to_string())?,
                );
            }
        }
        let mut body = raw[split + 4..].to_vec();
        let chunked = headers
            .get("transfer-encoding")
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"chunked"));
        if chunked {
            body = dechunk(&body)?;
        }
        Ok(Response {
            status: StatusCode::from_u16(code).map_err(|e| e.to_string())?,
            headers,
            body,
        })
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub async fn json(self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| e.to_string())
    }

    pub async fn text(self) -> Result<String, String> {
        String::from_utf8(self.body).map_err(|e| e.to_string())
    }
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let end = data
            .windows(2)
            .position(|window| window == b"\r\n")
            .ok_or("bad chunk")?;
        let size = usize::from_str_radix(
            std::str::from_utf8(&data[..end])
                .map_err(|e| e.to_string())?
                .trim(),
            16,
        )
        .map_err(|e| e.to_string())?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
}
