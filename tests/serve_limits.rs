//! The server's connection limit and timeouts on real sockets: silent, slow and idle clients
//! cannot crowd out a working one; a connection with every slot busy is refused with a 503
//! instead of hanging; header, body, idle and TLS handshake timeouts close what they bound.
//! Timeouts are configured short (a few hundred ms) and every wait is bounded.

mod reserve_support;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use reserve_support::*;
use serde_json::{json, Value};
use stockcast::keys::Role;
use stockcast::serve::ServeConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest any step of these tests waits for the server.
const BOUND: Duration = Duration::from_secs(2);

fn address(app: &TestApp) -> String {
    app.base
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .to_string()
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(address(app)).await.expect("connect")
}

/// Reads until the server closes the connection (or BOUND passes): what it sent, and whether
/// it closed.
async fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> (String, bool) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&received).into_owned(), true)
            }
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Reads one response whose body has a content-length, leaving the connection open.
async fn read_one_response(stream: &mut TcpStream) -> (u16, Value) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(BOUND, stream.read(&mut buffer))
            .await
            .expect("a response within the bound")
            .expect("read");
        assert!(n > 0, "closed before a whole response");
        received.extend_from_slice(&buffer[..n]);
        let Some(split) = received.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&received[..split]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .map(|value| value.trim().parse().unwrap())
            .expect("content-length");
        if received.len() >= split + 4 + length {
            let status = head.split(' ').nth(1).unwrap().parse().unwrap();
            let body = serde_json::from_slice(&received[split + 4..split + 4 + length]).unwrap();
            return (status, body);
        }
    }
}

fn status_and_json(raw: &str) -> (u16, Value) {
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"));
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn healthz_within_bound(app: &TestApp) -> reserve_support::http::Response {
    let started = Instant::now();
    let response = tokio::time::timeout(BOUND, app.client.get(app.url("/healthz")).send())
        .await
        .expect("/healthz answers within the bound")
        .expect("/healthz answered");
    assert!(started.elapsed() < BOUND);
    response
}

/// `GET /healthz` on a raw socket, read until the server closes, as a client's response, so
/// the test sees exactly what the server wrote and that it closed.
async fn refused_within_bound(app: &TestApp) -> reserve_support::http::Response {
    let started = Instant::now();
    let mut stream = connect(app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .await
        .expect("request written");
    let (raw, closed) = read_until_closed(&mut stream, BOUND).await;
    assert!(closed, "the refusal closes the connection: {raw:?}");
    assert!(started.elapsed() < BOUND);
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"));
    let mut response = axum::http::Response::builder().status(status);
    for line in lines {
        let (name, value) = line.split_once(':').expect("a header line");
        response = response.header(name.trim(), value.trim());
    }
    reserve_support::http::Response::from(response.body(body.to_string()).expect("a response"))
}

async fn busy_connections(app: &TestApp, expected: u64) {
    let deadline = Instant::now() + BOUND;
    while app
        .state
        .http_metrics
        .connections
        .busy
        .load(std::sync::atomic::Ordering::Relaxed)
        < expected
    {
        assert!(
            Instant::now() < deadline,
            "{expected} requests never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn slow_body_head(app: &TestApp, announced: usize) -> String {
    format!(
        "POST /v1/reservations HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {announced}\r\n\r\n{{\"",
        app.key(Role::Service)
    )
}

async fn silent_and_slow_connections_cannot_crowd_out_a_working_client(db: Db) {
    seed(&db.store, &[("SOFA", 5)]).await;
    // Timeouts far beyond the test: only the limit's eviction of idle connections can help.
    let config = ServeConfig {
        max_connections: 8,
        header_read_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        ..ServeConfig::default()
    };
    let app = spawn_app(db.store.clone(), config).await;
    let mut silent = Vec::new();
    for _ in 0..40 {
        silent.push(connect(&app).await);
    }
    let mut slow_headers = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(&app).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        slow_headers.push(stream);
    }
    assert_eq!(healthz_within_bound(&app).await.status(), StatusCode::OK);
    let ready = tokio::time::timeout(BOUND, app.client.get(app.url("/readyz")).send())
        .await
        .expect("/readyz within the bound")
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let held = tokio::time::timeout(
        BOUND,
        app.post(
            Role::Service,
            "/v1/reservations",
            json!({"idempotency_key": "crowded", "ttl_seconds": 60,
                   "lines": [{"sku": "SOFA", "warehouse": WAREHOUSE, "qty": 1}]}),
        ),
    )
    .await
    .expect("a reservation within the bound");
    assert_eq!(held.status(), StatusCode::CREATED);

    // The oldest silent connections were closed to make room.
    let (_, closed) = read_until_closed(&mut silent[0], BOUND).await;
    assert!(closed, "the longest-idle connection was evicted");
    let metrics = &app.state.http_metrics.connections;
    let evicted = metrics.closed_count(stockcast::serve::metrics::CloseReason::Evicted);
    // 44 idle connections and the first request's into 8 places (the later requests found
    // the place the one before freed).
    assert_eq!(evicted, 44 + 1 - 8, "{evicted} evictions");
    assert!(metrics.open.load(std::sync::atomic::Ordering::Relaxed) <= 8);
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("stockcast_connections_closed_total{reason=\"evicted\"} "),
        "{text}"
    );
    drop(silent);
    drop(slow_headers);
    app.stop().await;
    db.finish().await;
}

#[tokio::test]
async fn with_every_connection_busy_a_newcomer_gets_503_and_bodies_time_out_with_408() {
    let db = Db::sqlite().await;
    seed(&db.store, &[("SOFA", 5)]).await;
    let config = ServeConfig {
        max_connections: 2,
        request_body_timeout: Duration::from_millis(400),
        ..ServeConfig::default()
    };
    let app = spawn_app(db.store.clone(), config).await;
    // Warm the key cache so both slow requests reach their body at once.
    assert_eq!(
        app.get(Role::Service, "/v1/stock").await.status(),
        StatusCode::OK
    );
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&app).await;
        // Announces 100 bytes, sends 2.
        stream
            .write_all(slow_body_head(&app, 100).as_bytes())
            .await
            .unwrap();
        slow.push((stream, Instant::now()));
    }
    busy_connections(&app, 2).await;

    // Both slots serve a request: the newcomer is refused at once, not left waiting.
    let refused = refused_within_bound(&app).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "1");
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"], "overloaded");
    assert!(
        app.state
            .http_metrics
            .connections
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );

    // The refusal answers a request: nothing is written before the request is read (an HTTP
    // client library takes an answer that comes before its request for an unexpected
    // message, a connection error) ...
    let mut early = connect(&app).await;
    let mut byte = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), early.read(&mut byte))
            .await
            .is_err(),
        "the refusal was written before the request was sent"
    );
    drop(early);
    // ... so a hyper-based client posting a body receives the 503 itself.
    let response = tokio::time::timeout(
        BOUND,
        app.post(
            Role::Service,
            "/v1/reservations",
            json!({"idempotency_key": "refused", "ttl_seconds": 60,
                   "lines": [{"sku": "SOFA", "warehouse": WAREHOUSE, "qty": 1}]}),
        ),
    )
    .await
    .expect("the refusal within the bound");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let refused: Value = response.json().await.unwrap();
    assert_eq!(refused["error"], "overloaded");

    // The slow bodies are answered 408 once their deadline passes, and closed.
    for (stream, sent_at) in &mut slow {
        let (raw, closed) = read_until_closed(stream, BOUND).await;
        let waited = sent_at.elapsed();
        let (status, body) = status_and_json(&raw);
        assert_eq!(status, 408, "{raw}");
        assert_eq!(body["error"], "request_timeout", "{raw}");
        assert!(
            body["message"].as_str().unwrap().contains("400 ms"),
            "{raw}"
        );
        assert!(raw.to_lowercase().contains("connection: close"), "{raw}");
        assert!(closed, "the connection closes after a 408");
        assert!(
            waited >= Duration::from_millis(350),
            "answered after {waited:?}, before the deadline"
        );
    }
    // Their slots are free again.
    assert_eq!(healthz_within_bound(&app).await.status(), StatusCode::OK);
    assert_eq!(row(&db.store, "SOFA").await, (5, 0), "nothing was held");
    app.stop().await;
    db.finish().await;
}

async fn a_short_body_is_answered_408_not_left_hanging(db: Db) {
    seed(&db.store, &[("SOFA", 5)]).await;
    let config = ServeConfig {
        request_body_timeout: Duration::from_millis(300),
        ..ServeConfig::default()
    };
    let app = spawn_app(db.store.clone(), config).await;
    let mut stream = connect(&app).await;
    let started = Instant::now();
    stream
        .write_all(slow_body_head(&app, 100).as_bytes())
        .await
        .unwrap();
    let (raw, closed) = read_until_closed(&mut stream, BOUND).await;
    let (status, body) = status_and_json(&raw);
    assert_eq!(
        (status, body["error"].as_str()),
        (408, Some("request_timeout")),
        "{raw}"
    );
    assert!(closed);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < BOUND,
        "{waited:?}"
    );
    // A whole body on the next connection is served as usual.
    let held = app
        .post(
            Role::Service,
            "/v1/reservations",
            json!({"idempotency_key": "whole", "ttl_seconds": 60,
                   "lines": [{"sku": "SOFA", "warehouse": WAREHOUSE, "qty": 1}]}),
        )
        .await;
    assert_eq!(held.status(), StatusCode::CREATED);
    app.stop().await;
    db.finish().await;
}

#[tokio::test]
async fn header_and_idle_timeouts_close_silent_slow_and_idle_connections() {
    let db = Db::sqlite().await;
    let config = ServeConfig {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(900),
        ..ServeConfig::default()
    };
    let app = spawn_app(db.store.clone(), config).await;

    // Silent, and a head that never ends: closed at the header timeout.
    let mut silent = connect(&app).await;
    let mut partial = connect(&app).await;
    let started = Instant::now();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    for stream in [&mut silent, &mut partial] {
        let (sent, closed) = read_until_closed(stream, BOUND).await;
        assert!(closed, "closed within {BOUND:?}");
        assert_eq!(sent, "", "no response to a head that never ended");
    }
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");

    // Keep-alive: a second request after longer than the header timeout but within the idle
    // timeout is served on the same connection; then the connection idles out.
    let mut keep_alive = connect(&app).await;
    keep_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_one_response(&mut keep_alive).await.0, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    keep_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let (status, body) = read_one_response(&mut keep_alive).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let idle_from = Instant::now();
    let (_, closed) = read_until_closed(&mut keep_alive, BOUND).await;
    assert!(closed, "an idle keep-alive connection is closed");
    let idled = idle_from.elapsed();
    assert!(
        idled >= Duration::from_millis(800) && idled < BOUND,
        "closed after {idled:?} idle"
    );

    let metrics = &app.state.http_metrics.connections;
    use stockcast::serve::metrics::CloseReason;
    assert!(metrics.closed_count(CloseReason::HeaderTimeout) >= 2);
    assert_eq!(metrics.closed_count(CloseReason::IdleTimeout), 1);
    app.stop().await;
    db.finish().await;
}

#[tokio::test]
async fn silent_tls_clients_time_out_and_cannot_crowd_out_a_tls_client() {
    let db = Db::sqlite().await;
    let tls = stockcast::serve::tls::server_config(
        &tls_fixture("server.pem"),
        &tls_fixture("server.key"),
    )
    .unwrap();
    let config = ServeConfig {
        tls: Some(tls),
        max_connections: 3,
        tls_handshake_timeout: Duration::from_millis(300),
        ..ServeConfig::default()
    };
    let app = spawn_app(db.store.clone(), config).await;
    let mut silent = Vec::new();
    for _ in 0..10 {
        silent.push(connect(&app).await);
    }
    assert_eq!(healthz_within_bound(&app).await.status(), StatusCode::OK);
    // A silent client that kept its slot is dropped at the handshake timeout.
    let started = Instant::now();
    let (_, closed) = read_until_closed(silent.last_mut().unwrap(), BOUND).await;
    assert!(closed, "a handshake that never starts is closed");
    assert!(started.elapsed() < BOUND);
    use stockcast::serve::metrics::CloseReason;
    let metrics = &app.state.http_metrics.connections;
    assert!(metrics.closed_count(CloseReason::HandshakeTimeout) >= 1);
    assert_eq!(metrics.closed_count(CloseReason::Evicted), 10 + 1 - 3);
    app.stop().await;
    db.finish().await;
}

#[test]
fn serve_refuses_timeouts_out_of_range_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("flags.db").display());
    for (flag, value) in [
        ("--header-read-timeout-ms", "0"),
        ("--request-body-timeout-ms", "0"),
        ("--idle-timeout-ms", "3600001"),
        ("--tls-handshake-timeout-ms", "0"),
    ] {
        let output = assert_cmd::Command::cargo_bin("stockcast")
            .unwrap()
            .env("STOCKCAST_DATABASE_URL", &url)
            .env_remove("STOCKCAST_LOG")
            .args(["serve", "--listen", "127.0.0.1:0", flag, value])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{flag}");
        let message = String::from_utf8(output.stderr).unwrap();
        assert!(message.contains(flag), "{flag}: {message}");
        assert_eq!(message.trim().lines().count(), 1, "{message}");
    }
}

#[tokio::test]
async fn silent_and_slow_connections_cannot_crowd_out_a_working_client_on_sqlite() {
    silent_and_slow_connections_cannot_crowd_out_a_working_client(Db::sqlite().await).await;
}

#[tokio::test]
async fn silent_and_slow_connections_cannot_crowd_out_a_working_client_on_postgres() {
    let Some(db) =
        Db::postgres("silent_and_slow_connections_cannot_crowd_out_a_working_client_on_postgres")
            .await
    else {
        return;
    };
    silent_and_slow_connections_cannot_crowd_out_a_working_client(db).await;
}

#[tokio::test]
async fn a_short_body_is_answered_408_not_left_hanging_on_sqlite() {
    a_short_body_is_answered_408_not_left_hanging(Db::sqlite().await).await;
}

#[tokio::test]
async fn a_short_body_is_answered_408_not_left_hanging_on_postgres() {
    let Some(db) = Db::postgres("a_short_body_is_answered_408_not_left_hanging_on_postgres").await
    else {
        return;
    };
    a_short_body_is_answered_408_not_left_hanging(db).await;
}
